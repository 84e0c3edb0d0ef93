//! One process serving five kinds (`--watches`) against five processes serving
//! one kind each, with the same CRs: controller RSS, and CPU over one idle
//! minute with a re-check of every CR every 30 s. Both are measured after a
//! restart (every CR re-checked, no helm), the one process also after its
//! installs. Prints figures; asserts nothing. Run with `just bench`
//! (`LOSTROMOS_BENCH_CRS=N` CRs in all, default 200).

use std::time::{Duration, Instant};

use integration::measure::{cpu_secs, rss_kib};
use integration::{chart, ready_count, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

const KINDS: usize = 5;
const GROUP: &str = "bench.lostromos.dev";
const IDLE: Duration = Duration::from_secs(60);

fn kind(i: usize) -> String {
    format!("Bench{i}")
}

fn plural(i: usize) -> String {
    format!("bench{i}s")
}

/// The five CRDs, served before anything starts.
fn install_crds(t: &TestNs) {
    for i in 0..KINDS {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}.{GROUP}", plural(i))},
            "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"kind": kind(i), "plural": plural(i), "singular": format!("bench{i}")},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"x-kubernetes-preserve-unknown-fields": true},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
        });
        t.cluster
            .kubectl_stdin(["apply", "-f", "-"], &crd.to_string())
            .expect("apply CRD");
        t.cluster
            .kubectl([
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{}.{GROUP}", plural(i)),
            ])
            .expect("CRD established");
    }
}

fn common(t: &TestNs) -> Vec<String> {
    [
        "--namespace",
        &t.ns,
        "--log-format",
        "json",
        "--concurrency",
        "4",
        "--reconcile-period",
        "30s",
    ]
    .map(str::to_owned)
    .into()
}

/// Waits until every process has re-checked its share of CRs since `from`.
fn wait_rechecked(ls: &[(Lostromos, usize)], per: &[usize]) {
    wait_for("every CR re-checked", Duration::from_secs(900), || {
        ls.iter()
            .zip(per)
            .all(|((l, from), n)| l.skipped_since(*from).len() >= *n)
            .then_some(())
    });
}

/// RSS (MiB) and CPU over one idle minute (CPU-s) of these processes together.
fn idle(ls: &[(Lostromos, usize)]) -> (f64, f64) {
    let pids: Vec<u32> = ls.iter().filter_map(|(l, _)| l.pid()).collect();
    let before: f64 = pids.iter().map(|p| cpu_secs(*p)).sum();
    std::thread::sleep(IDLE);
    let cpu = pids.iter().map(|p| cpu_secs(*p)).sum::<f64>() - before;
    let rss = pids.iter().map(|p| rss_kib(*p)).sum::<u64>() as f64 / 1024.0;
    (rss, cpu)
}

fn restart(l: &mut Lostromos) -> usize {
    l.kill();
    let from = l.logs().lines().count();
    l.restart();
    from
}

fn main() {
    let n: usize = std::env::var("LOSTROMOS_BENCH_CRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t = TestNs::new("bench-kinds");
    install_crds(&t);
    let per: Vec<usize> = (0..KINDS)
        .map(|i| n / KINDS + usize::from(i < n % KINDS))
        .collect();

    // one process, five kinds
    let dir = tempfile::tempdir().expect("tempdir");
    let watches = dir.path().join("watches.yaml");
    let entries: String = (0..KINDS)
        .map(|i| {
            format!(
                "- {{group: {GROUP}, version: v1, kind: {}, chart: {}}}\n",
                kind(i),
                chart("configmap")
            )
        })
        .collect();
    std::fs::write(&watches, entries).expect("watches.yaml");
    let mut args = vec![
        "run".to_owned(),
        "--watches".to_owned(),
        watches.to_string_lossy().into_owned(),
    ];
    args.extend(common(&t));
    let mut one = Lostromos::start_args(t.cluster.kubeconfig(), args);
    let began = Instant::now();
    for (i, count) in per.iter().enumerate() {
        let items: Vec<Value> = (0..*count)
            .map(|j| {
                json!({"apiVersion": format!("{GROUP}/v1"), "kind": kind(i),
                            "metadata": {"name": format!("k{i}-{j:04}"), "namespace": t.ns},
                            "spec": {"index": j}})
            })
            .collect();
        t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    }
    wait_for("every CR Ready", Duration::from_secs(3600), || {
        (0..KINDS)
            .all(|i| ready_count(&t, &plural(i)) == per[i])
            .then_some(())
    });
    let install_s = began.elapsed().as_secs_f64();
    let installed_mib = rss_kib(one.pid().unwrap_or(0)) as f64 / 1024.0;
    let from = restart(&mut one);
    let ones = vec![(one, from)];
    wait_rechecked(&ones, &[n]);
    let (one_rss, one_cpu) = idle(&ones);
    let helm_one = ones[0].0.helm_calls().len();
    drop(ones);

    // five processes, one kind each, on the same CRs and releases
    let mut fives = Vec::new();
    for i in 0..KINDS {
        let mut args: Vec<String> = [
            "run",
            "--group",
            GROUP,
            "--version",
            "v1",
            "--kind",
            &kind(i),
            "--chart",
            &chart("configmap"),
        ]
        .map(str::to_owned)
        .into();
        args.extend(common(&t));
        fives.push((Lostromos::start_args(t.cluster.kubeconfig(), args), 0));
    }
    wait_rechecked(&fives, &per);
    let (five_rss, five_cpu) = idle(&fives);
    let helm_five: usize = fives.iter().map(|(l, _)| l.helm_calls().len()).sum();

    println!("bench-kinds: {n} CRs of {KINDS} kinds installed by one process in {install_s:.1} s; its RSS {installed_mib:.1} MiB after the installs");
    println!(
        "bench-kinds: one process, {KINDS} kinds: RSS {one_rss:.1} MiB, idle minute {one_cpu:.2} CPU-s (after a restart; {helm_one} helm processes in all, the installs)"
    );
    println!(
        "bench-kinds: {KINDS} processes, one kind each: RSS {five_rss:.1} MiB in all, idle minute {five_cpu:.2} CPU-s ({helm_five} helm processes)"
    );
    println!(
        "bench-kinds: ratios five/one: RSS {:.2}x, idle CPU {:.2}x",
        five_rss / one_rss.max(0.1),
        five_cpu / one_cpu.max(0.01)
    );
}
