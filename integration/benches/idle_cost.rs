//! What Lostrómos costs, against the floor: N releases installed by
//! `helm upgrade --install` from `xargs -P C` with no controller, then the same
//! N as CRs created while Lostrómos is stopped and installed once it starts
//! (so the time is the controller's whole overhead), then a restart that
//! re-checks every CR, against one `helm history` per release (what a
//! controller without a release index pays on each resync). Prints figures and
//! ratios from one run; asserts nothing. Run with `just bench`
//! (`LOSTROMOS_BENCH_CRS=N`, default 200; `LOSTROMOS_BENCH_CONCURRENCY=C`,
//! default 4).
//!
//! `LOSTROMOS_BENCH_RESTART_WITH=LABEL=BINARY[,LABEL=BINARY...]` then restarts
//! each of those binaries too on the same CRs and releases (e.g. an earlier
//! commit's build, for a before/after figure on one state), printing its RSS
//! after the restart; a LABEL starting with `dhat` is a `dhat-heap` build, whose
//! profile goes to `target/dhat/idle-N-restart-LABEL.json`.
//! `LOSTROMOS_BENCH_ARGS="--watch-objects false ..."` adds flags to
//! Lostrómos's (split on spaces), to see what one feature costs.
//! `LOSTROMOS_BENCH_BASELINE=0` leaves out the floor and the helm baseline
//! (memory only).
//!
//! `LOSTROMOS_BENCH_DHAT=1` runs the heap-profiling build instead (`just
//! heap-profile`) and writes two dhat profiles, after the installs and after
//! the restart, to `target/dhat/idle-N-{installed,restart}.json`; its RSS
//! figures include dhat's own bookkeeping.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use integration::measure::{
    children_cpu_secs, cpu_secs, load_average, machine_cpu_secs, rss_kib, smaps_kib,
};
use integration::{
    chart, dhat, helm_binary, ready_widgets, repo_root, wait_for, wait_ready_watching, Lostromos,
    TestNs,
};
use serde_json::{json, Value};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The API server's request counts by (verb, resource/subresource), from its
/// own `apiserver_request_total`.
fn api_requests(t: &TestNs) -> BTreeMap<(String, String), f64> {
    let text = t
        .cluster
        .kubectl(["get", "--raw", "/metrics"])
        .unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let mut resource = label("resource");
        let sub = label("subresource");
        if !sub.is_empty() {
            resource = format!("{resource}/{sub}");
        }
        let n: f64 = value.trim().parse().unwrap_or(0.0);
        *counts.entry((label("verb"), resource)).or_insert(0.0) += n;
    }
    counts
}

/// Writes (create, update, patch, delete) between two counts, by resource.
fn writes(
    before: &BTreeMap<(String, String), f64>,
    after: &BTreeMap<(String, String), f64>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for ((verb, resource), n) in after {
        if !matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            continue;
        }
        let was = before
            .get(&(verb.clone(), resource.clone()))
            .copied()
            .unwrap_or(0.0);
        if *n > was {
            *out.entry(format!("{verb} {resource}")).or_insert(0.0) += n - was;
        }
    }
    out
}

fn show(w: &BTreeMap<String, f64>, n: usize) -> String {
    let total: f64 = w.values().sum();
    let parts: Vec<String> = w
        .iter()
        .map(|(k, v)| format!("{k} {:.2}", v / n as f64))
        .collect();
    format!("{:.2} per release ({})", total / n as f64, parts.join(", "))
}

/// CPU used so far by the control plane and by the whole machine, in seconds.
#[derive(Clone, Copy)]
struct Cpu {
    apiserver: f64,
    etcd: f64,
    busy: f64,
    idle: f64,
}

impl Cpu {
    fn now(t: &TestNs) -> Cpu {
        let (busy, idle) = machine_cpu_secs();
        Cpu {
            apiserver: cpu_secs(t.cluster.apiserver_pid()),
            etcd: cpu_secs(t.cluster.etcd_pid()),
            busy,
            idle,
        }
    }

    /// What was used since `self`, per release, and how busy the machine was:
    /// tells a run slowed by the control plane's work from one left idle.
    fn since(self, t: &TestNs, n: usize) -> String {
        let now = Cpu::now(t);
        let busy = now.busy - self.busy;
        let all = busy + now.idle - self.idle;
        format!(
            "API server {:.3} and etcd {:.3} CPU-s per release, machine busy {:.0}%",
            (now.apiserver - self.apiserver) / n as f64,
            (now.etcd - self.etcd) / n as f64,
            100.0 * busy / all.max(1e-9)
        )
    }
}

/// `xargs -P c` running `helm upgrade --install` for each release name on its
/// standard input, with the release's values on helm's; (seconds, helm CPU-s).
fn floor(t: &TestNs, n: usize, c: usize) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("one.sh");
    // the same values as the CR of that index: {"index": i}
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\ni=${{1#f-}}\nprintf '{{\"index\": %d}}' \"$((10#$i))\" | exec '{}' upgrade --install \"$1\" '{}' --namespace '{}' --values - --history-max 3 >/dev/null\n",
            helm_binary().display(),
            chart("configmap"),
            t.ns
        ),
    )
    .expect("script");
    let names: String = (0..n).map(|i| format!("f-{i:05}\n")).collect();
    // python reports its children's CPU (xargs, and helm through it)
    let began = Instant::now();
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); u=resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_utime+u.ru_stime)",
            "xargs",
            "-P",
            &c.to_string(),
            "-n",
            "1",
            "bash",
            &script.to_string_lossy(),
        ])
        .env("KUBECONFIG", t.cluster.kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xargs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(names.as_bytes())
        .expect("names");
    let out = child.wait_with_output().expect("xargs ran");
    let secs = began.elapsed().as_secs_f64();
    let cpu: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0.0);
    (secs, cpu)
}

/// Kills Lostrómos and starts it again: how long until every CR was re-checked,
/// and its RSS (KiB) once every release's objects are known again too. The
/// time is read from the log's own timestamps (the last re-check's line), so
/// the polling of the log adds nothing; the phases of the start are printed.
fn restart(l: &mut Lostromos, n: usize, objects: bool) -> (f64, u64) {
    l.kill();
    // read as it grows, never whole: re-reading a log of 10,000s of lines
    // every poll took a sixth of the machine the restart was measured on
    let mut log = Follow::at_end(&l.logs_dir().join("lostromos.log"));
    let (mut lines, mut skipped) = (String::new(), std::collections::HashSet::new());
    let began = jiff::Timestamp::now();
    let clock = Instant::now();
    l.restart();
    wait_for("every CR re-checked", Duration::from_secs(1800), || {
        for line in log.new_lines() {
            if line.contains("\"skip\"") {
                if let Some(cr) = serde_json::from_str::<Value>(&line)
                    .ok()
                    .and_then(|v| v["fields"]["cr"].as_str().map(str::to_owned))
                {
                    skipped.insert(cr);
                }
            }
            lines.push_str(&line);
            lines.push('\n');
        }
        (skipped.len() == n).then_some(())
    });
    let mut phases = start_phases(&lines, 0, n, began);
    let recheck = phases.last().map_or(0.0, |(_, at)| *at);
    // (none are when objects are not watched)
    wait_for(
        "every release inventoried",
        Duration::from_secs(1800),
        || (!objects || l.gauge("lostromos_object_releases") == Some(n as u64)).then_some(()),
    );
    if objects {
        // (to the poll that saw it: within 0.2 s)
        phases.push(("every release inventoried", clock.elapsed().as_secs_f64()));
    }
    let shown: Vec<String> = phases
        .iter()
        .map(|(what, at)| format!("{what} {at:.2} s"))
        .collect();
    println!(
        "bench: restart of {n} CRs, from the exec: {}",
        shown.join(", ")
    );
    (recheck, rss_kib(l.pid().unwrap_or(0)))
}

/// A log file read as it grows.
struct Follow {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
    at: u64,
    /// Bytes of a line not ended yet.
    partial: Vec<u8>,
}

impl Follow {
    fn at_end(path: &std::path::Path) -> Follow {
        let at = std::fs::metadata(path).map_or(0, |m| m.len());
        Follow {
            file: None,
            path: path.to_owned(),
            at,
            partial: Vec::new(),
        }
    }

    /// The whole lines written since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        if self.file.is_none() {
            self.file = std::fs::File::open(&self.path).ok();
        }
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let before = self.partial.len();
        if file.seek(SeekFrom::Start(self.at)).is_err()
            || file.read_to_end(&mut self.partial).is_err()
        {
            self.partial.truncate(before);
            return Vec::new();
        }
        self.at += (self.partial.len() - before) as u64;
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Seconds from `began` to the first log line, to `lostromos starting` (the
/// preflight done), to the first decision, and to the decision that made
/// every one of the `n` CRs re-checked once.
fn start_phases(
    log: &str,
    from: usize,
    n: usize,
    began: jiff::Timestamp,
) -> Vec<(&'static str, f64)> {
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    let mut skipped = std::collections::HashSet::new();
    for line in log.lines().skip(from) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(at) = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        else {
            continue;
        };
        let secs = (at - began).total(jiff::Unit::Second).unwrap_or(0.0);
        let message = v["fields"]["message"].as_str().unwrap_or("");
        let first = |phases: &mut Vec<(&'static str, f64)>, what| {
            if !phases.iter().any(|(w, _)| *w == what) {
                phases.push((what, secs));
            }
        };
        first(&mut phases, "first log line");
        if message == "lostromos starting" {
            first(&mut phases, "preflight done");
        }
        if message == "listed" {
            let watch = v["fields"]["watch"].as_str().unwrap_or("");
            first(
                &mut phases,
                if watch.starts_with("Secrets") {
                    "releases listed"
                } else {
                    "CRs listed"
                },
            );
        }
        if message == "plan" || message == "up to date, nothing to do" {
            first(&mut phases, "first decision");
            if v["fields"]["action"] == "skip" {
                skipped.insert(v["fields"]["cr"].as_str().unwrap_or("").to_owned());
                if skipped.len() == n {
                    phases.push(("every CR re-checked", secs));
                    break;
                }
            }
        }
    }
    phases
}

/// `LOSTROMOS_BENCH_HOLD=DIR`: keeps the control plane and its N installed
/// releases, and restarts each binary named in `DIR/next` (`LABEL=BINARY`
/// lines, each maybe followed by extra flags; the file is removed once done) until `DIR/stop` exists, so that
/// start-up changes can be compared on one state without installing it again.
fn hold(l: &mut Lostromos, n: usize, objects: bool, dir: &std::path::Path, installs: usize) {
    let _ = std::fs::create_dir_all(dir);
    println!(
        "bench: holding; write LABEL=BINARY lines to {0}/next, touch {0}/stop to end",
        dir.display()
    );
    while !dir.join("stop").exists() {
        let Ok(next) = std::fs::read_to_string(dir.join("next")) else {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        };
        let _ = std::fs::remove_file(dir.join("next"));
        let base = l.args_mut().clone();
        for (label, rest) in next.lines().filter_map(|o| o.trim().split_once('=')) {
            // LABEL=BINARY [extra flags]
            let mut words = rest.split_whitespace();
            let Some(binary) = words.next() else { continue };
            let extra: Vec<String> = words.map(str::to_owned).collect();
            let objects = objects && !extra.join(" ").contains("--watch-objects false");
            *l.args_mut() = base.iter().cloned().chain(extra).collect();
            l.use_binary(binary.into());
            let (recheck, rss) = restart(l, n, objects);
            *l.args_mut() = base.clone();
            let helm = l.helm_calls().len() - installs;
            println!(
                "bench: restart with {label}: re-check {recheck:.2} s, {helm} helm processes in all, RSS {:.1} MiB",
                rss as f64 / 1024.0
            );
        }
        let _ = std::io::stdout().flush();
    }
}

fn main() {
    let n = env_or("LOSTROMOS_BENCH_CRS", 200);
    let c = env_or("LOSTROMOS_BENCH_CONCURRENCY", 4);
    let concurrency = c.to_string();

    // memory only (`LOSTROMOS_BENCH_BASELINE=0`): no floor and no baseline
    let baselines = !std::env::var("LOSTROMOS_BENCH_BASELINE").is_ok_and(|v| v == "0");

    // the floor: helm alone
    let (floor_s, floor_helm_cpu, floor_writes, floor_control) = if baselines {
        let f = TestNs::new("bench-floor");
        let api_before = api_requests(&f);
        let cpu_before = Cpu::now(&f);
        let (secs, cpu) = floor(&f, n, c);
        let control = cpu_before.since(&f, n);
        (secs, cpu, writes(&api_before, &api_requests(&f)), control)
    } else {
        (0.0, 0.0, BTreeMap::new(), String::new())
    };

    // Lostrómos: the CRs first, then the controller, so its time is all its own
    // (and built before the clock starts)
    integration::lostromos_binary();
    let t = TestNs::new("bench");
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"apiVersion": "test.lostromos.dev/v1", "kind": "Widget",
                        "metadata": {"name": format!("b-{i:05}"), "namespace": t.ns}, "spec": {"index": i}}))
        .collect();
    for chunk in items.chunks(500) {
        t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": chunk}).to_string());
    }
    let api_before = api_requests(&t);
    let cpu_before = Cpu::now(&t);
    let began = Instant::now();
    let extra = std::env::var("LOSTROMOS_BENCH_ARGS").unwrap_or_default();
    let mut args = vec!["--log-format", "json", "--concurrency", &concurrency];
    args.extend(extra.split_whitespace());
    let objects = !extra.contains("--watch-objects false");
    let mut l = Lostromos::start(&t, &chart("configmap"), &args);
    let last_ready = wait_ready_watching(&t, "widgets", n, Duration::from_secs(7200));
    let install = (last_ready - began).as_secs_f64();
    assert_eq!(ready_widgets(&t), n, "the watch saw every CR Ready");
    let pid = l.pid().unwrap_or(0);
    let own_cpu = cpu_secs(pid);
    let helm_cpu = children_cpu_secs(pid);
    let control = cpu_before.since(&t, n);
    let lostromos_writes = writes(&api_before, &api_requests(&t));
    let installs = l.helm_calls().len();
    let rss_busy = rss_kib(pid);
    let load_at_installs = load_average();
    let anon_busy = smaps_kib(pid, "Anonymous:");
    let profiles = repo_root().join("target/dhat");
    if dhat() {
        l.heap_profile(&profiles.join(format!("idle-{n}-installed.json")));
    }
    // where the time went: helm's own runs against the C slots of the whole span
    let (mut helm_ms, mut queue_ms) = (0u64, 0u64);
    for line in l.logs().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["fields"]["message"] == "helm" {
            helm_ms += v["fields"]["helm_ms"].as_u64().unwrap_or(0);
            queue_ms += v["fields"]["queue_ms"].as_u64().unwrap_or(0);
        }
    }
    let busy = helm_ms as f64 / 1000.0 / (install * c as f64);

    // the idle cost: a restart re-checks every CR
    let (recheck, rss_idle) = restart(&mut l, n, objects);
    let anon_idle = smaps_kib(l.pid().unwrap_or(0), "Anonymous:");
    let recheck_processes = l.helm_calls().len() - installs;
    if dhat() {
        l.heap_profile(&profiles.join(format!("idle-{n}-restart.json")));
    }
    println!(
        "bench: N={n}, C={c}, chart integration/charts/configmap, helm {}, lostromos flags [{extra}], load average {:.2} at the end of the installs",
        integration::helm_major(),
        load_at_installs
    );
    println!(
        "bench: lostromos RSS: {:.1} MiB after the installs, {:.1} MiB after the restart (anonymous: {:.1} and {:.1} MiB; the rest is the binary's own pages)",
        rss_busy as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        anon_busy as f64 / 1024.0,
        anon_idle as f64 / 1024.0
    );
    if dhat() {
        println!(
            "bench: heap profiles in {} (scripts/dhat-top.py summarises them)",
            profiles.display()
        );
    }
    let others = std::env::var("LOSTROMOS_BENCH_RESTART_WITH").unwrap_or_default();
    for (label, binary) in others.split(',').filter_map(|o| o.split_once('=')) {
        l.use_binary(binary.into());
        let (recheck, rss) = restart(&mut l, n, objects);
        let anon = smaps_kib(l.pid().unwrap_or(0), "Anonymous:");
        let helm = l.helm_calls().len() - installs;
        println!(
            "bench: restart with {label}: re-check {recheck:.2} s, {helm} helm processes in all, RSS {:.1} MiB (anonymous {:.1} MiB)",
            rss as f64 / 1024.0, anon as f64 / 1024.0
        );
        if label.starts_with("dhat") {
            let to = profiles.join(format!("idle-{n}-restart-{label}.json"));
            l.heap_profile(&to);
            println!("bench: heap profile {}", to.display());
        }
    }
    if let Ok(dir) = std::env::var("LOSTROMOS_BENCH_HOLD") {
        hold(&mut l, n, objects, std::path::Path::new(&dir), installs);
    }
    if !baselines {
        println!("bench: {n} CRs installed in {install:.1} s, {installs} helm processes; restart re-check {recheck:.2} s, {recheck_processes} helm processes");
        return;
    }

    // the baseline of a re-check: one `helm history --max 1` per release, C at a time
    let began = Instant::now();
    let names: Vec<String> = (0..n).map(|i| format!("b-{i:05}")).collect();
    for chunk in names.chunks(c) {
        let children: Vec<_> = chunk
            .iter()
            .map(|name| {
                Command::new(helm_binary())
                    .args([
                        "history",
                        name,
                        "--max",
                        "1",
                        "-o",
                        "json",
                        "--namespace",
                        &t.ns,
                    ])
                    .env("KUBECONFIG", t.cluster.kubeconfig())
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("helm")
            })
            .collect();
        for mut c in children {
            let _ = c.wait();
        }
    }
    let baseline = began.elapsed().as_secs_f64();
    // one helm process's peak RSS, measured by a parent that has no other children
    let probe = Command::new("python3")
        .args([
            "-c",
            "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
        ])
        .arg(helm_binary())
        .args(["history", &names[0], "--max", "1", "-o", "json", "--namespace", &t.ns])
        .env("KUBECONFIG", t.cluster.kubeconfig())
        .output()
        .expect("python3");
    let helm_rss: u64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap_or(0);

    println!(
        "bench: floor (xargs -P {c} helm upgrade --install): {floor_s:.1} s, helm {:.2} CPU-s per release, {floor_control}; API writes {}",
        floor_helm_cpu / n as f64,
        show(&floor_writes, n)
    );
    println!(
        "bench: lostromos, CRs made first, then started: all Ready in {install:.1} s ({:.2}x the floor, {:.1} CR/s), {installs} helm processes, helm {:.2} CPU-s per release, lostromos {:.3} CPU-s per release, {control}",
        install / floor_s,
        n as f64 / install,
        helm_cpu / n as f64,
        own_cpu / n as f64,
    );
    println!("bench: lostromos API writes {}", show(&lostromos_writes, n));
    println!(
        "bench: lostromos helm slots busy {:.0}% of the span (helm ran {:.2} s per release on average, waited {:.2} s for a slot)",
        busy * 100.0,
        helm_ms as f64 / 1000.0 / n as f64,
        queue_ms as f64 / 1000.0 / n as f64
    );
    println!(
        "bench: restart re-check of {n} CRs: {recheck:.2} s, {recheck_processes} helm processes; baseline, one `helm history --max 1` per release ({c} at a time): {baseline:.2} s ({:.0}x more)",
        baseline / recheck.max(1e-3)
    );
    println!(
        "bench: peak RSS of one helm process: {} MiB",
        helm_rss / 1024
    );
}
