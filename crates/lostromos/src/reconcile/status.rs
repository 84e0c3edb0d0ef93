//! What the CR's status says: observedGeneration, kstatus conditions
//! (Ready, Reconciling, Stalled), the release, the last error. Pure: the caller
//! patches only when the result differs from what is stored.

use serde_json::{json, Map, Value};

/// The release as shown in status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub name: String,
    pub namespace: String,
    pub revision: u64,
    pub status: String,
    pub chart: String,
    pub app_version: Option<String>,
}

/// Where a CR stands after (or during) a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The release is deployed with the CR's current inputs.
    Ready {
        release: ReleaseInfo,
        message: String,
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

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Value {
    json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    })
}

/// The new status object, keeping `lastTransitionTime` of conditions whose status
/// did not change (so an unchanged outcome yields an identical status).
pub fn build(
    current: Option<&Value>,
    generation: Option<i64>,
    outcome: &Outcome,
    now_rfc3339: &str,
) -> Value {
    let (ready, reconciling, stalled, release, last_error) = match outcome {
        Outcome::Ready { release, message } => (
            condition("Ready", true, "Deployed", message, generation),
            condition("Reconciling", false, "Deployed", "", generation),
            condition("Stalled", false, "Deployed", "", generation),
            Some(release),
            None,
        ),
        Outcome::Progressing {
            reason,
            message,
            release,
        } => (
            condition("Ready", false, reason, message, generation),
            condition("Reconciling", true, reason, message, generation),
            condition("Stalled", false, reason, "", generation),
            release.as_ref(),
            // a retry keeps showing what went wrong last time
            current
                .and_then(|s| s.get("lastError"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        Outcome::Idle { reason, message } => (
            condition("Ready", false, reason, message, generation),
            condition("Reconciling", false, reason, "", generation),
            condition("Stalled", false, reason, "", generation),
            None,
            None,
        ),
        Outcome::Failed {
            reason,
            message,
            stalled,
            release,
        } => (
            condition("Ready", false, reason, message, generation),
            condition(
                "Reconciling",
                !stalled,
                reason,
                if *stalled {
                    ""
                } else {
                    "retrying with backoff"
                },
                generation,
            ),
            condition(
                "Stalled",
                *stalled,
                reason,
                if *stalled { message.as_str() } else { "" },
                generation,
            ),
            release.as_ref(),
            Some(message.clone()),
        ),
    };
    let previous = current
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let conditions: Vec<Value> = [ready, reconciling, stalled]
        .into_iter()
        .map(|mut c| {
            let same = previous
                .iter()
                .find(|p| p.get("type") == c.get("type") && p.get("status") == c.get("status"));
            let since = same
                .and_then(|p| p.get("lastTransitionTime"))
                .cloned()
                .unwrap_or_else(|| Value::String(now_rfc3339.to_owned()));
            if let Value::Object(m) = &mut c {
                m.insert("lastTransitionTime".into(), since);
            }
            c
        })
        .collect();

    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(generation));
    status.insert("conditions".into(), Value::Array(conditions));
    // Keep showing the last known release while a new one is worked on.
    let release = match release {
        Some(r) => json!({
            "name": r.name,
            "namespace": r.namespace,
            "revision": r.revision,
            "status": r.status,
            "chart": r.chart,
            "appVersion": r.app_version,
        }),
        None => current
            .and_then(|s| s.get("release"))
            .cloned()
            .unwrap_or(Value::Null),
    };
    let gone = matches!(outcome, Outcome::Idle { .. });
    status.insert("release".into(), if gone { Value::Null } else { release });
    status.insert(
        "lastError".into(),
        last_error.map_or(Value::Null, Value::String),
    );
    Value::Object(status)
}

/// Whether the stored status reports a failure of this same generation, so the
/// next attempt is a retry.
pub fn is_retry(current: Option<&Value>, generation: Option<i64>) -> bool {
    current.is_some_and(|s| {
        s.get("lastError").is_some_and(|e| !e.is_null())
            && s.get("observedGeneration") == Some(&json!(generation))
    })
}

/// True when `new` would change nothing in `current` (a merge patch with `null`
/// removes a field, so a `null` matches an absent one).
pub fn unchanged(current: Option<&Value>, new: &Value) -> bool {
    let Some(Value::Object(cur)) = current else {
        return false;
    };
    let Value::Object(new) = new else {
        return false;
    };
    new.iter().all(|(k, v)| match (cur.get(k), v) {
        (None, Value::Null) => true,
        (Some(c), v) => c == v,
        (None, _) => false,
    })
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

    fn cond<'a>(s: &'a Value, t: &str) -> &'a Value {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .unwrap()
    }

    #[test]
    fn ready_status() {
        let s = build(
            None,
            Some(2),
            &Outcome::Ready {
                release: info(1),
                message: "ok".into(),
            },
            "T1",
        );
        assert_eq!(s["observedGeneration"], 2);
        assert_eq!(cond(&s, "Ready")["status"], "True");
        assert_eq!(cond(&s, "Reconciling")["status"], "False");
        assert_eq!(cond(&s, "Stalled")["status"], "False");
        assert_eq!(cond(&s, "Ready")["lastTransitionTime"], "T1");
        assert_eq!(s["release"]["revision"], 1);
        assert_eq!(s["release"]["chart"], "chart-1.0.0");
        assert_eq!(s["lastError"], Value::Null);
    }

    #[test]
    fn unchanged_outcome_gives_identical_status() {
        let o = Outcome::Ready {
            release: info(1),
            message: "ok".into(),
        };
        let first = build(None, Some(1), &o, "T1");
        let second = build(Some(&first), Some(1), &o, "T2");
        assert_eq!(first, second);
        assert!(unchanged(Some(&first), &second));
    }

    #[test]
    fn transition_time_moves_only_on_change() {
        let first = build(
            None,
            Some(1),
            &Outcome::Ready {
                release: info(1),
                message: "ok".into(),
            },
            "T1",
        );
        let failed = Outcome::Failed {
            reason: "ValuesRejected".into(),
            message: "bad".into(),
            stalled: true,
            release: None,
        };
        let second = build(Some(&first), Some(2), &failed, "T2");
        assert_eq!(cond(&second, "Ready")["lastTransitionTime"], "T2");
        assert_eq!(cond(&second, "Stalled")["status"], "True");
        assert_eq!(cond(&second, "Stalled")["lastTransitionTime"], "T2");
        assert_eq!(cond(&second, "Reconciling")["status"], "False");
        assert_eq!(cond(&second, "Reconciling")["lastTransitionTime"], "T1");
        assert_eq!(second["lastError"], "bad");
        // the last known release stays visible
        assert_eq!(second["release"]["revision"], 1);
        assert!(!unchanged(Some(&first), &second));
    }

    #[test]
    fn transient_failure_is_reconciling_not_stalled() {
        let o = Outcome::Failed {
            reason: "Timeout".into(),
            message: "slow".into(),
            stalled: false,
            release: None,
        };
        let s = build(None, Some(1), &o, "T");
        assert_eq!(cond(&s, "Reconciling")["status"], "True");
        assert_eq!(cond(&s, "Stalled")["status"], "False");
        assert_eq!(cond(&s, "Ready")["reason"], "Timeout");
    }

    #[test]
    fn retry_keeps_the_last_error() {
        let failed = Outcome::Failed {
            reason: "Timeout".into(),
            message: "slow".into(),
            stalled: false,
            release: None,
        };
        let first = build(None, Some(1), &failed, "T1");
        let retry = Outcome::Progressing {
            reason: "Upgrading".into(),
            message: "again".into(),
            release: None,
        };
        assert_eq!(
            build(Some(&first), Some(1), &retry, "T2")["lastError"],
            "slow"
        );
        let ok = Outcome::Ready {
            release: info(2),
            message: "ok".into(),
        };
        assert_eq!(
            build(Some(&first), Some(1), &ok, "T2")["lastError"],
            Value::Null
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
        let s = build(None, Some(2), &failed, "T");
        assert!(is_retry(Some(&s), Some(2)));
        assert!(
            !is_retry(Some(&s), Some(3)),
            "a new generation is a new attempt"
        );
        let ok = build(
            None,
            Some(2),
            &Outcome::Ready {
                release: info(1),
                message: "ok".into(),
            },
            "T",
        );
        assert!(!is_retry(Some(&ok), Some(2)));
        assert!(!is_retry(None, Some(2)));
    }

    #[test]
    fn progressing() {
        let o = Outcome::Progressing {
            reason: "Upgrading".into(),
            message: "helm upgrade".into(),
            release: Some(info(1)),
        };
        let s = build(None, Some(3), &o, "T");
        assert_eq!(cond(&s, "Reconciling")["status"], "True");
        assert_eq!(cond(&s, "Ready")["status"], "False");
        assert_eq!(cond(&s, "Ready")["observedGeneration"], 3);
    }

    #[test]
    fn unchanged_treats_null_as_absent() {
        let cur = json!({"a": 1});
        assert!(unchanged(Some(&cur), &json!({"a": 1, "b": null})));
        assert!(!unchanged(Some(&cur), &json!({"a": 2})));
        assert!(!unchanged(None, &json!({"a": 1})));
    }
}
