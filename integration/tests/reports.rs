//! What Lostrómos says about a CR: once per change, for every CR it cannot act
//! on, however odd, and never a failure for a normal delete.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs};
use serde_json::json;

/// Lines of the log that mention `cr` and contain `needle`.
fn lines_with(l: &Lostromos, cr: &str, needle: &str) -> usize {
    l.logs()
        .lines()
        .filter(|line| line.contains(cr) && line.contains(needle))
        .count()
}

/// The value of one counter of `/metrics`, e.g. `lostromos_failures_total{kind=\"widgets.test.lostromos.dev\",reason="InvalidSpec"}`.
fn metric(l: &Lostromos, series: &str) -> Option<f64> {
    l.http_get("/metrics")
        .1
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_rejection_is_logged_and_counted_once_per_change() {
    let t = TestNs::new("once");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    let key = format!("{}/five", t.ns);
    t.apply_widget("five", json!(5));
    // the finalizer patch wakes it a second time: wait for that decision
    wait_for(
        "the second look at the rejected CR",
        Duration::from_secs(60),
        || (lines_with(&l, &key, "rejection already reported") > 0).then_some(()),
    );
    assert_eq!(
        lines_with(&l, &key, "not acting on the CR"),
        1,
        "{}",
        l.logs()
    );
    assert_eq!(
        metric(
            &l,
            "lostromos_failures_total{kind=\"widgets.test.lostromos.dev\",reason=\"InvalidSpec\"}"
        ),
        Some(1.0)
    );
    let events: Vec<_> = t
        .events("five")
        .into_iter()
        .filter(|(_, reason, _)| reason == "InvalidSpec")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");

    // a change that is still wrong is reported again, once
    t.apply_widget("five", json!("six"));
    wait_for("the new rejection", Duration::from_secs(60), || {
        (lines_with(&l, &key, "not acting on the CR") == 2).then_some(())
    });
    assert_eq!(
        metric(
            &l,
            "lostromos_failures_total{kind=\"widgets.test.lostromos.dev\",reason=\"InvalidSpec\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn a_forced_recheck_logs_what_was_decided() {
    let t = TestNs::new("recheck");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("calm", json!({"a": 1}));
    t.wait_ready("calm");
    let key = format!("{}/calm", t.ns);
    t.kubectl(&["annotate", "widget", "calm", "lostromos.dev/recheck=1"])
        .unwrap();
    let line = wait_for("the re-check's decision", Duration::from_secs(60), || {
        l.logs()
            .lines()
            .find(|line| line.contains(&key) && line.contains("up to date, nothing to do"))
            .map(str::to_owned)
    });
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("skip"), "{line}");
    assert_eq!(l.helm_calls(), ["upgrade"]);
}

#[test]
fn a_normal_delete_leaves_no_failure() {
    let t = TestNs::new("clean-delete");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("bye", json!({"a": 1}));
    t.wait_ready("bye");
    t.kubectl(&["delete", "widget", "bye"]).unwrap();
    wait_for(
        "the uninstall to be counted",
        Duration::from_secs(60),
        || (metric(&l, "releases_delete_total") == Some(1.0)).then_some(()),
    );
    assert_eq!(t.widget("bye"), None);
    let logs = l.logs();
    assert!(!logs.contains("reconcile failed"), "{logs}");
    assert!(!logs.lines().any(|line| line.contains(" WARN ")), "{logs}");
    assert_eq!(metric(&l, "lostromos_failures_total"), None);
}

#[test]
fn a_spec_nested_too_deep_is_reported_and_others_go_on() {
    let t = TestNs::new("deep");
    let mut l = Lostromos::start(&t, &chart("configmap"), &[]);
    // 200 levels: more than serde_json (and so kube's decoding) reads
    let spec = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    let cr = format!(
        r#"{{"apiVersion":"test.lostromos.dev/v1","kind":"Widget","metadata":{{"name":"deep","namespace":"{}"}},"spec":{spec}}}"#,
        t.ns
    );
    t.apply(&cr);
    // the test cannot parse the whole CR either: read its status alone
    let stalled = wait_for("deep to be reported", Duration::from_secs(60), || {
        let status = t
            .kubectl(&["get", "widget", "deep", "-o", "jsonpath={.status}"])
            .ok()?;
        let status: serde_json::Value = serde_json::from_str(&status).ok()?;
        status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Stalled" && c["status"] == "True")
            .cloned()
    });
    assert_eq!(stalled["reason"], "InvalidSpec");
    let message = stalled["message"].as_str().unwrap_or_default();
    assert!(message.contains("nested more than 128 levels"), "{message}");
    let events = t.events("deep");
    assert!(
        events
            .iter()
            .any(|(ty, reason, _)| ty == "Warning" && reason == "InvalidSpec"),
        "{events:?}"
    );
    assert_eq!(t.release("deep"), None);

    // others are unaffected, also after a restart (a fresh list holds it)
    t.apply_widget("shallow", json!({"a": 1}));
    t.wait_ready("shallow");
    l.kill();
    l.restart();
    t.apply_widget("after", json!({"b": 2}));
    t.wait_ready("after");
    assert_eq!(t.release("after"), Some((1, "deployed".into())));
}

#[test]
fn a_cr_with_a_253_character_name_gets_its_events() {
    let t = TestNs::new("longname");
    let _l = Lostromos::start(&t, &chart("configmap"), &["--routine-events"]);
    let name = format!("{}.x", "n".repeat(251));
    assert_eq!(name.len(), 253);
    t.apply_widget(&name, json!({"a": 1}));
    t.wait_ready(&name);
    let events = wait_for("the Installed event", Duration::from_secs(30), || {
        let events = t.events(&name);
        events
            .iter()
            .any(|(_, reason, _)| reason == "Installed")
            .then_some(events)
    });
    assert!(events.iter().all(|(ty, _, _)| ty == "Normal"), "{events:?}");
}
