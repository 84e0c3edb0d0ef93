//! Harness for the integration suite: the real `lostromos` binary, the real
//! control plane (`testenv`), real helm. Each test gets its own namespace and
//! its own Lostrómos process watching only that namespace.
//!
//! `LOSTROMOS_TEST_HELM=3` runs the suite with helm 3 (default: helm 4).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use testenv::Cluster;

pub mod measure;

pub const GROUP: &str = "test.lostromos.dev";
pub const FINALIZER: &str = "lostromos.dev/helm-release";

pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// A chart of the suite's own (`integration/charts/NAME`).
pub fn chart(name: &str) -> String {
    repo_root()
        .join("integration/charts")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// The major version of the helm under test: 3 or 4.
pub fn helm_major() -> u8 {
    match std::env::var("LOSTROMOS_TEST_HELM").as_deref() {
        Ok("3") | Ok("v3") => 3,
        _ => 4,
    }
}

/// The helm under test: `LOSTROMOS_TEST_HELM=3` or 4 (default).
pub fn helm_binary() -> PathBuf {
    let bins = testenv::Binaries::locate().expect("test binaries");
    match std::env::var("LOSTROMOS_TEST_HELM").as_deref() {
        Ok("3") | Ok("v3") => bins.helm3.clone(),
        _ => bins.helm4.clone(),
    }
}

/// Whether the benches run the heap-profiling build (`LOSTROMOS_BENCH_DHAT=1`):
/// feature `dhat-heap` in the `profiling` profile, whose SIGUSR2 writes a
/// heap profile (see [`Lostromos::heap_profile`]).
pub fn dhat() -> bool {
    std::env::var("LOSTROMOS_BENCH_DHAT").is_ok_and(|v| v == "1")
}

/// Builds the `lostromos` binary once per test process (cargo does not build
/// another package's binary for a test).
pub fn lostromos_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // a binary built elsewhere, e.g. an earlier commit's for a before/after figure
        if let Ok(bin) = std::env::var("LOSTROMOS_BENCH_BINARY") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // benches (built without debug assertions) measure the release build
        let release = !cfg!(debug_assertions);
        let mut args = vec!["build", "--quiet", "-p", "lostromos", "--bin", "lostromos"];
        let profile = if release && dhat() {
            args.extend(["--profile", "profiling", "--features", "dhat-heap"]);
            "profiling"
        } else if release {
            args.push("--release");
            "release"
        } else {
            "debug"
        };
        let status = Command::new(cargo)
            .args(&args)
            .current_dir(repo_root())
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p lostromos failed");
        let target = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join("target"));
        target.join(profile).join("lostromos")
    })
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `timeout`
/// naming what was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One test's namespace, with the suite's CRDs installed: on the shared
/// cluster ([`TestNs::new`]), or on a cluster of the test's own ([`TestNs::on`]).
pub struct TestNs<'c> {
    pub cluster: &'c Cluster,
    pub ns: String,
}

impl TestNs<'static> {
    pub fn new(prefix: &str) -> Self {
        let cluster = testenv::shared();
        static CRDS: OnceLock<()> = OnceLock::new();
        CRDS.get_or_init(|| install_crds(cluster));
        let ns = cluster.create_namespace(prefix).expect("namespace");
        Self { cluster, ns }
    }
}

/// Applies the suite's CRDs and waits until they are served.
fn install_crds(cluster: &Cluster) {
    let crd = repo_root().join("integration/fixtures/widgets-crd.yaml");
    cluster
        .kubectl(["apply", "-f", &crd.to_string_lossy()])
        .expect("apply CRDs");
    cluster
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/widgets.test.lostromos.dev",
            "crd/clusterwidgets.test.lostromos.dev",
            "crd/gadgets.test.lostromos.dev",
        ])
        .expect("CRDs established");
}

impl<'c> TestNs<'c> {
    /// A namespace on `cluster` (a test's own, e.g. one whose API server it
    /// stops), installing the CRDs there first.
    pub fn on(cluster: &'c Cluster, prefix: &str) -> Self {
        install_crds(cluster);
        let ns = cluster.create_namespace(prefix).expect("namespace");
        Self { cluster, ns }
    }

    /// `kubectl -n NS ARGS`.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        self.cluster.kubectl(all)
    }

    pub fn apply(&self, yaml: &str) {
        self.cluster
            .kubectl_stdin(["-n", &self.ns, "apply", "-f", "-"], yaml)
            .expect("kubectl apply");
    }

    /// Applies a Widget with the given spec (JSON) and extra metadata (JSON object).
    pub fn apply_widget(&self, name: &str, spec: Value) {
        self.apply_widget_meta(name, spec, serde_json::json!({}));
    }

    pub fn apply_widget_meta(&self, name: &str, spec: Value, extra_meta: Value) {
        let mut meta = serde_json::json!({"name": name, "namespace": self.ns});
        if let (Some(m), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
            m.extend(extra.clone());
        }
        let obj = serde_json::json!({
            "apiVersion": format!("{GROUP}/v1"), "kind": "Widget", "metadata": meta, "spec": spec,
        });
        self.apply(&obj.to_string());
    }

    /// An object of this namespace as JSON (`kind` as kubectl takes it), or
    /// `None` when it does not exist.
    pub fn object(&self, kind: &str, name: &str) -> Option<Value> {
        let out = self
            .kubectl(&["get", kind, name, "-o", "json", "--ignore-not-found"])
            .ok()?;
        if out.trim().is_empty() {
            return None;
        }
        serde_json::from_str(&out).ok()
    }

    /// The Widget as JSON, or `None` when it does not exist.
    pub fn widget(&self, name: &str) -> Option<Value> {
        self.object("widget", name)
    }

    /// The note of the first Warning Event `reason` on Widget `name`, once there is one.
    pub fn wait_warning(&self, name: &str, reason: &str) -> String {
        wait_for(
            &format!("a Warning event {reason} on {name}"),
            Duration::from_secs(60),
            || {
                self.events(name)
                    .into_iter()
                    .find(|(ty, r, _)| ty == "Warning" && r == reason)
                    .map(|(_, _, note)| note)
            },
        )
    }

    /// The status of a condition type, e.g. `Some("True")`.
    pub fn condition(&self, name: &str, type_: &str) -> Option<Value> {
        let w = self.widget(name)?;
        w["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
    }

    /// Waits until the Widget is Ready for its current generation and returns it.
    pub fn wait_ready(&self, name: &str) -> Value {
        wait_for(
            &format!("widget {name} Ready"),
            Duration::from_secs(90),
            || {
                let w = self.widget(name)?;
                let generation = w["metadata"]["generation"].clone();
                let ready = w["status"]["conditions"].as_array()?.iter().any(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "True"
                        && c["observedGeneration"] == generation
                });
                ready.then_some(w)
            },
        )
    }

    /// Plays the Deployment controller (there is no kubelet or
    /// controller-manager): once Deployment `name` exists, its status says
    /// every replica of its current generation is updated, ready and available.
    pub fn deployment_available(&self, name: &str) {
        let d = wait_for(
            &format!("Deployment {name}"),
            Duration::from_secs(90),
            || self.object("deployment", name),
        );
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        let status = serde_json::json!({"status": {
        "observedGeneration": d["metadata"]["generation"],
        "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]}});
        self.kubectl(&[
            "patch",
            "deployment",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ])
        .expect("patch the Deployment's status");
    }

    /// Plays the Job controller: once Job `name` exists, its status says it
    /// succeeded (`SuccessCriteriaMet`, then `Complete`, as the API server
    /// requires of a finished Job).
    pub fn job_complete(&self, name: &str) {
        wait_for(&format!("Job {name}"), Duration::from_secs(90), || {
            self.object("job", name)
        });
        let now = k8s_now();
        let status = serde_json::json!({"status": {
        "startTime": now, "completionTime": now, "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now},
        ]}});
        self.kubectl(&[
            "patch",
            "job",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ])
        .expect("patch the Job's status");
    }

    /// Runs the helm under test against this namespace.
    pub fn helm(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(helm_binary())
            .args(args)
            .args(["--namespace", &self.ns])
            .env("KUBECONFIG", self.cluster.kubeconfig())
            .env("NO_COLOR", "1")
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `helm list` in this namespace, every state: release name -> (revision, status).
    pub fn releases(&self) -> Vec<(String, u64, String)> {
        let out = self
            .helm(&["list", "--all", "-o", "json"])
            .or_else(|_| self.helm(&["list", "-o", "json"]));
        let v: Value = serde_json::from_str(&out.unwrap_or_default()).unwrap_or(Value::Null);
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let rev = r["revision"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .or(r["revision"].as_u64())
                            .unwrap_or(0);
                        (
                            r["name"].as_str().unwrap_or("").to_owned(),
                            rev,
                            r["status"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn release(&self, name: &str) -> Option<(u64, String)> {
        self.releases()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, rev, st)| (rev, st))
    }

    /// The values a release of the `configmap` chart got, read back from its ConfigMap.
    pub fn released_values(&self, release: &str) -> Option<Value> {
        let out = self
            .kubectl(&[
                "get",
                "configmap",
                &format!("{release}-values"),
                "-o",
                "jsonpath={.data.values\\.json}",
            ])
            .ok()?;
        serde_json::from_str(&out).ok()
    }

    /// Events recorded on a Widget: (type, reason, note).
    pub fn events(&self, name: &str) -> Vec<(String, String, String)> {
        let out = self
            .kubectl(&[
                "get",
                "events.events.k8s.io",
                "-o",
                "json",
                "--field-selector",
                &format!("regarding.name={name}"),
            ])
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
                        (s("type"), s("reason"), s("note"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `lostromos run` arguments for the suite's Widgets in `namespaces`, driving `chart`.
pub fn widget_args(namespaces: &[&str], chart: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--group",
        GROUP,
        "--version",
        "v1",
        "--kind",
        "Widget",
    ]
    .map(str::to_owned)
    .into();
    for ns in namespaces {
        args.extend(["--namespace".to_owned(), (*ns).to_owned()]);
    }
    args.extend(["--chart".to_owned(), chart.to_owned()]);
    args
}

/// Widgets that are Ready for their current generation.
pub fn ready_widgets(t: &TestNs) -> usize {
    ready_count(t, "widgets")
}

/// Waits until `n` CRs of `resource` (as kubectl names it) are Ready for their
/// current generation, from one `kubectl get --watch`: unlike polling with
/// [`ready_count`], the observer costs the API server almost nothing, so a
/// bench's figures are the controller's own. Returns when the last one was seen.
pub fn wait_ready_watching(t: &TestNs, resource: &str, n: usize, timeout: Duration) -> Instant {
    use std::io::BufRead;
    let template = r#"jsonpath={.metadata.name} {.metadata.generation} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].observedGeneration}{"\n"}"#;
    let mut child = t
        .cluster
        .kubectl_command()
        .args(["-n", &t.ns, "get", resource, "--watch", "-o", template])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get --watch");
    let stdout = child.stdout.take().expect("kubectl's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send((line, Instant::now())).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut done = std::collections::HashSet::new();
    let last = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((line, at)) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!(
                "timed out after {timeout:?} waiting for {n} {resource} Ready ({} seen)",
                done.len()
            );
        };
        let fields: Vec<&str> = line.split(' ').collect();
        if let [name, generation, "True", observed] = fields[..] {
            if generation == observed {
                done.insert(name.to_owned());
            }
        }
        if done.len() >= n {
            break at;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    last
}

/// CRs of `resource` (as kubectl names it) Ready for their current generation.
pub fn ready_count(t: &TestNs, resource: &str) -> usize {
    let out = t
        .kubectl(&["get", resource, "-o", "json"])
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|w| {
                w["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter().any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "True"
                            && c["observedGeneration"] == w["metadata"]["generation"]
                    })
                })
            })
            .count()
    })
}

/// A running `lostromos run` watching one test namespace, with a helm wrapper
/// that records every helm process it starts.
pub struct Lostromos {
    child: Option<Child>,
    /// Another binary than [`lostromos_binary`], for the next starts.
    binary: Option<PathBuf>,
    dir: tempfile::TempDir,
    args: Vec<String>,
    kubeconfig: PathBuf,
    /// Working folder and extra environment of the process.
    cwd: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Lostromos {
    /// Starts Lostrómos for Widgets in `ns` with the given chart and extra flags.
    pub fn start(ns: &TestNs, chart: &str, extra: &[&str]) -> Self {
        let mut args = widget_args(&[&ns.ns], chart);
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_args(ns.cluster.kubeconfig(), args)
    }

    /// Starts Lostrómos with exactly these arguments (after `lostromos`), plus
    /// `--listen 127.0.0.1:0` unless they name an address (tests run side by side).
    pub fn start_args(kubeconfig: &Path, args: Vec<String>) -> Self {
        Self::start_in(kubeconfig, args, None, &[])
    }

    /// [`start_args`](Self::start_args) in working folder `cwd`, with `env` added
    /// to its environment.
    pub fn start_in(
        kubeconfig: &Path,
        mut args: Vec<String>,
        cwd: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Self {
        if !args.iter().any(|a| a == "--listen") {
            args.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // its own temp folder (TMPDIR), so a test can look at everything it leaves there
        std::fs::create_dir(dir.path().join("tmp")).expect("temp folder");
        let wrapper = dir.path().join("helm");
        let calls = dir.path().join("helm-calls.log");
        // Records each helm process, and how it got its values: the argument of
        // --values/-f and what its standard input is (`fifo` for a pipe).
        let script = format!(
            r#"#!/bin/sh
echo "$1" >> '{calls}'
prev=
for a in "$@"; do
  if [ "$prev" = --values ] || [ "$prev" = -f ]; then
    echo "$a $(stat -L -c %F /dev/stdin)" >> '{values}'
  fi
  prev=$a
done
exec '{helm}' "$@"
"#,
            calls = calls.display(),
            values = dir.path().join("values-inputs.log").display(),
            helm = helm_binary().display()
        );
        std::fs::write(&wrapper, script).expect("write helm wrapper");
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let mut me = Self {
            child: None,
            binary: None,
            dir,
            args,
            kubeconfig: kubeconfig.to_path_buf(),
            cwd: cwd.map(Path::to_path_buf),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        me.restart();
        me
    }

    /// (Re)starts the process with the same arguments; the helm log is kept.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("lostromos.log"))
            .expect("log file");
        let binary = self.binary.as_deref().unwrap_or(lostromos_binary());
        let mut cmd = Command::new(binary);
        cmd.args(&self.args)
            .arg("--helm-binary")
            .arg(self.dir.path().join("helm"))
            .env("KUBECONFIG", &self.kubeconfig)
            .env("TMPDIR", self.tmp_dir())
            // read by the `dhat-heap` build only
            .env("LOSTROMOS_DHAT_FILE", self.tmp_dir().join("dhat-heap.json"))
            // as the default filter: kube's own per-retry warnings and errors are off
            .env(
                "RUST_LOG",
                "info,lostromos=debug,kube=warn,kube_runtime::watcher=error,kube_client::client::builder=off",
            )
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        // its own process group, and it dies with the test process even if that is killed
        let child = testenv::spawn(cmd).expect("spawn lostromos");
        self.child = Some(child);
    }

    /// The arguments of the next starts, to change between restarts.
    pub fn args_mut(&mut self) -> &mut Vec<String> {
        &mut self.args
    }

    /// Starts `binary` from now on (e.g. an earlier build, to compare the two on
    /// the same CRs and releases).
    pub fn use_binary(&mut self, binary: PathBuf) {
        self.binary = Some(binary);
    }

    /// SIGKILLs Lostrómos and every helm process it started, as when its pod is
    /// killed. helm runs in process groups of its own, so they are found by parent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            let helms = children_of(pid);
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            for h in helms {
                let _ = killpg(Pid::from_raw(h), Signal::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGKILLs Lostrómos alone, not the helm processes it started (as when only
    /// its process is OOM-killed), and reaps it; returns the pids of the helm
    /// processes that ran at that moment.
    pub fn kill_alone(&mut self) -> Vec<i32> {
        let mut child = self.child.take().expect("running");
        let helms = children_of(child.id() as i32);
        let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        helms
    }

    /// SIGTERM to Lostrómos alone (as Kubernetes stops a pod), then waits for it
    /// to exit; returns its exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        wait_for("lostromos to exit after SIGTERM", within, || {
            child.try_wait().ok().flatten()
        })
    }

    /// Writes the heap profile of the running process (the `dhat-heap` build,
    /// see [`dhat`]) to `to`: SIGUSR2, then the file it writes in its TMPDIR.
    pub fn heap_profile(&self, to: &Path) {
        let pid = self.pid().expect("running");
        let written = self.tmp_dir().join("dhat-heap.json");
        let _ = std::fs::remove_file(&written);
        let from = self.logs().lines().count();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGUSR2);
        wait_for("the heap profile", Duration::from_secs(600), || {
            self.logs()
                .lines()
                .skip(from)
                .any(|l| l.contains("heap profile written"))
                .then_some(())
        });
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("profile folder");
        }
        std::fs::copy(&written, to).expect("copy the heap profile");
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Pids of the helm processes running right now.
    pub fn running_helms(&self) -> Vec<i32> {
        self.child
            .as_ref()
            .map(|c| children_of(c.id() as i32))
            .unwrap_or_default()
    }

    /// Every helm subcommand it ran, in order, the start-up's `version` and
    /// preflight `template` too.
    pub fn all_helm_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("helm-calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The helm processes started, by sub-command (`upgrade`, `uninstall`, ...),
    /// leaving out the start-up checks (`version`, `show`, `pull`, and the
    /// `template` that checks a --templates directory parses or, the preflight,
    /// which kinds a chart makes).
    pub fn helm_calls(&self) -> Vec<String> {
        self.all_helm_calls()
            .into_iter()
            .filter(|l| !matches!(l.as_str(), "version" | "show" | "pull" | "template"))
            .collect()
    }

    /// The address its HTTP server listens on (from its log), once it does.
    pub fn http_address(&self) -> String {
        wait_for("the HTTP server to listen", Duration::from_secs(60), || {
            self.logs()
                .lines()
                .rev()
                .find(|l| l.contains("serving /healthz"))
                .and_then(|l| {
                    // text logs say `address=…`, JSON logs `"address":"…"`
                    let at = l
                        .find("address=")
                        .map(|i| i + "address=".len())
                        .or_else(|| l.find("\"address\":").map(|i| i + "\"address\":".len()))?;
                    let rest = l[at..].trim_start_matches('"');
                    Some(
                        rest.split(|c: char| c == '"' || c.is_whitespace())
                            .next()?
                            .to_owned(),
                    )
                })
        })
    }

    /// `GET path` on its HTTP server: (status code, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        use std::io::Read;
        let addr = self.http_address();
        let mut s = std::net::TcpStream::connect(&addr).expect("connect to lostromos");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
        )
        .expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (code, body)
    }

    /// The folder with its log and the helm wrapper's records.
    pub fn logs_dir(&self) -> &Path {
        self.dir.path()
    }

    /// CRs planned `skip` (nothing to do) since log line `from`: the debug
    /// "plan" line, or the info line a changed CR gets; needs `--log-format json`.
    pub fn skipped_since(&self, from: usize) -> std::collections::HashSet<String> {
        self.logs()
            .lines()
            .skip(from)
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|v| {
                let message = &v["fields"]["message"];
                (message == "plan" || message == "up to date, nothing to do")
                    && v["fields"]["action"] == "skip"
            })
            .filter_map(|v| v["fields"]["cr"].as_str().map(str::to_owned))
            .collect()
    }

    /// How each helm process got its values: (the argument of `--values`, the
    /// kind of its standard input as `stat` names it, e.g. `fifo`).
    pub fn values_inputs(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("values-inputs.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (arg, stdin) = l.split_once(' ')?;
                Some((arg.to_owned(), stdin.to_owned()))
            })
            .collect()
    }

    /// A gauge without labels from its /metrics.
    pub fn gauge(&self, name: &str) -> Option<u64> {
        let (_, body) = self.http_get("/metrics");
        body.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Asserts that helm ran and every run got its values as `--values -` on
    /// a pipe (the installs, and the start-up preflight's `helm template`).
    pub fn assert_values_on_stdin(&self) {
        let inputs = self.values_inputs();
        assert!(!inputs.is_empty(), "no helm run recorded its values input");
        assert!(
            inputs
                .iter()
                .all(|(arg, stdin)| arg == "-" && stdin == "fifo"),
            "{inputs:?}"
        );
    }

    /// Its TMPDIR, kept across restarts: its work folders are made here.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("lostromos.log")).unwrap_or_default()
    }

    /// Whether the process has exited, and with what code.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

/// Whether process `pid` has ended (gone, or a zombie not yet reaped).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// Every file under `dir` (recursively) whose content holds `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    let content = std::fs::read(&path).unwrap_or_default();
                    if String::from_utf8_lossy(&content).contains(needle) {
                        found.push(path);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Direct children of `parent`, from /proc.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // the fields after the command name: state, ppid, ...
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok())
                == Some(parent)
        })
        .collect()
}

impl Drop for Lostromos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "---- lostromos log ----\n{}",
                self.logs()
            );
        }
        self.kill();
    }
}

/// What a `lostromos` process that ran to its end printed.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `lostromos ARGS` to its end with none of the test's own `LOSTROMOS_*`,
/// `RUST_LOG` or `KUBECONFIG`, plus `env`; kills it and panics after `timeout`.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Finished {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut cmd = Command::new(lostromos_binary());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("KUBECONFIG");
    for (k, _) in std::env::vars() {
        if k.starts_with("LOSTROMOS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn lostromos");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lostromos {args:?} still running after {timeout:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// `helm package` of `chart` into `dir`; the archive's path.
pub fn package(chart: &str, dir: &Path) -> PathBuf {
    let out = Command::new(helm_binary())
        .args(["package", chart, "--destination"])
        .arg(dir)
        .output()
        .expect("running helm package");
    assert!(
        out.status.success(),
        "helm package {chart}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(dir)
        .expect("the package folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
        .expect("a chart archive")
}

/// Now, as Kubernetes writes times (RFC 3339, whole seconds, UTC).
pub fn k8s_now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}
