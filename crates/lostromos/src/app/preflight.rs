//! What `run` checks before it starts: a kubeconfig, an API server that
//! answers, the watched type served, the settings fitting it, and every
//! permission the controller needs. Each failure is one message with its fix.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, ListParams, PostParams};
use kube::core::{GroupVersion, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Discovery, Scope};
use kube::Client;

use super::leader;
use super::permissions::{self, Need, Scopes};
use lostromos::config::settings::{Settings, Watched};
use lostromos::helm::argv::ValuesInput;
use lostromos::helm::{HelmArgs, HelmRunner};
use lostromos::observe::api_calls::{ApiCalls, TrackLayer};
use lostromos::observe::manifest;
use lostromos::plan::labels;

/// How long the first request may take before the server counts as unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// The watched type as the API server serves it.
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub has_status: bool,
}

/// The client, with every request tracked in `calls` (for `/healthz`).
pub async fn client(s: &Settings, calls: &Arc<ApiCalls>) -> anyhow::Result<Client> {
    let config = match &s.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                anyhow!(
                    "--kubeconfig {}: {}; fix: point --kubeconfig at a valid kubeconfig file",
                    path.display(),
                    innermost(&e)
                )
            })?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| anyhow!("--kubeconfig {}: {}", path.display(), innermost(&e)))?
        }
        None => kube::Config::infer().await.map_err(|e| no_kubeconfig(&e))?,
    };
    let url = config.cluster_url.to_string();
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&TrackLayer(calls.clone()))
        .build();
    match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(client),
        Ok(Err(kube::Error::Api(s))) if s.code == 401 => bail!(
            "the API server at {url} refused the credentials (401 Unauthorized); fix: use a kubeconfig whose \
             user is valid for that cluster (--kubeconfig, KUBECONFIG, or its current context)"
        ),
        Ok(Err(e)) => bail!(
            "cannot reach the API server at {url}: {}; fix: check the kubeconfig (--kubeconfig or KUBECONFIG) \
             and its current context (kubectl config current-context), and that the server runs",
            innermost(&e)
        ),
        Err(_) => bail!(
            "cannot reach the API server at {url}: no answer within {}s; fix: check the kubeconfig \
             (--kubeconfig or KUBECONFIG) and its current context (kubectl config current-context)",
            REACH_TIMEOUT.as_secs()
        ),
    }
}

/// The message for "no kubeconfig anywhere": kube's own error repeats the
/// same "No such file or directory" for each place it looked.
fn no_kubeconfig(e: &kube::config::InferConfigError) -> anyhow::Error {
    let env = std::env::var("KUBECONFIG").ok().filter(|v| !v.is_empty());
    let looked = match &env {
        Some(v) => format!("KUBECONFIG={v} names no readable kubeconfig"),
        None => "KUBECONFIG is not set, ~/.kube/config does not exist".into(),
    };
    tracing::debug!(error = %e, "kubeconfig inference");
    anyhow!(
        "no kubeconfig: {looked}, and this is not a pod with a service account; fix: set KUBECONFIG or \
         --kubeconfig to a kubeconfig file"
    )
}

/// The deepest cause of an error: the part that says what went wrong.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
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
        namespaced,
        has_status,
    })
}

/// Finds the watched type on the API server, by kind or plural name; when it
/// is not there, says what the server does serve under that group or kind.
async fn discover(client: &Client, w: &Watched) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    let gv = GroupVersion::gv(&w.group, &w.version);
    let wanted = w.kind.to_ascii_lowercase();
    if let Ok(group) = kube::discovery::oneshot::pinned_group(client, &gv).await {
        if let Some(found) = group
            .versioned_resources(&w.version)
            .into_iter()
            .find(|(ar, _)| ar.kind.to_ascii_lowercase() == wanted || ar.plural == wanted)
        {
            return Ok(found);
        }
    }
    bail!(
        "the API server does not serve {}/{} kind {}; {}; fix: correct --group/--version/--kind, or install the CRD (kubectl apply -f crd.yaml)",
        w.group,
        w.version,
        w.kind,
        served_instead(client, w).await
    )
}

/// What the server serves that the user may have meant: the same kind in
/// other groups or versions, and what the named group holds.
async fn served_instead(client: &Client, w: &Watched) -> String {
    let Ok(discovery) = Discovery::new(client.clone()).run().await else {
        return "the server's API groups could not be listed".into();
    };
    let wanted = w.kind.to_ascii_lowercase();
    let mut same_kind = Vec::new();
    let mut in_group = Vec::new();
    for group in discovery.groups() {
        for (ar, _) in group.recommended_resources() {
            let shown = format!("{} {}", ar.api_version, ar.kind);
            if ar.kind.to_ascii_lowercase() == wanted || ar.plural == wanted {
                same_kind.push(shown.clone());
            }
            if group.name() == w.group {
                in_group.push(shown);
            }
        }
        if group.name() == w.group {
            // every version, not only the preferred one
            for v in group.versions() {
                for (ar, _) in group.versioned_resources(v) {
                    let shown = format!("{} {}", ar.api_version, ar.kind);
                    if !in_group.contains(&shown) {
                        in_group.push(shown);
                    }
                }
            }
        }
    }
    let mut served: Vec<String> = same_kind;
    for s in in_group {
        if !served.contains(&s) {
            served.push(s);
        }
    }
    if served.is_empty() {
        format!(
            "no API group serves kind {} and group {} does not exist",
            w.kind, w.group
        )
    } else {
        format!("served: {}", served.join(", "))
    }
}

/// Namespaces of CRs, releases and Events, as the settings and type decide.
fn scopes(s: &Settings, served: &Served) -> Scopes {
    let watched: Vec<Option<String>> = if s.namespaces.is_empty() {
        vec![None]
    } else {
        s.namespaces.iter().cloned().map(Some).collect()
    };
    let releases = match &s.release_namespace {
        Some(ns) => vec![Some(ns.clone())],
        None => watched.clone(),
    };
    let events = if served.namespaced {
        watched.clone()
    } else {
        // kube's recorder puts Events on cluster-scoped objects in `default`
        vec![Some("default".to_owned())]
    };
    Scopes {
        crs: if served.namespaced {
            watched
        } else {
            vec![None]
        },
        releases,
        events,
    }
}

/// Checks every permission `run` will use for every kind; fails with one
/// message listing all that are missing.
pub async fn permissions(client: &Client, kinds: &[(&Settings, &Served)]) -> anyhow::Result<()> {
    let resources: Vec<ApiResource> = kinds.iter().map(|(_, k)| k.resource.clone()).collect();
    let mut needs: Vec<Need> = Vec::new();
    for (i, (s, served)) in kinds.iter().enumerate() {
        let resource = &served.resource;
        // the lease is one for the process: asked for once
        let lease_name = s
            .lease
            .as_ref()
            .filter(|_| i == 0)
            .map(|l| leader::lease_name(l, &resources));
        let kind_needs = permissions::needed(
            &permissions::Watched {
                group: &resource.group,
                plural: &resource.plural,
                has_status: served.has_status,
            },
            &scopes(s, served),
            s.lease
                .as_ref()
                .zip(lease_name.as_deref())
                .map(|(l, n)| (l.namespace.as_str(), n)),
        );
        for need in kind_needs {
            if !needs.contains(&need) {
                needs.push(need);
            }
        }
    }
    check(client, &needs).await
}

/// Whether a release Lostrómos made exists where these releases live: one
/// list of at most one Secret's metadata per scope. Unknown (refused,
/// unreachable) counts as none, so the check runs.
async fn releases_exist(client: &Client, scopes: &[Option<String>]) -> bool {
    let lp = ListParams::default()
        .labels(&format!("owner=helm,{}", labels::OWNER))
        .limit(1);
    for scope in scopes {
        let api: Api<Secret> = match scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        if api
            .list_metadata(&lp)
            .await
            .is_ok_and(|list| !list.items.is_empty())
        {
            return true;
        }
    }
    false
}

/// Warns, before anything starts, when Lostrómos may not list and watch the
/// kinds of objects a driven chart makes (rendered once with its defaults and
/// the shared values): their readiness and drift would stay unknown. Not
/// fatal: a CR's values may make other kinds, and each release's own kinds are
/// checked by its watches (which name what is refused on the CR and in
/// `/readyz`). So where Lostrómos's releases already exist (a restart), those
/// watches check the kinds, and no helm process runs for it.
pub async fn object_permissions(
    client: &Client,
    runner: &HelmRunner,
    kinds: &[(&Settings, HelmArgs, Vec<Option<String>>)],
) {
    let mut needs: Vec<Need> = Vec::new();
    for (s, helm, scopes) in kinds {
        if !s.watch_objects {
            continue;
        }
        if releases_exist(client, scopes).await {
            tracing::debug!("releases exist: the watches of their objects check these kinds");
            continue;
        }
        let mut values = serde_json::json!({});
        for layer in s.values.base.iter().chain(&s.values.overrides) {
            lostromos::plan::values::merge(&mut values, layer);
        }
        let inv = helm.template(
            "lostromos-preflight",
            "default",
            ValuesInput::new(&values, &[]),
        );
        let rendered = match runner.run(&inv, s.timeout).await {
            Ok(out) => out.stdout,
            Err(e) => {
                // a chart that needs values from the CR: its kinds are known per release
                tracing::debug!(error = %e, "the chart does not render with its defaults; its object kinds are checked per release");
                continue;
            }
        };
        let Ok(objects) = manifest::objects(&rendered) else {
            continue;
        };
        let mut seen = Vec::new();
        for o in objects {
            let key = (o.group, o.version, o.kind);
            if seen.contains(&key) {
                continue;
            }
            let gvk = GroupVersionKind::gvk(&key.0, &key.1, &key.2);
            seen.push(key);
            let Ok((resource, caps)) = kube::discovery::pinned_kind(client, &gvk).await else {
                continue;
            };
            let places = if caps.scope == Scope::Namespaced {
                scopes.clone()
            } else {
                vec![None]
            };
            for namespace in places {
                let need = Need {
                    group: resource.group.clone(),
                    resource: resource.plural.clone(),
                    subresource: None,
                    namespace,
                    name: None,
                    verbs: vec!["list", "watch"],
                    why: "to see the releases' objects: readiness and drift",
                };
                if !needs.contains(&need) {
                    needs.push(need);
                }
            }
        }
    }
    if let Err(e) = check(client, &needs).await {
        // one log line
        let e = e.to_string().replace("\n  - ", " ").replace('\n', "; ");
        tracing::warn!(
            "{e}; until then readiness and drift of those objects stay unknown and their CRs say so \
             (the lostromos chart grants them with rbac.objects)"
        );
    }
}

/// Asks the API server about each need.
async fn check(client: &Client, needs: &[Need]) -> anyhow::Result<()> {
    let reviews = Api::<SelfSubjectAccessReview>::all(client.clone());
    let checks = needs.iter().flat_map(|need| {
        let reviews = reviews.clone();
        need.verbs.iter().map(move |verb| {
            let reviews = reviews.clone();
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(need.group.clone()),
                        resource: Some(need.resource.clone()),
                        subresource: need.subresource.clone(),
                        namespace: need.namespace.clone(),
                        name: need.name.clone(),
                        verb: Some((*verb).to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            async move {
                let allowed = reviews
                    .create(&PostParams::default(), &review)
                    .await
                    .map(|r| r.status.is_some_and(|s| s.allowed));
                (need, *verb, allowed)
            }
        })
    });
    let results = futures::future::join_all(checks).await;
    let mut denied: Vec<(Need, Vec<&'static str>)> = Vec::new();
    for (need, verb, allowed) in results {
        match allowed {
            Ok(true) => {}
            Ok(false) => match denied.iter_mut().find(|(n, _)| n == need) {
                Some((_, verbs)) => verbs.push(verb),
                None => denied.push((need.clone(), vec![verb])),
            },
            // the review itself is refused: nothing to learn, the controller will say
            Err(e) => {
                tracing::warn!(error = %e, "could not check permissions (SelfSubjectAccessReview)");
                return Ok(());
            }
        }
    }
    if denied.is_empty() {
        return Ok(());
    }
    let user = whoami(client).await;
    Err(anyhow!(permissions::missing_message(
        user.as_deref(),
        &denied
    )))
}

/// The authenticated user's name, when the server tells it.
async fn whoami(client: &Client) -> Option<String> {
    let review = SelfSubjectReview::default();
    Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()?
        .status?
        .user_info?
        .username
}
