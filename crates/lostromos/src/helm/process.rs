//! Running helm: one process group per run, bounded output, a deadline enforced
//! with SIGTERM (helm marks the release failed) then SIGKILL, and a semaphore
//! that bounds how many run at once.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::argv::Invocation;
use super::error::{classify, summarize, HelmError, HelmErrorKind};

/// Most of stdout kept (helm's JSON or rendered manifests).
const MAX_STDOUT: usize = 32 << 20;
/// Most of stderr kept: the tail, where helm's error is.
const MAX_STDERR: usize = 64 << 10;

/// What a successful run printed.
#[derive(Debug)]
pub struct RunOutput {
    pub stdout: String,
    pub stderr: String,
}

/// When we stop a helm process ourselves: after its own `--timeout` plus as much
/// again (at most 30 s), since one helm operation may wait more than once.
pub fn deadline_for(timeout: Duration) -> Duration {
    timeout + timeout.min(Duration::from_secs(30))
}

/// Runs helm for the whole process: binary, environment, limits.
#[derive(Debug)]
pub struct HelmRunner {
    binary: PathBuf,
    env: Vec<(OsString, OsString)>,
    /// Between SIGTERM and SIGKILL.
    grace: Duration,
    permits: Arc<Semaphore>,
    started: AtomicU64,
    /// Process groups of the helm processes running now.
    running: Mutex<HashSet<i32>>,
}

impl HelmRunner {
    pub fn new(
        binary: PathBuf,
        env: Vec<(OsString, OsString)>,
        concurrency: usize,
        grace: Duration,
    ) -> Self {
        Self {
            binary,
            env,
            grace,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            started: AtomicU64::new(0),
            running: Mutex::default(),
        }
    }

    /// Refuses new helm runs from now on (shutting down); running ones go on.
    pub fn close(&self) {
        self.permits.close();
    }

    /// How many helm processes run now.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Sends `sig` to every running helm process group: SIGTERM lets helm mark
    /// its release failed instead of leaving it pending.
    pub fn signal_all(&self, sig: Signal) {
        for pgid in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = killpg(Pid::from_raw(*pgid), sig);
        }
    }

    /// How many helm processes this runner has started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Waits for a free slot, runs helm, and stops it if it outlives
    /// `deadline_for(timeout)` (`timeout` being helm's own `--timeout`).
    pub async fn run(&self, inv: &Invocation, timeout: Duration) -> Result<RunOutput, HelmError> {
        let _permit = self.permits.acquire().await.map_err(|_| HelmError {
            action: inv.action,
            kind: HelmErrorKind::Spawn,
            message: "shutting down".into(),
        })?;
        self.run_now(inv, deadline_for(timeout)).await
    }

    async fn run_now(&self, inv: &Invocation, deadline: Duration) -> Result<RunOutput, HelmError> {
        let spawn_err = |e: std::io::Error| HelmError {
            action: inv.action,
            kind: HelmErrorKind::Spawn,
            message: format!("could not start {}: {e}", self.binary.display()),
        };
        let mut child = Command::new(&self.binary)
            .args(&inv.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_err)?;
        self.started.fetch_add(1, Ordering::Relaxed);
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let guard = GroupGuard(group);
        let _tracked = Tracked::new(&self.running, group);

        let stdout = tokio::spawn(read_bounded(child.stdout.take(), MAX_STDOUT, false));
        let stderr = tokio::spawn(read_bounded(child.stderr.take(), MAX_STDERR, true));

        let (status, timed_out) = tokio::select! {
            status = child.wait() => (status, false),
            () = tokio::time::sleep(deadline) => {
                guard.signal(Signal::SIGTERM);
                let status = match tokio::time::timeout(self.grace, child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        guard.signal(Signal::SIGKILL);
                        child.wait().await
                    }
                };
                (status, true)
            }
        };
        // Anything helm left in its group (plugins, post-renderers) goes with it.
        guard.signal(Signal::SIGKILL);
        std::mem::forget(guard);

        let stdout = stdout.await.unwrap_or_default();
        let stderr = stderr.await.unwrap_or_default();
        let status: ExitStatus = status.map_err(spawn_err)?;
        if timed_out {
            return Err(HelmError {
                action: inv.action,
                kind: HelmErrorKind::TimedOut,
                message: format!(
                    "helm {} ran longer than {}s and was stopped",
                    inv.action,
                    deadline.as_secs()
                ),
            });
        }
        if !status.success() {
            return Err(HelmError {
                action: inv.action,
                kind: classify(&stderr),
                message: summarize(&stderr),
            });
        }
        Ok(RunOutput { stdout, stderr })
    }
}

/// Keeps a process group in the running set while it runs.
struct Tracked<'a>(&'a Mutex<HashSet<i32>>, Option<i32>);

impl<'a> Tracked<'a> {
    fn new(set: &'a Mutex<HashSet<i32>>, group: Option<Pid>) -> Self {
        let pgid = group.map(Pid::as_raw);
        if let Some(p) = pgid {
            set.lock().unwrap_or_else(|e| e.into_inner()).insert(p);
        }
        Self(set, pgid)
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.1 {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&p);
        }
    }
}

/// Stops a helm process group that is abandoned (its reconcile was cancelled):
/// SIGTERM lets helm mark the release failed instead of leaving it pending.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn signal(&self, sig: Signal) {
        if let Some(pid) = self.0 {
            // ESRCH: the group is already gone, which is the goal.
            let _ = killpg(pid, sig);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGTERM);
    }
}

/// Reads a pipe to its end, keeping at most `limit` bytes: the head, or the tail.
async fn read_bounded(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
    keep_tail: bool,
) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit {
                    if keep_tail {
                        kept.drain(..kept.len() - limit);
                    } else {
                        kept.truncate(limit);
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation {
            action: "test",
            args: vec!["-c".into(), script.into()],
        }
    }

    fn runner() -> HelmRunner {
        HelmRunner::new("/bin/sh".into(), vec![], 2, Duration::from_millis(500))
    }

    #[test]
    fn deadline_adds_at_most_30s() {
        assert_eq!(
            deadline_for(Duration::from_secs(5)),
            Duration::from_secs(10)
        );
        assert_eq!(
            deadline_for(Duration::from_secs(300)),
            Duration::from_secs(330)
        );
    }

    #[tokio::test]
    async fn captures_output() {
        let out = runner()
            .run_now(&sh("echo out; echo err >&2"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[tokio::test]
    async fn failure_is_classified_from_stderr() {
        let err = runner()
            .run_now(&sh("echo 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress' >&2; exit 1"), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.kind, HelmErrorKind::InProgress);
        assert!(err.message.starts_with("UPGRADE FAILED"));
    }

    #[tokio::test]
    async fn missing_binary_is_a_spawn_error() {
        let r = HelmRunner::new(
            "/nonexistent/helm".into(),
            vec![],
            1,
            Duration::from_secs(1),
        );
        let err = r
            .run(&sh("true"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind, HelmErrorKind::Spawn);
        assert_eq!(r.started(), 0);
    }

    /// A process that ignores SIGTERM, with a child of its own: after the deadline
    /// both are gone (SIGKILL to the whole group).
    #[tokio::test]
    async fn deadline_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let script = format!(
            "trap '' TERM; sleep 300 & echo $! > {}; wait",
            pidfile.display()
        );
        let r = runner();
        let err = r
            .run_now(&sh(&script), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind, HelmErrorKind::TimedOut);
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // the grandchild was killed with its group: waiting for it to vanish is bounded
        let gone = (0..100).any(|_| {
            let alive = nix::sys::signal::kill(Pid::from_raw(child), None).is_ok()
                && !std::fs::read_to_string(format!("/proc/{child}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ");
            if alive {
                std::thread::sleep(Duration::from_millis(50));
            }
            !alive
        });
        assert!(gone, "grandchild {child} survived");
    }

    #[tokio::test]
    async fn sigterm_is_tried_first() {
        // a process that exits cleanly on SIGTERM is not SIGKILLed: its trap runs
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("termed");
        let script = format!(
            "trap 'echo yes > {}; exit 0' TERM; sleep 300 & wait",
            marker.display()
        );
        let err = runner()
            .run_now(&sh(&script), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(err.kind, HelmErrorKind::TimedOut);
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "yes");
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // each run records how many are running at its start
        let script = format!(
            "echo start >> {l}; n=$(grep -c start {l}); m=$(grep -c end {l} || true); echo $((n-m)) >> {l}.max; sleep 0.2; echo end >> {l}",
            l = log.display()
        );
        let r = Arc::new(runner());
        let inv = sh(&script);
        let runs = (0..6).map(|_| {
            let r = r.clone();
            let inv = inv.clone();
            tokio::spawn(async move { r.run(&inv, Duration::from_secs(10)).await })
        });
        for h in runs {
            h.await.unwrap().unwrap();
        }
        let max = std::fs::read_to_string(format!("{}.max", log.display())).unwrap();
        let peak = max
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .max()
            .unwrap();
        assert!(peak <= 2, "peak concurrency {peak}");
        assert_eq!(r.started(), 6);
    }

    #[tokio::test]
    async fn running_processes_are_tracked_and_can_be_stopped() {
        let r = Arc::new(runner());
        let inv = sh("sleep 300");
        let handle = {
            let r = r.clone();
            tokio::spawn(async move { r.run(&inv, Duration::from_secs(600)).await })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while r.running() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "helm never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r.close();
        r.signal_all(Signal::SIGTERM);
        let result = handle.await.unwrap();
        assert!(result.is_err(), "a terminated run is a failure");
        assert_eq!(r.running(), 0);
        let refused = r
            .run(&sh("true"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            refused.kind,
            HelmErrorKind::Spawn,
            "closed runner refuses new runs"
        );
    }

    #[tokio::test]
    async fn stdout_is_bounded() {
        let out = runner()
            .run_now(
                &sh("head -c 100000 /dev/zero | tr '\\0' a"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 100000);
        let kept = read_bounded(Some(&b"abcdef"[..]), 3, true).await;
        assert_eq!(kept, "def");
        let kept = read_bounded(Some(&b"abcdef"[..]), 3, false).await;
        assert_eq!(kept, "abc");
    }
}
