//! The original's per-CR chart annotation: off unless the operator allows it,
//! and then only for charts under the allowed prefixes.

use std::time::Duration;

use integration::{chart, repo_root, wait_for, Lostromos, TestNs};
use serde_json::json;

const KEY: &str = "lostromos.dev/chart";

#[test]
fn crs_pick_allowed_charts_by_annotation() {
    let t = TestNs::new("chart-pick");
    let allowed = repo_root()
        .join("integration/charts")
        .to_string_lossy()
        .into_owned()
        + "/";
    let _l = Lostromos::start(
        &t,
        &chart("configmap"),
        &["--chart-annotation", KEY, "--allowed-chart", &allowed],
    );

    t.apply_widget("default", json!({"name": "d"}));
    t.apply_widget_meta(
        "picked",
        json!({"name": "p", "replicas": 2}),
        json!({"annotations": {KEY: chart("schema")}}),
    );
    t.apply_widget_meta(
        "refused",
        json!({"name": "r"}),
        json!({"annotations": {KEY: "/etc/charts/anything"}}),
    );

    assert_eq!(
        t.wait_ready("default")["status"]["release"]["chart"],
        "configmap-0.1.0"
    );
    assert_eq!(
        t.wait_ready("picked")["status"]["release"]["chart"],
        "schema-0.1.0"
    );
    let stalled = wait_for(
        "the refused chart to be reported",
        Duration::from_secs(60),
        || {
            t.condition("refused", "Stalled")
                .filter(|c| c["status"] == "True")
        },
    );
    assert_eq!(stalled["reason"], "ChartNotAllowed");
    assert_eq!(t.release("refused"), None);

    // switching the annotation moves the release to the other chart
    t.apply_widget_meta(
        "picked",
        json!({"name": "p", "replicas": 2}),
        json!({"annotations": {KEY: chart("configmap")}}),
    );
    // (annotations do not change the generation: wait for the release itself)
    let w = wait_for(
        "the release on the other chart",
        Duration::from_secs(60),
        || {
            t.widget("picked")
                .filter(|w| w["status"]["release"]["chart"] == "configmap-0.1.0")
        },
    );
    assert_eq!(w["status"]["release"]["revision"], 2);
    assert_eq!(t.release("picked"), Some((2, "deployed".into())));
}

#[test]
fn chart_annotation_is_ignored_unless_enabled() {
    let t = TestNs::new("chart-off");
    let _l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget_meta(
        "w",
        json!({"a": 1}),
        json!({"annotations": {KEY: chart("schema"), "chart": chart("schema")}}),
    );
    assert_eq!(
        t.wait_ready("w")["status"]["release"]["chart"],
        "configmap-0.1.0"
    );
}
