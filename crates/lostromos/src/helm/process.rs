//! Running helm: one process group per run, killed with Lostrómos if Lostrómos
//! dies, bounded output, values on standard input, a deadline enforced with
//! SIGTERM (helm marks the release failed) then SIGKILL, and a semaphore that
//! bounds how many run at once.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use super::argv::Invocation;
use super::error::{classify, summarize, HelmError, HelmErrorKind};

/// Most of stderr kept: the tail, where helm's error is.
const MAX_STDERR: usize = 64 << 10;

/// What a helm process gets when Lostrómos dies without stopping it (SIGKILL,
/// OOM). SIGTERM would buy nothing: with Lostrómos gone nobody reads helm's
/// stdout and stderr, so helm dies of SIGPIPE on the message it prints when
/// cancelled, before it marks the release failed (helm 3.17 and 4.1 alike).
/// The `pending-*` release it leaves is what the restarted Lostrómos recovers.
const DEATH_SIGNAL: Signal = Signal::SIGKILL;

/// What a successful run printed.
#[derive(Debug)]
pub struct RunOutput {
    pub stdout: String,
    pub stderr: String,
}

/// When one run waited for a slot and when helm ran.
#[derive(Clone, Copy, Debug)]
pub struct RunTimes {
    /// When the run asked for a slot.
    pub queued_at: Instant,
    /// When the helm process started; `None` when none did.
    pub started_at: Option<Instant>,
    /// When helm ended (or the run was given up).
    pub ended_at: Instant,
}

impl RunTimes {
    /// The wait for a concurrency slot.
    pub fn queue(&self) -> Duration {
        self.started_at
            .unwrap_or(self.ended_at)
            .saturating_duration_since(self.queued_at)
    }

    /// helm's own run, from its start to its exit.
    pub fn helm(&self) -> Duration {
        self.started_at.map_or(Duration::ZERO, |s| {
            self.ended_at.saturating_duration_since(s)
        })
    }
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
        self.run_timed(inv, timeout, None, None).await.0
    }

    /// [`run`](Self::run), and how long it waited for a slot and how long helm ran;
    /// with `cap`, a slot of that too (a kind's own limit, inside the runner's).
    /// `on_slot` hears when the slots are held and helm is about to start.
    pub async fn run_timed(
        &self,
        inv: &Invocation,
        timeout: Duration,
        cap: Option<&Semaphore>,
        on_slot: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> (Result<RunOutput, HelmError>, RunTimes) {
        let queued_at = Instant::now();
        let mut started_at = None;
        // the kind's slot first: a capped kind waiting holds no slot of the others
        let kind_permit = match cap {
            Some(cap) => Some(cap.acquire().await),
            None => None,
        };
        // a closed semaphore (shutting down) gives no slot
        let permit = match &kind_permit {
            Some(Err(_)) => None,
            _ => self.permits.acquire().await.ok(),
        };
        let result = match &permit {
            Some(_) => {
                if let Some(tx) = on_slot {
                    let _ = tx.send(());
                }
                self.run_now(inv, deadline_for(timeout), &mut started_at)
                    .await
            }
            None => Err(HelmError {
                action: inv.action,
                kind: HelmErrorKind::Spawn,
                message: "shutting down".into(),
            }),
        };
        let times = RunTimes {
            queued_at,
            started_at,
            ended_at: Instant::now(),
        };
        // the slot is freed only now: the next run starts after `ended_at`
        drop(permit);
        drop(kind_permit);
        (result, times)
    }

    async fn run_now(
        &self,
        inv: &Invocation,
        deadline: Duration,
        started_at: &mut Option<Instant>,
    ) -> Result<RunOutput, HelmError> {
        let spawn_err = |e: std::io::Error| HelmError {
            action: inv.action,
            kind: HelmErrorKind::Spawn,
            message: format!("could not start {}: {e}", self.binary.display()),
        };
        let mut command = Command::new(&self.binary);
        command
            .args(&inv.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if inv.values.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: runs between fork and exec; only async-signal-safe system
        // calls (prctl, getppid), no allocation.
        unsafe {
            command.pre_exec(move || {
                // Dies with Lostrómos. The signal fires when the forking *thread*
                // exits: helm is spawned from the main thread or a tokio worker,
                // both of which live as long as the process.
                nix::sys::prctl::set_pdeathsig(DEATH_SIGNAL)?;
                // Lostrómos may have died before prctl took effect.
                if nix::unistd::getppid().as_raw() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(nix::libc::ESRCH));
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(spawn_err)?;
        *started_at = Some(Instant::now());
        self.started.fetch_add(1, Ordering::Relaxed);
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let guard = GroupGuard(group);
        let _tracked = Tracked::new(&self.running, group);

        // Values reach helm through a pipe only: never argv, never a file. A
        // helm that exits without reading them just breaks the pipe.
        let writer = match (&inv.values, child.stdin.take()) {
            (Some(values), Some(mut pipe)) => {
                let json = values.json();
                Some(tokio::spawn(async move {
                    let _ = pipe.write_all(&json).await;
                }))
            }
            _ => None,
        };
        let stdout = tokio::spawn(read_bounded(child.stdout.take(), inv.stdout_limit, false));
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
        if let Some(writer) = writer {
            writer.abort();
        }

        let (stdout, _) = stdout.await.unwrap_or_default();
        let (stderr, cut) = stderr.await.unwrap_or_default();
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
            // hidden before the summary trims it: a trim cannot cut a value in two
            let shown = match (&inv.values, cut) {
                (Some(v), true) => v.redactor().redact_tail(&stderr),
                (Some(v), false) => v.redactor().redact(&stderr),
                (None, _) => stderr.clone(),
            };
            return Err(HelmError {
                action: inv.action,
                kind: classify(&stderr),
                message: summarize(&inv.sources.apply(&shown)),
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

/// Reads a pipe to its end, keeping at most `limit` bytes: the head, or the
/// tail; and whether the head was cut off.
async fn read_bounded(
    pipe: Option<impl AsyncRead + Unpin>,
    limit: usize,
    keep_tail: bool,
) -> (String, bool) {
    let Some(mut pipe) = pipe else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut head_cut = false;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit {
                    if keep_tail {
                        kept.drain(..kept.len() - limit);
                        head_cut = true;
                    } else {
                        kept.truncate(limit);
                    }
                }
            }
        }
    }
    if head_cut {
        // the rest of a character cut in two, so that text offsets stay byte offsets
        let broken = kept.iter().take_while(|b| *b & 0xC0 == 0x80).count();
        kept.drain(..broken);
    }
    (String::from_utf8_lossy(&kept).into_owned(), head_cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::argv::{ValuesInput, MAX_STDOUT};

    fn sh(script: &str) -> Invocation {
        Invocation {
            stdout_limit: MAX_STDOUT,
            action: "test",
            args: vec!["-c".into(), script.into()],
            values: None,
            sources: Default::default(),
        }
    }

    fn runner() -> HelmRunner {
        HelmRunner::new("/bin/sh".into(), vec![], 2, Duration::from_millis(500))
    }

    /// `sh -c script` with `values` on its standard input.
    fn sh_values(script: &str, values: serde_json::Value) -> Invocation {
        Invocation {
            stdout_limit: MAX_STDOUT,
            values: Some(ValuesInput::new(&values, &["nemo"])),
            ..sh(script)
        }
    }

    const SECRET: &str = "s3cr3t-MARKER-abcdefg";

    #[tokio::test]
    async fn values_reach_helm_on_stdin() {
        let out = runner()
            .run(
                &sh_values("cat", serde_json::json!({"password": SECRET})),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, format!(r#"{{"password":"{SECRET}"}}"#));
        // without values, stdin is empty
        let out = runner()
            .run(&sh("cat"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(out.stdout, "");
    }

    #[tokio::test]
    async fn large_values_do_not_block_on_the_pipes() {
        // more than any pipe buffer, in and out at once
        let big = "x".repeat(4 << 20);
        let out = runner()
            .run(
                &sh_values("cat", serde_json::json!({ "big": big })),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), big.len() + r#"{"big":""}"#.len());
        // a helm that never reads its values is fine too
        runner()
            .run(
                &sh_values("exit 0", serde_json::json!({ "big": big })),
                Duration::from_secs(30),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn values_are_redacted_from_errors() {
        let script = format!(
            r#"cat >/dev/null; echo 'Error: execution error at (c/t.yaml:1:2): refusing {SECRET} "for nemo"' >&2; exit 1"#
        );
        let err = runner()
            .run(
                &sh_values(&script, serde_json::json!({"p": SECRET, "name": "nemo"})),
                Duration::from_secs(10),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, HelmErrorKind::RenderFailed);
        assert_eq!(
            err.message,
            r#"execution error at (c/t.yaml:1:2): refusing [redacted] "for nemo""#
        );
    }

    #[tokio::test]
    async fn errors_name_template_files_as_the_user_knows_them() {
        let script = r#"cat >/dev/null; echo 'Error: execution error at (gen/templates/_cm.tmpl:1:2): by is required' >&2; exit 1"#;
        let inv = Invocation {
            stdout_limit: MAX_STDOUT,
            sources: crate::helm::error::SourceNames::new(vec![(
                "gen/templates/_cm.tmpl".into(),
                "/srv/templates/cm.tmpl".into(),
            )]),
            ..sh_values(script, serde_json::json!({"name": "nemo"}))
        };
        let err = runner()
            .run(&inv, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "execution error at (/srv/templates/cm.tmpl:1:2): by is required"
        );
    }

    #[tokio::test]
    async fn a_value_cut_by_the_stderr_bound_does_not_leak() {
        // more stderr than is kept, no `Error:` line: the summary is the kept
        // head, which starts inside a value wherever the bound falls
        for pad in 0..SECRET.len() + 1 {
            let script = format!(
                "head -c {pad} /dev/zero | tr '\\0' x >&2; i=0; while [ $i -lt 4000 ]; do printf '%s ' {SECRET} >&2; i=$((i+1)); done; exit 1"
            );
            let err = runner()
                .run(
                    &sh_values(&script, serde_json::json!({ "p": SECRET })),
                    Duration::from_secs(30),
                )
                .await
                .unwrap_err();
            for start in 0..SECRET.len() - 3 {
                let piece = &SECRET[start..start + 4];
                assert!(
                    !err.message.contains(piece),
                    "pad {pad}: {piece} in {}",
                    err.message
                );
            }
            assert!(err.message.contains("[redacted] [redacted]"));
        }
    }

    /// With one slot, a second run waits for the first: its wait is queue time,
    /// and its helm time starts only when its process does.
    #[tokio::test]
    async fn queue_time_and_helm_time_are_apart() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("go");
        let r = HelmRunner::new("/bin/sh".into(), vec![], 1, Duration::from_millis(500));
        let first = sh(&format!(
            "while [ ! -e {} ]; do sleep 0.01; done",
            gate.display()
        ));
        let second = sh("true");
        let mut a = Box::pin(r.run_timed(&first, Duration::from_secs(30), None, None));
        let mut b = Box::pin(r.run_timed(&second, Duration::from_secs(30), None, None));
        // the first takes the slot and starts; the second waits for it
        assert!(futures::poll!(&mut a).is_pending());
        assert_eq!(r.running(), 1);
        assert!(futures::poll!(&mut b).is_pending());
        assert_eq!(r.started(), 1, "the second started without a slot");
        std::fs::write(&gate, "").unwrap();
        let ((ra, ta), (rb, tb)) = tokio::join!(a, b);
        ra.unwrap();
        rb.unwrap();
        let (a_started, b_started) = (ta.started_at.unwrap(), tb.started_at.unwrap());
        // the second asked while the first ran, and started after it ended
        assert!(a_started <= tb.queued_at && tb.queued_at <= ta.ended_at);
        assert!(b_started >= ta.ended_at);
        // so its queue time covers the rest of the first's run...
        assert_eq!(tb.queue(), b_started - tb.queued_at);
        assert!(tb.queue() >= ta.ended_at - tb.queued_at);
        // ...and its helm time does not
        assert_eq!(tb.helm(), tb.ended_at - b_started);
        assert_eq!(ta.helm(), ta.ended_at - a_started);
        assert_eq!(ta.queue(), a_started - ta.queued_at);
    }

    /// A kind's cap holds its own runs back while the runner has free slots,
    /// and holds back no other kind.
    #[tokio::test]
    async fn a_kind_cap_limits_only_that_kind() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("go");
        let r = HelmRunner::new("/bin/sh".into(), vec![], 4, Duration::from_millis(500));
        let cap = Semaphore::new(1);
        let blocked = sh(&format!(
            "while [ ! -e {} ]; do sleep 0.01; done",
            gate.display()
        ));
        let quick = sh("true");
        let mut first = Box::pin(r.run_timed(&blocked, Duration::from_secs(30), Some(&cap), None));
        let mut second = Box::pin(r.run_timed(&quick, Duration::from_secs(30), Some(&cap), None));
        assert!(futures::poll!(&mut first).is_pending());
        assert!(futures::poll!(&mut second).is_pending());
        assert_eq!(r.started(), 1, "the capped kind ran two at once");
        // another kind takes a free slot at once
        let (other, _) = r
            .run_timed(&sh("true"), Duration::from_secs(30), None, None)
            .await;
        other.unwrap();
        assert_eq!(r.started(), 2);
        std::fs::write(&gate, "").unwrap();
        let ((a, _), (b, _)) = tokio::join!(first, second);
        a.unwrap();
        b.unwrap();
        assert_eq!(r.started(), 3);
    }

    #[tokio::test]
    async fn a_refused_run_has_queue_time_only() {
        let r = runner();
        r.close();
        let (result, times) = r
            .run_timed(&sh("true"), Duration::from_secs(5), None, None)
            .await;
        assert_eq!(result.unwrap_err().kind, HelmErrorKind::Spawn);
        assert!(times.started_at.is_none());
        assert_eq!(times.helm(), Duration::ZERO);
        assert_eq!(times.queue(), times.ended_at - times.queued_at);
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
            .run_now(
                &sh("echo out; echo err >&2"),
                Duration::from_secs(10),
                &mut None,
            )
            .await
            .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[tokio::test]
    async fn failure_is_classified_from_stderr() {
        let err = runner()
            .run_now(&sh("echo 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress' >&2; exit 1"), Duration::from_secs(10), &mut None)
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
            .run_now(&sh(&script), Duration::from_millis(300), &mut None)
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
            .run_now(&sh(&script), Duration::from_millis(300), &mut None)
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
                &mut None,
            )
            .await
            .unwrap();
        assert_eq!(out.stdout.len(), 100000);
        // an invocation's own limit (an upgrade's printed release), helm read to its end
        let mut small = sh("head -c 100000 /dev/zero | tr '\\0' a; echo done >&2");
        small.stdout_limit = 4096;
        let out = runner()
            .run_now(&small, Duration::from_secs(10), &mut None)
            .await
            .unwrap();
        assert_eq!((out.stdout.len(), out.stderr.trim()), (4096, "done"));
        let kept = read_bounded(Some(&b"abcdef"[..]), 3, true).await;
        assert_eq!(kept, ("def".to_owned(), true));
        let kept = read_bounded(Some(&b"abcdef"[..]), 3, false).await;
        assert_eq!(kept, ("abc".to_owned(), false));
        let kept = read_bounded(Some(&b"abc"[..]), 3, true).await;
        assert_eq!(kept, ("abc".to_owned(), false));
        // a character cut in two at the head goes whole
        let kept = read_bounded(Some("xé!".as_bytes()), 2, true).await;
        assert_eq!(kept, ("!".to_owned(), true));
    }
}
