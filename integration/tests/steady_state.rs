//! Nothing changed, nothing runs: with 50 healthy CRs, a restart of Lostrómos
//! starts zero helm processes and every CR stays Ready.

use std::time::{Duration, Instant};

use integration::{chart, ready_widgets, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

const N: usize = 50;

#[test]
fn restart_with_healthy_crs_starts_no_helm_process() {
    let t = TestNs::new("steady");
    let mut l = Lostromos::start(
        &t,
        &chart("configmap"),
        &["--log-format", "json", "--concurrency", "4"],
    );
    let began = Instant::now();
    let items: Vec<Value> = (0..N)
        .map(|i| {
            json!({"apiVersion": "test.lostromos.dev/v1", "kind": "Widget",
                   "metadata": {"name": format!("w-{i:02}"), "namespace": t.ns}, "spec": {"index": i}})
        })
        .collect();
    t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    wait_for("50 CRs Ready", Duration::from_secs(300), || {
        (ready_widgets(&t) == N).then_some(())
    });
    let install_secs = began.elapsed().as_secs_f64();
    assert_eq!(
        l.helm_calls().len(),
        N,
        "one helm process per CR: {:?}",
        l.helm_calls()
    );

    l.kill();
    let log_lines = l.logs().lines().count();
    let restarted = Instant::now();
    l.restart();
    // every CR is looked at again and found unchanged...
    wait_for(
        "all 50 CRs re-planned as skip",
        Duration::from_secs(120),
        || (l.skipped_since(log_lines).len() == N).then_some(()),
    );
    let recheck_secs = restarted.elapsed().as_secs_f64();
    // ...with no helm process started, and all still Ready
    assert_eq!(
        l.helm_calls().len(),
        N,
        "helm processes after restart: {:?}",
        &l.helm_calls()[N..]
    );
    assert_eq!(ready_widgets(&t), N);
    println!("steady-state: {N} CRs installed in {install_secs:.1}s; restart re-checked all in {recheck_secs:.1}s with 0 helm processes");
}
