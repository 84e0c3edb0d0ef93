//! Nothing changed, nothing runs: with 50 healthy CRs, a restart of Lostrómos
//! starts zero helm processes and every CR stays Ready.

use std::time::{Duration, Instant};

use integration::{chart, ready_widgets, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};
use testenv::Cluster;

const N: usize = 50;

#[test]
fn restart_with_healthy_crs_starts_no_helm_process() {
    let t = TestNs::new("steady");
    install_then_restart(&t, "streamed");
}

/// On an API server that does not stream lists (feature gate `WatchList`
/// off), the watches fall back to paged lists and a restart is the same.
#[test]
fn restart_on_a_server_without_streamed_lists_pages_them_and_starts_no_helm_process() {
    let cluster = Cluster::start_with(&["--feature-gates=WatchList=false"])
        .expect("a cluster of this test's own");
    let t = TestNs::on(&cluster, "paged");
    install_then_restart(&t, "paged");
}

/// N CRs installed, then a restart: each re-checked with no helm process,
/// its lists taken as `lists` says, and every release inventoried again after.
fn install_then_restart(t: &TestNs, lists: &str) {
    let mut l = Lostromos::start(
        t,
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
        (ready_widgets(t) == N).then_some(())
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
    let calls_before = l.all_helm_calls().len();
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
    assert_eq!(ready_widgets(t), N);
    // not even the start-up's render of the chart: its releases exist
    let at_start = l.all_helm_calls().split_off(calls_before);
    assert!(
        !at_start.iter().any(|c| c == "template"),
        "helm at the restart: {at_start:?}"
    );
    // the start asked the API server how it lists; the releases' records are
    // read again after the re-check
    let said: Vec<Value> = l
        .logs()
        .lines()
        .skip(log_lines)
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "initial lists")
        .collect();
    assert_eq!(said.len(), 1, "one probe per start: {said:?}");
    assert_eq!(said[0]["fields"]["lists"], lists, "{said:?}");
    wait_for(
        "every release inventoried again",
        Duration::from_secs(60),
        || (metric(&l, "lostromos_object_releases") == N as u64).then_some(()),
    );
    println!("steady-state: {N} CRs installed in {install_secs:.1}s; restart re-checked all in {recheck_secs:.1}s with 0 helm processes");
}

/// Plays the Deployment controller for every Deployment in the namespace.
fn all_deployments_available(t: &TestNs) {
    let out = t
        .kubectl(&[
            "get",
            "deployments",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .expect("list Deployments");
    for name in out.split_whitespace() {
        t.deployment_available(name);
    }
}

/// A counter or gauge of Lostrómos's /metrics (0 when absent).
fn metric(l: &Lostromos, name: &str) -> u64 {
    let (_, body) = l.http_get("/metrics");
    body.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// With readiness and drift on (a ConfigMap and a Deployment per release),
/// 50 Ready CRs re-checked twice start no helm process, and make no API
/// request but the watches' own: the periodic re-check judges from what the
/// watches hold.
#[test]
fn at_rest_with_object_watches_no_helm_and_no_api_request_per_object() {
    let t = TestNs::new("rest");
    let l = Lostromos::start(
        &t,
        &chart("workload"),
        &["--concurrency", "4", "--reconcile-period", "10s"],
    );
    let items: Vec<Value> = (0..N)
        .map(|i| {
            json!({"apiVersion": "test.lostromos.dev/v1", "kind": "Widget",
                   "metadata": {"name": format!("r-{i:02}"), "namespace": t.ns}, "spec": {}})
        })
        .collect();
    t.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string());
    wait_for("50 releases installed", Duration::from_secs(300), || {
        (t.releases()
            .iter()
            .filter(|(_, _, s)| s == "deployed")
            .count()
            == N)
            .then_some(())
    });
    all_deployments_available(&t);
    wait_for("50 CRs Ready", Duration::from_secs(120), || {
        (ready_widgets(&t) == N).then_some(())
    });
    let requests = |verb: &str| metric(&l, &format!("lostromos_api_requests{{verb=\"{verb}\"}}"));
    let verbs = ["get", "patch", "post", "put", "delete", "watch"];
    let before: Vec<u64> = verbs.iter().map(|v| requests(v)).collect();
    let reconciles = metric(&l, "releases_events_total");
    // the decision signal: two periodic re-checks of every CR
    wait_for(
        "two re-checks of every CR",
        Duration::from_secs(120),
        || (metric(&l, "releases_events_total") >= reconciles + 2 * N as u64).then_some(()),
    );
    let after: Vec<u64> = verbs.iter().map(|v| requests(v)).collect();
    assert_eq!(
        l.helm_calls().len(),
        N,
        "no helm process at rest: {:?}",
        &l.helm_calls()[N..]
    );
    for (i, verb) in verbs.iter().enumerate() {
        let made = after[i] - before[i];
        // a watch the API server ended is resumed (CRs, release Secrets,
        // ConfigMaps, Deployments: four watches); nothing else is sent
        let bound = if *verb == "watch" { 4 } else { 0 };
        assert!(
            made <= bound,
            "{made} {verb} requests at rest (bound {bound}) over {} re-checks",
            2 * N
        );
    }
    assert_eq!(ready_widgets(&t), N);
}
