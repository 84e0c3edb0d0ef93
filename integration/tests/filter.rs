//! The original's opt-in filter: only CRs carrying the annotation are acted on.
//! All four transitions: added, kept, removed, absent.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs, FINALIZER};
use serde_json::json;

const KEY: &str = "lostromos.dev/managed";

#[test]
fn filter_annotation_transitions() {
    let t = TestNs::new("filter");
    let l = Lostromos::start(&t, &chart("configmap"), &["--filter-annotation", KEY]);

    // absent: nothing happens to it, while an annotated CR next to it is installed
    t.apply_widget("plain", json!({"a": 1}));
    t.apply_widget_meta(
        "opted",
        json!({"a": 1}),
        json!({"annotations": {KEY: "yes"}}),
    );
    t.wait_ready("opted");
    let plain = t.widget("plain").unwrap();
    assert!(plain["metadata"]["finalizers"].is_null(), "{plain}");
    assert!(plain["status"].is_null(), "{plain}");
    assert_eq!(t.release("plain"), None);
    assert_eq!(
        l.helm_calls(),
        ["upgrade"],
        "only the annotated CR ran helm"
    );

    // added: install
    t.kubectl(&["annotate", "widget", "plain", &format!("{KEY}=now")])
        .unwrap();
    let w = t.wait_ready("plain");
    assert_eq!(w["status"]["release"]["revision"], 1);

    // kept: a spec change upgrades as usual
    t.apply_widget_meta(
        "plain",
        json!({"a": 2}),
        json!({"annotations": {KEY: "now"}}),
    );
    let w = t.wait_ready("plain");
    assert_eq!(w["status"]["release"]["revision"], 2);
    assert_eq!(t.released_values("plain"), Some(json!({"a": 2})));

    // removed: uninstall, release the finalizer, the CR stays
    t.kubectl(&["annotate", "widget", "plain", &format!("{KEY}-")])
        .unwrap();
    wait_for(
        "the release to be uninstalled",
        Duration::from_secs(60),
        || t.release("plain").is_none().then_some(()),
    );
    let w = wait_for("the finalizer to go", Duration::from_secs(30), || {
        t.widget("plain").filter(|w| {
            !w["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
        })
    });
    assert!(
        w["metadata"]["deletionTimestamp"].is_null(),
        "the CR itself stays"
    );
    let ready = t.condition("plain", "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "NotManaged");
    // the other CR was never touched
    assert_eq!(t.release("opted"), Some((1, "deployed".into())));
}
