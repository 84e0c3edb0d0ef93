//! The live view of helm releases: metadata-only watches on helm's release
//! Secrets feed a `ReleaseIndex`; each change also triggers the CR it belongs to.
//! Each scope's watch health says when that view cannot be trusted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::{watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::{broadcast, watch};

use crate::observe::cr::{CrObject, CrType};
use crate::observe::lists::{ListMode, Listing};
use crate::observe::release_index::{ReleaseIndex, ReleaseState, SecretMeta};
use crate::observe::watch_health::{self, Cause, WatchHealth, Watches};
use crate::plan::labels;

/// How long a release watch lasts before the API server ends it and it is
/// started again (resumed, not listed): a permission lost meanwhile shows by
/// then. kube's default is 290 s.
pub const WATCH_TIMEOUT_SECS: u32 = 60;

/// Where releases live and are watched: one namespace, or all of them.
struct Scope {
    namespace: Option<String>,
    health: Arc<WatchHealth>,
    /// Listed once: before that, a missing release may just not be seen yet.
    synced: AtomicBool,
}

/// Why the index cannot be trusted for a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unseen {
    /// The scope's watch is refused: the index may be stale. The message names
    /// the missing permission and its fix.
    Forbidden(String),
    /// The scope has not been listed yet.
    Syncing,
}

/// Shared, always-current release state.
pub struct Releases {
    index: RwLock<ReleaseIndex>,
    /// Bumped on every change (and every watch error), so waiters can wake.
    changes: watch::Sender<u64>,
    scopes: Vec<Scope>,
    triggers: broadcast::Sender<ObjectRef<CrObject>>,
    /// Which CR each release belongs to, learned as CRs are reconciled (label
    /// values may be shortened, so they cannot always name the CR).
    owners: RwLock<HashMap<(String, String), ObjectRef<CrObject>>>,
    /// The watched kinds, whose CRs releases belong to.
    cr_resources: Vec<CrType>,
    /// How the watches of CRs and of release Secrets take their first list.
    lists: ListMode,
}

impl Releases {
    /// The index for release `scopes` (namespaces; `None` for all) of the CRs
    /// of `cr_resources`, with their watches' health registered in `watches`.
    pub fn new(
        cr_resources: Vec<CrType>,
        scopes: Vec<Option<String>>,
        watches: &Watches,
        lists: ListMode,
    ) -> Arc<Self> {
        let scopes = scopes
            .into_iter()
            .map(|namespace| Scope {
                health: watches.add(scope_label(namespace.as_deref())),
                namespace,
                synced: AtomicBool::new(false),
            })
            .collect();
        Arc::new(Self {
            index: RwLock::default(),
            changes: watch::channel(0).0,
            scopes,
            triggers: broadcast::channel(4096).0,
            owners: RwLock::default(),
            cr_resources,
            lists,
        })
    }

    /// How watches take their first list (the API server was asked at start).
    pub fn lists(&self) -> ListMode {
        self.lists
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<ReleaseState> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(namespace, name)
    }

    pub fn managed_by_status(&self) -> Vec<(&'static str, usize)> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .managed_by_status()
    }

    /// Waits until every scope has been listed once, or is refused (then
    /// reconciles report that): before that, a missing release may just not be
    /// seen yet, and acting on it would reinstall.
    pub async fn wait_synced(&self) {
        let mut rx = self.changes.subscribe();
        let _ = rx
            .wait_for(|_| {
                self.scopes
                    .iter()
                    .all(|s| s.synced.load(Ordering::Relaxed) || forbidden(&s.health).is_some())
            })
            .await;
    }

    /// Why release `namespace/name` cannot be seen as it is now, if it cannot:
    /// then nothing may be decided on it.
    pub fn unseen(&self, namespace: &str, name: &str) -> Option<Unseen> {
        let scope = self
            .scopes
            .iter()
            .find(|s| s.namespace.as_deref().is_none_or(|n| n == namespace))?;
        if let Some((verb, message)) = forbidden(&scope.health) {
            return Some(Unseen::Forbidden(forbidden_message(
                scope.namespace.as_deref(),
                namespace,
                name,
                verb,
                &message,
            )));
        }
        (!scope.synced.load(Ordering::Relaxed)).then_some(Unseen::Syncing)
    }

    /// Waits (at most `timeout`) until `done` holds for the release, e.g. until the
    /// revision helm just wrote has reached the index.
    pub async fn wait_for(
        &self,
        namespace: &str,
        name: &str,
        timeout: Duration,
        done: impl Fn(Option<&ReleaseState>) -> bool,
    ) -> Option<ReleaseState> {
        let mut rx = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let state = self.get(namespace, name);
            if done(state.as_ref()) {
                return state;
            }
            rx.borrow_and_update();
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.get(namespace, name);
            }
        }
    }

    /// A stream of the CRs of kind `resource` whose release changed, for that
    /// kind's controller's `reconcile_on`.
    pub fn triggers(
        &self,
        resource: &CrType,
    ) -> impl futures::Stream<Item = ObjectRef<CrObject>> + Send + 'static {
        let state = (self.triggers.subscribe(), resource.clone());
        futures::stream::unfold(state, |(mut rx, resource)| async move {
            loop {
                match rx.recv().await {
                    Ok(r) if same_kind(&r.dyntype, &resource) => return Some((r, (rx, resource))),
                    Ok(_) => continue,
                    // missed triggers are covered by the periodic re-check
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Records that release `namespace/name` belongs to the CR `owner`.
    pub fn remember_owner(&self, namespace: &str, name: &str, owner: ObjectRef<CrObject>) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        if owners.get(&key) != Some(&owner) {
            owners.insert(key, owner);
        }
    }

    /// Wakes the CR of release `namespace/name`, if known (an object of the
    /// release changed).
    pub fn trigger_release(&self, namespace: &str, name: &str) {
        let owner = self
            .owners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned();
        if let Some(owner) = owner {
            let _ = self.triggers.send(owner);
        }
    }

    pub fn forget_owner(&self, namespace: &str, name: &str) {
        self.owners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(namespace.to_owned(), name.to_owned()));
    }

    fn trigger(&self, meta: &SecretMeta) {
        let Some(release) = meta.labels.get("name") else {
            return;
        };
        let known = self
            .owners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(meta.namespace.clone(), release.clone()))
            .cloned();
        if let Some(r) = known {
            let _ = self.triggers.send(r);
            return;
        }
        // Before a CR is first reconciled, its labels name it (when they fit),
        // though not its kind: each kind's controller looks for it.
        let Some(name) = meta.labels.get(labels::CR_NAME) else {
            return;
        };
        for resource in &self.cr_resources {
            let r = ObjectRef::new_with(name, resource.clone());
            let r = match meta.labels.get(labels::CR_NAMESPACE) {
                Some(ns) => r.within(ns),
                None => r,
            };
            let _ = self.triggers.send(r);
        }
    }

    /// Triggers every known CR whose release lives in `scope`.
    fn trigger_scope(&self, scope: &Scope) {
        let owners: Vec<ObjectRef<CrObject>> = self
            .owners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((ns, _), _)| scope.namespace.as_deref().is_none_or(|s| s == ns))
            .map(|(_, owner)| owner.clone())
            .collect();
        for owner in owners {
            let _ = self.triggers.send(owner);
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies one watch event of `scope` to the index.
    /// Applies one event to the first scope, as its watch would (for tests).
    #[cfg(test)]
    pub(crate) fn feed(&self, event: Event<PartialObjectMeta<Secret>>) {
        if let Some(scope) = self.scopes.first() {
            self.apply(scope, event);
        }
    }

    fn apply(&self, scope: &Scope, event: Event<PartialObjectMeta<Secret>>) {
        let namespace = scope.namespace.as_deref();
        {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            match &event {
                Event::Apply(s) => index.apply(&meta(s)),
                Event::Delete(s) => index.delete(&meta(s)),
                Event::Init => index.relist_begin(namespace),
                Event::InitApply(s) => index.relist_item(namespace, meta(s)),
                Event::InitDone => index.relist_done(namespace),
            }
        }
        match &event {
            Event::Apply(s) | Event::Delete(s) => self.trigger(&meta(s)),
            // On the first list every CR is about to be decided anyway (its own
            // list wakes it); a relist wakes those whose release may have
            // changed unseen.
            Event::InitApply(s) if scope.synced.load(Ordering::Relaxed) => self.trigger(&meta(s)),
            Event::InitDone => scope.synced.store(true, Ordering::Relaxed),
            Event::Init | Event::InitApply(_) => {}
        }
        // a list changes the index only when it ends: waking every waiter on
        // each of its items (10,000 at a start) would be work for nothing
        if !matches!(event, Event::Init | Event::InitApply(_)) {
            self.changed();
        }
    }
}

/// Whether two resources are one kind (whatever version was asked for).
fn same_kind(a: &ApiResource, b: &ApiResource) -> bool {
    a.group == b.group && a.kind == b.kind
}

/// What a scope's watch is called in `/readyz` and the log.
fn scope_label(namespace: Option<&str>) -> String {
    format!("Secrets (helm releases) {}", in_scope(namespace))
}

/// `in namespace x`, or `in all namespaces`.
fn in_scope(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("in namespace {ns}"),
        None => "in all namespaces".into(),
    }
}

/// The verb refused and the API server's words, while a watch is refused.
fn forbidden(health: &WatchHealth) -> Option<(&'static str, String)> {
    match health.failing()?.cause {
        Cause::Forbidden { verb, message } => Some((verb, message)),
        _ => None,
    }
}

/// The condition message for a release whose Secrets cannot be watched: the
/// missing permission (verb, resource, namespace) and where to grant it.
fn forbidden_message(
    scope: Option<&str>,
    namespace: &str,
    name: &str,
    verb: &str,
    said: &str,
) -> String {
    let (where_, grant) = match scope {
        Some(ns) => (
            format!("in namespace {ns}"),
            format!("a Role in namespace {ns}"),
        ),
        None => ("in all namespaces".to_owned(), "a ClusterRole".to_owned()),
    };
    format!(
        "Lostrómos may not {verb} secrets {where_}, where helm keeps release {namespace}/{name} \
         (the API server said: {said}); it does not act on a stale view of the release and \
         retries with backoff. Fix: grant get, list and watch on secrets to Lostrómos's \
         identity in {grant} (the lostromos chart's RBAC does for the namespaces it is given; \
         or add the rule through the chart's rbac.extraRules)"
    )
}

fn meta(s: &PartialObjectMeta<Secret>) -> SecretMeta {
    let m = &s.metadata;
    SecretMeta {
        namespace: m.namespace.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        created_unix: m.creation_timestamp.as_ref().map(|t| t.0.as_second()),
    }
}

/// Starts one watch of release Secrets per scope, each running until the
/// process ends; errors are retried with the watches' capped backoff and
/// logged rate-limited.
pub fn spawn_watches(client: &Client, releases: &Arc<Releases>) {
    for i in 0..releases.scopes.len() {
        tokio::spawn(watch_scope(client.clone(), releases.clone(), i));
    }
}

async fn watch_scope(client: Client, releases: Arc<Releases>, i: usize) {
    let scope = &releases.scopes[i];
    let api: Api<PartialObjectMeta<Secret>> = match &scope.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let config = releases
        .lists
        .config()
        .labels("owner=helm")
        .timeout(WATCH_TIMEOUT_SECS);
    let mut stream = watcher(api, config)
        .backoff(watch_health::backoff())
        .boxed();
    let what = scope_label(scope.namespace.as_deref());
    let mut listing = Listing::default();
    loop {
        tokio::select! {
            item = stream.next() => match item {
                None => return,
                Some(Ok(event)) => {
                    listing.see(&event, &what);
                    // after a relist, the view is whole (and the watch well) once it is done
                    let whole = !matches!(event, Event::Init | Event::InitApply(_));
                    releases.apply(scope, event);
                    if whole {
                        scope.health.ok();
                    }
                }
                Some(Err(e)) => {
                    scope.health.error(&e);
                    // a refused scope no longer holds up reconciles waiting for its list
                    releases.changed();
                }
            },
            // CRs held back while the scope was refused go on now, not after their backoff
            () = scope.health.permitted() => releases.trigger_scope(scope),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forbidden_message_names_verb_resource_namespace_and_fix() {
        let m = forbidden_message(
            Some("team-a"),
            "team-a",
            "web",
            "watch",
            "secrets is forbidden",
        );
        for part in [
            "may not watch secrets in namespace team-a",
            "release team-a/web",
            "secrets is forbidden",
            "get, list and watch on secrets",
            "a Role in namespace team-a",
            "rbac.extraRules",
        ] {
            assert!(m.contains(part), "{part:?} missing from {m}");
        }
        let m = forbidden_message(None, "team-a", "web", "list", "no");
        assert!(m.contains("may not list secrets in all namespaces"), "{m}");
        assert!(m.contains("a ClusterRole"), "{m}");
    }
}
