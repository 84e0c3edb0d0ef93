//! What `run` checks before it starts: the cluster answers, the watched type
//! is served, and the settings fit it. Each failure is one message with its fix.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use kube::api::ApiResource;
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, Scope};
use kube::Client;

use lostromos::config::settings::{Settings, Watched};
use lostromos::observe::api_calls::{ApiCalls, TrackLayer};

/// The watched type as the API server serves it.
pub struct Served {
    pub resource: ApiResource,
    pub has_status: bool,
}

/// The client, with every request tracked in `calls` (for `/healthz`).
pub async fn client(s: &Settings, calls: &Arc<ApiCalls>) -> anyhow::Result<Client> {
    let config = match &s.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not in a cluster; fix: set KUBECONFIG or --kubeconfig")?,
    };
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&TrackLayer(calls.clone()))
        .build())
}

/// Finds the watched type on the API server and checks the settings against it.
pub async fn served(client: &Client, s: &Settings, w: &Watched) -> anyhow::Result<Served> {
    let (resource, caps) = discover(client, w).await?;
    let namespaced = caps.scope == Scope::Namespaced;
    if !namespaced && s.release_namespace.is_none() {
        bail!(
            "{} is cluster-scoped, so releases need a namespace; fix: add --release-namespace NAME",
            resource.kind
        );
    }
    if !namespaced && !s.namespaces.is_empty() {
        bail!("{} is cluster-scoped; --namespace does not apply to it (use --release-namespace for the releases)", resource.kind);
    }
    let has_status = caps
        .subresources
        .iter()
        .any(|(sub, _)| sub.plural == "status");
    Ok(Served {
        resource,
        has_status,
    })
}

/// Finds the watched type on the API server, by kind or plural name.
async fn discover(client: &Client, w: &Watched) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    let gv = GroupVersion::gv(&w.group, &w.version);
    let not_served = || {
        format!(
            "the API server does not serve {}/{} kind {}; fix: install its CRD (kubectl get crd) or correct --group/--version/--kind",
            w.group, w.version, w.kind
        )
    };
    let group = kube::discovery::oneshot::pinned_group(client, &gv)
        .await
        .with_context(not_served)?;
    let wanted = w.kind.to_ascii_lowercase();
    group
        .versioned_resources(&w.version)
        .into_iter()
        .find(|(ar, _)| ar.kind.to_ascii_lowercase() == wanted || ar.plural == wanted)
        .with_context(not_served)
}
