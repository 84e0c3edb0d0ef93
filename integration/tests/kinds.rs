//! Several kinds in one process (`--watches`): both lifecycles, one helm
//! concurrency shared by all kinds with a per-kind cap inside it, failures kept
//! to their kind, and a watches file written for Operator SDK's helm-operator.

use std::path::Path;
use std::time::Duration;

use integration::{chart, run_to_exit, wait_for, Lostromos, TestNs, GROUP};
use serde_json::{json, Value};

/// Writes `text` as `watches.yaml` in `dir` and returns its path.
fn watches_file(dir: &Path, text: &str) -> String {
    let path = dir.join("watches.yaml");
    std::fs::write(&path, text).expect("write watches.yaml");
    path.to_string_lossy().into_owned()
}

/// Widgets on chart `widget_chart` and Gadgets on `gadget_chart`, with extra
/// keys for the Widget entry.
fn two_kinds(dir: &Path, widget_chart: &str, widget_extra: &str, gadget_chart: &str) -> String {
    watches_file(
        dir,
        &format!(
            "- group: {GROUP}\n  version: v1\n  kind: Widget\n  chart: {widget_chart}\n{widget_extra}\
             - group: {GROUP}\n  version: v1\n  kind: Gadget\n  chart: {gadget_chart}\n"
        ),
    )
}

fn start(t: &TestNs, watches: &str, extra: &[&str]) -> Lostromos {
    let mut args: Vec<String> = ["run", "--watches", watches, "--namespace", &t.ns]
        .map(str::to_owned)
        .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    Lostromos::start_args(t.cluster.kubeconfig(), args)
}

fn apply_gadget(t: &TestNs, name: &str, spec: Value) {
    let obj = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Gadget",
        "metadata": {"name": name, "namespace": t.ns}, "spec": spec,
    });
    t.apply(&obj.to_string());
}

/// A condition of a CR of `kind` (`widget`, `gadget`).
fn condition(t: &TestNs, kind: &str, name: &str, type_: &str) -> Option<Value> {
    t.object(kind, name)?["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

fn wait_condition(t: &TestNs, kind: &str, name: &str, type_: &str, reason: &str) -> Value {
    wait_for(
        &format!("{kind} {name}: {type_} with reason {reason}"),
        Duration::from_secs(90),
        || {
            condition(t, kind, name, type_)
                .filter(|c| c["status"] == "True" && c["reason"] == reason)
        },
    )
}

fn wait_ready(t: &TestNs, kind: &str, name: &str) {
    wait_for(
        &format!("{kind} {name} Ready"),
        Duration::from_secs(90),
        || {
            let o = t.object(kind, name)?;
            let ready = o["status"]["conditions"].as_array()?.iter().any(|c| {
                c["type"] == "Ready"
                    && c["status"] == "True"
                    && c["observedGeneration"] == o["metadata"]["generation"]
            });
            ready.then_some(())
        },
    );
}

/// Waits until `count` helm runs of kind `plural` wait for a slot.
fn wait_waiting(l: &Lostromos, plural: &str, count: u64) {
    let series = format!("lostromos_helm_waiting{{kind=\"{plural}.{GROUP}\"}} {count}");
    wait_for(&series, Duration::from_secs(60), || {
        let (_, metrics) = l.http_get("/metrics");
        metrics.lines().any(|m| m == series).then_some(())
    });
}

fn installs(l: &Lostromos) -> usize {
    l.helm_calls().iter().filter(|c| *c == "upgrade").count()
}

#[test]
fn one_helm_slot_is_shared_by_both_kinds() {
    let t = TestNs::new("kinds-shared");
    let dir = tempfile::tempdir().unwrap();
    let w = two_kinds(
        dir.path(),
        &chart("slow"),
        "  timeout: 10m\n",
        &chart("configmap"),
    );
    let l = start(&t, &w, &["--concurrency", "1"]);
    // a Widget's helm holds the only slot, waiting for its hook Job
    t.apply_widget("w1", json!({"block": true}));
    wait_for("w1's hook Job", Duration::from_secs(60), || {
        t.object("job", "w1-block")
    });
    apply_gadget(&t, "g1", json!({"color": "blue"}));
    // the Gadget has decided to install and waits for the slot: its helm has not started
    wait_waiting(&l, "gadgets", 1);
    assert_eq!(installs(&l), 1, "a Gadget's helm ran beside the Widget's");
    assert!(t.object("configmap", "g1-values").is_none());
    // the Job is done: the Widget's helm ends, and the Gadget's takes the slot
    t.job_complete("w1-block");
    wait_ready(&t, "widget", "w1");
    wait_ready(&t, "gadget", "g1");
    assert_eq!(installs(&l), 2);
    let values: Value = serde_json::from_str(
        t.object("configmap", "g1-values").unwrap()["data"]["values.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(values, json!({"color": "blue"}));
}

#[test]
fn max_concurrent_reconciles_caps_one_kind_only() {
    let t = TestNs::new("kinds-cap");
    let dir = tempfile::tempdir().unwrap();
    let w = two_kinds(
        dir.path(),
        &chart("slow"),
        "  timeout: 10m\n  maxConcurrentReconciles: 1\n",
        &chart("configmap"),
    );
    let l = start(&t, &w, &["--concurrency", "4"]);
    t.apply_widget("w1", json!({"block": true}));
    wait_for("w1's hook Job", Duration::from_secs(60), || {
        t.object("job", "w1-block")
    });
    t.apply_widget("w2", json!({"block": true}));
    wait_waiting(&l, "widgets", 1);
    // free slots, but not for Widgets: only the Gadget runs
    apply_gadget(&t, "g1", json!({}));
    wait_ready(&t, "gadget", "g1");
    assert_eq!(installs(&l), 2, "two Widgets ran at once despite the cap");
    assert!(t.object("job", "w2-block").is_none());
    t.job_complete("w1-block");
    wait_ready(&t, "widget", "w1");
    t.job_complete("w2-block");
    wait_ready(&t, "widget", "w2");
    assert_eq!(installs(&l), 3);
}

#[test]
fn each_kind_lives_its_own_life_and_a_shared_release_name_is_a_conflict() {
    let t = TestNs::new("kinds-life");
    let dir = tempfile::tempdir().unwrap();
    let w = two_kinds(dir.path(), &chart("configmap"), "", &chart("schema"));
    let l = start(&t, &w, &[]);
    t.apply_widget("w1", json!({"size": 1}));
    apply_gadget(&t, "bad", json!({"name": "x", "replicas": "many"}));
    apply_gadget(&t, "good", json!({"name": "x", "replicas": 2}));
    // the Gadget the chart's schema refuses stalls; everything else goes on
    wait_condition(&t, "gadget", "bad", "Stalled", "ValuesRejected");
    wait_ready(&t, "widget", "w1");
    wait_ready(&t, "gadget", "good");
    assert!(t.release("bad").is_none());

    // a Widget and a Gadget of one name would share a release: the second is refused
    t.apply_widget("same", json!({"from": "widget"}));
    wait_ready(&t, "widget", "same");
    apply_gadget(&t, "same", json!({"name": "y"}));
    let c = wait_condition(&t, "gadget", "same", "Stalled", "ReleaseConflict");
    assert!(
        c["message"].as_str().unwrap_or("").contains("belongs to"),
        "{c}"
    );
    assert_eq!(t.release("same").map(|r| r.0), Some(1), "the release moved");
    let values: Value = serde_json::from_str(
        t.object("configmap", "same-values").unwrap()["data"]["values.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(values, json!({"from": "widget"}));

    // both kinds' metrics, apart
    let (_, metrics) = l.http_get("/metrics");
    for kind in ["widgets.test.lostromos.dev", "gadgets.test.lostromos.dev"] {
        assert!(
            metrics
                .lines()
                .any(|m| m.starts_with("lostromos_helm_processes_total")
                    && m.contains(&format!("kind=\"{kind}\""))),
            "no helm process counted for {kind}:\n{metrics}"
        );
    }

    // deletions, each by its own kind
    t.kubectl(&["delete", "gadget", "good", "--wait=false"])
        .unwrap();
    t.kubectl(&["delete", "widget", "w1", "--wait=false"])
        .unwrap();
    wait_for(
        "both CRs and releases gone",
        Duration::from_secs(60),
        || {
            (t.object("gadget", "good").is_none()
                && t.object("widget", "w1").is_none()
                && t.release("good").is_none()
                && t.release("w1").is_none())
            .then_some(())
        },
    );
    assert!(t.object("configmap", "w1-values").is_none());
}

#[test]
fn a_watches_file_written_for_helm_operator_runs_unchanged() {
    let t = TestNs::new("kinds-sdk");
    let dir = tempfile::tempdir().unwrap();
    // helm-operator's layout: charts under helm-charts/, named from the working folder
    let charts = dir.path().join("helm-charts");
    std::fs::create_dir(&charts).unwrap();
    copy_dir(Path::new(&chart("configmap")), &charts.join("widget"));
    let w = watches_file(
        dir.path(),
        &format!(
            r#"---
# Use the 'create api' subcommand to add watches to this file.
- group: {GROUP}
  version: v1
  kind: Widget
  chart: helm-charts/widget
  overrideValues:
    image.repository: $RELATED_IMAGE_WIDGET
    image.tag: "1.27"
# +kubebuilder:scaffold:watch
"#
        ),
    );
    let args: Vec<String> = ["run", "--watches", "watches.yaml", "--namespace", &t.ns]
        .map(str::to_owned)
        .into();
    let _l = Lostromos::start_in(
        t.cluster.kubeconfig(),
        args,
        Some(dir.path()),
        &[("RELATED_IMAGE_WIDGET", "quay.io/example/widget")],
    );
    assert!(Path::new(&w).exists());
    t.apply_widget(
        "web",
        json!({"image": {"repository": "mine", "pullPolicy": "Always"}, "replicas": 2}),
    );
    t.wait_ready("web");
    // overrideValues beat the CR, which keeps what they do not set
    assert_eq!(
        t.released_values("web"),
        Some(json!({
            "image": {"repository": "quay.io/example/widget", "tag": "1.27", "pullPolicy": "Always"},
            "replicas": 2,
        }))
    );
}

#[test]
fn every_entrys_problems_are_listed_at_once() {
    let t = TestNs::new("kinds-bad");
    let dir = tempfile::tempdir().unwrap();
    let w = watches_file(
        dir.path(),
        &format!(
            "- {{group: {GROUP}, version: v1, kind: Widget, chart: ./no-such-chart}}\n\
             - {{group: {GROUP}, version: v1, kind: Sprocket, chart: {}}}\n\
             - {{group: {GROUP}, version: v1, kind: Gadget, chart: {}, chrat: x}}\n",
            chart("configmap"),
            chart("configmap"),
        ),
    );
    let kubeconfig = t.cluster.kubeconfig().to_string_lossy().into_owned();
    // the file's own problems first, before anything starts
    let out = run_to_exit(
        &["run", "--watches", &w, "--kubeconfig", &kubeconfig],
        &[],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    for part in [
        "entry 1 (kind Widget): --chart ./no-such-chart: no such file or directory",
        "entry 3 (kind Gadget): unknown key `chrat`; fix: did you mean `chart`?",
    ] {
        assert!(out.stderr.contains(part), "{part:?} in\n{}", out.stderr);
    }
    // then what only the API server knows, for every kind at once
    let w = watches_file(
        dir.path(),
        &format!(
            "- {{group: {GROUP}, version: v1, kind: Sprocket, chart: {c}}}\n\
             - {{group: {GROUP}, version: v2, kind: Gadget, chart: {c}}}\n\
             - {{group: {GROUP}, version: v1, kind: Widget, chart: {c}}}\n",
            c = chart("configmap"),
        ),
    );
    let out = run_to_exit(
        &[
            "run",
            "--watches",
            &w,
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &t.ns,
            "--listen",
            "127.0.0.1:0",
            "--helm-binary",
            &integration::helm_binary().to_string_lossy(),
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(!out.status.success());
    for part in [
        "2 of the watched kinds cannot start",
        "kind Sprocket (test.lostromos.dev/v1)",
        "kind Gadget (test.lostromos.dev/v2)",
    ] {
        assert!(out.stderr.contains(part), "{part:?} in\n{}", out.stderr);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
