//! The verdict on a deployed release's objects (pure): are they ready, and has
//! anyone changed them behind helm's back? From what the object watches saw,
//! the time helm deployed, and the CR's record of past corrections.

use crate::observe::kstatus::Readiness;
use crate::observe::managed_fields::ForeignWrite;
use crate::observe::manifest::show;
use crate::observe::objects::{ReleaseObjects, Seen, MISSING_AFTER};

/// What to do about drift: `--drift`'s closed set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Re-apply the release with the same inputs.
    #[default]
    Correct,
    /// Report it (condition Drifted, an Event); run nothing.
    Warn,
    /// Ignore it.
    Off,
}

/// The settings the verdict depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    pub drift: DriftMode,
    /// Objects not ready this long after helm deployed them: Stalled.
    pub ready_timeout_secs: i64,
    /// This many corrections within `loop_window_secs` make a fight.
    pub loop_limit: usize,
    pub loop_window_secs: i64,
    /// The first pause of corrections in a fight; each further one doubles it.
    pub loop_hold_secs: i64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            drift: DriftMode::Correct,
            ready_timeout_secs: 600,
            loop_limit: 3,
            loop_window_secs: 600,
            loop_hold_secs: 300,
        }
    }
}

/// Longest pause of corrections in a fight.
const MAX_HOLD_SECS: i64 = 6 * 3600;
/// Objects named in a message; the rest are counted.
const NAMED: usize = 3;

/// What a CR remembers of the corrections of its release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corrections {
    /// When each recent correction ran (Unix seconds), oldest first.
    pub at: Vec<i64>,
    /// Fights detected so far: each doubles the pause.
    pub fights: u32,
    /// No correction before this time (a fight is on).
    pub held_until: Option<i64>,
}

impl Corrections {
    /// Records a correction run at `now`, forgetting those out of the window.
    pub fn record(&mut self, now: i64, s: &HealthSettings) {
        self.at.retain(|t| now - t < s.loop_window_secs);
        self.at.push(now);
    }
}

/// Objects counted for status (`status.objects`): all judged, and how many are ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub total: usize,
    pub ready: usize,
}

/// Whether the objects are ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readied {
    Ready,
    /// Not yet; look again after `recheck_secs` (a deadline, or an object that
    /// may only not be seen yet) if nothing wakes the CR before.
    Progressing {
        message: String,
        recheck_secs: Option<u64>,
    },
    /// Past the deadline, or an object failed: Stalled until they are ready.
    NotReady {
        message: String,
    },
}

/// What to do about drift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    None,
    /// Re-apply now; `message` names the objects.
    Correct {
        message: String,
        objects: Vec<String>,
    },
    /// Report only (`--drift warn`).
    Warn {
        message: String,
    },
    /// Corrections are paused: the objects keep drifting back.
    Fight {
        message: String,
        held_until: i64,
        /// Set when this verdict starts the pause (then it is recorded).
        new_pause: bool,
    },
}

/// The verdict on a release's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Some object's watch has not listed yet (just started, e.g. after a
    /// restart): nothing is known, so nothing is reported; the list wakes the CR.
    pub unlisted: bool,
    /// Some object is missing from its watch, but not for long enough to say
    /// it was deleted: usually one helm just created, on its way to the
    /// watch. Reporting now would write a status the next event undoes.
    pub unseen: bool,
    pub counts: Counts,
    pub readiness: Readied,
    pub drift: Drift,
}

/// One drifted object, for messages.
struct Drifted {
    label: String,
    what: String,
}

/// Judges the objects of a release deployed at `deployed_unix`.
pub fn judge(
    objects: &ReleaseObjects,
    s: &HealthSettings,
    deployed_unix: Option<i64>,
    corrections: &Corrections,
    now: i64,
) -> Verdict {
    let mut counts = Counts::default();
    let mut waiting: Vec<String> = Vec::new();
    let mut failed = false;
    let mut unsettled = false;
    let mut unlisted = false;
    let mut drifted: Vec<Drifted> = Vec::new();
    for o in &objects.objects {
        let label = o.label();
        let not_ready = match &o.seen {
            Seen::Outside => continue,
            Seen::Present { readiness, drift } => {
                let since_deploy: Vec<&ForeignWrite> = drift
                    .iter()
                    .filter(|w| match (w.time_unix, deployed_unix) {
                        (Some(t), Some(d)) => t >= d,
                        _ => true,
                    })
                    .collect();
                if !since_deploy.is_empty() {
                    drifted.push(Drifted {
                        label: label.clone(),
                        what: describe_writes(&since_deploy),
                    });
                }
                match readiness {
                    Readiness::Current => None,
                    Readiness::InProgress(m) => Some(m.clone()),
                    Readiness::Failed(m) => {
                        failed = true;
                        Some(m.clone())
                    }
                }
            }
            Seen::Missing { settled } => {
                if *settled {
                    drifted.push(Drifted {
                        label: label.clone(),
                        what: "deleted".into(),
                    });
                } else {
                    unsettled = true;
                }
                Some("not found".into())
            }
            Seen::Unlisted => {
                unlisted = true;
                Some("not listed yet".into())
            }
            Seen::Unwatchable(why) => Some(why.clone()),
        };
        counts.total += 1;
        match not_ready {
            None => counts.ready += 1,
            Some(why) => waiting.push(format!("{label}: {why}")),
        }
    }
    let readiness = readied(&waiting, failed, unsettled, s, deployed_unix, now);
    let drift = drift(&drifted, s, corrections, now);
    Verdict {
        unlisted,
        unseen: unsettled,
        counts,
        readiness,
        drift,
    }
}

fn readied(
    waiting: &[String],
    failed: bool,
    unsettled: bool,
    s: &HealthSettings,
    deployed_unix: Option<i64>,
    now: i64,
) -> Readied {
    if waiting.is_empty() {
        return Readied::Ready;
    }
    let message = name_some(waiting);
    let deadline = deployed_unix.map(|d| d.saturating_add(s.ready_timeout_secs));
    match deadline {
        _ if failed => Readied::NotReady { message },
        Some(d) if now >= d => Readied::NotReady {
            message: format!(
                "{message} (not ready {}s after the release was deployed)",
                s.ready_timeout_secs
            ),
        },
        _ => {
            let to_deadline = deadline.map(|d| u64::try_from(d - now).unwrap_or(1).max(1));
            let to_settle = unsettled.then(|| MISSING_AFTER.as_secs().max(1));
            let recheck_secs = match (to_deadline, to_settle) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Readied::Progressing {
                message,
                recheck_secs,
            }
        }
    }
}

fn drift(drifted: &[Drifted], s: &HealthSettings, c: &Corrections, now: i64) -> Drift {
    if drifted.is_empty() || s.drift == DriftMode::Off {
        return Drift::None;
    }
    let listed: Vec<String> = drifted
        .iter()
        .map(|d| format!("{} {}", d.label, d.what))
        .collect();
    let message = name_some(&listed);
    if s.drift == DriftMode::Warn {
        return Drift::Warn {
            message: format!("changed outside helm: {message}"),
        };
    }
    if let Some(until) = c.held_until.filter(|u| now < *u) {
        return Drift::Fight {
            message: fight_message(&message, c.at.len(), s, until - now),
            held_until: until,
            new_pause: false,
        };
    }
    let recent =
        c.at.iter()
            .filter(|t| now - *t < s.loop_window_secs)
            .count();
    // a pause that ended gets one more try before the next, longer one
    let retry_after_pause = c
        .held_until
        .is_some_and(|until| !c.at.iter().any(|t| *t >= until));
    if recent >= s.loop_limit && !retry_after_pause {
        let hold = s
            .loop_hold_secs
            .saturating_mul(1_i64 << c.fights.min(16))
            .min(MAX_HOLD_SECS);
        return Drift::Fight {
            message: fight_message(&message, recent, s, hold),
            held_until: now.saturating_add(hold),
            new_pause: true,
        };
    }
    Drift::Correct {
        message: format!("put back: {message}"),
        objects: drifted.iter().map(|d| d.label.clone()).collect(),
    }
}

fn fight_message(drifted: &str, corrections: usize, s: &HealthSettings, hold_secs: i64) -> String {
    format!(
        "{drifted}, again after {corrections} corrections within {}s: another writer (a \
         controller or a mutating webhook) keeps changing them; corrections pause for {hold_secs}s. \
         Fix: stop the other writer, or leave these fields out of the chart",
        s.loop_window_secs
    )
}

/// `changed by manager m (data.x, spec.replicas)`, per writer.
fn describe_writes(writes: &[&ForeignWrite]) -> String {
    let parts: Vec<String> = writes
        .iter()
        .map(|w| {
            let fields: Vec<String> = w.paths.iter().take(NAMED).map(|p| show(p)).collect();
            let more = w.paths.len().saturating_sub(NAMED);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "changed by manager {} ({}{more})",
                w.manager,
                fields.join(", ")
            )
        })
        .collect();
    parts.join("; ")
}

/// The first few items joined, and how many more there are.
fn name_some(items: &[String]) -> String {
    let mut out = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > NAMED {
        out.push_str(&format!(" (and {} more)", items.len() - NAMED));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::objects::ObjectView;

    const NOW: i64 = 10_000;
    const DEPLOYED: i64 = 9_990;

    fn object(kind: &str, name: &str, seen: Seen) -> ObjectView {
        ObjectView {
            kind: kind.into(),
            namespace: Some("team-a".into()),
            name: name.into(),
            seen,
        }
    }

    fn ready() -> Seen {
        Seen::Present {
            readiness: Readiness::Current,
            drift: vec![],
        }
    }

    fn release(objects: Vec<ObjectView>) -> ReleaseObjects {
        ReleaseObjects {
            revision: 1,
            server_side: false,
            objects,
            problem: None,
        }
    }

    fn write(manager: &str, time: i64, path: &[&str]) -> ForeignWrite {
        ForeignWrite {
            manager: manager.into(),
            operation: "Update".into(),
            time_unix: Some(time),
            paths: vec![path.iter().map(|s| s.to_string()).collect()],
        }
    }

    fn verdict(objects: Vec<ObjectView>) -> Verdict {
        judge(
            &release(objects),
            &HealthSettings::default(),
            Some(DEPLOYED),
            &Corrections::default(),
            NOW,
        )
    }

    #[test]
    fn ready_when_every_object_is_current() {
        let v = verdict(vec![
            object("ConfigMap", "a", ready()),
            object("Deployment", "web", ready()),
        ]);
        assert_eq!(v.readiness, Readied::Ready);
        assert_eq!(v.counts, Counts { total: 2, ready: 2 });
        assert_eq!(v.drift, Drift::None);
    }

    #[test]
    fn progressing_names_the_objects_not_ready_and_rechecks_at_the_deadline() {
        let slow = Seen::Present {
            readiness: Readiness::InProgress("1/3 replicas available".into()),
            drift: vec![],
        };
        let v = verdict(vec![
            object("ConfigMap", "a", ready()),
            object("Deployment", "web", slow),
        ]);
        assert_eq!(v.counts, Counts { total: 2, ready: 1 });
        assert_eq!(
            v.readiness,
            Readied::Progressing {
                message: "Deployment team-a/web: 1/3 replicas available".into(),
                recheck_secs: Some(590),
            }
        );
    }

    #[test]
    fn not_ready_after_the_deadline_or_when_an_object_failed() {
        let slow = Seen::Present {
            readiness: Readiness::InProgress("0/1 replicas available".into()),
            drift: vec![],
        };
        let late = judge(
            &release(vec![object("Deployment", "web", slow)]),
            &HealthSettings::default(),
            Some(NOW - 600),
            &Corrections::default(),
            NOW,
        );
        assert!(
            matches!(&late.readiness, Readied::NotReady { message } if message.contains("0/1 replicas available") && message.contains("600s")),
            "{late:?}"
        );
        let failed = Seen::Present {
            readiness: Readiness::Failed("job failed: BackoffLimitExceeded".into()),
            drift: vec![],
        };
        let v = verdict(vec![object("Job", "migrate", failed)]);
        assert!(matches!(v.readiness, Readied::NotReady { .. }), "{v:?}");
    }

    #[test]
    fn many_objects_are_named_up_to_three() {
        let slow = || Seen::Present {
            readiness: Readiness::InProgress("waiting".into()),
            drift: vec![],
        };
        let v = verdict(
            (0..5)
                .map(|i| object("Pod", &format!("p{i}"), slow()))
                .collect(),
        );
        let Readied::Progressing { message, .. } = v.readiness else {
            panic!("{v:?}")
        };
        assert!(
            message.contains("Pod team-a/p2: waiting (and 2 more)"),
            "{message}"
        );
        assert!(!message.contains("p3"), "{message}");
    }

    #[test]
    fn another_managers_write_since_the_deploy_is_drift_to_correct() {
        let edited = Seen::Present {
            readiness: Readiness::Current,
            drift: vec![write("kubectl-edit", DEPLOYED + 5, &["data", "x"])],
        };
        let v = verdict(vec![object("ConfigMap", "a", edited)]);
        assert_eq!(
            v.drift,
            Drift::Correct {
                message: "put back: ConfigMap team-a/a changed by manager kubectl-edit (data.x)"
                    .into(),
                objects: vec!["ConfigMap team-a/a".into()],
            }
        );
        // ready all the same: a changed ConfigMap is there
        assert_eq!(v.readiness, Readied::Ready);
    }

    #[test]
    fn a_write_older_than_the_deploy_is_not_drift() {
        // the deploy took the fields back (or the write was before it)
        let old = Seen::Present {
            readiness: Readiness::Current,
            drift: vec![write("kubectl-edit", DEPLOYED - 1, &["data", "x"])],
        };
        assert_eq!(
            verdict(vec![object("ConfigMap", "a", old)]).drift,
            Drift::None
        );
    }

    #[test]
    fn a_deleted_object_is_drift_once_settled() {
        let v = verdict(vec![object(
            "Deployment",
            "web",
            Seen::Missing { settled: true },
        )]);
        assert!(
            matches!(&v.drift, Drift::Correct { message, .. } if message.contains("Deployment team-a/web deleted")),
            "{v:?}"
        );
        // just inventoried: maybe not seen yet; look again when it would be
        let v = verdict(vec![object(
            "Deployment",
            "web",
            Seen::Missing { settled: false },
        )]);
        assert_eq!(v.drift, Drift::None);
        assert!(
            matches!(
                v.readiness,
                Readied::Progressing {
                    recheck_secs: Some(5),
                    ..
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn warn_and_off_run_nothing() {
        let gone = || vec![object("Deployment", "web", Seen::Missing { settled: true })];
        let mut s = HealthSettings {
            drift: DriftMode::Warn,
            ..Default::default()
        };
        let v = judge(
            &release(gone()),
            &s,
            Some(DEPLOYED),
            &Corrections::default(),
            NOW,
        );
        assert_eq!(
            v.drift,
            Drift::Warn {
                message: "changed outside helm: Deployment team-a/web deleted".into()
            }
        );
        s.drift = DriftMode::Off;
        let v = judge(
            &release(gone()),
            &s,
            Some(DEPLOYED),
            &Corrections::default(),
            NOW,
        );
        assert_eq!(v.drift, Drift::None);
        assert_eq!(v.counts, Counts { total: 1, ready: 0 });
    }

    #[test]
    fn a_fight_pauses_corrections_with_a_growing_hold() {
        let s = HealthSettings::default();
        let edited_at = |t: i64| {
            vec![object(
                "ConfigMap",
                "a",
                Seen::Present {
                    readiness: Readiness::Current,
                    drift: vec![write("fighter", t, &["data", "x"])],
                },
            )]
        };
        let edited = || edited_at(NOW);
        let mut c = Corrections::default();
        for t in [NOW - 30, NOW - 20, NOW - 10] {
            c.record(t, &s);
        }
        let v = judge(&release(edited()), &s, Some(NOW - 10), &c, NOW);
        let Drift::Fight {
            message,
            held_until,
            new_pause,
        } = v.drift
        else {
            panic!("{v:?}")
        };
        assert!(new_pause);
        assert_eq!(held_until, NOW + 300);
        for part in [
            "ConfigMap team-a/a",
            "manager fighter",
            "data.x",
            "3 corrections",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
        // while held: still a fight, not a new pause
        c.held_until = Some(held_until);
        c.fights = 1;
        let v = judge(&release(edited()), &s, Some(NOW - 10), &c, NOW + 100);
        assert!(
            matches!(
                v.drift,
                Drift::Fight {
                    new_pause: false,
                    ..
                }
            ),
            "{v:?}"
        );
        // after the pause, one more correction; then a longer pause
        let v = judge(&release(edited()), &s, Some(NOW - 10), &c, NOW + 300);
        assert!(matches!(v.drift, Drift::Correct { .. }), "{v:?}");
        c.record(NOW + 300, &s);
        let v = judge(
            &release(edited_at(NOW + 301)),
            &s,
            Some(NOW + 300),
            &c,
            NOW + 301,
        );
        assert!(
            matches!(v.drift, Drift::Fight { held_until, new_pause: true, .. } if held_until == NOW + 301 + 600),
            "{v:?}"
        );
    }

    #[test]
    fn corrections_out_of_the_window_are_forgotten() {
        let s = HealthSettings::default();
        let mut c = Corrections::default();
        for t in [0, 10, 20] {
            c.record(t, &s);
        }
        c.record(NOW, &s);
        assert_eq!(c.at, vec![NOW]);
    }

    #[test]
    fn objects_outside_the_scope_are_not_judged_and_unwatchable_ones_say_why() {
        let v = verdict(vec![
            object("ConfigMap", "a", Seen::Outside),
            object(
                "Deployment",
                "web",
                Seen::Unwatchable("may not watch deployments".into()),
            ),
        ]);
        assert_eq!(v.counts, Counts { total: 1, ready: 0 });
        assert!(
            matches!(&v.readiness, Readied::Progressing { message, .. } if message.contains("may not watch deployments")),
            "{v:?}"
        );
        assert!(!v.unlisted);
    }

    #[test]
    fn an_object_whose_watch_has_not_listed_yet_leaves_the_verdict_open() {
        let v = verdict(vec![
            object("ConfigMap", "a", ready()),
            object("Deployment", "web", Seen::Unlisted),
        ]);
        assert!(v.unlisted, "{v:?}");
        assert!(!verdict(vec![object("ConfigMap", "a", ready())]).unlisted);
    }
}
