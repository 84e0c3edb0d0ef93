//! Coming from Operator SDK's helm-operator: with `--adopt-from helm-operator`,
//! a CR carrying its finalizer keeps its release (no uninstall, no reinstall,
//! the objects untouched), gets at most one upgrade that stamps it, and trades
//! helm-operator's finalizer for Lostrómos's. Without the flag, a release
//! Lostrómos did not install is refused and left alone.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs, FINALIZER};
use serde_json::{json, Value};

const SDK_FINALIZER: &str = "helm.sdk.operatorframework.io/uninstall-release";
const SDK_LEGACY_FINALIZER: &str = "uninstall-helm-release";

/// What helm-operator leaves behind: release `name` installed by helm with the
/// CR's spec as its values, and the CR carrying `finalizer`.
fn helm_operators(t: &TestNs, name: &str, spec: &Value, finalizer: &str) {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("values.json");
    std::fs::write(&values, spec.to_string()).unwrap();
    t.helm(&[
        "install",
        name,
        &chart("configmap"),
        "--values",
        &values.to_string_lossy(),
    ])
    .expect("helm install");
    t.apply_widget_meta(name, spec.clone(), json!({"finalizers": [finalizer]}));
}

fn finalizers(t: &TestNs, name: &str) -> Vec<String> {
    t.widget(name)
        .and_then(|w| {
            w["metadata"]["finalizers"].as_array().map(|f| {
                f.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn uid(t: &TestNs, kind: &str, name: &str) -> String {
    t.object(kind, name).expect(name)["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn helm_operators_releases_are_adopted_in_place_and_later_uninstalled_once() {
    let t = TestNs::new("adopt");
    let spec = json!({"color": "red", "size": 2});
    helm_operators(&t, "current", &spec, SDK_FINALIZER);
    helm_operators(
        &t,
        "legacy",
        &json!({"color": "blue"}),
        SDK_LEGACY_FINALIZER,
    );
    let objects = [
        uid(&t, "configmap", "current-values"),
        uid(&t, "configmap", "legacy-values"),
    ];

    let mut l = Lostromos::start(
        &t,
        &chart("configmap"),
        &["--adopt-from", "helm-operator", "--log-format", "json"],
    );
    for name in ["current", "legacy"] {
        wait_for(
            &format!("{name} to carry only Lostrómos's finalizer"),
            Duration::from_secs(90),
            || (finalizers(&t, name) == [FINALIZER]).then_some(()),
        );
        t.wait_ready(name);
        // one upgrade stamped it; nothing was uninstalled or installed again
        assert_eq!(t.release(name), Some((2, "deployed".to_owned())), "{name}");
    }
    assert_eq!(
        [
            uid(&t, "configmap", "current-values"),
            uid(&t, "configmap", "legacy-values"),
        ],
        objects,
        "an adopted release's objects were replaced"
    );
    assert_eq!(t.released_values("current"), Some(spec));
    assert!(
        t.events("current")
            .iter()
            .any(|(_, reason, note)| reason == "Adopted" && note.contains("helm-operator")),
        "{:?}",
        t.events("current")
    );
    let upgrades = l.helm_calls().iter().filter(|c| *c == "upgrade").count();
    assert_eq!(upgrades, 2, "{:?}", l.helm_calls());

    // a restart finds them Lostrómos's own: no helm at all
    l.kill();
    let from = l.logs().lines().count();
    l.restart();
    wait_for(
        "the re-check after the restart",
        Duration::from_secs(60),
        || (l.skipped_since(from).len() == 2).then_some(()),
    );
    assert_eq!(l.helm_calls().len(), 2, "{:?}", l.helm_calls());

    // deleting the CR uninstalls once and lets it go
    t.kubectl(&["delete", "widget", "current", "--wait=false"])
        .unwrap();
    wait_for("current gone", Duration::from_secs(60), || {
        (t.widget("current").is_none() && t.release("current").is_none()).then_some(())
    });
    assert!(t.object("configmap", "current-values").is_none());
    let uninstalls = l.helm_calls().iter().filter(|c| *c == "uninstall").count();
    assert_eq!(uninstalls, 1, "{:?}", l.helm_calls());
    assert_eq!(t.release("legacy").map(|r| r.0), Some(2));
}

#[test]
fn a_cr_deleted_before_its_adoption_is_uninstalled_and_let_go() {
    let t = TestNs::new("adopt-del");
    helm_operators(&t, "gone", &json!({"color": "red"}), SDK_FINALIZER);
    // deleted while neither operator runs: helm-operator's finalizer holds it
    t.kubectl(&["delete", "widget", "gone", "--wait=false"])
        .unwrap();
    assert!(t.widget("gone").is_some());
    let l = Lostromos::start(&t, &chart("configmap"), &["--adopt-from", "helm-operator"]);
    wait_for(
        "gone and its release uninstalled",
        Duration::from_secs(60),
        || (t.widget("gone").is_none() && t.release("gone").is_none()).then_some(()),
    );
    assert_eq!(l.helm_calls(), ["uninstall"]);
}

#[test]
fn without_the_flag_a_release_lostromos_did_not_install_is_refused_and_untouched() {
    let t = TestNs::new("adopt-off");
    // by hand, with no CR behind it, and one helm-operator left
    t.helm(&[
        "install",
        "handmade",
        &chart("configmap"),
        "--set",
        "color=green",
    ])
    .unwrap();
    helm_operators(&t, "sdk", &json!({"color": "red"}), SDK_FINALIZER);
    let cm = uid(&t, "configmap", "handmade-values");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("handmade", json!({"color": "blue"}));
    for name in ["handmade", "sdk"] {
        let c = wait_for(
            &format!("{name} refused as ReleaseConflict"),
            Duration::from_secs(60),
            || {
                t.condition(name, "Stalled")
                    .filter(|c| c["status"] == "True" && c["reason"] == "ReleaseConflict")
            },
        );
        let message = c["message"].as_str().unwrap_or("");
        assert!(message.contains("not installed by Lostrómos"), "{message}");
        assert!(message.contains("(chart configmap-0.1.0)"), "{message}");
    }
    // untouched: same revision, same values, same object; helm-operator's
    // finalizer stays for helm-operator
    assert_eq!(t.release("handmade"), Some((1, "deployed".to_owned())));
    assert_eq!(t.release("sdk"), Some((1, "deployed".to_owned())));
    assert_eq!(
        t.released_values("handmade"),
        Some(json!({"color": "green"}))
    );
    assert_eq!(uid(&t, "configmap", "handmade-values"), cm);
    assert!(finalizers(&t, "sdk").contains(&SDK_FINALIZER.to_owned()));
    assert!(l.helm_calls().is_empty(), "{:?}", l.helm_calls());
}
