//! What Lostrómos costs when nothing changes, against the baseline of asking
//! helm about every release (what a controller without a release index pays on
//! each resync). Prints figures; asserts nothing. Run with `just bench`
//! (`LOSTROMOS_BENCH_CRS=N` sets the number of CRs, default 200).

use std::process::Command;
use std::time::{Duration, Instant};

use integration::measure::rss_kib;
use integration::{chart, helm_binary, ready_widgets, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

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
    wait_for("every CR Ready", Duration::from_secs(1800), || {
        (ready_widgets(&t) == n).then_some(())
    });
    let install = began.elapsed().as_secs_f64();
    let installs = l.helm_calls().len();
    let rss_busy = rss_kib(l.pid().unwrap_or(0));

    // the idle cost: a restart re-checks every CR
    l.kill();
    let from = l.logs().lines().count();
    let began = Instant::now();
    l.restart();
    wait_for("every CR re-checked", Duration::from_secs(600), || {
        (l.skipped_since(from).len() == n).then_some(())
    });
    let recheck = began.elapsed().as_secs_f64();
    let recheck_processes = l.helm_calls().len() - installs;
    let rss_idle = rss_kib(l.pid().unwrap_or(0));

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

    println!(
        "bench: {n} CRs installed in {install:.1} s ({:.1} CR/s), {installs} helm processes",
        n as f64 / install
    );
    println!(
        "bench: restart re-check of {n} CRs: {recheck:.2} s, {recheck_processes} helm processes"
    );
    println!("bench: baseline, one `helm history --max 1` per release (4 at a time): {baseline:.2} s, {n} helm processes");
    println!(
        "bench: re-check time ratio lostromos/baseline: {:.3} ({:.0}x less)",
        recheck / baseline,
        baseline / recheck.max(1e-3)
    );
    println!("bench: lostromos RSS: {} MiB after installing, {} MiB idle after restart; peak RSS of one helm process: {} MiB",
        rss_busy / 1024, rss_idle / 1024, helm_rss / 1024);
}
