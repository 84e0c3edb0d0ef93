//! A release belongs to exactly one CR, and a release Lostrómos did not
//! install is never touched.

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

/// Waits for `Stalled=True` with reason `ReleaseConflict` and returns its message.
fn conflict(t: &TestNs, name: &str) -> String {
    let c = wait_for(
        &format!("{name} to report a ReleaseConflict"),
        Duration::from_secs(60),
        || {
            t.condition(name, "Stalled")
                .filter(|c| c["status"] == "True" && c["reason"] == "ReleaseConflict")
        },
    );
    c["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_release_installed_by_hand_is_refused_and_never_touched() {
    let t = TestNs::new("foreign");
    t.helm(&[
        "install",
        "handmade",
        &chart("schema"),
        "--set",
        "name=mine",
    ])
    .unwrap();
    let _l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("handmade", json!({"name": "theirs"}));

    let message = conflict(&t, "handmade");
    for part in [
        "release handmade",
        &t.ns,
        "(chart schema-0.1.0)",
        "not installed by Lostrómos",
        "helm uninstall handmade",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    let events = t.events("handmade");
    assert!(
        events
            .iter()
            .any(|(ty, reason, _)| ty == "Warning" && reason == "ReleaseConflict"),
        "{events:?}"
    );
    assert_eq!(t.release("handmade"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("handmade").map(|v| v["name"].clone()),
        Some(json!("mine"))
    );

    // deleting the CR lets it go and leaves the release alone
    t.kubectl(&["delete", "widget", "handmade", "--wait=false"])
        .unwrap();
    wait_for("the CR to be gone", Duration::from_secs(60), || {
        t.widget("handmade").is_none().then_some(())
    });
    assert_eq!(t.release("handmade"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("handmade").map(|v| v["name"].clone()),
        Some(json!("mine"))
    );
}

/// A CR whose name is too long for a release gets a hashed release name; a
/// second CR named exactly that hash maps to the same release. It must neither
/// upgrade nor uninstall the first CR's release.
#[test]
fn a_cr_named_like_anothers_hashed_release_cannot_take_it() {
    let t = TestNs::new("collide");
    let l = Lostromos::start(&t, &chart("configmap"), &["--log-format", "json"]);
    let long = format!("longalias-{}", "q".repeat(60));
    t.apply_widget(&long, json!({"owner": "first"}));
    let first = t.wait_ready(&long);
    let release = first["status"]["release"]["name"]
        .as_str()
        .expect("a release name")
        .to_owned();
    assert_ne!(release, long, "the long name is shortened");

    t.apply_widget(&release, json!({"owner": "second"}));
    let message = conflict(&t, &release);
    assert!(
        message.contains(&format!("belongs to {}", t.ns)),
        "{message}"
    );
    assert_eq!(t.release(&release), Some((1, "deployed".into())));
    assert_eq!(t.released_values(&release), Some(json!({"owner": "first"})));

    t.kubectl(&["delete", "widget", &release, "--wait=false"])
        .unwrap();
    wait_for("the second CR to be gone", Duration::from_secs(60), || {
        t.widget(&release).is_none().then_some(())
    });
    assert_eq!(t.release(&release), Some((1, "deployed".into())));
    assert_eq!(t.released_values(&release), Some(json!({"owner": "first"})));
    let w = t.wait_ready(&long);
    assert_eq!(w["status"]["release"]["revision"], 1);
    // no helm process ran for the second CR
    let upgrades = l.helm_calls().iter().filter(|c| *c == "upgrade").count();
    assert_eq!(upgrades, 1, "{:?}", l.helm_calls());
}

#[test]
fn a_release_of_the_previous_version_is_kept_and_restamped_once() {
    // a release stamped the way Lostrómos did before the owner label
    let t = TestNs::new("restamp");
    let ns = t.ns.clone();
    t.helm(&[
        "install",
        "legacy",
        &chart("configmap"),
        "--set",
        "a=1",
        "--labels",
        &format!("lostromos.dev/cr-name=legacy,lostromos.dev/cr-namespace={ns}"),
    ])
    .unwrap();
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("legacy", json!({"a": 1}));
    let w = t.wait_ready("legacy");
    assert_eq!(
        w["status"]["release"]["revision"], 2,
        "one upgrade to stamp it"
    );
    let labels: Value = serde_json::from_str(
        &t.kubectl(&[
            "get",
            "secret",
            "sh.helm.release.v1.legacy.v2",
            "-o",
            "jsonpath={.metadata.labels}",
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(labels["lostromos.dev/owner"].is_string(), "{labels}");
    assert_eq!(l.helm_calls(), ["upgrade"]);
}
