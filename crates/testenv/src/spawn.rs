//! Child processes that cannot outlive this process.
//!
//! Each child runs in its own process group (so one `killpg` also takes any
//! grandchildren) and gets `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it
//! when its parent dies without running destructors (SIGKILL, abort). The
//! parent-death signal fires when the *thread* that forked exits, and cargo test
//! runs each test on a thread that exits when the test ends; so every spawn goes
//! through one global thread that never exits.

use std::fs::File;
use std::io;
use std::ops::DerefMut;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};

use anyhow::{anyhow, Context, Result};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::unistd::Pid;

type Request = (Command, Sender<io::Result<Child>>);

/// Spawns `command` so that it cannot outlive this process: in a new process
/// group (whose id is the child's pid), with SIGKILL as its parent-death
/// signal, forked from a thread that lives as long as the process. Use it for
/// any long-running child of a test (the controller under test, say). The
/// caller still owns the [`Child`]: kill and reap it when done.
pub fn spawn(mut command: Command) -> Result<Child> {
    let parent = std::process::id();
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec; it only makes
    // async-signal-safe system calls (pthread_sigmask, prctl, getppid) and does
    // not allocate.
    unsafe {
        command.pre_exec(move || {
            // The spawner thread blocks every signal and a fork inherits that
            // mask (exec keeps it): give the child the empty mask it expects.
            SigSet::all().thread_unblock()?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died before prctl took effect. (No
            // allocation here: this runs in a forked copy of a threaded process.)
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
    let (reply, response) = mpsc::channel();
    spawner()?
        .send((command, reply))
        .map_err(|_| anyhow!("the spawner thread is gone"))?;
    let child = response
        .recv()
        .map_err(|_| anyhow!("the spawner thread dropped a request"))??;
    Ok(child)
}

fn spawner() -> Result<&'static Sender<Request>> {
    static SPAWNER: OnceLock<Result<Sender<Request>, String>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (requests, incoming) = mpsc::channel::<Request>();
            std::thread::Builder::new()
                .name("testenv-spawner".into())
                // Never returns: the static holds a sender forever.
                .spawn(move || {
                    // Leave every signal to the other threads (`up` waits for
                    // SIGTERM with sigtimedwait). Children unblock them again
                    // in pre_exec.
                    let _ = SigSet::all().thread_block();
                    for (mut command, reply) in incoming {
                        let _ = reply.send(command.spawn());
                    }
                })
                .map_err(|e| format!("starting the spawner thread: {e}"))?;
            Ok(requests)
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// A long-running child (etcd, kube-apiserver) whose output goes to a log file.
/// Dropping it kills its process group and reaps it.
pub(crate) struct Process {
    name: &'static str,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stdin closed and stdout+stderr appended to `log`
    /// (a restarted process adds to its predecessor's log).
    pub(crate) fn start(name: &'static str, mut command: Command, log: &Path) -> Result<Process> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("duplicating {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = spawn(command).with_context(|| format!("starting {name}"))?;
        Ok(Process {
            name,
            pid: child.id(),
            child: Mutex::new(child),
            log: log.to_path_buf(),
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// How the process ended, if it has.
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        self.lock().try_wait().ok().flatten()
    }

    /// SIGKILLs the process group and reaps the child. Does nothing if another
    /// thread holds the child (only possible while the process exits).
    pub(crate) fn kill(&self) {
        let child = match self.child.try_lock() {
            Ok(child) => child,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        kill_group(self.pid, child);
    }

    /// SIGKILLs the process group and reaps the child, waiting for any other
    /// thread that holds it.
    pub(crate) fn stop(&self) {
        kill_group(self.pid, self.lock());
    }

    /// The last `lines` lines of the process's output.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        match std::fs::read(&self.log) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", self.log.display()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        kill_group(self.pid, child);
    }
}

fn kill_group(pid: u32, mut child: impl DerefMut<Target = Child>) {
    // Only while the child is unreaped is its pid (= its group id) reserved;
    // once reaped, killpg could hit an unrelated group.
    if let Ok(None) = child.try_wait() {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        let _ = child.wait();
    }
}

#[cfg(test)]
mod signal_mask_tests {
    use super::*;

    /// A child must be stoppable with SIGTERM: the spawner's blocked mask must
    /// not leak into it.
    #[test]
    fn children_start_with_no_blocked_signal() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut child = spawn(cmd).expect("spawn");
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
        let _ = child.kill();
        let _ = child.wait();
        let blocked = status
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .expect("SigBlk line")
            .trim()
            .to_owned();
        assert_eq!(
            u64::from_str_radix(&blocked, 16).expect("hex"),
            0,
            "blocked mask {blocked}"
        );
    }
}
