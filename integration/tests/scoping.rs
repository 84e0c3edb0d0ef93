//! Which CRs are watched and where their releases go: cluster-scoped CRs,
//! release prefix and namespace, long names, label selectors, several namespaces.

use std::time::Duration;

use integration::{chart, wait_for, widget_args, Lostromos, TestNs, GROUP};
use serde_json::{json, Value};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn cluster_scoped_crs_release_into_the_release_namespace() {
    let t = TestNs::new("cluster-scoped");
    let name = format!("cw-{}", t.ns);
    let _l = Lostromos::start_args(
        t.cluster.kubeconfig(),
        args(&[
            "run",
            "--group",
            GROUP,
            "--version",
            "v1",
            "--kind",
            "clusterwidgets",
            "--chart",
            &chart("configmap"),
            "--release-namespace",
            &t.ns,
            "--selector",
            &format!("test-ns={}", t.ns),
        ]),
    );
    let cr = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterWidget",
        "metadata": {"name": name, "labels": {"test-ns": t.ns}}, "spec": {"scope": "cluster"}});
    t.cluster
        .kubectl_stdin(["apply", "-f", "-"], &cr.to_string())
        .unwrap();
    let get = || -> Option<Value> {
        serde_json::from_str(
            &t.cluster
                .kubectl(["get", "clusterwidget", &name, "-o", "json"])
                .ok()?,
        )
        .ok()
    };
    let w = wait_for("ClusterWidget Ready", Duration::from_secs(60), || {
        get().filter(|w| {
            w["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    });
    assert_eq!(w["status"]["release"]["namespace"], t.ns.as_str());
    assert_eq!(t.released_values(&name), Some(json!({"scope": "cluster"})));

    t.cluster
        .kubectl(["delete", "clusterwidget", &name, "--wait=false"])
        .unwrap();
    wait_for("ClusterWidget gone", Duration::from_secs(60), || {
        get().is_none().then_some(())
    });
    assert_eq!(t.release(&name), None);
}

#[test]
fn cluster_scoped_without_release_namespace_fails_at_start() {
    let t = TestNs::new("cluster-no-ns");
    let mut l = Lostromos::start_args(
        t.cluster.kubeconfig(),
        args(&[
            "run",
            "--group",
            GROUP,
            "--version",
            "v1",
            "--kind",
            "ClusterWidget",
            "--chart",
            &chart("configmap"),
        ]),
    );
    let status = wait_for("lostromos to exit", Duration::from_secs(30), || l.exited());
    assert!(!status.success());
    assert!(l.logs().contains("--release-namespace"), "{}", l.logs());
}

#[test]
fn prefix_and_long_names_give_valid_deterministic_releases() {
    let t = TestNs::new("names");
    let _l = Lostromos::start(&t, &chart("configmap"), &["--release-prefix", "tenant"]);
    let long = format!("a-very-long-widget-name-{}", "x".repeat(40));
    t.apply_widget("short", json!({"a": 1}));
    t.apply_widget(&long, json!({"a": 2}));
    let w = t.wait_ready("short");
    assert_eq!(w["status"]["release"]["name"], "tenant-short");
    assert_eq!(t.release("tenant-short"), Some((1, "deployed".into())));

    let w = t.wait_ready(&long);
    let release = w["status"]["release"]["name"].as_str().unwrap().to_owned();
    assert!(release.len() <= 53, "{release}");
    assert!(
        release.starts_with("tenant-a-very-long-widget-name-"),
        "{release}"
    );
    assert_eq!(t.release(&release), Some((1, "deployed".into())));

    // its labels cannot hold the CR's name, yet a release removed by hand is still noticed
    t.helm(&["uninstall", &release]).unwrap();
    wait_for(
        "the long-named release to be back",
        Duration::from_secs(60),
        || t.release(&release).filter(|(_, st)| st == "deployed"),
    );
}

#[test]
fn selector_limits_the_watched_crs() {
    let t = TestNs::new("selector");
    let l = Lostromos::start(&t, &chart("configmap"), &["--selector", "team=blue"]);
    t.apply_widget_meta("other", json!({"a": 1}), json!({"labels": {"team": "red"}}));
    t.apply_widget_meta("mine", json!({"a": 1}), json!({"labels": {"team": "blue"}}));
    t.wait_ready("mine");
    assert_eq!(t.release("other"), None);
    assert!(t.widget("other").unwrap()["metadata"]["finalizers"].is_null());
    assert_eq!(l.helm_calls(), ["upgrade"]);
}

#[test]
fn several_namespaces_are_watched_and_no_other() {
    let t = TestNs::new("multi-a");
    let b = t.cluster.create_namespace("multi-b").unwrap();
    let c = t.cluster.create_namespace("multi-c").unwrap();
    let _l = Lostromos::start_args(
        t.cluster.kubeconfig(),
        widget_args(&[&t.ns, &b], &chart("configmap")),
    );
    let put = |ns: &str, name: &str| {
        let obj = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Widget", "metadata": {"name": name, "namespace": ns}, "spec": {"ns": ns}});
        t.cluster
            .kubectl_stdin(["apply", "-f", "-"], &obj.to_string())
            .unwrap();
    };
    put(&c, "ignored");
    put(&t.ns, "in-a");
    put(&b, "in-b");
    t.wait_ready("in-a");
    wait_for(
        "the release in namespace b",
        Duration::from_secs(60),
        || {
            t.cluster
                .kubectl([
                    "-n",
                    &b,
                    "get",
                    "configmap",
                    "in-b-values",
                    "--ignore-not-found",
                ])
                .ok()
                .filter(|o| !o.trim().is_empty())
        },
    );
    let ignored = t
        .cluster
        .kubectl(["-n", &c, "get", "widget", "ignored", "-o", "json"])
        .unwrap();
    let ignored: Value = serde_json::from_str(&ignored).unwrap();
    assert!(ignored["metadata"]["finalizers"].is_null(), "{ignored}");
    assert!(t
        .cluster
        .kubectl([
            "-n",
            &c,
            "get",
            "configmap",
            "ignored-values",
            "--ignore-not-found"
        ])
        .unwrap()
        .trim()
        .is_empty());
}
