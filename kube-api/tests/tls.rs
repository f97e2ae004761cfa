//! HTTPS end to end, without the API server: the served stack around a service that
//! answers with the user it was given, reached by the client from the written kubeconfig,
//! with client certificates, tokens, wrong credentials and a wrong CA.

// Test helpers outside #[test] functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;

use http::Request;
use kube_api::client::{Api, Client, ClientConfig, Kubeconfig, RetryPolicy};
use kube_api::server::authn::TokenFile;
use kube_api::server::pki::{Pki, PkiConfig};
use kube_api::server::stack::{AuthorizationMode, RunningServer, Stack, StackBuilder, StackError};
use kube_api::server::{ApiBody, ApiResponse, UserInfo};
use kube_core::ConfigMap;

/// Answers every request with a ConfigMap naming the user and groups it arrived with.
fn whoami() -> impl tower::Service<
    Request<ApiBody>,
    Response = ApiResponse,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(|req: Request<ApiBody>| async move {
        let user = req
            .extensions()
            .get::<UserInfo>()
            .cloned()
            .unwrap_or_default();
        let body = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "whoami", "namespace": "default", "resourceVersion": "1"},
            "data": {"user": user.name, "groups": user.groups.join(",")}
        });
        let mut res = http::Response::new(ApiBody::from(serde_json::to_vec(&body).unwrap()));
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, Infallible>(res)
    })
}

async fn stack(dir: &std::path::Path) -> Stack {
    StackBuilder::new(whoami())
        .pki_dir(dir)
        .tokens(TokenFile::parse("s3cret,alice,u1,\"dev,ops\"\n").unwrap())
        .authorization(AuthorizationMode::AllowAll)
        .build()
        .await
        .unwrap()
}

async fn whoami_via(client: Client) -> Result<(String, String), kube_core::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = api.get("whoami").await?;
    Ok((cm.data["user"].clone(), cm.data["groups"].clone()))
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn config_for(server: &RunningServer, pki: &Pki) -> ClientConfig {
    let mut config = ClientConfig::new(server.url()).unwrap();
    config.root_certificates = pki.ca.cert_chain().unwrap();
    config.retry = RetryPolicy::none();
    config
}

#[tokio::test]
async fn the_written_kubeconfig_authenticates_as_admin() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path()).await;
    let server = stack.serve(local()).await.unwrap();
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig_path().unwrap()).unwrap();
    let client = Client::try_from_kubeconfig(&kubeconfig, None).unwrap();
    let (user, groups) = whoami_via(client).await.unwrap();
    assert_eq!(user, "kubernetes-admin");
    assert_eq!(groups, "system:masters,system:authenticated");
    server.shutdown().await;
}

#[tokio::test]
async fn tokens_and_issued_certificates_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path()).await;
    let server = stack.serve(local()).await.unwrap();
    let pki = stack.pki().unwrap();

    let mut config = config_for(&server, pki);
    config.token = Some("s3cret".into());
    let (user, groups) = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (user.as_str(), groups.as_str()),
        ("alice", "dev,ops,system:authenticated")
    );

    let creds = pki.issue_client_certificate("bob", Some("qa")).unwrap();
    let mut config = config_for(&server, pki);
    config.client_identity = Some((creds.cert_chain().unwrap(), creds.private_key().unwrap()));
    let (user, groups) = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(
        (user.as_str(), groups.as_str()),
        ("bob", "qa,system:authenticated")
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path()).await;
    let server = stack.serve(local()).await.unwrap();
    let pki = stack.pki().unwrap();

    let mut config = config_for(&server, pki);
    config.token = Some("wrong".into());
    let err = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 401, "{err}");

    let config = config_for(&server, pki);
    let err = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 401, "{err}");
}

#[tokio::test]
async fn certificates_of_another_ca_are_refused_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let stack = stack(dir.path()).await;
    let server = stack.serve(local()).await.unwrap();
    let other = Pki::load_or_create(&PkiConfig::new(other_dir.path())).unwrap();

    // The client does not trust a server whose certificate another CA signed.
    let config = config_for(&server, &other);
    let err = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    // Unless told not to verify (development only).
    let mut config = config_for(&server, &other);
    config.insecure_skip_tls_verify = true;
    config.token = Some("s3cret".into());
    let (user, _) = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(user, "alice");

    // The server refuses a client certificate another CA signed.
    let mut config = config_for(&server, stack.pki().unwrap());
    config.client_identity = Some((
        other.admin.cert_chain().unwrap(),
        other.admin.private_key().unwrap(),
    ));
    assert!(
        whoami_via(Client::try_from_config(&config).unwrap())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn plain_http_only_on_loopback() {
    let stack = StackBuilder::new(whoami())
        .authorization(AuthorizationMode::AllowAll)
        .tokens(TokenFile::parse("s3cret,alice,u1\n").unwrap())
        .build()
        .await
        .unwrap();
    let err = stack
        .serve_plain("0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, StackError::Serve(_)), "{err}");
    assert!(matches!(stack.serve(local()).await, Err(StackError::NoPki)));

    let server = stack.serve_plain(local()).await.unwrap();
    let mut config = ClientConfig::new(server.url()).unwrap();
    config.token = Some("s3cret".into());
    let (user, _) = whoami_via(Client::try_from_config(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(user, "alice");
}

#[tokio::test]
async fn in_process_clients_pass_the_same_layers() {
    let stack = StackBuilder::new(whoami())
        .authorization(AuthorizationMode::AllowAll)
        .build()
        .await
        .unwrap();
    let (user, groups) = whoami_via(stack.admin_client()).await.unwrap();
    assert_eq!(user, "system:admin");
    assert!(groups.contains("system:masters"));
    let scheduler = UserInfo::new("system:kube-scheduler", Vec::<String>::new());
    let (user, _) = whoami_via(stack.client_as(scheduler)).await.unwrap();
    assert_eq!(user, "system:kube-scheduler");
}
