//! Lostrómos against the peer users would pick instead, Operator SDK's
//! helm-operator (built by `integration/tools/build-helm-operator.sh`), and
//! against the floor: `helm upgrade --install` of every release, C at a time,
//! with no controller. One scenario for the three: N CRs of one kind, each one
//! release of `integration/charts/configmap` (its only object, a ConfigMap, is
//! ready once it exists, so nothing waits for a kubelet the local control plane
//! does not have); then an idle minute, a restart of the controller, and one
//! spec change. Each run gets a control plane of its own, from the same build.
//! Prints one table; asserts nothing. Run with `just bench-peers`
//! (`LOSTROMOS_BENCH_CRS=N`, default 100; `LOSTROMOS_HELM_OPERATOR=PATH` skips
//! the build script).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration::measure::{children_cpu_secs, cpu_secs, peak_rss_kib, rss_kib};
use integration::{
    chart, helm_binary, lostromos_binary, repo_root, wait_for, wait_ready_watching, widget_args,
    Lostromos, TestNs, GROUP,
};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use testenv::Cluster;

/// Lostrómos's default `--concurrency`; the floor's `xargs -P` and
/// helm-operator's `--max-concurrent-reconciles` get the same.
const CONCURRENCY: usize = 4;
const IDLE: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(3600);
/// Lostrómos's default log filter (the harness turns on debug logs), plus the
/// debug line of each decision (`plan`), by which the bench sees a restart's
/// re-check of every CR: one line per decision.
const LOSTROMOS_LOG: &str = "info,kube=warn,lostromos::reconcile=debug";
const CHART: &str = "configmap";
/// helm-operator's (controller-runtime's) count of reconciles.
const RECONCILES: &str = "controller_runtime_reconcile_total";

fn name(i: usize) -> String {
    format!("b-{i:04}")
}

/// Spec changes timed, one after the other, each on a CR of its own; the
/// table shows their median.
const CHANGES: usize = 5;

/// The CRs whose spec changes (the first few).
fn changed(n: usize) -> Vec<String> {
    (0..CHANGES.min(n)).map(name).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::var("LOSTROMOS_BENCH_CRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let helm_operator = helm_operator_binary();
    // built before any clock runs
    lostromos_binary();
    eprintln!(
        "bench-peers: {n} CRs, chart {CHART}, concurrency {CONCURRENCY}; helm-operator {}",
        helm_operator.display()
    );

    eprintln!("bench-peers: Lostrómos");
    let lostromos = run_lostromos(n);
    eprintln!("bench-peers: {lostromos:?}");
    eprintln!("bench-peers: helm-operator");
    let peer = run_helm_operator(n, &helm_operator);
    eprintln!("bench-peers: {peer:?}");
    eprintln!("bench-peers: the floor");
    let floor = run_floor(n);
    eprintln!("bench-peers: {floor:?}");

    print_table(n, &lostromos, &peer, &floor);
}

/// What one run measured; `None` where it does not apply.
#[derive(Debug, Default)]
struct Figures {
    /// From the apply of the N CRs (the floor: its first helm) until helm's
    /// storage holds N deployed releases.
    deployed_s: f64,
    /// Until every CR's status says so (Lostrómos: Ready, helm-operator:
    /// Deployed), polled with kubectl.
    status_s: Option<f64>,
    /// CPU of the controller and its helm processes over the installs.
    install_cpu_s: f64,
    /// helm processes started for the installs (Lostrómos, the floor).
    install_helms: Option<usize>,
    /// Peak RSS of the controller (VmHWM): the larger of its first process's
    /// (installs, idle minute) and its restarted one's (re-check, spec changes).
    peak_rss_mib: Option<f64>,
    /// Peak RSS of one helm process (the floor's largest).
    helm_rss_mib: Option<f64>,
    /// RSS after the idle minute.
    idle_rss_mib: Option<f64>,
    idle_cpu_s: Option<f64>,
    idle_apiserver_cpu_s: Option<f64>,
    /// Reconciles the controller ran in the idle minute.
    idle_reconciles: Option<f64>,
    /// The machine's load average (1 min) when the run started and ended.
    load: String,
    recheck_s: Option<f64>,
    recheck_cpu_s: Option<f64>,
    /// helm processes (Lostrómos) or reconciles (helm-operator) of the re-check.
    recheck_work: Option<String>,
    /// From the return of `kubectl patch` (the floor: the start of `helm
    /// upgrade`) until the release's new revision is deployed: the median of
    /// [`CHANGES`].
    change_s: f64,
}

/// helm-operator's binary: `LOSTROMOS_HELM_OPERATOR`, else what the build
/// script builds (a no-op once it is cached).
fn helm_operator_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LOSTROMOS_HELM_OPERATOR").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let script = repo_root().join("integration/tools/build-helm-operator.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("running build-helm-operator.sh");
    assert!(out.status.success(), "{} failed", script.display());
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().expect("the binary's path").trim())
}

/// The N CRs as one List.
fn crs(t: &TestNs, n: usize) -> String {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Widget",
                   "metadata": {"name": name(i), "namespace": t.ns}, "spec": {"index": i}})
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

/// The spec change: one new value.
const CHANGE: &str = r#"{"spec":{"changed":"yes"}}"#;

/// Patches the spec of each changed CR in turn; the median time from the
/// patch's return until its release's revision 2 is deployed with the new value.
fn spec_changes(t: &TestNs, watch: &ReleaseWatch, n: usize) -> f64 {
    let times = changed(n)
        .iter()
        .map(|cr| {
            t.kubectl(&["patch", "widget", cr, "--type=merge", "-p", CHANGE])
                .expect("patch the CR");
            // the change is stored once kubectl returns (kubectl's own start
            // is not the controller's time)
            let began = Instant::now();
            let done = watch.wait_revision(cr, 2);
            check_changed_values(t, cr);
            // the controller's status write and object watches settle
            std::thread::sleep(Duration::from_secs(2));
            (done - began).as_secs_f64()
        })
        .collect::<Vec<_>>();
    eprintln!("bench-peers: spec changes (s): {times:.2?}");
    median(times)
}

fn check_changed_values(t: &TestNs, release: &str) {
    let values = t.released_values(release).expect("the release's values");
    assert_eq!(
        values["changed"], "yes",
        "revision 2 of {release} has the new value"
    );
}

fn run_lostromos(n: usize) -> Figures {
    let load_start = load();
    let cluster = Cluster::start().expect("a control plane");
    let t = TestNs::on(&cluster, "peers-lostromos");
    let watch = ReleaseWatch::start(&t);
    let mut args = widget_args(&[&t.ns], &chart(CHART));
    args.extend(["--log-format".to_owned(), "json".to_owned()]);
    let mut l = Lostromos::start_in(
        cluster.kubeconfig(),
        args,
        None,
        &[("RUST_LOG", LOSTROMOS_LOG)],
    );
    wait_for("Lostrómos ready", Duration::from_secs(120), || {
        (l.http_get("/readyz").0 == 200).then_some(())
    });

    let began = Instant::now();
    t.apply(&crs(&t, n));
    let deployed = watch.wait_deployed(n);
    let status_s = (wait_ready_watching(&t, "widgets", n, LONG) - began).as_secs_f64();
    let pid = l.pid().expect("running");
    let install_cpu_s = cpu_secs(pid) + children_cpu_secs(pid);
    let install_helms = l.helm_calls().len();

    let reconciles = lostromos_reconciles(&l);
    let (idle_cpu_s, idle_apiserver_cpu_s) = idle(pid, &cluster);
    let idle_reconciles = lostromos_reconciles(&l) - reconciles;
    let idle_rss = rss_kib(pid);
    // over the installs and the idle minute
    let peak = peak_rss_kib(pid);

    l.kill();
    let from = l.logs().lines().count();
    let restarted = Instant::now();
    l.restart();
    wait_for("every CR re-checked", LONG, || {
        (l.skipped_since(from).len() == n).then_some(())
    });
    let recheck_s = restarted.elapsed().as_secs_f64();
    let pid = l.pid().expect("running");
    let recheck_cpu_s = cpu_secs(pid) + children_cpu_secs(pid);
    let recheck_helms = l.helm_calls().len() - install_helms;

    let change_s = spec_changes(&t, &watch, n);
    // the restarted process, over the re-check and the spec changes
    let peak = peak.max(peak_rss_kib(pid));
    Figures {
        deployed_s: (deployed - began).as_secs_f64(),
        status_s: Some(status_s),
        install_cpu_s,
        install_helms: Some(install_helms),
        peak_rss_mib: Some(mib(peak)),
        helm_rss_mib: None,
        idle_rss_mib: Some(mib(idle_rss)),
        idle_cpu_s: Some(idle_cpu_s),
        idle_apiserver_cpu_s: Some(idle_apiserver_cpu_s),
        idle_reconciles: Some(idle_reconciles),
        load: format!("{load_start} → {}", load()),
        recheck_s: Some(recheck_s),
        recheck_cpu_s: Some(recheck_cpu_s),
        recheck_work: Some(format!("{recheck_helms} helm processes")),
        change_s,
    }
}

fn run_helm_operator(n: usize, bin: &Path) -> Figures {
    let load_start = load();
    let cluster = Cluster::start().expect("a control plane");
    let t = TestNs::on(&cluster, "peers-helm-operator");
    let watch = ReleaseWatch::start(&t);
    let mut h = HelmOperator::start(bin, &t);

    let began = Instant::now();
    t.apply(&crs(&t, n));
    let deployed = watch.wait_deployed(n);
    wait_for("every CR Deployed", LONG, || {
        (deployed_widgets(&t) == n).then_some(())
    });
    let status_s = began.elapsed().as_secs_f64();
    let pid = h.pid();
    let install_cpu_s = cpu_secs(pid) + children_cpu_secs(pid);

    let reconciles = h.metric(RECONCILES);
    let (idle_cpu_s, idle_apiserver_cpu_s) = idle(pid, &cluster);
    let idle_reconciles = h.metric(RECONCILES) - reconciles;
    let idle_rss = rss_kib(pid);
    // over the installs and the idle minute
    let peak = peak_rss_kib(pid);

    h.kill();
    let from = h.logs().lines().count();
    let restarted = Instant::now();
    h.restart();
    wait_for("every CR re-checked", LONG, || {
        (h.reconciled_since(from).len() == n).then_some(())
    });
    let recheck_s = restarted.elapsed().as_secs_f64();
    let pid = h.pid();
    let recheck_cpu_s = cpu_secs(pid) + children_cpu_secs(pid);
    let reconciles = h.metric(RECONCILES);
    // wall time of one reconcile over the re-check, from controller-runtime's histogram
    let reconcile_s = h.metric("controller_runtime_reconcile_time_seconds_sum")
        / h.metric("controller_runtime_reconcile_time_seconds_count")
            .max(1.0);
    let upgrades = h.messages_since(from, "Upgraded release");

    let change_s = spec_changes(&t, &watch, n);
    // the restarted process, over the re-check and the spec changes
    let peak = peak.max(peak_rss_kib(pid));
    Figures {
        deployed_s: (deployed - began).as_secs_f64(),
        status_s: Some(status_s),
        install_cpu_s,
        install_helms: None,
        peak_rss_mib: Some(mib(peak)),
        helm_rss_mib: None,
        idle_rss_mib: Some(mib(idle_rss)),
        idle_cpu_s: Some(idle_cpu_s),
        idle_apiserver_cpu_s: Some(idle_apiserver_cpu_s),
        idle_reconciles: Some(idle_reconciles),
        load: format!("{load_start} → {}", load()),
        recheck_s: Some(recheck_s),
        recheck_cpu_s: Some(recheck_cpu_s),
        recheck_work: Some(format!(
            "{reconciles:.0} reconciles of {reconcile_s:.1} s on average (helm in-process: a dry-run upgrade each), {upgrades} upgrades"
        )),
        change_s,
    }
}

/// `helm upgrade --install` of every release with `xargs -P C`, under a
/// Python parent that reports the largest child's peak RSS and the CPU of all.
fn run_floor(n: usize) -> Figures {
    let load_start = load();
    let cluster = Cluster::start().expect("a control plane");
    let t = TestNs::on(&cluster, "peers-floor");
    let watch = ReleaseWatch::start(&t);
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..n {
        // JSON is YAML
        let values = json!({"index": i}).to_string();
        std::fs::write(dir.path().join(format!("{}.yaml", name(i))), values).expect("values");
    }
    let chart = chart(CHART);
    // the upgrade Lostrómos runs, less its labels and description
    let upgrade = |release: &str, values: &str| -> Vec<String> {
        let helm = helm_binary().to_string_lossy().into_owned();
        [
            helm.as_str(),
            "upgrade",
            "--install",
            release,
            &chart,
            "--namespace",
            &t.ns,
            "--history-max",
            "3",
            "--values",
            values,
        ]
        .map(str::to_owned)
        .into()
    };
    let mut xargs: Vec<String> = ["xargs", "-P", &CONCURRENCY.to_string(), "-I", "{}"]
        .map(str::to_owned)
        .into();
    xargs.extend(upgrade(
        "{}",
        &format!("{}/{{}}.yaml", dir.path().display()),
    ));
    let names: String = (0..n).map(|i| name(i) + "\n").collect();

    let began = Instant::now();
    let (helm_kib, cpu) = rusage_of(&xargs, &names, cluster.kubeconfig());
    let deployed = watch.wait_deployed(n);

    let mut changes = Vec::new();
    for (i, release) in changed(n).iter().enumerate() {
        let values = dir.path().join(format!("{release}-changed.yaml"));
        let body = json!({"index": i, "changed": "yes"}).to_string();
        std::fs::write(&values, body).expect("values");
        let argv = upgrade(release, &values.to_string_lossy());
        let began = Instant::now();
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .env("KUBECONFIG", cluster.kubeconfig())
            .stdout(Stdio::null())
            .status()
            .expect("helm");
        assert!(status.success(), "{argv:?} failed");
        let done = watch.wait_revision(release, 2);
        check_changed_values(&t, release);
        changes.push((done - began).as_secs_f64());
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!("bench-peers: spec changes (s): {changes:.2?}");

    Figures {
        deployed_s: (deployed - began).as_secs_f64(),
        install_cpu_s: cpu,
        install_helms: Some(n),
        helm_rss_mib: Some(mib(helm_kib)),
        change_s: median(changes),
        load: format!("{load_start} → {}", load()),
        ..Figures::default()
    }
}

/// Runs `argv` with `stdin` under python3, which waits for it and prints the
/// largest peak RSS (KiB) among its descendants and their CPU (s).
fn rusage_of(argv: &[String], stdin: &str, kubeconfig: &Path) -> (u64, f64) {
    const PY: &str = "import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(u.ru_maxrss, u.ru_utime + u.ru_stime)
sys.exit(r.returncode)";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .args(argv)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write names");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "{argv:?} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let kib = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let cpu = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (kib, cpu)
}

/// CPU of the controller and of the API server over one idle minute.
fn idle(pid: u32, cluster: &Cluster) -> (f64, f64) {
    let api = cluster.apiserver_pid();
    let (cpu, api_cpu) = (cpu_secs(pid), cpu_secs(api));
    std::thread::sleep(IDLE);
    (cpu_secs(pid) - cpu, cpu_secs(api) - api_cpu)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Widgets whose helm-operator condition `Deployed` is True.
fn deployed_widgets(t: &TestNs) -> usize {
    let out = t
        .kubectl(&["get", "widgets", "-o", "json"])
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    v["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|w| {
                w["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Deployed" && c["status"] == "True")
                })
            })
            .count()
    })
}

/// helm's release Secrets in the namespace that say `deployed`, as a
/// `kubectl get --watch` delivers them: (release, revision, when seen).
struct ReleaseWatch {
    child: Child,
    seen: Arc<Mutex<Vec<(String, u64, Instant)>>>,
}

impl ReleaseWatch {
    fn start(t: &TestNs) -> Self {
        let mut cmd = Command::new(&t.cluster.binaries().kubectl);
        cmd.args([
            "get",
            "secrets",
            "--namespace",
            &t.ns,
            "--selector",
            "owner=helm,status=deployed",
            "--watch",
            "--no-headers",
            "--output",
            "custom-columns=NAME:.metadata.labels.name,VERSION:.metadata.labels.version",
        ])
        .env("KUBECONFIG", t.cluster.kubeconfig())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        let mut child = testenv::spawn(cmd).expect("kubectl get --watch");
        let out = child.stdout.take().expect("stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let now = Instant::now();
                let mut fields = line.split_whitespace();
                if let (Some(name), Some(Ok(rev))) = (fields.next(), fields.next().map(str::parse))
                {
                    into.lock().expect("lock").push((name.to_owned(), rev, now));
                }
            }
        });
        // time for the watch to be established before anything is measured
        std::thread::sleep(Duration::from_secs(2));
        Self { child, seen }
    }

    /// When the `n`th distinct release was first seen deployed.
    fn wait_deployed(&self, n: usize) -> Instant {
        wait_for(&format!("{n} releases deployed"), LONG, || {
            let seen = self.seen.lock().expect("lock");
            let mut names = HashSet::new();
            seen.iter()
                .find(|(name, _, _)| names.insert(name.clone()) && names.len() == n)
                .map(|(_, _, at)| *at)
        })
    }

    /// When revision `rev` of `release` was first seen deployed.
    fn wait_revision(&self, release: &str, rev: u64) -> Instant {
        wait_for(
            &format!("revision {rev} of {release} deployed"),
            Duration::from_secs(600),
            || {
                let seen = self.seen.lock().expect("lock");
                seen.iter()
                    .find(|(name, r, _)| name == release && *r == rev)
                    .map(|(_, _, at)| *at)
            },
        )
    }
}

impl Drop for ReleaseWatch {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// A running `helm-operator run` for the Widgets of one namespace, with its
/// defaults but for the addresses (free loopback ports), leader election
/// (off, also its default) and `--max-concurrent-reconciles` (Lostrómos's
/// default concurrency).
struct HelmOperator {
    bin: PathBuf,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    ns: String,
    metrics: String,
    child: Option<Child>,
}

impl HelmOperator {
    fn start(bin: &Path, t: &TestNs) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let watches = format!(
            "- group: {GROUP}\n  version: v1\n  kind: Widget\n  chart: {}\n",
            chart(CHART)
        );
        std::fs::write(dir.path().join("watches.yaml"), watches).expect("watches.yaml");
        let mut me = Self {
            bin: bin.to_path_buf(),
            dir,
            kubeconfig: t.cluster.kubeconfig().to_path_buf(),
            ns: t.ns.clone(),
            metrics: format!("127.0.0.1:{}", free_port()),
            child: None,
        };
        me.restart();
        me
    }

    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let from = self.logs().lines().count();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["run", "--watches-file"])
            .arg(self.dir.path().join("watches.yaml"))
            .args(["--metrics-bind-address", &self.metrics])
            .args([
                "--health-probe-bind-address",
                &format!("127.0.0.1:{}", free_port()),
            ])
            .args(["--leader-elect=false", "--max-concurrent-reconciles"])
            .arg(CONCURRENCY.to_string())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("WATCH_NAMESPACE", &self.ns)
            // helm's cache and config homes, away from the user's
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(testenv::spawn(cmd).expect("spawn helm-operator"));
        wait_for("helm-operator's workers", Duration::from_secs(120), || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("helm-operator exited: {status}\n{}", self.logs());
            }
            self.logs()
                .lines()
                .skip(from)
                .any(|l| l.contains("Starting workers"))
                .then_some(())
        });
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("helm-operator.log")
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Log lines (JSON) since line `from` with message `msg`: the CRs they name.
    fn named_since(&self, from: usize, msg: &str) -> Vec<String> {
        self.logs()
            .lines()
            .skip(from)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["msg"] == msg)
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// CRs reconciled (a dry-run upgrade found nothing to do, the release's
    /// objects were re-applied) or upgraded since log line `from`.
    fn reconciled_since(&self, from: usize) -> HashSet<String> {
        let mut names: HashSet<String> = self
            .named_since(from, "Reconciled release")
            .into_iter()
            .collect();
        names.extend(self.named_since(from, "Upgraded release"));
        names
    }

    fn messages_since(&self, from: usize, msg: &str) -> usize {
        self.named_since(from, msg).len()
    }

    /// The sum of a metric's samples over all labels.
    fn metric(&self, name: &str) -> f64 {
        let mut s = std::net::TcpStream::connect(&self.metrics).expect("connect to metrics");
        // HTTP/1.0: a body without chunked encoding, whose chunk sizes would
        // cut lines
        write!(s, "GET /metrics HTTP/1.0\r\nhost: {}\r\n\r\n", self.metrics).expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        metric_sum(&out, name)
    }
}

impl Drop for HelmOperator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- helm-operator log ----\n{}", self.logs());
        }
        self.kill();
    }
}

/// The sum of a metric's samples over all labels, in Prometheus's text format.
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Lostrómos's reconciles (decisions) since it started.
fn lostromos_reconciles(l: &Lostromos) -> f64 {
    metric_sum(
        &l.http_get("/metrics").1,
        "lostromos_reconcile_duration_seconds_count",
    )
}

/// The load average over the last minute.
fn load() -> String {
    format!("{:.2}", integration::measure::load_average())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn print_table(n: usize, l: &Figures, h: &Figures, f: &Figures) {
    let s = |v: f64, digits: usize| format!("{v:.digits$}");
    let opt = |v: Option<f64>, digits: usize| v.map_or("—".to_owned(), |v| s(v, digits));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".to_owned(),
    };
    let helms = |x: &Figures| {
        x.install_helms
            .map_or(String::new(), |k| format!(", {k} helm processes"))
    };
    println!();
    println!(
        "bench-peers: N={n} CRs, chart integration/charts/{CHART}, concurrency {CONCURRENCY}, a control plane of its own per run; ratios: Lostrómos / the other (below 1: Lostrómos is lower)"
    );
    println!(
        "bench-peers: {} cores; load average (1 min) at the start and end of each run: Lostrómos {}, helm-operator {}, floor {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        l.load,
        h.load,
        f.load
    );
    println!();
    println!("| | Lostrómos | helm-operator | floor (helm, xargs -P {CONCURRENCY}) | Lostrómos / helm-operator | Lostrómos / floor |");
    println!("|---|---|---|---|---|---|");
    let row = |what: &str, cells: [String; 3], r1: String, r2: String| {
        println!(
            "| {what} | {} | {} | {} | {r1} | {r2} |",
            cells[0], cells[1], cells[2]
        );
    };
    row(
        &format!("{n} releases deployed (s)"),
        [s(l.deployed_s, 1), s(h.deployed_s, 1), s(f.deployed_s, 1)],
        ratio(Some(l.deployed_s), Some(h.deployed_s)),
        ratio(Some(l.deployed_s), Some(f.deployed_s)),
    );
    row(
        "… and every CR's status says so: Ready, helm-operator's Deployed (s)",
        [opt(l.status_s, 1), opt(h.status_s, 1), "—".to_owned()],
        ratio(l.status_s, h.status_s),
        "—".to_owned(),
    );
    row(
        "CPU of the installs, controller + helm (CPU-s)",
        [
            format!("{}{}", s(l.install_cpu_s, 1), helms(l)),
            s(h.install_cpu_s, 1),
            format!("{}{}", s(f.install_cpu_s, 1), helms(f)),
        ],
        ratio(Some(l.install_cpu_s), Some(h.install_cpu_s)),
        ratio(Some(l.install_cpu_s), Some(f.install_cpu_s)),
    );
    row(
        "peak RSS of the controller (MiB)",
        [
            opt(l.peak_rss_mib, 1),
            format!("{} (helm in-process)", opt(h.peak_rss_mib, 1)),
            "no controller".to_owned(),
        ],
        ratio(l.peak_rss_mib, h.peak_rss_mib),
        "—".to_owned(),
    );
    row(
        "peak RSS of one helm process (MiB)",
        [
            format!("as the floor's, at most {CONCURRENCY} at once"),
            "in-process".to_owned(),
            opt(f.helm_rss_mib, 1),
        ],
        "—".to_owned(),
        "—".to_owned(),
    );
    row(
        "RSS after the idle minute (MiB)",
        [
            opt(l.idle_rss_mib, 1),
            opt(h.idle_rss_mib, 1),
            "—".to_owned(),
        ],
        ratio(l.idle_rss_mib, h.idle_rss_mib),
        "—".to_owned(),
    );
    row(
        &format!("CPU of the controller in an idle minute, {n} healthy CRs (CPU-s)"),
        [
            opt(l.idle_cpu_s, 2),
            opt(h.idle_cpu_s, 2),
            "0 (no process)".to_owned(),
        ],
        ratio(l.idle_cpu_s, h.idle_cpu_s),
        "—".to_owned(),
    );
    row(
        "reconciles in that minute",
        [
            opt(l.idle_reconciles, 0),
            opt(h.idle_reconciles, 0),
            "—".to_owned(),
        ],
        "—".to_owned(),
        "—".to_owned(),
    );
    row(
        "CPU of the API server in that minute (CPU-s)",
        [
            opt(l.idle_apiserver_cpu_s, 2),
            opt(h.idle_apiserver_cpu_s, 2),
            "—".to_owned(),
        ],
        ratio(l.idle_apiserver_cpu_s, h.idle_apiserver_cpu_s),
        "—".to_owned(),
    );
    row(
        "restart: every CR re-checked (s)",
        [opt(l.recheck_s, 2), opt(h.recheck_s, 2), "—".to_owned()],
        ratio(l.recheck_s, h.recheck_s),
        "—".to_owned(),
    );
    row(
        "restart: helm work",
        [
            l.recheck_work.clone().unwrap_or_default(),
            h.recheck_work.clone().unwrap_or_default(),
            "—".to_owned(),
        ],
        "—".to_owned(),
        "—".to_owned(),
    );
    row(
        "restart: CPU from the start to every CR re-checked, controller + helm (CPU-s)",
        [
            opt(l.recheck_cpu_s, 2),
            opt(h.recheck_cpu_s, 2),
            "—".to_owned(),
        ],
        ratio(l.recheck_cpu_s, h.recheck_cpu_s),
        "—".to_owned(),
    );
    row(
        &format!("one spec change until its new revision is deployed, median of {CHANGES} (s)"),
        [s(l.change_s, 2), s(h.change_s, 2), s(f.change_s, 2)],
        ratio(Some(l.change_s), Some(h.change_s)),
        ratio(Some(l.change_s), Some(f.change_s)),
    );
}
