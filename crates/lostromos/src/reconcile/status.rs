//! What the CR's status says: observedGeneration, kstatus conditions
//! (Ready, Reconciling, Stalled), the release, the last error. Pure: the caller
//! patches only when the result differs from what is stored.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::health::Counts;

/// The release as shown in status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseInfo {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    pub status: String,
    pub chart: String,
    #[serde(default)]
    pub app_version: Option<String>,
}

/// The status Lostrómos writes. Every field is always written (`None` as
/// `null`), so a merge patch also clears what no longer applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrStatus {
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub release: Option<ReleaseInfo>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The release's objects: how many, and how many are ready.
    #[serde(default)]
    pub objects: Option<Counts>,
}

impl CrStatus {
    /// A digest of what the status says, leaving out when each condition
    /// became what it is: the same outcome built on a stale copy of the CR
    /// differs only there.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut timeless = self.clone();
        for c in &mut timeless.conditions {
            c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        serde_json::to_string(&timeless)
            .unwrap_or_default()
            .hash(&mut h);
        h.finish()
    }

    /// Reads a stored status; anything unreadable (written by someone else, or
    /// by an older version) counts as no status.
    pub fn read(stored: Option<&Value>) -> Option<CrStatus> {
        stored.and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// Where a CR stands after (or during) a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The release is deployed with the CR's current inputs, and its objects
    /// (when watched) are ready.
    Ready {
        release: ReleaseInfo,
        message: String,
        objects: Option<Counts>,
        /// Drift reported, not corrected (`--drift warn`).
        drifted: Option<String>,
    },
    /// Deployed with the current inputs, but objects are not ready (or keep
    /// drifting back): `stalled` past the deadline or in a fight.
    NotReady {
        release: ReleaseInfo,
        reason: String,
        message: String,
        objects: Counts,
        stalled: bool,
        drifted: Option<String>,
    },
    /// Work under way or waiting (install, upgrade, recovery, a retry).
    Progressing {
        reason: String,
        message: String,
        release: Option<ReleaseInfo>,
    },
    /// Nothing installed and nothing to do (e.g. the filter annotation was removed).
    Idle { reason: String, message: String },
    /// Failed; `stalled` when only a change to the CR can fix it.
    Failed {
        reason: String,
        message: String,
        stalled: bool,
        release: Option<ReleaseInfo>,
    },
}

impl Outcome {
    /// The Ready condition's reason it leads to (for the log).
    pub fn reason(&self) -> &str {
        match self {
            Self::Ready { .. } => READY,
            Self::NotReady { reason, .. }
            | Self::Progressing { reason, .. }
            | Self::Idle { reason, .. }
            | Self::Failed { reason, .. } => reason,
        }
    }
}

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
pub const DRIFTED: &str = "Drifted";

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Stalled, carrying the message only when it is true.
fn stalled_condition(
    stalled: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    let message = if stalled { message } else { "" };
    condition(STALLED, stalled, reason, message, generation)
}

/// The new status, keeping `lastTransitionTime` of conditions whose status did
/// not change (so an unchanged outcome yields an identical status).
pub fn build(
    current: Option<&CrStatus>,
    generation: Option<i64>,
    outcome: &Outcome,
    now: Timestamp,
) -> CrStatus {
    let (ready, reconciling, stalled, release, last_error) = match outcome {
        Outcome::Ready {
            release, message, ..
        } => (
            condition(READY, true, "Deployed", message, generation),
            condition(RECONCILING, false, "Deployed", "", generation),
            condition(STALLED, false, "Deployed", "", generation),
            Some(release),
            None,
        ),
        Outcome::NotReady {
            release,
            reason,
            message,
            stalled,
            ..
        } => (
            condition(READY, false, reason, message, generation),
            condition(
                RECONCILING,
                !stalled,
                reason,
                if *stalled { "" } else { message.as_str() },
                generation,
            ),
            stalled_condition(*stalled, reason, message, generation),
            Some(release),
            None,
        ),
        Outcome::Progressing {
            reason,
            message,
            release,
        } => (
            condition(READY, false, reason, message, generation),
            condition(RECONCILING, true, reason, message, generation),
            condition(STALLED, false, reason, "", generation),
            release.as_ref(),
            // a retry keeps showing what went wrong last time
            current.and_then(|s| s.last_error.clone()),
        ),
        Outcome::Idle { reason, message } => (
            condition(READY, false, reason, message, generation),
            condition(RECONCILING, false, reason, "", generation),
            condition(STALLED, false, reason, "", generation),
            None,
            None,
        ),
        Outcome::Failed {
            reason,
            message,
            stalled,
            release,
        } => (
            condition(READY, false, reason, message, generation),
            condition(
                RECONCILING,
                !stalled,
                reason,
                if *stalled {
                    ""
                } else {
                    "retrying with backoff"
                },
                generation,
            ),
            stalled_condition(*stalled, reason, message, generation),
            release.as_ref(),
            Some(message.clone()),
        ),
    };
    let drifted = match outcome {
        Outcome::Ready {
            drifted: Some(m), ..
        }
        | Outcome::NotReady {
            drifted: Some(m), ..
        } => Some(condition(DRIFTED, true, DRIFTED, m, generation)),
        _ => None,
    };
    let conditions = [Some(ready), Some(reconciling), Some(stalled), drifted]
        .into_iter()
        .flatten()
        .map(|mut c| {
            let same = current
                .and_then(|s| s.condition(&c.type_))
                .filter(|p| p.status == c.status);
            c.last_transition_time = same.map_or(Time(now), |p| p.last_transition_time.clone());
            c
        })
        .collect();
    // Keep showing the last known release while a new one is worked on.
    let release = match (outcome, release) {
        (Outcome::Idle { .. }, _) => None,
        (_, Some(r)) => Some(r.clone()),
        (_, None) => current.and_then(|s| s.release.clone()),
    };
    // Object counts are the last known while helm works on the release.
    let objects = match outcome {
        Outcome::Ready { objects, .. } => *objects,
        Outcome::NotReady { objects, .. } => Some(*objects),
        Outcome::Idle { .. } => None,
        _ => current.and_then(|s| s.objects),
    };
    CrStatus {
        observed_generation: generation,
        conditions,
        release,
        last_error,
        objects,
    }
}

/// Whether the stored status reports a failure of this same generation, so the
/// next attempt is a retry.
pub fn is_retry(current: Option<&CrStatus>, generation: Option<i64>) -> bool {
    current.is_some_and(|s| s.last_error.is_some() && s.observed_generation == generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rev: u64) -> ReleaseInfo {
        ReleaseInfo {
            name: "nemo".into(),
            namespace: "fish".into(),
            revision: rev,
            status: "deployed".into(),
            chart: "chart-1.0.0".into(),
            app_version: Some("1.0".into()),
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn cond<'a>(s: &'a CrStatus, type_: &str) -> &'a Condition {
        s.condition(type_).unwrap()
    }

    fn ready(rev: u64) -> Outcome {
        Outcome::Ready {
            release: info(rev),
            message: "ok".into(),
            objects: None,
            drifted: None,
        }
    }

    #[test]
    fn ready_status() {
        let s = build(None, Some(2), &ready(1), t(1));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(cond(&s, READY).status, "True");
        assert_eq!(cond(&s, RECONCILING).status, "False");
        assert_eq!(cond(&s, STALLED).status, "False");
        assert_eq!(cond(&s, READY).last_transition_time, Time(t(1)));
        assert_eq!(s.release.as_ref().map(|r| r.revision), Some(1));
        assert_eq!(s.last_error, None);
        // as written: camelCase, every field present, nulls where empty
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["release"]["appVersion"], "1.0");
        assert_eq!(v["lastError"], Value::Null);
        assert_eq!(v["conditions"][0]["observedGeneration"], 2);
        assert_eq!(
            v["conditions"][0]["lastTransitionTime"],
            "1970-01-01T00:00:01Z"
        );
        assert_eq!(CrStatus::read(Some(&v)), Some(s));
    }

    #[test]
    fn unchanged_outcome_gives_identical_status() {
        let first = build(None, Some(1), &ready(1), t(1));
        let second = build(Some(&first), Some(1), &ready(1), t(2));
        assert_eq!(first, second);
    }

    #[test]
    fn transition_time_moves_only_on_change() {
        let first = build(None, Some(1), &ready(1), t(1));
        let failed = Outcome::Failed {
            reason: "ValuesRejected".into(),
            message: "bad".into(),
            stalled: true,
            release: None,
        };
        let second = build(Some(&first), Some(2), &failed, t(2));
        assert_eq!(cond(&second, READY).last_transition_time, Time(t(2)));
        assert_eq!(cond(&second, STALLED).status, "True");
        assert_eq!(cond(&second, STALLED).last_transition_time, Time(t(2)));
        assert_eq!(cond(&second, RECONCILING).status, "False");
        assert_eq!(cond(&second, RECONCILING).last_transition_time, Time(t(1)));
        assert_eq!(second.last_error.as_deref(), Some("bad"));
        // the last known release stays visible
        assert_eq!(second.release.as_ref().map(|r| r.revision), Some(1));
        assert_ne!(first, second);
    }

    #[test]
    fn transient_failure_is_reconciling_not_stalled() {
        let o = Outcome::Failed {
            reason: "Timeout".into(),
            message: "slow".into(),
            stalled: false,
            release: None,
        };
        let s = build(None, Some(1), &o, t(1));
        assert_eq!(cond(&s, RECONCILING).status, "True");
        assert_eq!(cond(&s, STALLED).status, "False");
        assert_eq!(cond(&s, READY).reason, "Timeout");
    }

    #[test]
    fn retry_keeps_the_last_error() {
        let failed = Outcome::Failed {
            reason: "Timeout".into(),
            message: "slow".into(),
            stalled: false,
            release: None,
        };
        let first = build(None, Some(1), &failed, t(1));
        let retry = Outcome::Progressing {
            reason: "Upgrading".into(),
            message: "again".into(),
            release: None,
        };
        assert_eq!(
            build(Some(&first), Some(1), &retry, t(2))
                .last_error
                .as_deref(),
            Some("slow")
        );
        assert_eq!(
            build(Some(&first), Some(1), &ready(2), t(2)).last_error,
            None
        );
    }

    #[test]
    fn retry_is_a_failure_of_the_same_generation() {
        let failed = Outcome::Failed {
            reason: "Timeout".into(),
            message: "slow".into(),
            stalled: false,
            release: None,
        };
        let s = build(None, Some(2), &failed, t(1));
        assert!(is_retry(Some(&s), Some(2)));
        assert!(
            !is_retry(Some(&s), Some(3)),
            "a new generation is a new attempt"
        );
        let ok = build(None, Some(2), &ready(1), t(1));
        assert!(!is_retry(Some(&ok), Some(2)));
        assert!(!is_retry(None, Some(2)));
    }

    #[test]
    fn idle_drops_the_release() {
        let first = build(None, Some(1), &ready(1), t(1));
        let idle = Outcome::Idle {
            reason: "NotManaged".into(),
            message: "no release".into(),
        };
        let s = build(Some(&first), Some(1), &idle, t(2));
        assert_eq!(s.release, None);
        assert_eq!(serde_json::to_value(&s).unwrap()["release"], Value::Null);
    }

    #[test]
    fn foreign_or_old_status_reads_as_none() {
        assert_eq!(
            CrStatus::read(Some(&serde_json::json!({"conditions": "nope"}))),
            None
        );
        assert_eq!(CrStatus::read(None), None);
        // extra fields written by others are ignored, not an error
        let s = CrStatus::read(Some(
            &serde_json::json!({"observedGeneration": 1, "other": true}),
        ));
        assert_eq!(s.map(|s| s.observed_generation), Some(Some(1)));
    }
}
