//! A custom resource and its controller, run by the control plane's controller manager.
//!
//! What it shows: `Greeting`, a Rust type whose CustomResourceDefinition (with its OpenAPI
//! v3 schema) is derived by `schemars`; the API server serves it once the CRD is created and
//! rejects objects the schema forbids. Its controller, in kube-rs's shape
//! (`Controller::new(..).owns::<ConfigMap>().run(reconcile, error_policy, ctx)`), renders
//! each Greeting into a ConfigMap it owns and reports in the
//! Greeting's status; the built-in garbage collector deletes the ConfigMap with its
//! owner. The example checks each step and exits.
//!
//! Run it: `cargo run --example custom-controller`

#[path = "shared/completion.rs"]
mod completion;

use std::sync::Arc;

use async_trait::async_trait;
use kube_sdk::api::client::Client;
use kube_sdk::core::{Action, CustomResourceDefinition, CustomResourceExt, impl_resource};
use kube_sdk::ctrl::{Controller, ErrorAction, RunContext, Runnable};
use kube_sdk::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Greets someone, a number of times.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
struct Greeting {
    /// Standard metadata.
    #[serde(default)]
    metadata: ObjectMeta,
    /// What to say.
    spec: GreetingSpec,
    /// What the controller did.
    #[serde(default)]
    status: Option<GreetingStatus>,
}

/// What to say.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
struct GreetingSpec {
    /// Whom to greet.
    name: String,
    /// How many times (1 to 5).
    #[schemars(range(min = 1, max = 5))]
    times: usize,
}

/// What the controller did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct GreetingStatus {
    /// The ConfigMap holding the greeting.
    config_map: String,
    /// The generation of the spec it renders.
    observed_generation: i64,
}

impl_resource!(Greeting {
    group: "example.com", version: "v1", kind: "Greeting", plural: "greetings",
    namespaced: true, short_names: ["greet"], categories: [],
    fields: { metadata: "metadata", spec: "spec" }, omit_empty: { status: "status" }
});
impl CustomResourceExt for Greeting {}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    /// The API refused a request.
    #[error("API request failed")]
    Api(#[from] kube_sdk::core::Error),
    /// The ConfigMap could not be built.
    #[error("building the ConfigMap")]
    Encode(#[from] serde_json::Error),
}

/// Makes the greeting's ConfigMap match its spec, then says so in its status.
async fn reconcile(greeting: Arc<Greeting>, client: Arc<Client>) -> Result<Action, ReconcileError> {
    let (ns, name) = (
        greeting.namespace().unwrap_or_default(),
        greeting.name_any(),
    );
    let text = vec![format!("Hello, {}!", greeting.spec.name); greeting.spec.times].join("\n");
    let config_maps: Api<ConfigMap> = Api::namespaced((*client).clone(), ns);
    let data = json!({"data": {"greeting": text}});
    match config_maps.get_opt(name).await? {
        Some(cm) if cm.data.get("greeting") == Some(&text) => {}
        Some(_) => drop(
            config_maps
                .patch(name, &PatchParams::default(), &Patch::Merge(&data))
                .await?,
        ),
        None => {
            let mut cm: ConfigMap = serde_json::from_value(data)?;
            cm.metadata.name = Some(name.to_owned());
            cm.metadata
                .owner_references
                .extend(greeting.controller_owner_ref(&()));
            config_maps.create(&PostParams::default(), &cm).await?;
        }
    }
    let generation = greeting.metadata.generation.unwrap_or_default();
    let current = greeting
        .status
        .as_ref()
        .map(|s| (s.config_map.as_str(), s.observed_generation));
    if current != Some((name, generation)) {
        let status = json!({"status": {"configMap": name, "observedGeneration": generation}});
        let greetings: Api<Greeting> = Api::namespaced((*client).clone(), ns);
        greetings
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
    }
    tracing::info!(greeting = %name, "rendered");
    Ok(Action::Done)
}

/// The controller, as the controller manager runs it: on the manager's shared informers.
struct GreetingController;

#[async_trait]
impl Runnable for GreetingController {
    fn name(&self) -> &str {
        "greeting"
    }

    async fn run(&self, ctx: RunContext) -> kube_sdk::ctrl::Result<()> {
        Controller::<Greeting>::for_factory(&ctx.factory)
            .owns::<ConfigMap>()
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .run(
                reconcile,
                |_, _, _| ErrorAction::Backoff,
                Arc::new(ctx.client),
            )
            .await;
        Ok(())
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let built = ControlPlane::builder()
        .runnable(GreetingController)
        .build()
        .await?;
    // The CRD goes in before the controllers start, so that their informers find the kind.
    let admin = Client::new(built.api_server().clone(), "default");
    Api::<CustomResourceDefinition>::all(admin)
        .create(&PostParams::default(), &Greeting::crd())
        .await?;
    let cluster = built.start().await?;

    let greetings: Api<Greeting> = Api::default_namespaced(cluster.client());
    let invalid = serde_json::from_value(
        json!({"metadata": {"name": "loud"}, "spec": {"name": "x", "times": 9}}),
    )?;
    if greetings
        .create(&PostParams::default(), &invalid)
        .await
        .is_ok()
    {
        return Err("the schema should have refused times: 9".into());
    }
    let hello = serde_json::from_value(
        json!({"metadata": {"name": "hello"}, "spec": {"name": "world", "times": 2}}),
    )?;
    greetings.create(&PostParams::default(), &hello).await?;
    let config_maps: Api<ConfigMap> = Api::default_namespaced(cluster.client());
    let greeting_of = |cm: Option<ConfigMap>| cm.and_then(|cm| cm.data.get("greeting").cloned());
    completion::wait_for("the rendered ConfigMap", || async {
        Ok(greeting_of(config_maps.get_opt("hello").await?).as_deref()
            == Some("Hello, world!\nHello, world!"))
    })
    .await?;
    greetings
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"times": 1}})),
        )
        .await?;
    completion::wait_for(
        "the ConfigMap to follow the spec, and the status",
        || async {
            let observed = greetings
                .get("hello")
                .await?
                .status
                .map(|s| s.observed_generation);
            Ok(
                greeting_of(config_maps.get_opt("hello").await?).as_deref()
                    == Some("Hello, world!")
                    && observed == Some(2),
            )
        },
    )
    .await?;
    greetings.delete("hello", &DeleteParams::default()).await?;
    completion::wait_for(
        "the garbage collector to delete the owned ConfigMap",
        || async { Ok(config_maps.get_opt("hello").await?.is_none()) },
    )
    .await?;
    cluster.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    completion::run(
        run(),
        "custom-controller: the Greeting was rendered, updated and cleaned up",
    )
}
