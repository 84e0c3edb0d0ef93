//! Helm release state as read from helm's own release Secrets (metadata only).
//!
//! Helm stores revision N of release R as Secret `sh.helm.release.v1.R.vN` labelled
//! `owner=helm, name=R, status=S, version=N` plus the labels given with `--labels`.
//! The index below keeps the latest revisions per release from a metadata watch, so
//! knowing the state of every release costs no helm process.

use std::collections::{BTreeMap, HashMap};

/// A helm release status, as in helm's `status` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseStatus {
    Unknown,
    Deployed,
    Uninstalled,
    Superseded,
    Failed,
    Uninstalling,
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
}

impl ReleaseStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "deployed" => Self::Deployed,
            "uninstalled" => Self::Uninstalled,
            "superseded" => Self::Superseded,
            "failed" => Self::Failed,
            "uninstalling" => Self::Uninstalling,
            "pending-install" => Self::PendingInstall,
            "pending-upgrade" => Self::PendingUpgrade,
            "pending-rollback" => Self::PendingRollback,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Deployed => "deployed",
            Self::Uninstalled => "uninstalled",
            Self::Superseded => "superseded",
            Self::Failed => "failed",
            Self::Uninstalling => "uninstalling",
            Self::PendingInstall => "pending-install",
            Self::PendingUpgrade => "pending-upgrade",
            Self::PendingRollback => "pending-rollback",
        }
    }

    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::PendingInstall | Self::PendingUpgrade | Self::PendingRollback
        )
    }
}

/// One revision of a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub version: u64,
    pub status: ReleaseStatus,
    /// Labels other than helm's own (the ones Lostrómos stamps).
    pub labels: BTreeMap<String, String>,
    /// When the revision's Secret was created, in Unix seconds.
    pub created_unix: Option<i64>,
}

/// What decisions need to know of one release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseState {
    pub latest: Revision,
    /// The newest revision whose status is `deployed` or `superseded`: the target of a
    /// rollback out of a pending state.
    pub last_good: Option<u64>,
}

impl ReleaseState {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.latest.labels.get(key).map(String::as_str)
    }
}

/// The parts of a release Secret's metadata the index reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretMeta {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub created_unix: Option<i64>,
}

/// Helm's own labels on a release Secret.
const HELM_LABELS: &[&str] = &[
    "owner",
    "name",
    "status",
    "version",
    "createdAt",
    "modifiedAt",
];

type Key = (String, String);

/// One revision as the index keeps it. Compact, as there is one per revision
/// of every release (up to `--history-max` each): labels in a sorted boxed
/// slice rather than a map (a B-tree node holds room for 11), and revisions
/// in a short sorted `Vec` rather than a map.
#[derive(Debug)]
struct Stored {
    version: u64,
    status: ReleaseStatus,
    created_unix: Option<i64>,
    /// Labels other than helm's own, sorted by key.
    labels: Box<[(Box<str>, Box<str>)]>,
}

impl Stored {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_ref())
    }

    fn revision(&self) -> Revision {
        Revision {
            version: self.version,
            status: self.status,
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created_unix: self.created_unix,
        }
    }
}

fn parse(meta: &SecretMeta) -> Option<(Key, Stored)> {
    let l = &meta.labels;
    if l.get("owner").map(String::as_str) != Some("helm") {
        return None;
    }
    let name = l.get("name")?.clone();
    let version = l.get("version")?.parse().ok()?;
    let status = ReleaseStatus::parse(l.get("status").map(String::as_str).unwrap_or(""));
    // sorted, as the map they come from is
    let labels = l
        .iter()
        .filter(|(k, _)| !HELM_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    Some((
        (meta.namespace.clone(), name),
        Stored {
            version,
            status,
            created_unix: meta.created_unix,
            labels,
        },
    ))
}

/// Every release's revisions, fed by one or more watch streams (one per scope:
/// a namespace, or all namespaces), each of which can re-list independently.
#[derive(Debug, Default)]
pub struct ReleaseIndex {
    /// Each release's revisions, oldest first.
    releases: HashMap<Key, Vec<Stored>>,
    /// Re-list buffers by scope (`None` = all namespaces), already parsed.
    relisting: HashMap<Option<String>, Vec<(Key, Stored)>>,
}

impl ReleaseIndex {
    pub fn get(&self, namespace: &str, name: &str) -> Option<ReleaseState> {
        let revs = self
            .releases
            .get(&(namespace.to_owned(), name.to_owned()))?;
        let latest = revs.last()?.revision();
        let last_good = revs
            .iter()
            .rev()
            .find(|r| {
                matches!(
                    r.status,
                    ReleaseStatus::Deployed | ReleaseStatus::Superseded
                )
            })
            .map(|r| r.version);
        Some(ReleaseState { latest, last_good })
    }

    pub fn len(&self) -> usize {
        self.releases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.releases.is_empty()
    }

    /// Releases stamped by Lostrómos, counted by the status of their latest revision.
    pub fn managed_by_status(&self) -> Vec<(&'static str, usize)> {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for revs in self.releases.values() {
            if let Some(latest) = revs.last() {
                if latest.label(crate::plan::labels::CR_NAME).is_some() {
                    *counts.entry(latest.status.as_str()).or_default() += 1;
                }
            }
        }
        counts.into_iter().collect()
    }

    /// A revision Secret was created or changed.
    pub fn apply(&mut self, meta: &SecretMeta) {
        if let Some((key, rev)) = parse(meta) {
            self.insert(key, rev);
        }
    }

    fn insert(&mut self, key: Key, rev: Stored) {
        let revs = self.releases.entry(key).or_default();
        match revs.binary_search_by_key(&rev.version, |r| r.version) {
            Ok(i) => revs[i] = rev,
            Err(i) => revs.insert(i, rev),
        }
    }

    /// A revision Secret was deleted (pruned by `--history-max`, or an uninstall).
    pub fn delete(&mut self, meta: &SecretMeta) {
        if let Some((key, rev)) = parse(meta) {
            if let Some(revs) = self.releases.get_mut(&key) {
                revs.retain(|r| r.version != rev.version);
                if revs.is_empty() {
                    self.releases.remove(&key);
                }
            }
        }
    }

    /// A watch on `scope` starts a (re-)list.
    pub fn relist_begin(&mut self, scope: Option<&str>) {
        self.relisting.insert(scope.map(str::to_owned), Vec::new());
    }

    pub fn relist_item(&mut self, scope: Option<&str>, meta: SecretMeta) {
        if let Some(parsed) = parse(&meta) {
            self.relisting
                .entry(scope.map(str::to_owned))
                .or_default()
                .push(parsed);
        }
    }

    /// The (re-)list of `scope` is complete: it replaces what the index held there.
    pub fn relist_done(&mut self, scope: Option<&str>) {
        let items = self
            .relisting
            .remove(&scope.map(str::to_owned))
            .unwrap_or_default();
        self.releases
            .retain(|(ns, _), _| scope.is_some_and(|s| s != ns));
        for (key, rev) in items {
            self.insert(key, rev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(
        ns: &str,
        name: &str,
        version: u64,
        status: &str,
        extra: &[(&str, &str)],
    ) -> SecretMeta {
        let mut labels: BTreeMap<String, String> = [
            ("owner", "helm"),
            ("name", name),
            ("status", status),
            ("version", &version.to_string()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        SecretMeta {
            namespace: ns.into(),
            labels,
            created_unix: Some(100),
        }
    }

    #[test]
    fn latest_revision_and_last_good() {
        let mut idx = ReleaseIndex::default();
        idx.apply(&secret("a", "r", 1, "superseded", &[]));
        idx.apply(&secret(
            "a",
            "r",
            2,
            "deployed",
            &[("lostromos.dev/digest", "d2")],
        ));
        idx.apply(&secret(
            "a",
            "r",
            3,
            "pending-upgrade",
            &[("lostromos.dev/digest", "d3")],
        ));
        let st = idx.get("a", "r").unwrap();
        assert_eq!(st.latest.version, 3);
        assert_eq!(st.latest.status, ReleaseStatus::PendingUpgrade);
        assert_eq!(st.last_good, Some(2));
        assert_eq!(st.label("lostromos.dev/digest"), Some("d3"));
        assert_eq!(st.label("owner"), None, "helm's own labels are not kept");
        assert!(idx.get("b", "r").is_none());
    }

    #[test]
    fn every_revision_keeps_its_labels() {
        let mut idx = ReleaseIndex::default();
        let v1 = secret("a", "r", 1, "superseded", &[("lostromos.dev/digest", "d1")]);
        let v2 = secret("a", "r", 2, "deployed", &[("lostromos.dev/digest", "d2")]);
        // out of order, and a revision seen twice (its status changed)
        idx.apply(&v2);
        idx.apply(&secret(
            "a",
            "r",
            1,
            "deployed",
            &[("lostromos.dev/digest", "d1")],
        ));
        idx.apply(&v1);
        let st = idx.get("a", "r").unwrap();
        assert_eq!((st.latest.version, st.last_good), (2, Some(2)));
        // the latest revision deleted by hand: the one before is the latest again
        idx.delete(&v2);
        let st = idx.get("a", "r").unwrap();
        assert_eq!(st.latest.version, 1);
        assert_eq!(st.latest.status, ReleaseStatus::Superseded);
        assert_eq!(st.label("lostromos.dev/digest"), Some("d1"));
        assert_eq!(st.label("lostromos.dev/none"), None);
    }

    #[test]
    fn versions_compare_as_numbers() {
        let mut idx = ReleaseIndex::default();
        idx.apply(&secret("a", "r", 9, "superseded", &[]));
        idx.apply(&secret("a", "r", 10, "deployed", &[]));
        assert_eq!(idx.get("a", "r").unwrap().latest.version, 10);
    }

    #[test]
    fn delete_of_last_revision_forgets_the_release() {
        let mut idx = ReleaseIndex::default();
        let s = secret("a", "r", 1, "deployed", &[]);
        idx.apply(&s);
        idx.delete(&s);
        assert!(idx.get("a", "r").is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn non_helm_secrets_are_ignored() {
        let mut idx = ReleaseIndex::default();
        let mut s = secret("a", "r", 1, "deployed", &[]);
        s.labels.insert("owner".into(), "someone".into());
        idx.apply(&s);
        let mut bad = secret("a", "r", 1, "deployed", &[]);
        bad.labels.insert("version".into(), "x".into());
        idx.apply(&bad);
        assert!(idx.is_empty());
    }

    #[test]
    fn relist_replaces_only_its_scope() {
        let mut idx = ReleaseIndex::default();
        idx.apply(&secret("a", "gone", 1, "deployed", &[]));
        idx.apply(&secret("b", "other", 1, "deployed", &[]));
        idx.relist_begin(Some("a"));
        idx.relist_item(Some("a"), secret("a", "new", 1, "deployed", &[]));
        // until done, the old view stays
        assert!(idx.get("a", "gone").is_some());
        idx.relist_done(Some("a"));
        assert!(idx.get("a", "gone").is_none());
        assert!(idx.get("a", "new").is_some());
        assert!(idx.get("b", "other").is_some());
    }

    #[test]
    fn relist_of_all_namespaces_replaces_everything() {
        let mut idx = ReleaseIndex::default();
        idx.apply(&secret("a", "gone", 1, "deployed", &[]));
        idx.relist_begin(None);
        idx.relist_item(None, secret("b", "kept", 2, "deployed", &[]));
        idx.relist_done(None);
        assert_eq!(idx.len(), 1);
        assert!(idx.get("b", "kept").is_some());
    }

    #[test]
    fn managed_releases_by_status() {
        let mut idx = ReleaseIndex::default();
        let ours = [("lostromos.dev/cr-name", "x")];
        idx.apply(&secret("a", "r1", 1, "superseded", &ours));
        idx.apply(&secret("a", "r1", 2, "deployed", &ours));
        idx.apply(&secret("a", "r2", 1, "failed", &ours));
        idx.apply(&secret("a", "foreign", 1, "deployed", &[]));
        assert_eq!(
            idx.managed_by_status(),
            vec![("deployed", 1), ("failed", 1)]
        );
    }

    #[test]
    fn status_round_trips() {
        for s in [
            "deployed",
            "uninstalled",
            "superseded",
            "failed",
            "uninstalling",
            "pending-install",
            "pending-upgrade",
            "pending-rollback",
            "unknown",
        ] {
            assert_eq!(ReleaseStatus::parse(s).as_str(), s);
        }
        assert_eq!(ReleaseStatus::parse("weird"), ReleaseStatus::Unknown);
        assert!(ReleaseStatus::PendingRollback.is_pending());
        assert!(!ReleaseStatus::Failed.is_pending());
    }
}
