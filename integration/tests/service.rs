//! Running as a service: health, readiness, metrics and the original's /status;
//! leader election between two replicas; graceful shutdown.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs};
use serde_json::json;

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?
        .rsplit(' ')
        .next()?
        .parse()
        .ok()
}

#[test]
fn health_status_and_metrics_endpoints() {
    let t = TestNs::new("http");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    assert_eq!(l.http_get("/healthz").0, 200);
    wait_for("/readyz to answer 200", Duration::from_secs(30), || {
        (l.http_get("/readyz").0 == 200).then_some(())
    });
    let (code, body) = l.http_get("/status");
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        json!({"success": true})
    );

    t.apply_widget("m", json!({"a": 1}));
    t.wait_ready("m");
    t.apply_widget("m", json!({"a": 2}));
    t.wait_ready("m");
    let (code, body) = l.http_get("/metrics");
    assert_eq!(code, 200);
    assert_eq!(metric(&body, "releases_create_total"), Some(1.0), "{body}");
    assert_eq!(metric(&body, "releases_update_total"), Some(1.0), "{body}");
    assert_eq!(metric(&body, "releases_total"), Some(1.0), "{body}");
    assert_eq!(
        metric(&body, "lostromos_releases{status=\"deployed\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        metric(
            &body,
            "lostromos_helm_processes_total{kind=\"widgets.test.lostromos.dev\",action=\"upgrade\",result=\"ok\"}"
        ),
        Some(2.0),
        "{body}"
    );
    assert!(metric(&body, "releases_last_create_timestamp_utc_seconds").unwrap() > 1.7e9);
    assert!(metric(&body, "releases_events_total").unwrap() >= 2.0);
    assert!(
        body.contains("lostromos_reconcile_duration_seconds_bucket"),
        "{body}"
    );

    t.kubectl(&["delete", "widget", "m", "--wait=false"])
        .unwrap();
    wait_for("the CR to be gone", Duration::from_secs(60), || {
        t.widget("m").is_none().then_some(())
    });
    let body = l.http_get("/metrics").1;
    assert_eq!(metric(&body, "releases_delete_total"), Some(1.0), "{body}");
    assert_eq!(metric(&body, "releases_total"), Some(0.0), "{body}");
}

#[test]
fn only_the_leader_runs_helm_and_a_standby_takes_over() {
    let t = TestNs::new("leader");
    let args = [
        "--leader-elect",
        "--lease-namespace",
        &t.ns,
        "--lease-name",
        "widgets",
        "--lease-duration",
        "4s",
    ];
    let a = Lostromos::start(&t, &chart("configmap"), &args);
    let b = Lostromos::start(&t, &chart("configmap"), &args);
    t.apply_widget("one", json!({"n": 1}));
    t.wait_ready("one");
    let leads = |l: &Lostromos| l.logs().lines().any(|line| line.contains(" leading "));
    assert_eq!(
        a.http_get("/readyz").0,
        200,
        "a replica is ready, leading or not"
    );
    assert_eq!(
        b.http_get("/readyz").0,
        200,
        "a replica is ready, leading or not"
    );
    let (mut leader, standby) = if leads(&a) { (a, b) } else { (b, a) };
    assert!(leads(&leader));
    assert!(
        standby.helm_calls().is_empty(),
        "the standby ran helm: {:?}",
        standby.helm_calls()
    );

    // kill the leader without a chance to release the lease: the standby waits
    // out the lease and takes over
    leader.kill();
    t.apply_widget("two", json!({"n": 2}));
    t.wait_ready("two");
    assert!(leads(&standby), "{}", standby.logs());
    assert!(
        standby.helm_calls().contains(&"upgrade".to_owned()),
        "{}",
        standby.logs()
    );
}

#[test]
fn sigterm_stops_running_helm_without_leaving_it_pending() {
    let t = TestNs::new("shutdown");
    let mut l = Lostromos::start(
        &t,
        &chart("slow"),
        &["--timeout", "120s", "--shutdown-grace", "2s"],
    );
    t.apply_widget("busy", json!({"block": true}));
    wait_for("helm to be mid-install", Duration::from_secs(60), || {
        let (_, status) = t.release("busy")?;
        (status == "pending-install" && !l.running_helms().is_empty()).then_some(())
    });
    let helms = l.running_helms();
    let status = l.terminate(Duration::from_secs(60));
    assert!(status.success(), "exit status {status:?}");
    // helm got SIGTERM after the grace period and marked the release failed
    let (_, release_status) = t.release("busy").expect("release");
    assert_eq!(release_status, "failed");
    for pid in helms {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "helm {pid} survived"
        );
    }
}

#[test]
fn sigterm_lets_running_helm_finish_within_the_grace_period() {
    let t = TestNs::new("drain");
    // helm gives up by itself after 3 s, well inside the 60 s grace
    let mut l = Lostromos::start(
        &t,
        &chart("slow"),
        &["--timeout", "3s", "--shutdown-grace", "60s"],
    );
    t.apply_widget("draining", json!({"block": true}));
    wait_for("helm to be mid-install", Duration::from_secs(60), || {
        let (_, status) = t.release("draining")?;
        (status == "pending-install" && !l.running_helms().is_empty()).then_some(())
    });
    let status = l.terminate(Duration::from_secs(90));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        !l.logs().contains("shutdown grace over"),
        "helm was stopped instead of drained:\n{}",
        l.logs()
    );
    // helm ended on its own (its timeout): the release is not left pending
    let (_, release_status) = t.release("draining").expect("release");
    assert_eq!(release_status, "failed");
}
