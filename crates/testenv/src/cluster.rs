//! One local control plane: etcd and kube-apiserver on loopback.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::binaries::Binaries;
use crate::kubeconfig::{self, Identity};
use crate::pki;
use crate::spawn::Process;

/// The user of [`Cluster::kubeconfig_for_unprivileged`]: authenticated, in no
/// group but `system:authenticated`, so it may do nothing until a test binds it
/// a role.
pub const UNPRIVILEGED_USER: &str = "lostromos-tester";
/// The user of [`Cluster::kubeconfig`], in group `system:masters`.
pub const ADMIN_USER: &str = "admin";

/// Generous: a cold start on a loaded 2-core machine; a warm one takes ~2 s.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Every cluster directory's name starts with this, so stale ones can be found.
const DIR_PREFIX: &str = "lostromos-testenv-";
/// Holds the pid of the process that owns a cluster directory.
const OWNER_FILE: &str = "owner.pid";
/// Log lines quoted in startup errors.
const LOG_TAIL: usize = 30;

/// A running etcd + kube-apiserver, with RBAC and token authentication.
///
/// There is no kubelet and no controller-manager: objects are stored and
/// validated, but pods never run, namespaces are never finalized (deleting one
/// never finishes), ownerReferences are not garbage-collected, and namespaces
/// get no `default` ServiceAccount. The `ServiceAccount` admission plugin is
/// off, so pods can still be created.
///
/// Dropping it SIGKILLs both processes and removes its directory. If this
/// process dies without running destructors, the kernel kills both (their
/// parent-death signal), and the directory is removed by the next
/// [`Cluster::start_in`] on the same parent directory.
pub struct Cluster {
    // Fields drop in declaration order: the processes die before the directory goes.
    /// Behind a lock so a test can stop and restart it through `&self`.
    apiserver: Mutex<Process>,
    etcd: Process,
    /// kube-apiserver's flags, to start it again exactly as before.
    apiserver_args: Vec<OsString>,
    apiserver_port: u16,
    server_url: String,
    admin_token: String,
    unprivileged_token: String,
    kubeconfig: PathBuf,
    unprivileged_kubeconfig: PathBuf,
    binaries: &'static Binaries,
    namespaces: AtomicU64,
    dir: TempDir,
}

impl Cluster {
    /// Starts a fresh cluster in a new directory under the system temp dir and
    /// returns once `/readyz` answers 200 (it fails after two minutes, quoting
    /// the apiserver's log).
    pub fn start() -> Result<Cluster> {
        Self::start_in(&std::env::temp_dir())
    }

    /// Like [`Cluster::start`], with the cluster's directory (certificates,
    /// tokens, etcd data, logs, kubeconfigs) created inside `parent`. Removes
    /// directories that earlier, killed processes left in `parent`.
    pub fn start_in(parent: &Path) -> Result<Cluster> {
        Self::start_in_with(parent, &[])
    }

    /// Like [`Cluster::start`], with kube-apiserver given `extra` flags too
    /// (e.g. `--feature-gates=WatchList=false`, to show how a client copes
    /// with a server that lacks a feature).
    pub fn start_with(extra: &[&str]) -> Result<Cluster> {
        Self::start_in_with(&std::env::temp_dir(), extra)
    }

    fn start_in_with(parent: &Path, extra: &[&str]) -> Result<Cluster> {
        let binaries = Binaries::locate()?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        sweep_stale_dirs(parent);
        // Another process may take one of the free ports between our probe and
        // the child's bind: try again with new ports.
        let mut attempt = 1;
        loop {
            match Self::try_start(binaries, parent, extra) {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn try_start(binaries: &'static Binaries, parent: &Path, extra: &[&str]) -> Result<Cluster> {
        let deadline = Instant::now() + START_TIMEOUT;
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            // It holds tokens and keys.
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .with_context(|| format!("creating a directory in {}", parent.display()))?;
        let path = dir.path();
        write(&path.join(OWNER_FILE), &std::process::id().to_string())?;

        let pki = pki::generate(&path.join("pki"))?;
        let admin_token = random_hex(16)?;
        let unprivileged_token = random_hex(16)?;
        let tokens = path.join("tokens.csv");
        // token,user,uid,"groups"
        write(
            &tokens,
            &format!(
                "{admin_token},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n\
                 {unprivileged_token},{UNPRIVILEGED_USER},{UNPRIVILEGED_USER}\n"
            ),
        )?;

        let [etcd_port, etcd_peer_port, apiserver_port] = free_ports()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd_peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
        let mut etcd = Command::new(&binaries.etcd);
        etcd.arg("--name=testenv")
            .arg(flag("data-dir", path.join("etcd")))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={etcd_peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={etcd_peer_url}"))
            .arg(format!("--initial-cluster=testenv={etcd_peer_url}"))
            // Test data is thrown away: no need to survive a power cut.
            .arg("--unsafe-no-fsync=true")
            .arg("--log-level=warn");
        let etcd = Process::start("etcd", etcd, &path.join("etcd.log"))?;
        wait_for_port(&[&etcd], etcd_port, deadline)?;

        let mut apiserver_args: Vec<OsString> = vec![
            format!("--etcd-servers={etcd_url}").into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={apiserver_port}").into(),
            "--advertise-address=127.0.0.1".into(),
            flag("cert-dir", path.join("certs")),
            flag("tls-cert-file", &pki.serving_cert),
            flag("tls-private-key-file", &pki.serving_key),
            flag("token-auth-file", &tokens),
            "--authorization-mode=RBAC".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            flag("service-account-key-file", &pki.service_account_pub),
            flag("service-account-signing-key-file", &pki.service_account_key),
            // Without the token controller no namespace has a `default`
            // ServiceAccount, and this plugin would then reject every pod.
            "--disable-admission-plugins=ServiceAccount".into(),
            "--allow-privileged=true".into(),
            // Faster start; request fairness is irrelevant here.
            "--enable-priority-and-fairness=false".into(),
            // The `kubernetes` Service endpoint cannot be a loopback address;
            // without this the apiserver logs that error every few seconds.
            "--endpoint-reconciler-type=none".into(),
        ];
        apiserver_args.extend(extra.iter().map(OsString::from));
        let apiserver = start_apiserver(binaries, &apiserver_args, path)?;

        let server_url = format!("https://127.0.0.1:{apiserver_port}");
        let ca_pem = std::fs::read(&pki.ca_cert)
            .with_context(|| format!("reading {}", pki.ca_cert.display()))?;
        let identities = [
            Identity {
                name: ADMIN_USER,
                token: &admin_token,
            },
            Identity {
                name: UNPRIVILEGED_USER,
                token: &unprivileged_token,
            },
        ];
        let kubeconfig = path.join("kubeconfig");
        write(
            &kubeconfig,
            &kubeconfig::render(&server_url, &ca_pem, &identities, ADMIN_USER),
        )?;
        let unprivileged_kubeconfig = path.join("kubeconfig.unprivileged");
        write(
            &unprivileged_kubeconfig,
            &kubeconfig::render(&server_url, &ca_pem, &identities, UNPRIVILEGED_USER),
        )?;

        let cluster = Cluster {
            apiserver: Mutex::new(apiserver),
            etcd,
            apiserver_args,
            apiserver_port,
            server_url,
            admin_token,
            unprivileged_token,
            kubeconfig,
            unprivileged_kubeconfig,
            binaries,
            namespaces: AtomicU64::new(0),
            dir,
        };
        cluster.wait_ready(apiserver_port, deadline)?;
        Ok(cluster)
    }

    /// Polls `/readyz` (through kubectl and the admin kubeconfig, which checks
    /// the kubeconfig too) until it answers 200.
    fn wait_ready(&self, port: u16, deadline: Instant) -> Result<()> {
        wait_for_port(&[&self.etcd, &*self.apiserver()], port, deadline)?;
        loop {
            let Err(not_ready) = self.kubectl(["get", "--raw=/readyz", "--request-timeout=5s"])
            else {
                return Ok(());
            };
            self.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver not ready after {START_TIMEOUT:?}: {not_ready:#}\n\
                     kube-apiserver log:\n{}",
                    self.apiserver().log_tail(LOG_TAIL)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn apiserver(&self) -> MutexGuard<'_, Process> {
        self.apiserver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails, quoting its log, if etcd or kube-apiserver has exited.
    pub fn check_alive(&self) -> Result<()> {
        check_running(&[&self.etcd, &*self.apiserver()])
    }

    /// SIGKILLs kube-apiserver, as in a crash, and reaps it; etcd keeps running
    /// with every object. Clients see refused connections until
    /// [`Cluster::start_apiserver`].
    pub fn stop_apiserver(&self) {
        self.apiserver().stop();
    }

    /// Starts kube-apiserver again after [`Cluster::stop_apiserver`], on the
    /// same port with the same certificates and tokens (so every kubeconfig
    /// still works), and returns once its `/readyz` answers 200. Its log is
    /// appended to the same file.
    pub fn start_apiserver(&self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        {
            let mut current = self.apiserver();
            if current.exit_status().is_none() {
                bail!("kube-apiserver (pid {}) is still running", current.pid());
            }
            *current = start_apiserver(self.binaries, &self.apiserver_args, self.dir.path())?;
        }
        self.wait_ready(self.apiserver_port, deadline)
    }

    /// SIGSTOPs kube-apiserver: connections stay open and new ones are
    /// accepted by the kernel, but nothing answers (a hung server, or a
    /// network that drops packets) until [`Cluster::resume_apiserver`].
    pub fn pause_apiserver(&self) -> Result<()> {
        self.signal_apiserver(Signal::SIGSTOP)
    }

    /// SIGCONTs a kube-apiserver paused with [`Cluster::pause_apiserver`].
    pub fn resume_apiserver(&self) -> Result<()> {
        self.signal_apiserver(Signal::SIGCONT)
    }

    fn signal_apiserver(&self, signal: Signal) -> Result<()> {
        let apiserver = self.apiserver();
        // Only while it is unreaped is its pid (= its group id) ours to signal.
        if let Some(status) = apiserver.exit_status() {
            bail!("kube-apiserver has exited ({status}); cannot send {signal}");
        }
        killpg(Pid::from_raw(apiserver.pid() as i32), signal)
            .with_context(|| format!("sending {signal} to kube-apiserver"))
    }

    /// Path of a kubeconfig for the admin (group `system:masters`). It also
    /// has a context named [`UNPRIVILEGED_USER`] for the unprivileged user.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Path of the same kubeconfig with the unprivileged user's context current.
    pub fn kubeconfig_for_unprivileged(&self) -> &Path {
        &self.unprivileged_kubeconfig
    }

    /// Name of the unprivileged user, for RoleBindings: [`UNPRIVILEGED_USER`].
    pub fn unprivileged_user(&self) -> &str {
        UNPRIVILEGED_USER
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The admin's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The unprivileged user's bearer token.
    pub fn unprivileged_token(&self) -> &str {
        &self.unprivileged_token
    }

    /// Process id of etcd.
    pub fn etcd_pid(&self) -> u32 {
        self.etcd.pid()
    }

    /// Process id of kube-apiserver (a new one after [`Cluster::start_apiserver`]).
    pub fn apiserver_pid(&self) -> u32 {
        self.apiserver().pid()
    }

    /// The cluster's directory (certificates, logs, etcd data, kubeconfigs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The binaries this cluster runs, and the matching helm and kubectl.
    pub fn binaries(&self) -> &'static Binaries {
        self.binaries
    }

    /// Runs kubectl as the admin; returns its stdout, or an error quoting its
    /// stderr if it fails.
    pub fn kubectl<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_kubectl(&self.kubeconfig, args, None)
    }

    /// Like [`Cluster::kubectl`], with `stdin` as kubectl's input (`apply -f -`).
    pub fn kubectl_stdin<I, S>(&self, args: I, stdin: &str) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_kubectl(&self.kubeconfig, args, Some(stdin))
    }

    /// A kubectl command for this cluster, to be run by the caller: for the
    /// long-running ones (`get --watch`) that [`Cluster::kubectl`] cannot wait on.
    pub fn kubectl_command(&self) -> Command {
        let mut command = Command::new(&self.binaries.kubectl);
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// Like [`Cluster::kubectl`], as the unprivileged user.
    pub fn kubectl_unprivileged<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_kubectl(&self.unprivileged_kubeconfig, args, None)
    }

    fn run_kubectl<I, S>(&self, kubeconfig: &Path, args: I, stdin: Option<&str>) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let shown = args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new(&self.binaries.kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(&args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting kubectl {shown}"))?;
        let input = child.stdin.take();
        // Feed stdin from another thread so a large input cannot deadlock
        // against kubectl filling its stdout pipe.
        let output = std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(text)) = (input, stdin) {
                scope.spawn(move || pipe.write_all(text.as_bytes()));
            }
            child.wait_with_output()
        })
        .with_context(|| format!("waiting for kubectl {shown}"))?;
        if !output.status.success() {
            bail!(
                "kubectl {shown}: {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        String::from_utf8(output.stdout).with_context(|| format!("kubectl {shown}: stdout"))
    }

    /// Creates a namespace named `<prefix>-<n>-<random>` and returns its name.
    /// `prefix` must be a DNS label of at most 50 characters. The namespace
    /// can never be deleted (no controller-manager), so isolate tests by
    /// creating one each.
    pub fn create_namespace(&self, prefix: &str) -> Result<String> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 50
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            bail!(
                "namespace prefix {prefix:?} is not a lowercase DNS label of at most 50 characters"
            );
        }
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}-{}", random_hex(2)?);
        self.kubectl(["create", "namespace", &name])?;
        Ok(name)
    }

    /// Stops both processes and removes the directory, through `&self`, for a
    /// cluster that is never dropped (see [`crate::shared`]). Never blocks on
    /// a process another thread is using.
    pub(crate) fn stop_in_place(&self) {
        if let Ok(apiserver) = self.apiserver.try_lock() {
            apiserver.kill();
        }
        self.etcd.kill();
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}

fn start_apiserver(binaries: &Binaries, args: &[OsString], dir: &Path) -> Result<Process> {
    let mut command = Command::new(&binaries.kube_apiserver);
    command.args(args);
    Process::start("kube-apiserver", command, &dir.join("kube-apiserver.log"))
}

fn flag(name: &str, path: impl AsRef<Path>) -> OsString {
    let mut flag = OsString::from(format!("--{name}="));
    flag.push(path.as_ref());
    flag
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn check_running(processes: &[&Process]) -> Result<()> {
    for process in processes {
        if let Some(status) = process.exit_status() {
            bail!(
                "{} (pid {}) exited: {status}; its log ends with:\n{}",
                process.name(),
                process.pid(),
                process.log_tail(LOG_TAIL)
            );
        }
    }
    Ok(())
}

/// Waits until something accepts connections on 127.0.0.1:`port`, failing
/// early if one of `processes` exits.
fn wait_for_port(processes: &[&Process], port: u16, deadline: Instant) -> Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        check_running(processes)?;
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let last = processes.last().map_or("", |p| p.name());
            bail!("nothing listens on port {port} after {START_TIMEOUT:?} (waiting for {last})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ports the kernel considers free, all distinct (every listener is held until
/// all are chosen). Another process could take one before we use it; the caller
/// retries on "address already in use".
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free loopback port")?;
        *port = listener
            .local_addr()
            .context("reading a bound port")?
            .port();
        listeners.push(listener);
    }
    Ok(ports)
}

/// `bytes` random bytes, hex-encoded.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Removes cluster directories in `parent` whose owner process is gone (it
/// was killed before it could clean up). Best effort: errors are ignored.
fn sweep_stale_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok());
        if let Some(pid) = owner {
            let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH);
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let [a, b, c] = free_ports().expect("free ports");
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn random_hex_has_two_digits_per_byte() {
        let hex = random_hex(16).expect("random");
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn sweeps_only_dirs_of_dead_owners() {
        let parent = tempfile::tempdir().expect("tempdir");
        let stale = parent.path().join(format!("{DIR_PREFIX}stale"));
        let live = parent.path().join(format!("{DIR_PREFIX}live"));
        let other = parent.path().join("unrelated");
        for dir in [&stale, &live, &other] {
            std::fs::create_dir(dir).expect("mkdir");
        }
        // Pids above the kernel's pid_max limit (2^22) never exist.
        write(&stale.join(OWNER_FILE), "99999999").expect("write");
        write(&live.join(OWNER_FILE), &std::process::id().to_string()).expect("write");
        write(&other.join(OWNER_FILE), "99999999").expect("write");
        sweep_stale_dirs(parent.path());
        assert!(!stale.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
