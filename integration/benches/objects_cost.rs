//! What watching the releases' objects (readiness and drift) costs: N CRs with
//! `--watch-objects` on, then N CRs with it off, each measured after a restart
//! and over one idle minute with a re-check every 30 s: controller RSS, API
//! requests by verb (Lostrómos's own count) and CPU. Prints figures; asserts
//! nothing. Run with `just bench-objects` (`LOSTROMOS_BENCH_CRS=N`, default 1000).

use std::time::{Duration, Instant};

use integration::measure::{cpu_secs, proc_status_kib};
use integration::{chart, wait_for, wait_ready_watching, Lostromos, TestNs};
use serde_json::{json, Value};

const IDLE: Duration = Duration::from_secs(60);

/// `lostromos_api_requests{verb}` from its /metrics.
fn requests(l: &Lostromos) -> Vec<(String, u64)> {
    let (_, body) = l.http_get("/metrics");
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("lostromos_api_requests{verb=\"")?;
            let (verb, value) = rest.split_once("\"} ")?;
            Some((verb.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

fn delta(before: &[(String, u64)], after: &[(String, u64)]) -> (u64, String) {
    let mut total = 0;
    let mut parts = Vec::new();
    for (verb, n) in after {
        let was = before
            .iter()
            .find(|(v, _)| v == verb)
            .map_or(0, |(_, n)| *n);
        if n > &was {
            total += n - was;
            parts.push(format!("{verb} {}", n - was));
        }
    }
    let parts = if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    };
    (total, parts)
}

struct Figures {
    install_s: f64,
    rss_installed_mib: f64,
    rss_restart_mib: f64,
    restart_requests: String,
    idle_requests: u64,
    idle_detail: String,
    idle_cpu_s: f64,
    helm_after_install: usize,
}

fn measure(n: usize, objects: bool) -> Figures {
    let t = TestNs::new(if objects { "objects-on" } else { "objects-off" });
    let mut l = Lostromos::start(
        &t,
        &chart("configmap"),
        &[
            "--log-format",
            "json",
            "--concurrency",
            "4",
            "--reconcile-period",
            "30s",
            "--watch-objects",
            if objects { "true" } else { "false" },
        ],
    );
    let began = Instant::now();
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"apiVersion": "test.lostromos.dev/v1", "kind": "Widget",
                        "metadata": {"name": format!("o-{i:04}"), "namespace": t.ns}, "spec": {"index": i}}))
        .collect();
    t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    let last_ready = wait_ready_watching(&t, "widgets", n, Duration::from_secs(3600));
    let install_s = (last_ready - began).as_secs_f64();
    let installs = l.helm_calls().len();
    let rss_installed_mib = proc_status_kib(l.pid().unwrap_or(0), "VmRSS:") as f64 / 1024.0;

    l.kill();
    let from = l.logs().lines().count();
    l.restart();
    wait_for("every CR re-checked", Duration::from_secs(900), || {
        (l.skipped_since(from).len() == n).then_some(())
    });
    if objects {
        // the restart ends when every release's objects are known again
        wait_for(
            "every release inventoried",
            Duration::from_secs(900),
            || (l.gauge("lostromos_object_releases") == Some(n as u64)).then_some(()),
        );
    }
    let pid = l.pid().unwrap_or(0);
    let rss_restart_mib = proc_status_kib(pid, "VmRSS:") as f64 / 1024.0;
    let at_restart = requests(&l);
    let (_, restart_requests) = delta(&[], &at_restart);

    // one idle minute, with two periodic re-checks of every CR in it
    let cpu_before = cpu_secs(pid);
    let before = requests(&l);
    std::thread::sleep(IDLE);
    let after = requests(&l);
    let idle_cpu_s = cpu_secs(pid) - cpu_before;
    let (idle_requests, idle_detail) = delta(&before, &after);
    Figures {
        install_s,
        rss_installed_mib,
        rss_restart_mib,
        restart_requests,
        idle_requests,
        idle_detail,
        idle_cpu_s,
        helm_after_install: l.helm_calls().len() - installs,
    }
}

fn main() {
    let n: usize = std::env::var("LOSTROMOS_BENCH_CRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let on = measure(n, true);
    let off = measure(n, false);
    for (name, f) in [("objects on ", &on), ("objects off", &off)] {
        println!(
            "bench-objects: {name}: {n} CRs Ready in {:.1} s; RSS {:.1} MiB installed, {:.1} MiB after a restart; \
             restart requests: {}; idle minute: {} requests ({}), {:.2} CPU-s; helm processes after the installs: {}",
            f.install_s,
            f.rss_installed_mib,
            f.rss_restart_mib,
            f.restart_requests,
            f.idle_requests,
            f.idle_detail,
            f.idle_cpu_s,
            f.helm_after_install,
        );
    }
    println!(
        "bench-objects: on/off ratios: RSS after restart {:.2}, idle requests {} vs {}, idle CPU {:.2} vs {:.2} CPU-s",
        on.rss_restart_mib / off.rss_restart_mib.max(0.1),
        on.idle_requests,
        off.idle_requests,
        on.idle_cpu_s,
        off.idle_cpu_s,
    );
}
