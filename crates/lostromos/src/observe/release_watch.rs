//! The live view of helm releases: metadata-only watches on helm's release
//! Secrets feed a `ReleaseIndex`; each change also triggers the CR it belongs to.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::{broadcast, watch};

use crate::observe::cr::CrObject;
use crate::observe::release_index::{ReleaseIndex, ReleaseState, SecretMeta};
use crate::plan::labels;

/// Shared, always-current release state.
pub struct Releases {
    index: RwLock<ReleaseIndex>,
    /// Bumped on every change, so waiters can wake.
    changes: watch::Sender<u64>,
    /// Scopes whose first list has not finished yet.
    unsynced: watch::Sender<usize>,
    triggers: broadcast::Sender<ObjectRef<CrObject>>,
    /// Which CR each release belongs to, learned as CRs are reconciled (label
    /// values may be shortened, so they cannot always name the CR).
    owners: RwLock<HashMap<(String, String), ObjectRef<CrObject>>>,
    cr_resource: ApiResource,
}

impl Releases {
    pub fn new(cr_resource: ApiResource, scopes: usize) -> Arc<Self> {
        Arc::new(Self {
            index: RwLock::default(),
            changes: watch::channel(0).0,
            unsynced: watch::channel(scopes).0,
            triggers: broadcast::channel(4096).0,
            owners: RwLock::default(),
            cr_resource,
        })
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

    /// Waits until every scope has been listed once: before that, a missing
    /// release may just not be seen yet, and acting on it would reinstall.
    pub async fn wait_synced(&self) {
        let mut rx = self.unsynced.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
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

    /// A stream of CRs whose release changed, for a controller's `reconcile_on`.
    pub fn triggers(&self) -> impl futures::Stream<Item = ObjectRef<CrObject>> + Send + 'static {
        futures::stream::unfold(self.triggers.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(r) => return Some((r, rx)),
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
        // Before a CR is first reconciled, its labels name it (when they fit).
        let owner = known.or_else(|| {
            let name = meta.labels.get(labels::CR_NAME)?;
            let r = ObjectRef::new_with(name, self.cr_resource.clone());
            Some(match meta.labels.get(labels::CR_NAMESPACE) {
                Some(ns) => r.within(ns),
                None => r,
            })
        });
        if let Some(r) = owner {
            let _ = self.triggers.send(r);
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies one watch event of `scope` to the index.
    pub(crate) fn apply(
        &self,
        scope: Option<&str>,
        event: Event<PartialObjectMeta<Secret>>,
        synced_once: &mut bool,
    ) {
        {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            match &event {
                Event::Apply(s) => index.apply(&meta(s)),
                Event::Delete(s) => index.delete(&meta(s)),
                Event::Init => index.relist_begin(scope),
                Event::InitApply(s) => index.relist_item(scope, meta(s)),
                Event::InitDone => index.relist_done(scope),
            }
        }
        match &event {
            Event::Apply(s) | Event::Delete(s) | Event::InitApply(s) => self.trigger(&meta(s)),
            Event::InitDone if !*synced_once => {
                *synced_once = true;
                self.unsynced.send_modify(|n| *n = n.saturating_sub(1));
            }
            _ => {}
        }
        self.changed();
    }
}

fn meta(s: &PartialObjectMeta<Secret>) -> SecretMeta {
    let m = &s.metadata;
    SecretMeta {
        namespace: m.namespace.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        created_unix: m.creation_timestamp.as_ref().map(|t| t.0.as_second()),
    }
}

/// Watches release Secrets in one scope (a namespace, or all) until the process
/// ends; watch errors are retried with kube's default backoff.
pub async fn watch_scope(client: Client, releases: Arc<Releases>, scope: Option<String>) {
    let api: Api<PartialObjectMeta<Secret>> = match &scope {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let config = watcher::Config::default().labels("owner=helm");
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut synced_once = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => releases.apply(scope.as_deref(), event, &mut synced_once),
            Err(e) => {
                tracing::warn!(scope = scope.as_deref().unwrap_or("*"), error = %e, "release watch failed; retrying")
            }
        }
    }
}
