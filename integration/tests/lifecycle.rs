//! The life of one CR against the real control plane: create, change, re-apply,
//! delete (also while Lostrómos is down), and a release removed by hand.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs, FINALIZER};
use serde_json::json;

#[test]
fn create_installs_with_spec_as_values_and_reports_ready() {
    let t = TestNs::new("create");
    let _l = Lostromos::start(&t, &chart("configmap"), &["--routine-events"]);
    t.apply_widget(
        "alpha",
        json!({"color": "blue", "size": 3, "nested": {"list": [1, "two"]}}),
    );

    let w = t.wait_ready("alpha");
    assert_eq!(w["status"]["release"]["revision"], 1);
    assert_eq!(w["status"]["release"]["status"], "deployed");
    assert_eq!(w["status"]["release"]["name"], "alpha");
    assert_eq!(
        w["status"]["observedGeneration"],
        w["metadata"]["generation"]
    );
    assert!(w["metadata"]["finalizers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == FINALIZER));
    assert_eq!(t.release("alpha"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("alpha"),
        Some(json!({"color": "blue", "size": 3, "nested": {"list": [1, "two"]}}))
    );
    let events = t.events("alpha");
    assert!(
        events
            .iter()
            .any(|(ty, reason, _)| ty == "Normal" && reason == "Installed"),
        "{events:?}"
    );
}

/// By default an install writes the CR twice: its finalizer, then its status
/// once, when the release is deployed and its objects seen; no Event.
#[test]
fn an_install_writes_the_cr_twice_and_no_routine_event() {
    let t = TestNs::new("writes");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("quiet", json!({"a": 1}));
    t.wait_ready("quiet");
    // the Event is published before the status that says Ready: none came
    assert!(t.events("quiet").is_empty(), "{:?}", t.events("quiet"));
    let (_, metrics) = l.http_get("/metrics");
    let patches = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lostromos_api_requests{verb=\"patch\"} "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert_eq!(
        patches,
        Some(2),
        "finalizer and status, once each:\n{metrics}"
    );
}

#[test]
fn change_upgrades_and_same_spec_does_not() {
    let t = TestNs::new("upgrade");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("beta", json!({"color": "blue"}));
    t.wait_ready("beta");

    t.apply_widget("beta", json!({"color": "green"}));
    let w = t.wait_ready("beta");
    assert_eq!(w["status"]["release"]["revision"], 2);
    assert_eq!(t.release("beta"), Some((2, "deployed".into())));
    assert_eq!(t.released_values("beta"), Some(json!({"color": "green"})));
    let upgrades_before = l.helm_calls().len();

    // Re-applying the same spec, and touching only a label, starts no helm process.
    let from = l.logs().lines().count();
    t.apply_widget("beta", json!({"color": "green"}));
    t.kubectl(&["label", "widget", "beta", "touched=yes"])
        .unwrap();
    // the label wakes the CR (labels are decision inputs): wait for its decision
    let key = format!("{}/beta", t.ns);
    wait_for(
        "the decision on the touched CR",
        Duration::from_secs(30),
        || {
            l.logs()
                .lines()
                .skip(from)
                .any(|line| line.contains(&key) && line.contains("up to date, nothing to do"))
                .then_some(())
        },
    );
    assert_eq!(
        l.helm_calls().len(),
        upgrades_before,
        "helm calls: {:?}",
        l.helm_calls()
    );
    assert_eq!(t.release("beta"), Some((2, "deployed".into())));
}

#[test]
fn delete_uninstalls_and_releases_the_finalizer() {
    let t = TestNs::new("delete");
    let _l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("gamma", json!({"a": 1}));
    t.wait_ready("gamma");

    t.kubectl(&["delete", "widget", "gamma", "--wait=false"])
        .unwrap();
    wait_for("the CR to be gone", Duration::from_secs(60), || {
        t.widget("gamma").is_none().then_some(())
    });
    assert_eq!(t.release("gamma"), None);
    assert!(t
        .kubectl(&["get", "configmap", "gamma-values", "--ignore-not-found"])
        .unwrap()
        .trim()
        .is_empty());
}

#[test]
fn delete_while_stopped_uninstalls_after_restart() {
    let t = TestNs::new("offline-delete");
    let mut l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("delta", json!({"a": 1}));
    t.wait_ready("delta");
    l.kill();

    t.kubectl(&["delete", "widget", "delta", "--wait=false"])
        .unwrap();
    // the finalizer holds the CR (and the release) until Lostrómos is back
    let w = t.widget("delta").expect("CR held by the finalizer");
    assert!(w["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(t.release("delta"), Some((1, "deployed".into())));

    l.restart();
    wait_for("the CR to be gone", Duration::from_secs(60), || {
        t.widget("delta").is_none().then_some(())
    });
    assert_eq!(t.release("delta"), None);
}

#[test]
fn release_uninstalled_by_hand_is_installed_again() {
    let t = TestNs::new("by-hand");
    let _l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("eps", json!({"a": 1}));
    t.wait_ready("eps");

    t.helm(&["uninstall", "eps"]).unwrap();
    wait_for("the release to be back", Duration::from_secs(60), || {
        t.release("eps").filter(|(_, st)| st == "deployed")
    });
    assert_eq!(t.released_values("eps"), Some(json!({"a": 1})));
}

#[test]
fn release_upgraded_by_hand_is_put_back() {
    let t = TestNs::new("drift");
    let _l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("zeta", json!({"a": 1}));
    t.wait_ready("zeta");

    // someone changes the values behind Lostrómos's back (labels carry over)
    t.helm(&[
        "upgrade",
        "zeta",
        &chart("configmap"),
        "--set",
        "a=2",
        "--reuse-values",
    ])
    .unwrap();
    wait_for(
        "the CR's values to be restored",
        Duration::from_secs(60),
        || {
            let (rev, st) = t.release("zeta")?;
            (rev >= 3 && st == "deployed" && t.released_values("zeta") == Some(json!({"a": 1})))
                .then_some(())
        },
    );
}
