//! The pure decision: from a CR, its release's state and the settings, one action.
//! No I/O here, so every combination is a unit test.

pub mod adopt;
pub mod chart_choice;
pub mod digest;
pub mod health;
pub mod labels;
pub mod naming;
pub mod redact;
pub mod values;

use serde_json::Value;

use crate::observe::cr::CrView;
use crate::observe::release_index::{ReleaseState, ReleaseStatus};
use adopt::AdoptFrom;
use digest::{digest, DigestInputs};
use naming::release_name;
use values::{ValuesConfig, ValuesError};

/// The settings a decision depends on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanSettings {
    /// Only CRs carrying this annotation are acted on.
    pub filter_annotation: Option<String>,
    pub release_prefix: Option<String>,
    /// Where releases go; `None` means the CR's own namespace.
    pub release_namespace: Option<String>,
    pub values: ValuesConfig,
    /// A pending release younger than this may still have a helm process working on
    /// it (helm's timeout plus our grace period), so it is left alone.
    pub pending_stuck_after_secs: i64,
    /// No other Lostrómos can be running helm on these releases (no leader
    /// election: the chart stops the old pod before it starts a new one), so a
    /// pending revision Lostrómos made is a leftover of a process that is gone.
    pub exclusive: bool,
    /// The watched type as `plural.group`: part of the owner identity, so CRs of
    /// two kinds never share a release.
    pub cr_kind: String,
    /// The operator whose releases CRs carrying its finalizer hand over.
    pub adopt_from: Option<AdoptFrom>,
}

/// Where a CR's release lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRef {
    pub name: String,
    pub namespace: String,
}

/// What one reconcile does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing to do and nothing of ours on the CR (not managed, or deleted unmanaged).
    Ignore,
    /// Put the finalizer on before anything is installed.
    AddFinalizer,
    Install(Desired),
    Upgrade(Desired),
    /// The release is deployed with the current inputs (which a drift
    /// correction applies again).
    Skip(Desired),
    /// A release stuck in `pending-*` with no helm process on it.
    Recover(Recovery),
    /// Someone else may still be working on the release: look again later.
    Wait {
        after_secs: u64,
        reason: String,
    },
    Uninstall,
    ReleaseFinalizer,
    /// The release is ours now: remove the finalizers of the operator it was
    /// taken over from (ours stays, so the CR is never without one).
    ReleaseAdoptedFinalizer,
    /// Bad input: report it, run nothing.
    Reject(Rejection),
}

impl Action {
    /// Decisions that start no helm process and change nothing on the CR.
    pub fn runs_nothing(&self) -> bool {
        matches!(self, Self::Ignore | Self::Skip(_) | Self::Wait { .. })
    }
}

/// What an install or upgrade must produce.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub values: Value,
    pub digest: String,
    /// The revision helm will create; stamped so a revision made by hand shows.
    pub expected_revision: u64,
    /// The owner identity stamped on the release.
    pub owner: String,
    /// Taking over a release this operator made (its chart is checked first).
    pub adopting: Option<AdoptFrom>,
}

impl Desired {
    /// The labels stamped on the release (`helm --labels`).
    pub fn stamp(&self, cr: &CrView) -> Vec<(&'static str, String)> {
        let mut stamp = vec![
            (labels::DIGEST, self.digest.clone()),
            (labels::REVISION, self.expected_revision.to_string()),
            (labels::OWNER, self.owner.clone()),
            (labels::CR_NAME, labels::value(&cr.name)),
        ];
        if let Some(ns) = &cr.namespace {
            stamp.push((labels::CR_NAMESPACE, labels::value(ns)));
        }
        stamp
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// `pending-upgrade` / `pending-rollback`: back to the last good revision.
    Rollback { to: u64 },
    /// `pending-install` with nothing good before it: uninstall, install again next.
    UninstallFirstInstall,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error("release {release} in namespace {namespace} belongs to {owner}; fix: give one of the two CRs another name or set a --release-prefix")]
    OwnedByOther {
        release: String,
        namespace: String,
        owner: String,
    },
    #[error("release {release} in namespace {namespace}{} was not installed by Lostrómos and is left untouched; fix: uninstall it (helm uninstall {release} -n {namespace}) so Lostrómos installs its own, or give the CR another name or set a --release-prefix", chart.as_ref().map(|c| format!(" (chart {c})")).unwrap_or_default())]
    Foreign {
        release: String,
        namespace: String,
        /// `name-version` of the release's chart, when it could be read.
        chart: Option<String>,
    },
    #[error("release {release} in namespace {namespace} is {operator}'s and {operator} names it after the CR in the CR's namespace, but this Lostrómos looks for release {target} in namespace {target_namespace}; fix: remove --release-prefix and --release-namespace so the release is adopted where it is")]
    AdoptionNaming {
        operator: &'static str,
        release: String,
        namespace: String,
        target: String,
        target_namespace: String,
    },
    #[error("release {release} in namespace {namespace} is {operator}'s, made from chart {theirs}, not {ours}; it is left untouched; fix: point this kind at chart {theirs} to adopt it, or uninstall the release")]
    AdoptionChart {
        operator: &'static str,
        release: String,
        namespace: String,
        theirs: String,
        ours: String,
    },
    #[error("cluster-scoped {cr} needs a release namespace; fix: start lostromos with --release-namespace")]
    NoReleaseNamespace { cr: String },
    #[error("chart {chart:?} is not allowed for CRs; fix: use a chart under one of {allowed:?} (lostromos --allowed-chart), or remove the annotation")]
    ChartNotAllowed { chart: String, allowed: Vec<String> },
}

impl Rejection {
    /// The condition and Event reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Values(_) => "InvalidSpec",
            Self::OwnedByOther { .. }
            | Self::Foreign { .. }
            | Self::AdoptionNaming { .. }
            | Self::AdoptionChart { .. } => "ReleaseConflict",
            Self::NoReleaseNamespace { .. } => "NoReleaseNamespace",
            Self::ChartNotAllowed { .. } => "ChartNotAllowed",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub release: Option<ReleaseRef>,
    pub action: Action,
}

/// Where the release for `cr` lives, or why it has none.
pub fn release_ref(settings: &PlanSettings, cr: &CrView) -> Result<ReleaseRef, Rejection> {
    let namespace = settings
        .release_namespace
        .clone()
        .or_else(|| cr.namespace.clone())
        .ok_or_else(|| Rejection::NoReleaseNamespace { cr: cr.key() })?;
    Ok(ReleaseRef {
        name: release_name(settings.release_prefix.as_deref(), &cr.name),
        namespace,
    })
}

/// Whom a release says it belongs to.
enum Ownership {
    Absent,
    Ours,
    /// Stamped by a Lostrómos from before the owner label, with this CR's
    /// name: ours, and upgraded once so it carries the exact identity.
    OursUnproven,
    /// Not stamped by Lostrómos: never touched.
    Foreign,
    Other(String),
}

fn ownership(settings: &PlanSettings, cr: &CrView, release: Option<&ReleaseState>) -> Ownership {
    let Some(rel) = release else {
        return Ownership::Absent;
    };
    let name = rel.label(labels::CR_NAME);
    let namespace = rel.label(labels::CR_NAMESPACE);
    let described = || {
        let name = name.unwrap_or("?");
        Ownership::Other(match namespace {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        })
    };
    match rel.label(labels::OWNER) {
        Some(owner)
            if owner == labels::owner_id(&settings.cr_kind, cr.namespace.as_deref(), &cr.name) =>
        {
            Ownership::Ours
        }
        Some(_) => described(),
        None => {
            let Some(name) = name else {
                return Ownership::Foreign;
            };
            let cr_namespace = cr.namespace.as_deref().map(labels::value);
            if name == labels::value(&cr.name) && namespace == cr_namespace.as_deref() {
                Ownership::OursUnproven
            } else {
                described()
            }
        }
    }
}

/// Decides what to do for one CR, whose chart has digest `chart_digest`.
pub fn plan(
    settings: &PlanSettings,
    cr: &CrView,
    release: Option<&ReleaseState>,
    chart_digest: &str,
    now_unix: i64,
) -> Plan {
    let target = match release_ref(settings, cr) {
        Ok(t) => t,
        Err(rejection) => {
            let action =
                if cr.has_finalizer(labels::FINALIZER) && (cr.deleting || !managed(settings, cr)) {
                    Action::ReleaseFinalizer
                } else {
                    Action::Reject(rejection)
                };
            return Plan {
                release: None,
                action,
            };
        }
    };
    let action = decide(settings, cr, &target, release, chart_digest, now_unix);
    Plan {
        release: Some(target),
        action,
    }
}

/// The operator the CR is handed over from: `--adopt-from` is set and the CR
/// carries that operator's finalizer.
pub fn handed_over(settings: &PlanSettings, cr: &CrView) -> Option<AdoptFrom> {
    settings
        .adopt_from
        .filter(|from| from.finalizers().iter().any(|f| cr.has_finalizer(f)))
}

/// Whether the filter annotation (if any) lets Lostrómos act on the CR.
pub fn managed(settings: &PlanSettings, cr: &CrView) -> bool {
    settings
        .filter_annotation
        .as_ref()
        .is_none_or(|key| cr.annotations.contains_key(key))
}

fn decide(
    settings: &PlanSettings,
    cr: &CrView,
    target: &ReleaseRef,
    release: Option<&ReleaseState>,
    chart_digest: &str,
    now_unix: i64,
) -> Action {
    let has_finalizer = cr.has_finalizer(labels::FINALIZER);
    let owner = ownership(settings, cr, release);
    let handed_over = handed_over(settings, cr);
    // the other operator's release for this CR, where it names them
    let in_place = Some(&target.namespace) == cr.namespace.as_ref() && target.name == cr.name;

    if cr.deleting || !managed(settings, cr) {
        // a CR deleted before it was adopted: its uninstall is ours to do now
        let taken_over = cr.deleting && handed_over.is_some();
        if !has_finalizer && !taken_over {
            return Action::Ignore;
        }
        return match (owner, release) {
            (Ownership::Ours | Ownership::OursUnproven, Some(rel)) => {
                match wait_for_pending(settings, rel, now_unix) {
                    Some(wait) => wait,
                    None => Action::Uninstall,
                }
            }
            (Ownership::Foreign, Some(rel)) if taken_over && in_place => {
                match wait_for_pending(settings, rel, now_unix) {
                    Some(wait) => wait,
                    None => Action::Uninstall,
                }
            }
            // Not ours to remove: let the CR go.
            _ => Action::ReleaseFinalizer,
        };
    }

    if !has_finalizer {
        return Action::AddFinalizer;
    }
    let values = match values::build(&settings.values, cr) {
        Ok(v) => v,
        Err(e) => return Action::Reject(e.into()),
    };
    match owner {
        Ownership::Other(owner) => {
            return Action::Reject(Rejection::OwnedByOther {
                release: target.name.clone(),
                namespace: target.namespace.clone(),
                owner,
            })
        }
        Ownership::Foreign => match handed_over {
            Some(_) if in_place => {}
            Some(from) => {
                return Action::Reject(Rejection::AdoptionNaming {
                    operator: from.name(),
                    release: cr.name.clone(),
                    namespace: cr.namespace.clone().unwrap_or_default(),
                    target: target.name.clone(),
                    target_namespace: target.namespace.clone(),
                })
            }
            None => {
                return Action::Reject(Rejection::Foreign {
                    release: target.name.clone(),
                    namespace: target.namespace.clone(),
                    chart: None,
                })
            }
        },
        Ownership::Absent | Ownership::Ours | Ownership::OursUnproven => {}
    }
    let proven = matches!(owner, Ownership::Ours);
    // one upgrade stamps an adopted release; its objects stay where they are
    let adopting = handed_over.filter(|_| matches!(owner, Ownership::Foreign));
    let owner_id = labels::owner_id(&settings.cr_kind, cr.namespace.as_deref(), &cr.name);
    let digest = digest(
        &values,
        &DigestInputs {
            chart: chart_digest,
            release_name: &target.name,
            release_namespace: &target.namespace,
        },
    );

    let Some(rel) = release else {
        return Action::Install(Desired {
            values,
            digest,
            expected_revision: 1,
            owner: owner_id,
            adopting: None,
        });
    };
    let latest = &rel.latest;
    let next = Desired {
        values,
        digest,
        expected_revision: latest.version + 1,
        owner: owner_id,
        adopting,
    };
    match latest.status {
        ReleaseStatus::Uninstalled => Action::Install(next),
        ReleaseStatus::Uninstalling => Action::Wait {
            after_secs: 5,
            reason: format!("release {} is being uninstalled", target.name),
        },
        status if status.is_pending() => match wait_for_pending(settings, rel, now_unix) {
            Some(wait) => wait,
            None => Action::Recover(match rel.last_good {
                Some(to) => Recovery::Rollback { to },
                None => Recovery::UninstallFirstInstall,
            }),
        },
        ReleaseStatus::Deployed
            if proven
                && rel.label(labels::DIGEST) == Some(next.digest.as_str())
                && rel.label(labels::REVISION) == Some(latest.version.to_string().as_str()) =>
        {
            if handed_over.is_some() {
                Action::ReleaseAdoptedFinalizer
            } else {
                Action::Skip(next)
            }
        }
        // deployed with other inputs, changed by hand, failed, unknown, or
        // stamped before the owner label
        _ => Action::Upgrade(next),
    }
}

/// A pending release still inside the window where a helm process may own it.
fn wait_for_pending(settings: &PlanSettings, rel: &ReleaseState, now_unix: i64) -> Option<Action> {
    if !rel.latest.status.is_pending() {
        return None;
    }
    // Our own pending revision with no other Lostrómos around: the helm that
    // wrote it died with the process that started it. A revision made by hand
    // carries a stale revision stamp and keeps the wait.
    let ours = rel.label(labels::REVISION) == Some(rel.latest.version.to_string().as_str())
        && rel.label(labels::OWNER).is_some();
    if settings.exclusive && ours {
        return None;
    }
    let age = rel
        .latest
        .created_unix
        .map_or(i64::MAX, |c| now_unix.saturating_sub(c));
    let left = settings.pending_stuck_after_secs.saturating_sub(age);
    (left > 0).then(|| Action::Wait {
        after_secs: u64::try_from(left).unwrap_or(1),
        reason: format!(
            "release is {} since {age}s; recovering it once it is older than {}s",
            rel.latest.status.as_str(),
            settings.pending_stuck_after_secs
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::release_index::Revision;
    use crate::plan::values::Layout;
    use serde_json::json;
    use std::collections::BTreeMap;

    const NOW: i64 = 10_000;

    fn settings() -> PlanSettings {
        PlanSettings {
            pending_stuck_after_secs: 600,
            ..Default::default()
        }
    }

    fn cr() -> CrView {
        CrView {
            name: "nemo".into(),
            namespace: Some("fish".into()),
            uid: "u1".into(),
            finalizers: vec![labels::FINALIZER.into()],
            spec: Some(json!({"color": "orange"})),
            ..Default::default()
        }
    }

    fn current_digest(s: &PlanSettings, c: &CrView) -> String {
        let values = values::build(&s.values, c).unwrap();
        let t = release_ref(s, c).unwrap();
        digest(
            &values,
            &DigestInputs {
                chart: "chart",
                release_name: &t.name,
                release_namespace: &t.namespace,
            },
        )
    }

    fn rel(status: ReleaseStatus, version: u64, digest: &str, stamped_rev: u64) -> ReleaseState {
        let labels: BTreeMap<String, String> = [
            (labels::DIGEST, digest.to_owned()),
            (labels::REVISION, stamped_rev.to_string()),
            (labels::CR_NAME, "nemo".to_owned()),
            (labels::CR_NAMESPACE, "fish".to_owned()),
            (labels::OWNER, labels::owner_id("", Some("fish"), "nemo")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        ReleaseState {
            latest: Revision {
                version,
                status,
                labels,
                created_unix: Some(NOW - 5),
            },
            last_good: None,
        }
    }

    fn act(s: &PlanSettings, c: &CrView, r: Option<&ReleaseState>) -> Action {
        plan(s, c, r, "chart", NOW).action
    }

    #[test]
    fn new_cr_gets_a_finalizer_first() {
        let mut c = cr();
        c.finalizers.clear();
        assert_eq!(act(&settings(), &c, None), Action::AddFinalizer);
    }

    #[test]
    fn new_cr_with_finalizer_installs_revision_1() {
        let p = plan(&settings(), &cr(), None, "chart", NOW);
        assert_eq!(
            p.release,
            Some(ReleaseRef {
                name: "nemo".into(),
                namespace: "fish".into()
            })
        );
        match p.action {
            Action::Install(d) => {
                assert_eq!(d.values, json!({"color": "orange"}));
                assert_eq!(d.expected_revision, 1);
                assert_eq!(d.digest, current_digest(&settings(), &cr()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deployed_with_current_digest_skips() {
        let s = settings();
        let r = rel(ReleaseStatus::Deployed, 3, &current_digest(&s, &cr()), 3);
        assert!(matches!(act(&s, &cr(), Some(&r)), Action::Skip(_)));
    }

    #[test]
    fn changed_spec_upgrades_to_next_revision() {
        let s = settings();
        let r = rel(ReleaseStatus::Deployed, 3, "old", 3);
        match act(&s, &cr(), Some(&r)) {
            Action::Upgrade(d) => assert_eq!(d.expected_revision, 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changed_chart_upgrades() {
        let s = settings();
        let r = rel(ReleaseStatus::Deployed, 1, &current_digest(&s, &cr()), 1);
        let p = plan(&s, &cr(), Some(&r), "chart-v2", NOW);
        assert!(matches!(p.action, Action::Upgrade(_)));
    }

    #[test]
    fn revision_made_by_hand_is_put_back() {
        // helm copies labels into a manual upgrade or rollback: the stamp is stale
        let s = settings();
        let r = rel(ReleaseStatus::Deployed, 4, &current_digest(&s, &cr()), 3);
        assert!(matches!(act(&s, &cr(), Some(&r)), Action::Upgrade(d) if d.expected_revision == 5));
    }

    #[test]
    fn failed_release_is_retried_by_upgrade() {
        let s = settings();
        let r = rel(ReleaseStatus::Failed, 2, &current_digest(&s, &cr()), 2);
        assert!(matches!(act(&s, &cr(), Some(&r)), Action::Upgrade(_)));
        let r = rel(ReleaseStatus::Unknown, 2, "x", 2);
        assert!(matches!(act(&s, &cr(), Some(&r)), Action::Upgrade(_)));
        let r = rel(ReleaseStatus::Superseded, 2, "x", 2);
        assert!(matches!(act(&s, &cr(), Some(&r)), Action::Upgrade(_)));
    }

    #[test]
    fn uninstalled_release_with_history_is_installed_again() {
        let r = rel(ReleaseStatus::Uninstalled, 2, "x", 2);
        assert!(
            matches!(act(&settings(), &cr(), Some(&r)), Action::Install(d) if d.expected_revision == 3)
        );
    }

    #[test]
    fn uninstalling_release_waits() {
        let r = rel(ReleaseStatus::Uninstalling, 2, "x", 2);
        assert!(matches!(
            act(&settings(), &cr(), Some(&r)),
            Action::Wait { .. }
        ));
    }

    #[test]
    fn fresh_pending_release_waits_for_its_helm() {
        for status in [
            ReleaseStatus::PendingInstall,
            ReleaseStatus::PendingUpgrade,
            ReleaseStatus::PendingRollback,
        ] {
            let r = rel(status, 2, "x", 2);
            match act(&settings(), &cr(), Some(&r)) {
                Action::Wait { after_secs, .. } => assert_eq!(after_secs, 595),
                other => panic!("{status:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn stuck_pending_upgrade_rolls_back_to_last_good() {
        for status in [
            ReleaseStatus::PendingUpgrade,
            ReleaseStatus::PendingRollback,
        ] {
            let mut r = rel(status, 5, "x", 5);
            r.latest.created_unix = Some(NOW - 601);
            r.last_good = Some(4);
            assert_eq!(
                act(&settings(), &cr(), Some(&r)),
                Action::Recover(Recovery::Rollback { to: 4 })
            );
        }
    }

    #[test]
    fn stuck_pending_without_any_good_revision_is_uninstalled() {
        let mut r = rel(ReleaseStatus::PendingInstall, 1, "x", 1);
        r.latest.created_unix = Some(NOW - 601);
        assert_eq!(
            act(&settings(), &cr(), Some(&r)),
            Action::Recover(Recovery::UninstallFirstInstall)
        );
        // pending-upgrade with no good revision left (all pruned or failed)
        let mut r = rel(ReleaseStatus::PendingUpgrade, 3, "x", 3);
        r.latest.created_unix = None;
        assert_eq!(
            act(&settings(), &cr(), Some(&r)),
            Action::Recover(Recovery::UninstallFirstInstall)
        );
    }

    #[test]
    fn pending_install_after_uninstalled_history_rolls_back() {
        let mut r = rel(ReleaseStatus::PendingInstall, 3, "x", 3);
        r.latest.created_unix = Some(NOW - 601);
        r.last_good = Some(2);
        assert_eq!(
            act(&settings(), &cr(), Some(&r)),
            Action::Recover(Recovery::Rollback { to: 2 })
        );
    }

    #[test]
    fn deleted_cr_uninstalls_its_release() {
        let mut c = cr();
        c.deleting = true;
        let r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        assert_eq!(act(&settings(), &c, Some(&r)), Action::Uninstall);
        let r = rel(ReleaseStatus::Failed, 1, "x", 1);
        assert_eq!(act(&settings(), &c, Some(&r)), Action::Uninstall);
    }

    #[test]
    fn deleted_cr_whose_release_is_gone_releases_the_finalizer() {
        let mut c = cr();
        c.deleting = true;
        assert_eq!(act(&settings(), &c, None), Action::ReleaseFinalizer);
    }

    #[test]
    fn deleted_cr_without_finalizer_is_ignored() {
        let mut c = cr();
        c.deleting = true;
        c.finalizers.clear();
        assert_eq!(act(&settings(), &c, None), Action::Ignore);
    }

    #[test]
    fn deleted_cr_with_a_stuck_pending_release_uninstalls_it() {
        let mut c = cr();
        c.deleting = true;
        let mut r = rel(ReleaseStatus::PendingUpgrade, 2, "x", 2);
        assert!(matches!(
            act(&settings(), &c, Some(&r)),
            Action::Wait { .. }
        ));
        r.latest.created_unix = Some(NOW - 1000);
        assert_eq!(act(&settings(), &c, Some(&r)), Action::Uninstall);
    }

    #[test]
    fn deleted_cr_never_uninstalls_someone_elses_release() {
        let mut c = cr();
        c.deleting = true;
        let mut r = owned_by_other_nemo();
        assert_eq!(act(&settings(), &c, Some(&r)), Action::ReleaseFinalizer);
        r.latest.labels.clear();
        assert_eq!(act(&settings(), &c, Some(&r)), Action::ReleaseFinalizer);
    }

    /// The release of CR `other/nemo`.
    fn owned_by_other_nemo() -> ReleaseState {
        let mut r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        r.latest
            .labels
            .insert(labels::CR_NAMESPACE.into(), "other".into());
        r.latest.labels.insert(
            labels::OWNER.into(),
            labels::owner_id("", Some("other"), "nemo"),
        );
        r
    }

    #[test]
    fn release_of_another_cr_is_a_conflict() {
        let r = owned_by_other_nemo();
        match act(&settings(), &cr(), Some(&r)) {
            Action::Reject(Rejection::OwnedByOther { owner, .. }) => {
                assert_eq!(owner, "other/nemo")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_release_lostromos_did_not_install_is_never_touched() {
        let mut r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        r.latest.labels.clear();
        match act(&settings(), &cr(), Some(&r)) {
            Action::Reject(rejection @ Rejection::Foreign { .. }) => {
                assert_eq!(rejection.reason(), "ReleaseConflict");
                let text = rejection.to_string();
                assert!(text.contains("not installed by Lostrómos"), "{text}");
                assert!(text.contains("helm uninstall nemo -n fish"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // not on a pending release either, and not on delete
        let mut pending = rel(ReleaseStatus::PendingUpgrade, 2, "x", 2);
        pending.latest.labels.clear();
        pending.latest.created_unix = Some(NOW - 10_000);
        assert!(matches!(
            act(&settings(), &cr(), Some(&pending)),
            Action::Reject(Rejection::Foreign { .. })
        ));
        let mut c = cr();
        c.deleting = true;
        assert_eq!(act(&settings(), &c, Some(&r)), Action::ReleaseFinalizer);
    }

    /// A release helm-operator made for `nemo`: helm's labels only.
    fn helm_operators_release(status: ReleaseStatus) -> ReleaseState {
        let mut r = rel(status, 2, "x", 2);
        r.latest.labels.clear();
        r
    }

    fn adopting() -> PlanSettings {
        PlanSettings {
            adopt_from: Some(AdoptFrom::HelmOperator),
            ..settings()
        }
    }

    /// `nemo` as helm-operator left it, with Lostrómos's finalizer or not.
    fn handed_over_cr(ours: bool) -> CrView {
        let mut c = cr();
        c.finalizers = vec![adopt::HELM_OPERATOR_FINALIZERS[0].into()];
        if ours {
            c.finalizers.push(labels::FINALIZER.into());
        }
        c
    }

    #[test]
    fn adoption_adds_our_finalizer_then_upgrades_once_then_drops_theirs() {
        let s = adopting();
        let theirs = helm_operators_release(ReleaseStatus::Deployed);
        // ours first, theirs kept
        assert_eq!(
            act(&s, &handed_over_cr(false), Some(&theirs)),
            Action::AddFinalizer
        );
        // one upgrade, stamping the release, that checks the chart first
        let c = handed_over_cr(true);
        match act(&s, &c, Some(&theirs)) {
            Action::Upgrade(d) => {
                assert_eq!(d.adopting, Some(AdoptFrom::HelmOperator));
                assert_eq!(d.expected_revision, 3);
                assert!(d.stamp(&c).contains(&(labels::OWNER, d.owner.clone())));
            }
            other => panic!("{other:?}"),
        }
        // stamped and current: helm-operator's finalizer goes, nothing runs
        let ours = rel(ReleaseStatus::Deployed, 3, &current_digest(&s, &c), 3);
        assert_eq!(act(&s, &c, Some(&ours)), Action::ReleaseAdoptedFinalizer);
        // once it is gone, a plain skip
        assert!(matches!(act(&s, &cr(), Some(&ours)), Action::Skip(_)));
        // a later upgrade of our own release is not an adoption
        let edited = rel(ReleaseStatus::Deployed, 3, "old", 3);
        assert!(matches!(act(&s, &c, Some(&edited)), Action::Upgrade(d) if d.adopting.is_none()));
    }

    #[test]
    fn without_the_flag_or_the_finalizer_a_foreign_release_is_refused() {
        let theirs = helm_operators_release(ReleaseStatus::Deployed);
        assert!(matches!(
            act(&settings(), &handed_over_cr(true), Some(&theirs)),
            Action::Reject(Rejection::Foreign { .. })
        ));
        // the flag alone adopts nothing: the CR must be the other operator's
        assert!(matches!(
            act(&adopting(), &cr(), Some(&theirs)),
            Action::Reject(Rejection::Foreign { .. })
        ));
        // and without the flag, a CR being deleted leaves helm-operator's release alone
        let mut c = handed_over_cr(false);
        c.deleting = true;
        assert_eq!(act(&settings(), &c, Some(&theirs)), Action::Ignore);
    }

    #[test]
    fn adoption_needs_the_release_where_helm_operator_put_it() {
        let s = PlanSettings {
            release_prefix: Some("p".into()),
            ..adopting()
        };
        let theirs = helm_operators_release(ReleaseStatus::Deployed);
        match act(&s, &handed_over_cr(true), Some(&theirs)) {
            Action::Reject(r @ Rejection::AdoptionNaming { .. }) => {
                assert_eq!(r.reason(), "ReleaseConflict");
                assert!(r.to_string().contains("remove --release-prefix"), "{r}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_handed_over_cr_being_deleted_is_uninstalled_once_then_let_go() {
        let s = adopting();
        let theirs = helm_operators_release(ReleaseStatus::Deployed);
        for ours in [false, true] {
            let mut c = handed_over_cr(ours);
            c.deleting = true;
            assert_eq!(
                act(&s, &c, Some(&theirs)),
                Action::Uninstall,
                "ours: {ours}"
            );
            // gone: the finalizers go (both, in act)
            assert_eq!(act(&s, &c, None), Action::ReleaseFinalizer);
        }
        // a pending release of theirs waits like any other
        let mut c = handed_over_cr(false);
        c.deleting = true;
        let pending = helm_operators_release(ReleaseStatus::PendingUpgrade);
        assert!(matches!(act(&s, &c, Some(&pending)), Action::Wait { .. }));
    }

    #[test]
    fn the_foreign_releases_chart_is_named_when_known() {
        let r = Rejection::Foreign {
            release: "nemo".into(),
            namespace: "fish".into(),
            chart: Some("nginx-1.2.3".into()),
        };
        assert!(r.to_string().contains("(chart nginx-1.2.3)"), "{r}");
    }

    #[test]
    fn a_release_stamped_before_the_owner_label_is_upgraded_once_to_carry_it() {
        let s = settings();
        let mut r = rel(ReleaseStatus::Deployed, 3, &current_digest(&s, &cr()), 3);
        r.latest.labels.remove(labels::OWNER);
        match act(&s, &cr(), Some(&r)) {
            Action::Upgrade(d) => {
                assert_eq!(d.owner, labels::owner_id("", Some("fish"), "nemo"));
                assert!(d.stamp(&cr()).contains(&(labels::OWNER, d.owner.clone())));
            }
            other => panic!("{other:?}"),
        }
        // and its CR may still delete it
        let mut c = cr();
        c.deleting = true;
        assert_eq!(act(&s, &c, Some(&r)), Action::Uninstall);
    }

    /// A long CR name gets a hashed release name; a second CR named exactly
    /// that hash maps to the same release, and must not take it over.
    #[test]
    fn a_cr_named_like_anothers_hashed_release_is_a_conflict() {
        let s = settings();
        let long = format!("longalias-{}", "q".repeat(60));
        let mut first = cr();
        first.name = long.clone();
        let release = release_ref(&s, &first).unwrap().name;
        assert_ne!(release, long);
        let mut second = cr();
        second.name = release.clone();
        assert_eq!(
            release_ref(&s, &second).unwrap().name,
            release,
            "the same release"
        );
        // the release as the first CR's install stamped it
        let Action::Install(d) = act(&s, &first, None) else {
            panic!("install")
        };
        let mut r = rel(ReleaseStatus::Deployed, 1, &d.digest, 1);
        r.latest.labels = d
            .stamp(&first)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        // the shortened name labels cannot tell the two apart...
        assert_eq!(
            r.label(labels::CR_NAME),
            Some(labels::value(&second.name).as_str())
        );
        // ...the owner identity can
        assert!(matches!(act(&s, &first, Some(&r)), Action::Skip(_)));
        assert!(matches!(
            act(&s, &second, Some(&r)),
            Action::Reject(Rejection::OwnedByOther { .. })
        ));
        let mut deleting = second.clone();
        deleting.deleting = true;
        assert_eq!(act(&s, &deleting, Some(&r)), Action::ReleaseFinalizer);
    }

    #[test]
    fn two_kinds_never_share_a_release() {
        let widgets = PlanSettings {
            cr_kind: "widgets.g".into(),
            ..settings()
        };
        let gadgets = PlanSettings {
            cr_kind: "gadgets.g".into(),
            ..settings()
        };
        let Action::Install(d) = act(&widgets, &cr(), None) else {
            panic!("install")
        };
        let mut r = rel(ReleaseStatus::Deployed, 1, &d.digest, 1);
        r.latest.labels = d
            .stamp(&cr())
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert!(matches!(act(&widgets, &cr(), Some(&r)), Action::Skip(_)));
        assert!(matches!(
            act(&gadgets, &cr(), Some(&r)),
            Action::Reject(Rejection::OwnedByOther { .. })
        ));
    }

    #[test]
    fn a_single_instance_recovers_its_own_pending_release_at_once() {
        let exclusive = PlanSettings {
            exclusive: true,
            ..settings()
        };
        // written by a Lostrómos helm run (its revision stamp is its own version)
        let mut r = rel(ReleaseStatus::PendingUpgrade, 5, "x", 5);
        r.last_good = Some(4);
        assert_eq!(
            act(&exclusive, &cr(), Some(&r)),
            Action::Recover(Recovery::Rollback { to: 4 })
        );
        // with another replica possibly running it, the wait stays
        assert!(matches!(
            act(&settings(), &cr(), Some(&r)),
            Action::Wait { .. }
        ));
        // a pending revision made by hand (stale stamp copied by helm) waits too
        let mut by_hand = rel(ReleaseStatus::PendingUpgrade, 5, "x", 4);
        by_hand.last_good = Some(4);
        assert!(matches!(
            act(&exclusive, &cr(), Some(&by_hand)),
            Action::Wait { .. }
        ));
        // a first install left pending is uninstalled at once
        let first = rel(ReleaseStatus::PendingInstall, 1, "x", 1);
        assert_eq!(
            act(&exclusive, &cr(), Some(&first)),
            Action::Recover(Recovery::UninstallFirstInstall)
        );
    }

    #[test]
    fn spec_that_is_not_an_object_is_rejected() {
        let mut c = cr();
        c.spec = Some(json!(42));
        assert!(matches!(
            act(&settings(), &c, None),
            Action::Reject(Rejection::Values(_))
        ));
        // but deleting it still works
        c.deleting = true;
        assert_eq!(act(&settings(), &c, None), Action::ReleaseFinalizer);
    }

    fn filtered() -> PlanSettings {
        PlanSettings {
            filter_annotation: Some("lostromos.dev/managed".into()),
            ..settings()
        }
    }

    #[test]
    fn filter_annotation_added_installs() {
        let mut c = cr();
        c.finalizers.clear();
        c.annotations
            .insert("lostromos.dev/managed".into(), "yes".into());
        assert_eq!(act(&filtered(), &c, None), Action::AddFinalizer);
        c.finalizers.push(labels::FINALIZER.into());
        assert!(matches!(act(&filtered(), &c, None), Action::Install(_)));
    }

    #[test]
    fn filter_annotation_removed_uninstalls() {
        let c = cr(); // has our finalizer, no annotation
        let r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        assert_eq!(act(&filtered(), &c, Some(&r)), Action::Uninstall);
        assert_eq!(act(&filtered(), &c, None), Action::ReleaseFinalizer);
    }

    #[test]
    fn filter_annotation_kept_upgrades() {
        let mut c = cr();
        c.annotations
            .insert("lostromos.dev/managed".into(), "yes".into());
        let r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        assert!(matches!(act(&filtered(), &c, Some(&r)), Action::Upgrade(_)));
    }

    #[test]
    fn filter_annotation_absent_does_nothing() {
        let mut c = cr();
        c.finalizers.clear();
        assert_eq!(act(&filtered(), &c, None), Action::Ignore);
        // not even to a release of the same name that is not ours
        let r = rel(ReleaseStatus::Deployed, 1, "x", 1);
        assert_eq!(act(&filtered(), &c, Some(&r)), Action::Ignore);
    }

    #[test]
    fn release_prefix_and_namespace_apply() {
        let s = PlanSettings {
            release_prefix: Some("lostromos".into()),
            release_namespace: Some("releases".into()),
            ..settings()
        };
        let p = plan(&s, &cr(), None, "chart", NOW);
        assert_eq!(
            p.release,
            Some(ReleaseRef {
                name: "lostromos-nemo".into(),
                namespace: "releases".into()
            })
        );
    }

    #[test]
    fn cluster_scoped_cr_needs_a_release_namespace() {
        let mut c = cr();
        c.namespace = None;
        assert!(matches!(
            act(&settings(), &c, None),
            Action::Reject(Rejection::NoReleaseNamespace { .. })
        ));
        c.deleting = true;
        assert_eq!(act(&settings(), &c, None), Action::ReleaseFinalizer);
        let s = PlanSettings {
            release_namespace: Some("rel".into()),
            ..settings()
        };
        let mut c = cr();
        c.namespace = None;
        assert!(matches!(act(&s, &c, None), Action::Install(_)));
    }

    #[test]
    fn cluster_scoped_ownership_uses_name_only() {
        let s = PlanSettings {
            release_namespace: Some("rel".into()),
            ..settings()
        };
        let mut c = cr();
        c.namespace = None;
        let Action::Install(d) = act(&s, &c, None) else {
            panic!("install")
        };
        let mut r = rel(ReleaseStatus::Deployed, 1, &d.digest, 1);
        r.latest.labels = d
            .stamp(&c)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert!(r.label(labels::CR_NAMESPACE).is_none());
        assert!(matches!(act(&s, &c, Some(&r)), Action::Skip(_)));
        // a namespaced CR of the same name is another owner
        assert!(matches!(
            act(&s, &cr(), Some(&r)),
            Action::Reject(Rejection::OwnedByOther { .. })
        ));
    }

    #[test]
    fn layout_is_part_of_the_digest() {
        let s = settings();
        let r = rel(ReleaseStatus::Deployed, 1, &current_digest(&s, &cr()), 1);
        let s2 = PlanSettings {
            values: ValuesConfig {
                layout: Layout::Resource,
                ..Default::default()
            },
            ..settings()
        };
        assert!(matches!(act(&s2, &cr(), Some(&r)), Action::Upgrade(_)));
    }
}
