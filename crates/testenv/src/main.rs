//! `lostromos-testenv`: run the local control plane from a shell (the demo,
//! `just` recipes), or print where its binaries are.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::libc;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;
use testenv::{Binaries, Cluster};

/// Name of the pid file `up --dir DIR` writes into DIR.
const PID_FILE: &str = "testenv.pid";

#[derive(Parser)]
#[command(
    name = "lostromos-testenv",
    version,
    about = "A local etcd + kube-apiserver for Lostrómos"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a cluster, print `ready: kubeconfig=PATH server=URL`, and run
    /// until SIGTERM or SIGINT.
    Up {
        /// Where to write the admin kubeconfig; the unprivileged user's goes to
        /// PATH.unprivileged.
        #[arg(long, value_name = "PATH")]
        kubeconfig: PathBuf,
        /// Keep the cluster's files here and write the pid file DIR/testenv.pid.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Stop the cluster that `up --dir DIR` started.
    Down {
        /// The directory given to `up`.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// How long to wait for it to exit.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Print the binaries' paths as NAME=path lines (the fetch script's env file).
    Binaries,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Up { kubeconfig, dir } => up(&kubeconfig, dir.as_deref()),
        Cmd::Down { dir, timeout } => down(&dir, Duration::from_secs(timeout)),
        Cmd::Binaries => {
            print!("{}", Binaries::locate()?.to_env());
            Ok(())
        }
    }
}

fn up(kubeconfig: &Path, dir: Option<&Path>) -> Result<()> {
    let _pid_file = dir.map(PidFile::create).transpose()?;
    let started = Instant::now();
    // Until the cluster is up, SIGTERM/SIGINT just kill this process, and the
    // children die with it (their parent-death signal).
    let cluster = match dir {
        Some(dir) => Cluster::start_in(dir)?,
        None => Cluster::start()?,
    };
    let unprivileged = with_suffix(kubeconfig, ".unprivileged");
    copy_private(cluster.kubeconfig(), kubeconfig)?;
    copy_private(cluster.kubeconfig_for_unprivileged(), &unprivileged)?;
    eprintln!(
        "lostromos-testenv: ready in {:.1}s; files in {}; unprivileged user {:?}: {}",
        started.elapsed().as_secs_f64(),
        cluster.dir().display(),
        cluster.unprivileged_user(),
        unprivileged.display()
    );
    // From now on, wait for the stop signals instead of dying of them, so the
    // cluster is dropped. The spawner thread blocks every signal itself, so
    // blocking them here leaves sigtimedwait as their only receiver.
    let mut stop = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stop.add(signal);
    }
    stop.thread_block().context("blocking SIGTERM/SIGINT")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "ready: kubeconfig={} server={}",
        kubeconfig.display(),
        cluster.server_url()
    )
    .and_then(|()| stdout.flush())
    .context("writing the ready line")?;
    loop {
        if let Some(signal) = wait_for_signal(&stop, Duration::from_secs(1))? {
            eprintln!("lostromos-testenv: {signal}, stopping");
            return Ok(());
        }
        cluster.check_alive()?;
    }
}

/// `sigtimedwait`: the signal from `set` that arrived, or None after `timeout`.
fn wait_for_signal(set: &SigSet, timeout: Duration) -> Result<Option<Signal>> {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    // SAFETY: both pointers are valid for the call; no siginfo is requested.
    let signal = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
    if signal >= 0 {
        return Ok(Signal::try_from(signal).ok());
    }
    match std::io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)) => Ok(None),
        e => Err(e).context("waiting for a signal"),
    }
}

fn down(dir: &Path, timeout: Duration) -> Result<()> {
    let path = dir.join(PID_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!(
                "no lostromos-testenv runs in {}: no {PID_FILE}",
                dir.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} holds no pid: {text:?}", path.display()))?;
    if !is_testenv(pid) {
        remove_if_exists(&path)?;
        bail!(
            "no lostromos-testenv runs in {}: pid {pid} is gone (removed its stale {PID_FILE})",
            dir.display()
        );
    }
    kill(Pid::from_raw(pid), Signal::SIGTERM).with_context(|| format!("signalling pid {pid}"))?;
    let deadline = Instant::now() + timeout;
    while is_running(pid) {
        if Instant::now() > deadline {
            bail!("lostromos-testenv (pid {pid}) still runs {timeout:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    remove_if_exists(&path)
}

/// DIR/testenv.pid, holding this process's pid while `up` runs.
struct PidFile(PathBuf);

impl PidFile {
    fn create(dir: &Path) -> Result<PidFile> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(PID_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if is_testenv(pid) {
                    bail!(
                        "lostromos-testenv already runs in {} (pid {pid}); \
                         stop it with `lostromos-testenv down --dir {0}`",
                        dir.display()
                    );
                }
            }
        }
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Whether `pid` exists and is not a zombie (an exited child its parent has
/// not reaped yet).
fn is_running(pid: i32) -> bool {
    // /proc/PID/stat: "pid (comm) state ...", and comm may contain spaces.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z')
        })
        .unwrap_or(false)
}

/// Whether `pid` is a running lostromos-testenv (and not another process that
/// got a stale pid file's pid).
fn is_testenv(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let name = Path::new(std::str::from_utf8(argv0).unwrap_or_default()).file_name();
    is_running(pid) && name.is_some_and(|n| n == "lostromos-testenv")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut path = OsString::from(path);
    path.push(suffix);
    PathBuf::from(path)
}

/// Copies a kubeconfig (it holds tokens) readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let contents = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let _ = std::fs::remove_file(to); // so the mode below applies to a fresh file
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(to)
        .and_then(|mut file| file.write_all(&contents))
        .with_context(|| format!("writing {}", to.display()))
}
