//! The Endpoints controller: a Service's selector, turned into the addresses and ports of
//! the pods it selects (`v1` Endpoints, named as the Service).
//!
//! As Kubernetes': pods without an IP, finished pods, and (unless the Service publishes
//! not-ready addresses) pods being deleted are left out; ready pods go to `addresses`,
//! the others to `notReadyAddresses`; a named `targetPort` resolves, pod by pod, to the
//! container port of that name and protocol (a pod without it is left out of that port);
//! addresses with the same ports share a subset. Services without a selector are not
//! touched (their Endpoints are written by hand); the Endpoints of a deleted Service go.
//! The output is sorted, so an unchanged set of pods writes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use kube_api::client::{Api, Client, DeleteParams, PostParams};
use kube_api::informer::Cache;
use kube_core::{
    Action, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, ObjectKey,
    ObjectMeta, ObjectReference, Pod, Protocol, ResourceExt as _, Service, ServicePort,
};

use super::pods;
use crate::error::Result;
use crate::runtime::{Controller, ControllerConfig, RunContext, Runnable};

/// The label Kubernetes puts on the Endpoints of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Settings of the Endpoints controller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointsConfig {
    /// Workers and retries.
    pub controller: ControllerConfig,
}

/// The Endpoints controller; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct EndpointsController {
    config: EndpointsConfig,
}

impl EndpointsController {
    /// A controller with these settings.
    pub fn new(config: EndpointsConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Runnable for EndpointsController {
    fn name(&self) -> &str {
        "endpoints"
    }

    async fn run(&self, ctx: RunContext) -> Result<()> {
        let services = ctx.factory.informer::<Service>().cache();
        let state = Arc::new(State {
            client: ctx.client.clone(),
            services: services.clone(),
            pods: ctx.factory.informer::<Pod>().cache(),
            endpoints: ctx.factory.informer::<Endpoints>().cache(),
        });
        Controller::<Service>::for_factory(&ctx.factory)
            .name(self.name())
            .config(self.config.controller.clone())
            .metrics(&ctx.metrics)
            .graceful_shutdown_on(ctx.shutdown.clone())
            .watches(move |pod: &Pod| services_of(&services, pod))
            // Endpoints changed by someone else are put back.
            .watches(|ep: &Endpoints| vec![ep.key()])
            .run_keyed(
                |key, state: Arc<State>| async move { state.reconcile(&key).await },
                state,
            )
            .await;
        Ok(())
    }
}

/// The Services whose selector matches the pod.
fn services_of(services: &Cache<Service>, pod: &Pod) -> Vec<ObjectKey> {
    services
        .list_namespace(pod.namespace().unwrap_or_default())
        .iter()
        .filter(|s| {
            !s.spec.selector.is_empty()
                && s.spec
                    .selector
                    .iter()
                    .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
        })
        .map(|s| s.key())
        .collect()
}

struct State {
    client: Client,
    services: Cache<Service>,
    pods: Cache<Pod>,
    endpoints: Cache<Endpoints>,
}

impl State {
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let namespace = key.namespace.clone().unwrap_or_default();
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), &namespace);
        let Some(svc) = self.services.get(key) else {
            if self.endpoints.get(key).is_some() {
                match api.delete(&key.name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if e.code() == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Action::Done);
        };
        if svc.spec.selector.is_empty() || svc.is_being_deleted() {
            return Ok(Action::Done);
        }
        let selected: Vec<Arc<Pod>> = self
            .pods
            .list_namespace(&namespace)
            .into_iter()
            .filter(|p| {
                svc.spec
                    .selector
                    .iter()
                    .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
            })
            .collect();
        let subsets = subsets(&svc, &selected);
        let mut labels = svc.metadata.labels.clone();
        if svc.is_headless() {
            labels.insert(HEADLESS_LABEL.to_owned(), String::new());
        } else {
            labels.remove(HEADLESS_LABEL);
        }
        match self.endpoints.get(key) {
            Some(current) if current.subsets == subsets && current.metadata.labels == labels => {}
            Some(current) => {
                let mut updated = (*current).clone();
                updated.subsets = subsets;
                updated.metadata.labels = labels;
                api.replace(&key.name, &PostParams::default(), &updated)
                    .await?;
            }
            None => {
                let ep = Endpoints {
                    metadata: ObjectMeta {
                        name: Some(key.name.clone()),
                        namespace: Some(namespace.clone()),
                        labels,
                        ..ObjectMeta::default()
                    },
                    subsets,
                };
                // A 409 means a cache behind: the retry sees the Endpoints.
                api.create(&PostParams::default(), &ep).await?;
            }
        }
        Ok(Action::Done)
    }
}

/// The port a Service port reaches on this pod, if the pod has it.
fn target_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|cp| {
                cp.name.as_deref() == Some(name.as_str())
                    && cp.protocol.clone().unwrap_or_default() == port.protocol()
            })
            .map(|cp| cp.container_port),
    }
}

fn protocol_rank(p: &Protocol) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The subsets for these pods: addresses grouped by identical ports, sorted.
pub(crate) fn subsets(svc: &Service, selected: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let publish_not_ready = svc.spec.publish_not_ready_addresses;
    // Ports (sorted) -> (ready addresses, not ready addresses), by IP.
    type Addresses = (
        BTreeMap<String, EndpointAddress>,
        BTreeMap<String, EndpointAddress>,
    );
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Addresses> = BTreeMap::new();
    for pod in selected {
        let Some(ip) = pod.status.pod_ip.clone().filter(|ip| !ip.is_empty()) else {
            continue;
        };
        if pod.is_terminal() || (pod.is_being_deleted() && !publish_not_ready) {
            continue;
        }
        let hostname = pod
            .spec
            .hostname
            .clone()
            .filter(|h| !h.is_empty() && pod.spec.subdomain.as_deref() == Some(svc.name_any()));
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname,
            node_name: pod.spec.node_name.clone().filter(|n| !n.is_empty()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            }),
        };
        let ready = publish_not_ready || (pod.is_ready() && pods::is_active(pod));
        // Without ports, only a headless Service lists addresses.
        if svc.spec.ports.is_empty() && !svc.is_headless() {
            continue;
        }
        let mut ports: Vec<(String, i32, String)> = svc
            .spec
            .ports
            .iter()
            .filter_map(|port| {
                let number = target_port(pod, port)?;
                Some((
                    port.name.clone().unwrap_or_default(),
                    number,
                    protocol_rank(&port.protocol()),
                ))
            })
            .collect();
        if ports.is_empty() && !svc.spec.ports.is_empty() {
            continue;
        }
        ports.sort();
        let group = groups.entry(ports).or_default();
        if ready {
            group.1.remove(&ip);
            group.0.insert(ip, address);
        } else if !group.0.contains_key(&ip) {
            group.1.insert(ip, address);
        }
    }
    let by_name: BTreeMap<(String, i32, String), &ServicePort> = svc
        .spec
        .ports
        .iter()
        .map(|p| {
            (
                (
                    p.name.clone().unwrap_or_default(),
                    0,
                    protocol_rank(&p.protocol()),
                ),
                p,
            )
        })
        .collect();
    groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: ready.into_values().collect(),
            not_ready_addresses: not_ready.into_values().collect(),
            ports: ports
                .into_iter()
                .map(|(name, port, proto)| {
                    let sp = by_name.get(&(name.clone(), 0, proto));
                    EndpointPort {
                        name: (!name.is_empty()).then_some(name),
                        port,
                        protocol: sp.map(|p| p.protocol()),
                        app_protocol: sp.and_then(|p| p.app_protocol.clone()),
                    }
                })
                .collect(),
        })
        .collect()
}
