//! What Lostrómos costs when nothing changes, against the baseline of asking
//! helm about every release (what a controller without a release index pays on
//! each resync). Prints figures; asserts nothing. Run with `just bench`
//! (`LOSTROMOS_BENCH_CRS=N` sets the number of CRs, default 200).
//!
//! `LOSTROMOS_BENCH_RESTART_WITH=LABEL=BINARY[,LABEL=BINARY...]` then restarts
//! each of those binaries too on the same CRs and releases (e.g. an earlier
//! commit's build, for a before/after figure on one state), printing its RSS
//! after the restart; a LABEL starting with `dhat` is a `dhat-heap` build, whose
//! profile goes to `target/dhat/idle-N-restart-LABEL.json`.
//! `LOSTROMOS_BENCH_BASELINE=0` leaves out the helm baseline (memory only).
//!
//! `LOSTROMOS_BENCH_DHAT=1` runs the heap-profiling build instead (`just
//! heap-profile`) and writes two dhat profiles, after the installs and after
//! the restart, to `target/dhat/idle-N-{installed,restart}.json`; its RSS
//! figures include dhat's own bookkeeping.

use std::process::Command;
use std::time::{Duration, Instant};

use integration::measure::{rss_kib, smaps_kib};
use integration::{
    chart, dhat, helm_binary, ready_widgets, repo_root, wait_for, Lostromos, TestNs,
};
use serde_json::{json, Value};

/// Kills Lostrómos and starts it again: how long until every CR was re-checked,
/// and its RSS (KiB) once every release's objects are known again too.
fn restart(l: &mut Lostromos, n: usize) -> (f64, u64) {
    l.kill();
    let from = l.logs().lines().count();
    let began = Instant::now();
    l.restart();
    wait_for("every CR re-checked", Duration::from_secs(900), || {
        (l.skipped_since(from).len() == n).then_some(())
    });
    let recheck = began.elapsed().as_secs_f64();
    wait_for(
        "every release inventoried",
        Duration::from_secs(900),
        || (gauge(l, "lostromos_object_releases") == Some(n as u64)).then_some(()),
    );
    (recheck, rss_kib(l.pid().unwrap_or(0)))
}

/// A gauge without labels from its /metrics.
fn gauge(l: &Lostromos, name: &str) -> Option<u64> {
    let (_, body) = l.http_get("/metrics");
    body.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn main() {
    let n: usize = std::env::var("LOSTROMOS_BENCH_CRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t = TestNs::new("bench");
    let mut l = Lostromos::start(
        &t,
        &chart("configmap"),
        &["--log-format", "json", "--concurrency", "4"],
    );

    let began = Instant::now();
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"apiVersion": "test.lostromos.dev/v1", "kind": "Widget",
                        "metadata": {"name": format!("b-{i:04}"), "namespace": t.ns}, "spec": {"index": i}}))
        .collect();
    t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    let patience = Duration::from_secs(1800.max(n as u64));
    wait_for("every CR Ready", patience, || {
        (ready_widgets(&t) == n).then_some(())
    });
    let install = began.elapsed().as_secs_f64();
    let installs = l.helm_calls().len();
    let rss_busy = rss_kib(l.pid().unwrap_or(0));
    let anon_busy = smaps_kib(l.pid().unwrap_or(0), "Anonymous:");
    let profiles = repo_root().join("target/dhat");
    if dhat() {
        l.heap_profile(&profiles.join(format!("idle-{n}-installed.json")));
    }

    // the idle cost: a restart re-checks every CR
    let (recheck, rss_idle) = restart(&mut l, n);
    let anon_idle = smaps_kib(l.pid().unwrap_or(0), "Anonymous:");
    let recheck_processes = l.helm_calls().len() - installs;
    if dhat() {
        l.heap_profile(&profiles.join(format!("idle-{n}-restart.json")));
    }

    println!(
        "bench: {n} CRs installed in {install:.1} s ({:.1} CR/s), {installs} helm processes",
        n as f64 / install
    );
    println!(
        "bench: restart re-check of {n} CRs: {recheck:.2} s, {recheck_processes} helm processes"
    );
    println!("bench: lostromos RSS: {:.1} MiB after installing, {:.1} MiB idle after restart (anonymous: {:.1} and {:.1} MiB; the rest is the binary's own pages)",
        rss_busy as f64 / 1024.0, rss_idle as f64 / 1024.0, anon_busy as f64 / 1024.0, anon_idle as f64 / 1024.0);
    if dhat() {
        println!(
            "bench: heap profiles in {} (scripts/dhat-top.py summarises them)",
            profiles.display()
        );
    }
    let others = std::env::var("LOSTROMOS_BENCH_RESTART_WITH").unwrap_or_default();
    for (label, binary) in others.split(',').filter_map(|o| o.split_once('=')) {
        l.use_binary(binary.into());
        let (recheck, rss) = restart(&mut l, n);
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
    // memory only (`LOSTROMOS_BENCH_BASELINE=0`): no baseline of N helm processes
    if std::env::var("LOSTROMOS_BENCH_BASELINE").is_ok_and(|v| v == "0") {
        return;
    }

    // the baseline: one `helm history --max 1` per release, 4 at a time
    let began = Instant::now();
    let names: Vec<String> = (0..n).map(|i| format!("b-{i:04}")).collect();
    for chunk in names.chunks(4) {
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
                    .stdout(std::process::Stdio::null())
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

    println!("bench: baseline, one `helm history --max 1` per release (4 at a time): {baseline:.2} s, {n} helm processes");
    println!(
        "bench: re-check time ratio lostromos/baseline: {:.3} ({:.0}x less)",
        recheck / baseline,
        baseline / recheck.max(1e-3)
    );
    println!(
        "bench: peak RSS of one helm process: {} MiB",
        helm_rss / 1024
    );
}
