//! The objects inside each release. Each release's inventory (kind, namespace,
//! name and the fields helm sets) is read from its own record, one GET per
//! revision and no helm process. One watch per object kind in use, started when
//! the first release uses the kind and stopped with the last, keeps a compact
//! state per object (its kstatus readiness and the writes of other field
//! managers), never the object itself, and wakes the release's CR when that
//! state changes. So nothing is polled: while nothing changes, nothing runs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::{GroupVersionKind, ObjectMeta, PartialObjectMeta};
use kube::discovery::Scope as KindScope;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;

use crate::observe::kstatus::{self, Readiness};
use crate::observe::lists::ListMode;
use crate::observe::managed_fields::{foreign_writes, ForeignWrite};
use crate::observe::manifest::{self, FieldSet};
use crate::observe::release_record::{self, Record, RecordError};
use crate::observe::release_watch::Releases;
use crate::observe::start_pass::{StartPass, START_PASS_CAP};
use crate::observe::watch_health::{self, Cause, WatchHealth, Watches};

/// helm's own marks on what it creates: the label selects them for the
/// watches, the annotations name their release.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=Helm";
pub const RELEASE_NAME: &str = "meta.helm.sh/release-name";
pub const RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";

/// An object missing this long after its release's inventory was read was
/// deleted, not merely not seen yet by its (separate) watch.
pub const MISSING_AFTER: Duration = Duration::from_secs(5);

/// An object kind, as watches and stores know it (the version is the one the
/// first manifest used; every served version shows the same objects).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KindKey {
    pub group: String,
    pub kind: String,
}

/// A release, by namespace and name.
pub type ReleaseKey = (String, String);
/// An object of one kind, by namespace (`None` when cluster-scoped) and name.
type ObjectKey = (Option<String>, String);

/// What is kept of one live object: only what the verdicts need.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ObjectState {
    readiness: Readiness,
    /// Writes by other field managers on the main resource (usually none).
    foreign: Vec<ForeignWrite>,
}

/// One object of a release's inventory.
#[derive(Clone, Debug)]
struct Item {
    kind: Arc<KindKey>,
    namespace: Option<String>,
    name: String,
    fields: FieldSet,
}

/// The objects of one revision of a release.
#[derive(Debug)]
struct Inventory {
    revision: u64,
    server_side: bool,
    items: Vec<Item>,
    read_at: Instant,
    /// Why the manifest could not be read, if it could not.
    problem: Option<String>,
}

/// How one object of a release looks now, for the verdict (`plan::health`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Present; `drift` holds the writes of other managers on fields the
    /// manifest sets (each with only those fields).
    Present {
        readiness: Readiness,
        drift: Vec<ForeignWrite>,
    },
    /// Absent from a watch that has listed; `settled` once the inventory is
    /// older than [`MISSING_AFTER`] (else it may be watch lag).
    Missing { settled: bool },
    /// Its watch has not listed yet.
    Unlisted,
    /// Its kind cannot be watched: why, and the fix.
    Unwatchable(String),
    /// In a namespace outside Lostrómos's scope: not judged.
    Outside,
}

/// One object of a release, as seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectView {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub seen: Seen,
}

impl ObjectView {
    /// `Deployment team-a/web`, `ClusterRole viewer`.
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The objects of a release as seen now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseObjects {
    pub revision: u64,
    /// Applied server-side (helm 4): taking a field back needs `--force-conflicts`.
    pub server_side: bool,
    pub objects: Vec<ObjectView>,
    /// Why the inventory is unknown, if it is.
    pub problem: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("reading release {namespace}/{name} revision {revision}: {source}")]
    Record {
        namespace: String,
        name: String,
        revision: u64,
        source: RecordError,
    },
    #[error("discovering {kind}: {source}")]
    Discovery { kind: String, source: kube::Error },
}

impl ObjectsError {
    /// The API error underneath, for the reconcile's error handling.
    pub fn kube(&self) -> Option<&kube::Error> {
        match self {
            Self::Record {
                source: RecordError::Kube(e),
                ..
            }
            | Self::Discovery { source: e, .. } => Some(e),
            Self::Record { .. } => None,
        }
    }
}

/// How a kind is served.
#[derive(Clone, Debug)]
struct Served {
    resource: ApiResource,
    namespaced: bool,
}

/// One watch of a kind in one scope.
struct ScopeWatch {
    namespace: Option<String>,
    health: Arc<WatchHealth>,
    synced: bool,
    /// Objects of a relist under way, swapped in when it is done.
    relist: Option<HashMap<ObjectKey, (ReleaseKey, ObjectState)>>,
    task: tokio::task::AbortHandle,
}

/// A kind in use: its watches, its objects, and the releases using it.
struct KindWatch {
    /// Tells this run of the watches from an earlier one of the same kind.
    id: u64,
    users: HashSet<ReleaseKey>,
    /// Why it cannot be watched at all (not served), if so.
    unservable: Option<String>,
    scopes: Vec<ScopeWatch>,
    store: HashMap<ObjectKey, (ReleaseKey, ObjectState)>,
}

#[derive(Default)]
struct State {
    inventories: HashMap<ReleaseKey, Inventory>,
    /// Releases queued for a background read of their record.
    queued: HashSet<ReleaseKey>,
    /// Releases whose background read failed: read inline next time, so the
    /// reconcile reports why.
    unreadable: HashSet<ReleaseKey>,
    kinds: HashMap<Arc<KindKey>, KindWatch>,
    /// Discovery answers, kept: a kind's scope does not change under us.
    served: HashMap<KindKey, Served>,
    next_id: u64,
}

/// The inventories and object watches of every release.
/// What [`Objects`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    /// Releases whose objects are known (inventoried).
    pub releases: usize,
    /// Kinds watched.
    pub kinds: usize,
    /// Objects kept, a compact state each.
    pub objects: usize,
}

/// Release records read at once (see [`Objects::ensure`]).
const READING_AT_ONCE: usize = 8;

pub struct Objects {
    client: Client,
    /// Where releases live: namespaced kinds are watched there.
    scopes: Vec<Option<String>>,
    /// Field managers that are helm (its writes are never drift).
    ours: Vec<String>,
    releases: Arc<Releases>,
    watches: Arc<Watches>,
    state: Mutex<State>,
    /// Held while a kind is discovered, so that releases inventoried together
    /// after a start share one discovery instead of each sending their own.
    discovering: tokio::sync::Mutex<()>,
    /// Bounds the release records being read at once.
    reading: tokio::sync::Semaphore,
    /// The background reads' queue, started with the first.
    later: OnceLock<mpsc::UnboundedSender<(ReleaseKey, u64)>>,
    /// The start's re-check, which the background reads wait for.
    pub start_pass: StartPass,
    me: Weak<Objects>,
}

impl Objects {
    pub fn new(
        client: Client,
        scopes: Vec<Option<String>>,
        ours: Vec<String>,
        releases: Arc<Releases>,
        watches: Arc<Watches>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            client,
            scopes,
            ours,
            releases,
            watches,
            state: Mutex::default(),
            discovering: tokio::sync::Mutex::default(),
            reading: tokio::sync::Semaphore::new(READING_AT_ONCE),
            later: OnceLock::new(),
            start_pass: StartPass::default(),
            me: me.clone(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes sure revision `revision` of release `namespace/name` is the one
    /// inventoried: reads its record once per revision, and starts the watches
    /// of kinds no other release used yet.
    pub async fn ensure(
        &self,
        namespace: &str,
        name: &str,
        revision: u64,
    ) -> Result<(), ObjectsError> {
        let key = (namespace.to_owned(), name.to_owned());
        if self
            .state()
            .inventories
            .get(&key)
            .is_some_and(|i| i.revision == revision)
        {
            return Ok(());
        }
        // a few records at a time: after a start every release is inventoried
        // at once, and each record is read whole before it is reduced
        let reading = self.reading.acquire().await;
        let record = release_record::fetch(&self.client, namespace, name, revision)
            .await
            .map_err(|source| ObjectsError::Record {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                revision,
                source,
            })?;
        let read = Read::of(record, namespace, name);
        drop(reading);
        self.take(key, revision, read).await
    }

    /// Inventories revision `revision` of release `namespace/name` from its
    /// record as helm printed it after the run that made it, with no read
    /// of the Secret. (A later revision already inventoried is kept.)
    pub async fn learn(
        &self,
        namespace: &str,
        name: &str,
        revision: u64,
        record: Record,
    ) -> Result<(), ObjectsError> {
        let key = (namespace.to_owned(), name.to_owned());
        if self
            .state()
            .inventories
            .get(&key)
            .is_some_and(|i| i.revision >= revision)
        {
            return Ok(());
        }
        let read = Read::of(record, namespace, name);
        self.take(key, revision, read).await
    }

    /// Makes the inventory of a record's objects, and starts the watches of
    /// kinds no other release used yet.
    async fn take(&self, key: ReleaseKey, revision: u64, read: Read) -> Result<(), ObjectsError> {
        let Read {
            server_side,
            objects,
            problem,
        } = read;
        let namespace = key.0.clone();
        // learn how each new kind is served (one discovery per kind, ever)
        let mut served = HashMap::new();
        for o in &objects {
            let kind = KindKey {
                group: o.group.clone(),
                kind: o.kind.clone(),
            };
            if served.contains_key(&kind) {
                continue;
            }
            let found = match self.served(&kind) {
                Some(s) => Some(s),
                None => {
                    let _one_at_a_time = self.discovering.lock().await;
                    match self.served(&kind) {
                        Some(s) => Some(s),
                        None => self.discover(&o.group, &o.version, &o.kind).await?,
                    }
                }
            };
            served.insert(kind, found);
        }
        let items = objects
            .into_iter()
            .map(|o| {
                let kind = KindKey {
                    group: o.group,
                    kind: o.kind,
                };
                let namespaced = served
                    .get(&kind)
                    .and_then(|s| s.as_ref())
                    .is_none_or(|s| s.namespaced);
                Item {
                    namespace: if namespaced {
                        Some(o.namespace.unwrap_or_else(|| namespace.to_owned()))
                    } else {
                        None
                    },
                    kind: Arc::new(kind),
                    name: o.name,
                    fields: o.fields,
                }
            })
            .collect();
        let inventory = Inventory {
            revision,
            server_side,
            items,
            read_at: Instant::now(),
            problem,
        };
        self.install(key, inventory, served);
        Ok(())
    }
}

/// What an inventory takes of a release's record (the rest is dropped at once).
struct Read {
    server_side: bool,
    objects: Vec<manifest::ManifestObject>,
    problem: Option<String>,
}

impl Read {
    fn of(record: Record, namespace: &str, name: &str) -> Read {
        let (objects, problem) = match manifest::objects(&record.manifest) {
            Ok(objects) => (objects, None),
            Err(e) => {
                tracing::warn!(release = %name, namespace, error = %e, "cannot read the release's manifest; its objects are not judged");
                (Vec::new(), Some(e.to_string()))
            }
        };
        Read {
            server_side: record.server_side(),
            objects,
            problem,
        }
    }
}

impl Objects {
    /// Whether revision `revision` of release `namespace/name` is inventoried,
    /// or its background read failed (then [`ensure`](Self::ensure) tells why).
    pub fn inventoried(&self, namespace: &str, name: &str, revision: u64) -> bool {
        let key = (namespace.to_owned(), name.to_owned());
        let state = self.state();
        state.unreadable.contains(&key)
            || state
                .inventories
                .get(&key)
                .is_some_and(|i| i.revision == revision)
    }

    /// Queues the read of a release's record, done in the background
    /// [`READING_AT_ONCE`] at a time, after which its CR is woken. After a
    /// start every release is to be read: a reconcile that waited for its own
    /// would hold its slot, and the re-check of every CR would go at the pace
    /// of the reads (9 s for 10,000 CRs).
    pub fn read_later(&self, namespace: &str, name: &str, revision: u64) {
        let key = (namespace.to_owned(), name.to_owned());
        if !self.state().queued.insert(key.clone()) {
            return;
        }
        let queue = self.later.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded::<(ReleaseKey, u64)>();
            let me = self.me.clone();
            let reads = rx.for_each_concurrent(READING_AT_ONCE, move |((namespace, name), revision)| {
                    let me = me.clone();
                    async move {
                        let Some(objects) = me.upgrade() else {
                            return;
                        };
                        let result = objects.ensure(&namespace, &name, revision).await;
                        let key = (namespace, name);
                        {
                            let mut state = objects.state();
                            state.queued.remove(&key);
                            if let Err(e) = result {
                                tracing::debug!(release = %key.1, namespace = %key.0, error = %e, "could not read the release's record");
                                state.unreadable.insert(key.clone());
                            }
                        }
                        objects.releases.trigger_release(&key.0, &key.1);
                    }
                });
            let me = self.me.clone();
            tokio::spawn(async move {
                // after a start's re-check: both want the same CPU and API server
                if let Some(objects) = me.upgrade() {
                    objects.start_pass.wait(START_PASS_CAP).await;
                }
                reads.await
            });
            tx
        });
        if queue.unbounded_send((key.clone(), revision)).is_err() {
            self.state().queued.remove(&key);
        }
    }

    /// How a kind is served, when it was discovered already.
    fn served(&self, kind: &KindKey) -> Option<Served> {
        self.state().served.get(kind).cloned()
    }

    /// Discovers a kind: `None` when the API server does not serve it.
    async fn discover(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<Served>, ObjectsError> {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, caps)) => {
                let served = Served {
                    resource,
                    namespaced: caps.scope == KindScope::Namespaced,
                };
                self.state().served.insert(
                    KindKey {
                        group: group.to_owned(),
                        kind: kind.to_owned(),
                    },
                    served.clone(),
                );
                Ok(Some(served))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(e)) => {
                tracing::debug!(kind, group, error = %e, "kind not served");
                Ok(None)
            }
            Err(source) => Err(ObjectsError::Discovery {
                kind: format!("{kind}.{group}"),
                source,
            }),
        }
    }

    /// Puts an inventory in place: the kinds it uses gain the release as a
    /// user (their watches start if new), the kinds it no longer uses lose it.
    fn install(
        &self,
        key: ReleaseKey,
        inventory: Inventory,
        served: HashMap<KindKey, Option<Served>>,
    ) {
        let mut state = self.state();
        state.unreadable.remove(&key);
        let used: HashSet<Arc<KindKey>> = inventory.items.iter().map(|i| i.kind.clone()).collect();
        for kind in &used {
            if !state.kinds.contains_key(kind) {
                let found = served.get(kind.as_ref()).cloned().flatten();
                let watch = self.start(&mut state, kind.clone(), found);
                state.kinds.insert(kind.clone(), watch);
            }
            if let Some(w) = state.kinds.get_mut(kind) {
                w.users.insert(key.clone());
            }
        }
        if let Some(old) = state.inventories.insert(key.clone(), inventory) {
            let dropped: HashSet<Arc<KindKey>> = old
                .items
                .iter()
                .map(|i| i.kind.clone())
                .filter(|k| !used.contains(k))
                .collect();
            for kind in dropped {
                self.release_kind(&mut state, &kind, &key);
            }
        }
    }

    /// The release is gone (uninstalled, or no longer ours): its kinds lose it.
    pub fn forget(&self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut state = self.state();
        state.unreadable.remove(&key);
        let Some(old) = state.inventories.remove(&key) else {
            return;
        };
        let kinds: HashSet<Arc<KindKey>> = old.items.iter().map(|i| i.kind.clone()).collect();
        for kind in kinds {
            self.release_kind(&mut state, &kind, &key);
        }
    }

    fn release_kind(&self, state: &mut State, kind: &Arc<KindKey>, user: &ReleaseKey) {
        let Some(w) = state.kinds.get_mut(kind) else {
            return;
        };
        w.users.remove(user);
        if w.users.is_empty() {
            if let Some(w) = state.kinds.remove(kind) {
                for s in w.scopes {
                    s.task.abort();
                    self.watches.remove(&s.health);
                }
                tracing::debug!(kind = %kind.kind, group = %kind.group, "no release uses the kind any more; its watch stops");
            }
        }
    }

    /// Starts the watches of a kind: one per release scope for a namespaced
    /// kind, one over the cluster for a cluster-scoped one.
    fn start(&self, state: &mut State, kind: Arc<KindKey>, served: Option<Served>) -> KindWatch {
        state.next_id += 1;
        let id = state.next_id;
        let mut watch = KindWatch {
            id,
            users: HashSet::new(),
            unservable: None,
            scopes: Vec::new(),
            store: HashMap::new(),
        };
        let Some(served) = served else {
            watch.unservable = Some(format!(
                "the API server does not serve kind {}{}",
                kind.kind,
                group_suffix(&kind.group)
            ));
            return watch;
        };
        let scopes: Vec<Option<String>> = if served.namespaced {
            self.scopes.clone()
        } else {
            vec![None]
        };
        let body = kstatus::needs_body(&kind.group, &kind.kind);
        for (i, namespace) in scopes.into_iter().enumerate() {
            let what = format!(
                "{}{} (objects of releases) {}",
                served.resource.plural,
                group_suffix(&kind.group),
                match &namespace {
                    Some(ns) => format!("in namespace {ns}"),
                    None => "in all namespaces".to_owned(),
                }
            );
            let health = self.watches.add(what);
            let task = tokio::spawn(watch_scope(
                self.me.clone(),
                self.client.clone(),
                kind.clone(),
                id,
                i,
                namespace.clone(),
                served.resource.clone(),
                body,
                health.clone(),
            ));
            watch.scopes.push(ScopeWatch {
                namespace,
                health,
                synced: false,
                relist: None,
                task: task.abort_handle(),
            });
        }
        tracing::debug!(kind = %kind.kind, group = %kind.group, body, "watching a kind the releases use");
        watch
    }

    /// The objects of release `namespace/name` as seen now, if inventoried.
    pub fn view(&self, namespace: &str, name: &str) -> Option<ReleaseObjects> {
        let state = self.state();
        let inventory = state
            .inventories
            .get(&(namespace.to_owned(), name.to_owned()))?;
        let settled = inventory.read_at.elapsed() >= MISSING_AFTER;
        let objects = inventory
            .items
            .iter()
            .map(|item| ObjectView {
                kind: item.kind.kind.clone(),
                namespace: item.namespace.clone(),
                name: item.name.clone(),
                seen: seen(state.kinds.get(&item.kind), item, settled),
            })
            .collect();
        Some(ReleaseObjects {
            revision: inventory.revision,
            server_side: inventory.server_side,
            objects,
            problem: inventory.problem.clone(),
        })
    }

    /// What the registry holds now (for metrics).
    pub fn counts(&self) -> RegistryCounts {
        let state = self.state();
        RegistryCounts {
            releases: state.inventories.len(),
            kinds: state.kinds.len(),
            objects: state.kinds.values().map(|k| k.store.len()).sum(),
        }
    }

    /// Applies one event of the watch `scope` of `kind` (run `id`); wakes the
    /// CRs whose objects changed state.
    fn apply(&self, kind: &Arc<KindKey>, id: u64, scope: usize, event: Change) {
        let mut woken: Vec<ReleaseKey> = Vec::new();
        {
            let mut state = self.state();
            let Some(w) = state.kinds.get_mut(kind).filter(|w| w.id == id) else {
                return;
            };
            match event {
                Change::Put(key, release, object) => {
                    if let Some(relist) = w.scopes.get_mut(scope).and_then(|s| s.relist.as_mut()) {
                        relist.insert(key, (release, object));
                    } else {
                        let entry = (release.clone(), object);
                        if w.store.get(&key) != Some(&entry) {
                            w.store.insert(key, entry);
                            woken.push(release);
                        }
                    }
                }
                Change::Gone(key) => {
                    if let Some((release, _)) = w.store.remove(&key) {
                        woken.push(release);
                    }
                }
                Change::RelistBegin => {
                    if let Some(s) = w.scopes.get_mut(scope) {
                        s.relist = Some(HashMap::new());
                    }
                }
                Change::RelistDone => {
                    let Some(s) = w.scopes.get_mut(scope) else {
                        return;
                    };
                    let fresh = s.relist.take().unwrap_or_default();
                    let first = !s.synced;
                    s.synced = true;
                    let in_scope = s.namespace.clone();
                    let mine = |k: &ObjectKey| {
                        in_scope
                            .as_deref()
                            .is_none_or(|ns| k.0.as_deref() == Some(ns))
                    };
                    // what went or changed while the watch was down
                    let stale: Vec<ObjectKey> = w
                        .store
                        .keys()
                        .filter(|k| mine(k) && !fresh.contains_key(*k))
                        .cloned()
                        .collect();
                    for k in stale {
                        if let Some((release, _)) = w.store.remove(&k) {
                            woken.push(release);
                        }
                    }
                    for (k, entry) in fresh {
                        if w.store.get(&k) != Some(&entry) {
                            woken.push(entry.0.clone());
                            w.store.insert(k, entry);
                        }
                    }
                    if first && w.scopes.iter().all(|s| s.synced) {
                        // the releases waiting for this kind's first list
                        woken.extend(w.users.iter().cloned());
                    }
                }
            }
        }
        woken.sort();
        woken.dedup();
        for (namespace, name) in woken {
            self.releases.trigger_release(&namespace, &name);
        }
    }

    /// Wakes the users of a kind whose watch was refused and works again.
    fn wake_users(&self, kind: &Arc<KindKey>, id: u64) {
        let users: Vec<ReleaseKey> = {
            let state = self.state();
            match state.kinds.get(kind).filter(|w| w.id == id) {
                Some(w) => w.users.iter().cloned().collect(),
                None => return,
            }
        };
        for (namespace, name) in users {
            self.releases.trigger_release(&namespace, &name);
        }
    }

    /// The state of a live object, or `None` when no release claims it.
    fn state_of(
        &self,
        kind: &KindKey,
        meta: &ObjectMeta,
        body: Option<&serde_json::Value>,
    ) -> Option<(ObjectKey, ReleaseKey, ObjectState)> {
        let annotations = meta.annotations.as_ref()?;
        let release = (
            annotations.get(RELEASE_NAMESPACE)?.clone(),
            annotations.get(RELEASE_NAME)?.clone(),
        );
        let readiness = match body {
            Some(v) => kstatus::readiness(&kind.group, &kind.kind, v),
            None if meta.deletion_timestamp.is_some() => {
                Readiness::InProgress("being deleted".into())
            }
            None => Readiness::Current,
        };
        let ours: Vec<&str> = self.ours.iter().map(String::as_str).collect();
        let foreign = meta
            .managed_fields
            .as_deref()
            .map(|m| foreign_writes(m, &ours))
            .unwrap_or_default();
        let key = (meta.namespace.clone(), meta.name.clone()?);
        Some((key, release, ObjectState { readiness, foreign }))
    }
}

/// How one inventoried object looks in its kind's watch.
fn seen(watch: Option<&KindWatch>, item: &Item, settled: bool) -> Seen {
    let Some(w) = watch else {
        return Seen::Unlisted;
    };
    if let Some(why) = &w.unservable {
        return Seen::Unwatchable(why.clone());
    }
    let scope = w
        .scopes
        .iter()
        .find(|s| s.namespace.is_none() || s.namespace.as_deref() == item.namespace.as_deref());
    let Some(scope) = scope else {
        return Seen::Outside;
    };
    if let Some(failing) = scope.health.failing() {
        if let Cause::Forbidden { verb, message } = failing.cause {
            return Seen::Unwatchable(forbidden_message(&scope.health.what, verb, &message));
        }
    }
    if !scope.synced {
        return Seen::Unlisted;
    }
    match w.store.get(&(item.namespace.clone(), item.name.clone())) {
        Some((_, object)) => Seen::Present {
            readiness: object.readiness.clone(),
            drift: object
                .foreign
                .iter()
                .filter_map(|f| {
                    let paths: Vec<Vec<String>> = f
                        .paths
                        .iter()
                        .filter(|p| item.fields.overlaps(p))
                        .cloned()
                        .collect();
                    (!paths.is_empty()).then(|| ForeignWrite { paths, ..f.clone() })
                })
                .collect(),
        },
        None => Seen::Missing { settled },
    }
}

/// Why an object cannot be judged while its watch is refused, and the fix.
fn forbidden_message(what: &str, verb: &str, said: &str) -> String {
    format!(
        "Lostrómos may not {verb} {what} (the API server said: {said}), so it cannot \
         tell whether they are ready. Fix: grant list and watch on them to Lostrómos's \
         identity (the lostromos chart's rbac.objects)"
    )
}

fn group_suffix(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(".{group}")
    }
}

/// One watch event, reduced to what the store needs.
enum Change {
    Put(ObjectKey, ReleaseKey, ObjectState),
    Gone(ObjectKey),
    RelistBegin,
    RelistDone,
}

/// A watch event with each object reduced by `f`.
fn reduce<K, T>(e: Event<K>, f: impl Fn(K) -> T) -> Event<T> {
    match e {
        Event::Apply(o) => Event::Apply(f(o)),
        Event::Delete(o) => Event::Delete(f(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(f(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Runs one watch of one kind in one scope until it is aborted. Only objects
/// helm labelled are listed; whole objects only for kinds whose readiness
/// needs their status, else metadata alone.
#[allow(clippy::too_many_arguments)]
async fn watch_scope(
    objects: Weak<Objects>,
    client: Client,
    kind: Arc<KindKey>,
    id: u64,
    scope: usize,
    namespace: Option<String>,
    resource: ApiResource,
    body: bool,
    health: Arc<WatchHealth>,
) {
    // paged: a kind may be served by an aggregated API server, which may not
    // stream lists the way the probed one does
    let config = ListMode::Paged.config().labels(MANAGED_BY);
    // both kinds of watch reduce each object to its metadata (and its JSON
    // when readiness needs it) at once
    let stream = if body {
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(client, ns, &resource),
            None => Api::all_with(client, &resource),
        };
        watcher::watcher(api, config)
            .backoff(watch_health::backoff())
            .map(|r| {
                r.map(|e| {
                    reduce(e, |o| {
                        let v = serde_json::to_value(&o).unwrap_or_default();
                        (o.metadata, Some(v))
                    })
                })
            })
            .boxed()
    } else {
        let api: Api<PartialObjectMeta<DynamicObject>> = match &namespace {
            Some(ns) => Api::namespaced_with(client, ns, &resource),
            None => Api::all_with(client, &resource),
        };
        watcher::watcher(api, config)
            .backoff(watch_health::backoff())
            .map(|r| r.map(|e| reduce(e, |o| (o.metadata, None))))
            .boxed()
    };
    let mut stream = stream;
    loop {
        tokio::select! {
            item = stream.next() => {
                let Some(item) = item else { return };
                let Some(objects) = objects.upgrade() else { return };
                match item {
                    Ok(event) => {
                        let whole = !matches!(event, Event::Init | Event::InitApply(_));
                        let change = match event {
                            Event::Init => Some(Change::RelistBegin),
                            Event::InitDone => Some(Change::RelistDone),
                            // an object no release claims any more is gone for us
                            Event::Apply((meta, v)) | Event::InitApply((meta, v)) => objects
                                .state_of(&kind, &meta, v.as_ref())
                                .map(|(k, r, s)| Change::Put(k, r, s))
                                .or_else(|| {
                                    meta.name
                                        .clone()
                                        .map(|n| Change::Gone((meta.namespace.clone(), n)))
                                }),
                            Event::Delete((meta, _)) => meta
                                .name
                                .clone()
                                .map(|n| Change::Gone((meta.namespace.clone(), n))),
                        };
                        if let Some(change) = change {
                            objects.apply(&kind, id, scope, change);
                        }
                        if whole {
                            health.ok();
                        }
                    }
                    Err(e) => {
                        health.error(&e);
                        // a watch that starts failing (refused, most likely)
                        // leaves its objects unjudgeable: say so on the CRs now
                        if health.failing().is_some_and(|f| f.errors == 1) {
                            objects.wake_users(&kind, id);
                        }
                    }
                }
            }
            () = health.permitted() => {
                if let Some(objects) = objects.upgrade() {
                    objects.wake_users(&kind, id);
                }
            }
        }
    }
}
