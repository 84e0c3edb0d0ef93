//! How each watch is doing: a capped retry backoff, errors counted and logged
//! at a bounded rate, and whether the watch is failing now (for `/readyz`, and
//! for reconciles that must not act on a stale view).
//!
//! kube-runtime's watcher emits nothing when it resumes a watch after an
//! error, so recovery is seen either from an event, or as a watch that has
//! gone [`QUIET`] without an error while the API server answers: a watch that
//! still fails errs again within one backoff step.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::runtime::watcher;

use crate::observe::api_probe::ApiProbe;

/// First retry delay of a failed watch.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest retry delay before jitter (which adds up to as much again): a watch
/// retries at least every 2 s, so it resumes within 2 s of the API server's
/// return (kube's default grows to 30 s and resets only after 120 s).
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A failing watch that has had no error for this long has resumed (given the
/// API server answers): longer than the longest retry delay plus one refused try.
pub const QUIET: Duration = Duration::from_secs(5);
/// At most one log line per watch in this interval while it keeps failing.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// The retry backoff for every watch: exponential from [`BACKOFF_MIN`] to
/// [`BACKOFF_MAX`], jittered, never giving up.
pub fn backoff() -> watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(BACKOFF_MIN)
        .with_max_delay(BACKOFF_MAX)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// Why a watch failed, from its last error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No answer from the API server (refused, reset, timed out).
    Unreachable(String),
    /// The API server answered 403: this identity may not `verb` the resource.
    Forbidden { verb: &'static str, message: String },
    /// Any other answer.
    Other(String),
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(m) => write!(f, "API server unreachable: {m}"),
            Self::Forbidden { verb, message } => write!(f, "forbidden to {verb}: {message}"),
            Self::Other(m) => f.write_str(m),
        }
    }
}

/// Sorts a watcher error; `None` for what the watcher handles itself (410
/// Gone: the resource version expired, it lists again).
pub fn classify(e: &watcher::Error) -> Option<Cause> {
    use watcher::Error as W;
    let (verb, err) = match e {
        W::InitialListFailed(err) => ("list", err),
        W::WatchStartFailed(err) | W::WatchFailed(err) => ("watch", err),
        W::WatchError(status) if status.code == 410 => return None,
        W::WatchError(status) if status.code == 403 => {
            return Some(Cause::Forbidden {
                verb: "watch",
                message: status.message.clone(),
            })
        }
        W::WatchError(status) => {
            return Some(Cause::Other(format!(
                "watch: {} {}: {}",
                status.code, status.reason, status.message
            )))
        }
        W::NoResourceVersion => return Some(Cause::Other(e.to_string())),
    };
    Some(match err {
        kube::Error::Api(s) if s.code == 403 => Cause::Forbidden {
            verb,
            message: s.message.clone(),
        },
        kube::Error::Api(s) => {
            Cause::Other(format!("{verb}: {} {}: {}", s.code, s.reason, s.message))
        }
        other if is_transport(other) => Cause::Unreachable(format!("{verb}: {}", describe(other))),
        other => Cause::Other(format!("{verb}: {}", describe(other))),
    })
}

/// Whether a client error means no answer came from the API server.
pub fn is_transport(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)
    )
}

/// An error with its sources, each said once ("client error (Connect): tcp
/// connect error: Connection refused"); an API answer without kube's Status dump.
pub fn describe(e: &kube::Error) -> String {
    if let kube::Error::Api(s) = e {
        return format!("{} {}: {}", s.code, s.reason, s.message);
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// A watch's current failing streak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    pub since: Instant,
    pub last: Instant,
    pub errors: u64,
    pub cause: Cause,
    logged: Instant,
    suppressed: u64,
}

/// A line to log about a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Failed(Cause),
    /// Still failing: `suppressed` errors since the last line.
    StillFailing {
        cause: Cause,
        errors: u64,
        suppressed: u64,
        for_secs: u64,
    },
    Recovered {
        errors: u64,
        for_secs: u64,
        /// The streak's last cause.
        cause: Cause,
    },
}

/// The pure state of one watch's health; times are given, so it is testable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Streak {
    pub errors_total: u64,
    pub failing: Option<Failing>,
}

impl Streak {
    /// One more error: the first is logged at once, then at most one line per
    /// [`LOG_EVERY`], counting the ones left out.
    pub fn error(&mut self, now: Instant, cause: Cause) -> Option<Note> {
        self.errors_total += 1;
        let Some(f) = &mut self.failing else {
            self.failing = Some(Failing {
                since: now,
                last: now,
                errors: 1,
                cause: cause.clone(),
                logged: now,
                suppressed: 0,
            });
            return Some(Note::Failed(cause));
        };
        f.last = now;
        f.errors += 1;
        f.cause = cause;
        if now.saturating_duration_since(f.logged) < LOG_EVERY {
            f.suppressed += 1;
            return None;
        }
        let note = Note::StillFailing {
            cause: f.cause.clone(),
            errors: f.errors,
            suppressed: f.suppressed,
            for_secs: now.saturating_duration_since(f.since).as_secs(),
        };
        f.logged = now;
        f.suppressed = 0;
        Some(note)
    }

    /// The watch delivered an event: it works.
    pub fn ok(&mut self, now: Instant) -> Option<Note> {
        let f = self.failing.take()?;
        Some(Note::Recovered {
            errors: f.errors,
            for_secs: now.saturating_duration_since(f.since).as_secs(),
            cause: f.cause,
        })
    }

    /// Whether the streak has gone [`QUIET`]: then, if the API server answers,
    /// the watch has resumed.
    pub fn quiet(&self, now: Instant) -> bool {
        self.failing
            .as_ref()
            .is_some_and(|f| now.saturating_duration_since(f.last) >= QUIET)
    }
}

/// One watch's health, shared between the watch and those who ask about it.
#[derive(Debug)]
pub struct WatchHealth {
    /// What is watched, for logs and `/readyz`: `Secrets in namespace x`.
    pub what: String,
    streak: Mutex<Streak>,
    /// Told when a refused watch works again.
    permitted: tokio::sync::Notify,
}

impl WatchHealth {
    fn new(what: String) -> Self {
        Self {
            what,
            streak: Mutex::default(),
            permitted: tokio::sync::Notify::new(),
        }
    }

    /// Resolves once a watch refused with 403 works again (for one waiter; a
    /// recovery while nobody waits is kept for the next).
    pub async fn permitted(&self) {
        self.permitted.notified().await;
    }

    fn streak(&self) -> std::sync::MutexGuard<'_, Streak> {
        self.streak.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a watcher error and logs it, rate-limited.
    pub fn error(&self, e: &watcher::Error) {
        let Some(cause) = classify(e) else {
            tracing::debug!(watch = %self.what, error = %e, "watch restarts from a fresh list");
            return;
        };
        let note = self.streak().error(Instant::now(), cause);
        self.log(note);
    }

    /// Records that the watch delivered an event.
    pub fn ok(&self) {
        // most events find no streak: skip the clock
        let note = {
            let mut streak = self.streak();
            if streak.failing.is_none() {
                return;
            }
            streak.ok(Instant::now())
        };
        self.log(note);
    }

    /// The current failing streak, if any.
    pub fn failing(&self) -> Option<Failing> {
        self.streak().failing.clone()
    }

    /// Errors since start.
    pub fn errors_total(&self) -> u64 {
        self.streak().errors_total
    }

    fn log(&self, note: Option<Note>) {
        match note {
            None => {}
            Some(Note::Failed(cause)) => {
                tracing::warn!(watch = %self.what, error = %cause, "watch failed; retrying every few seconds")
            }
            Some(Note::StillFailing {
                cause,
                errors,
                suppressed,
                for_secs,
            }) => {
                tracing::warn!(watch = %self.what, error = %cause, errors, suppressed, failing_for_s = for_secs, "watch still failing")
            }
            Some(Note::Recovered {
                errors,
                for_secs,
                cause,
            }) => {
                tracing::info!(watch = %self.what, errors, failed_for_s = for_secs, "watch recovered");
                if matches!(cause, Cause::Forbidden { .. }) {
                    self.permitted.notify_one();
                }
            }
        }
    }
}

/// Every watch of the process.
#[derive(Debug, Default)]
pub struct Watches {
    all: Mutex<Vec<Arc<WatchHealth>>>,
}

impl Watches {
    /// Registers a watch of `what`.
    pub fn add(&self, what: String) -> Arc<WatchHealth> {
        let health = Arc::new(WatchHealth::new(what));
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(health.clone());
        health
    }

    /// Unregisters a watch that was stopped.
    pub fn remove(&self, health: &Arc<WatchHealth>) {
        self.all
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|h| !Arc::ptr_eq(h, health));
    }

    fn all(&self) -> Vec<Arc<WatchHealth>> {
        self.all.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// One line per failing watch, for `/readyz`.
    pub fn problems(&self) -> Vec<String> {
        let now = Instant::now();
        self.all()
            .iter()
            .filter_map(|h| {
                let f = h.failing()?;
                Some(format!(
                    "watch of {} failing for {}s ({} errors): {}",
                    h.what,
                    now.saturating_duration_since(f.since).as_secs(),
                    f.errors,
                    f.cause
                ))
            })
            .collect()
    }

    /// Ends the streaks of watches that went [`QUIET`], once the API server
    /// answers (a quiet watch of an unreachable server has not resumed, it
    /// may just be waiting on a connection).
    pub async fn settle(&self, api: &ApiProbe) {
        let now = Instant::now();
        let quiet: Vec<_> = self
            .all()
            .into_iter()
            .filter(|h| h.streak().quiet(now))
            .collect();
        if quiet.is_empty() || api.check().await.is_err() {
            return;
        }
        for h in quiet {
            let note = {
                let mut streak = h.streak();
                // an error may have come in while the API server was asked
                if !streak.quiet(Instant::now()) {
                    continue;
                }
                streak.ok(Instant::now())
            };
            h.log(note);
        }
    }

    /// Runs [`Watches::settle`] every second, for as long as the process runs.
    pub async fn settle_forever(self: Arc<Self>, api: Arc<ApiProbe>) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.settle(&api).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Cause {
        Cause::Unreachable("watch: connection refused".into())
    }

    #[test]
    fn the_first_error_is_logged_then_one_line_a_minute_with_the_count_left_out() {
        let t0 = Instant::now();
        let mut s = Streak::default();
        assert_eq!(s.error(t0, refused()), Some(Note::Failed(refused())));
        // an error every second for a minute: nothing more is logged
        for i in 1..60 {
            assert_eq!(s.error(t0 + Duration::from_secs(i), refused()), None);
        }
        assert_eq!(
            s.error(t0 + Duration::from_secs(60), refused()),
            Some(Note::StillFailing {
                cause: refused(),
                errors: 61,
                suppressed: 59,
                for_secs: 60
            })
        );
        assert_eq!(s.error(t0 + Duration::from_secs(61), refused()), None);
        assert_eq!(s.errors_total, 62);
        assert_eq!(
            s.ok(t0 + Duration::from_secs(70)),
            Some(Note::Recovered {
                errors: 62,
                for_secs: 70,
                cause: refused()
            })
        );
        assert_eq!(s.failing, None);
        assert_eq!(s.ok(t0 + Duration::from_secs(71)), None, "said once");
        // a new streak is logged at once again
        assert!(matches!(
            s.error(t0 + Duration::from_secs(72), refused()),
            Some(Note::Failed(_))
        ));
    }

    #[test]
    fn a_streak_is_quiet_once_no_error_came_for_a_while() {
        let t0 = Instant::now();
        let mut s = Streak::default();
        assert!(!s.quiet(t0 + QUIET), "no streak, nothing to settle");
        s.error(t0, refused());
        assert!(!s.quiet(t0 + QUIET - Duration::from_millis(1)));
        assert!(s.quiet(t0 + QUIET));
        // errors keep coming within the longest retry delay: never quiet
        let longest_retry = BACKOFF_MAX * 2;
        assert!(longest_retry < QUIET);
        s.error(t0 + longest_retry, refused());
        assert!(!s.quiet(t0 + QUIET));
    }

    #[test]
    fn the_backoff_is_capped_at_twice_the_max_with_jitter() {
        let delays: Vec<Duration> = backoff().take(50).collect();
        assert_eq!(delays.len(), 50, "never gives up");
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX * 2), "{delays:?}");
        assert!(delays[0] < BACKOFF_MIN * 2 + Duration::from_millis(1));
    }

    fn status(code: u16, message: &str) -> Box<kube::core::Status> {
        Box::new(kube::core::Status {
            code,
            message: message.into(),
            reason: "Forbidden".into(),
            ..Default::default()
        })
    }

    #[test]
    fn errors_are_sorted_by_cause() {
        let denied = "secrets is forbidden: User \"x\" cannot list resource \"secrets\"";
        assert_eq!(
            classify(&watcher::Error::InitialListFailed(kube::Error::Api(
                status(403, denied)
            ))),
            Some(Cause::Forbidden {
                verb: "list",
                message: denied.into()
            })
        );
        assert_eq!(
            classify(&watcher::Error::WatchStartFailed(kube::Error::Api(status(
                403, denied
            )))),
            Some(Cause::Forbidden {
                verb: "watch",
                message: denied.into()
            })
        );
        assert!(matches!(
            classify(&watcher::Error::WatchError(status(403, denied))),
            Some(Cause::Forbidden { verb: "watch", .. })
        ));
        assert_eq!(
            classify(&watcher::Error::WatchError(status(410, "too old"))),
            None,
            "the watcher lists again by itself"
        );
        let refused = kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        )));
        let cause = classify(&watcher::Error::WatchStartFailed(refused));
        assert!(
            matches!(&cause, Some(Cause::Unreachable(m)) if m.contains("Connection refused")),
            "{cause:?}"
        );
        assert!(matches!(
            classify(&watcher::Error::InitialListFailed(kube::Error::Api(
                status(500, "etcd")
            ))),
            Some(Cause::Other(m)) if m.contains("500") && m.contains("etcd")
        ));
    }

    #[test]
    fn describe_names_each_source_once_and_no_status_dump() {
        let e = kube::Error::Api(status(403, "nope"));
        assert_eq!(describe(&e), "403 Forbidden: nope");
        let inner = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = kube::Error::Service(Box::new(inner));
        assert_eq!(describe(&e), "ServiceError: refused");
    }
}
