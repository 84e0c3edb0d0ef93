//! Inside each release: Ready means the release's objects are ready (kstatus
//! rules, from watches), and an object changed or deleted by another writer is
//! put back. There is no kubelet: the tests play the workload controllers by
//! patching status subresources.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs, GROUP};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(90);

/// The condition `type_` of Widget `name` once `check` holds for it.
fn wait_condition(t: &TestNs, name: &str, type_: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("widget {name} condition {type_}"), WAIT, || {
        t.condition(name, type_).filter(|c| check(c))
    })
}

fn is(status: &'static str, reason: &'static str) -> impl Fn(&Value) -> bool {
    move |c: &Value| c["status"] == status && c["reason"] == reason
}

/// The value of a metric line starting with `prefix` (0 when absent).
fn metric(l: &Lostromos, prefix: &str) -> f64 {
    let (_, body) = l.http_get("/metrics");
    body.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn config_data(t: &TestNs, name: &str) -> Option<String> {
    t.object("configmap", name)?["data"]["greeting"]
        .as_str()
        .map(str::to_owned)
}

/// Writes ConfigMap `name`'s greeting as kubectl does: another writer than helm.
fn edit_greeting(t: &TestNs, name: &str, text: &str) {
    let patch = json!({"data": {"greeting": text}}).to_string();
    t.kubectl(&["patch", "configmap", name, "--type=merge", "-p", &patch])
        .expect("edit the ConfigMap");
}

/// A Widget of the `workload` chart (a ConfigMap and a Deployment), Ready
/// after its Deployment is played available.
fn ready_workload(t: &TestNs, name: &str) {
    t.apply_widget(name, json!({"greeting": "hello"}));
    wait_condition(t, name, "Ready", is("False", "Progressing"));
    t.deployment_available(&format!("{name}-web"));
    t.wait_ready(name);
}

#[test]
fn ready_waits_for_the_deployment_and_no_helm_runs_meanwhile() {
    let t = TestNs::new("ready");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    t.apply_widget("shop", json!({"replicas": 3}));
    let progressing = wait_condition(&t, "shop", "Ready", |c| {
        c["reason"] == "Progressing"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("Deployment {}/shop-web: ", t.ns)))
    });
    assert_eq!(progressing["status"], "False");
    let w = t.widget("shop").expect("widget");
    assert_eq!(w["status"]["objects"], json!({"total": 2, "ready": 1}));
    let reconciling = t.condition("shop", "Reconciling").expect("Reconciling");
    assert_eq!(
        (
            reconciling["status"].as_str(),
            reconciling["reason"].as_str()
        ),
        (Some("True"), Some("Progressing"))
    );

    t.deployment_available("shop-web");
    let w = t.wait_ready("shop");
    assert_eq!(w["status"]["objects"], json!({"total": 2, "ready": 2}));
    let ready = t.condition("shop", "Ready").expect("Ready");
    assert!(
        ready["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("2/2 objects ready")),
        "{ready}"
    );
    assert_eq!(
        l.helm_calls().len(),
        1,
        "only the install ran: {:?}",
        l.helm_calls()
    );
}

#[test]
fn objects_not_ready_by_the_deadline_stall_the_cr_until_they_are() {
    let t = TestNs::new("deadline");
    let l = Lostromos::start(&t, &chart("workload"), &["--ready-timeout", "3s"]);
    t.apply_widget("slow", json!({}));
    let stalled = wait_condition(&t, "slow", "Stalled", is("True", "NotReady"));
    assert!(
        stalled["message"]
            .as_str()
            .is_some_and(|m| m.contains("Deployment") && m.contains("slow-web")),
        "{stalled}"
    );
    t.wait_warning("slow", "NotReady");
    // the objects become ready later: the CR recovers by itself
    t.deployment_available("slow-web");
    t.wait_ready("slow");
    let stalled = t.condition("slow", "Stalled").expect("Stalled");
    assert_eq!(stalled["status"], "False");
    assert_eq!(
        l.helm_calls().len(),
        1,
        "no retry, no uninstall: {:?}",
        l.helm_calls()
    );
}

#[test]
fn an_edited_configmap_is_put_back_with_an_event() {
    let t = TestNs::new("drift-cm");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "site");
    edit_greeting(&t, "site-config", "edited by hand");
    wait_for("the ConfigMap put back", WAIT, || {
        (config_data(&t, "site-config").as_deref() == Some("hello")).then_some(())
    });
    let (_, _, note) = wait_for("a DriftCorrected Event", WAIT, || {
        t.events("site")
            .into_iter()
            .find(|(_, reason, _)| reason == "DriftCorrected")
    });
    assert!(
        note.contains(&format!("ConfigMap {}/site-config", t.ns)) && note.contains("data.greeting"),
        "{note}"
    );
    assert_eq!(
        metric(
            &l,
            "lostromos_drift_total{kind=\"widgets.test.lostromos.dev\",outcome=\"corrected\"}"
        ),
        1.0
    );
    assert_eq!(
        l.helm_calls().len(),
        2,
        "install and one correction: {:?}",
        l.helm_calls()
    );
    t.wait_ready("site");
}

#[test]
fn an_edit_made_while_lostromos_was_stopped_is_put_back_after_its_restart() {
    let t = TestNs::new("drift-restart");
    let mut l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "site");
    l.kill();
    edit_greeting(&t, "site-config", "edited while stopped");
    l.restart();
    // the release's record is read again after the start (in the background,
    // the CR's re-check not waiting for it), and its objects judged
    wait_for("the ConfigMap put back", WAIT, || {
        (config_data(&t, "site-config").as_deref() == Some("hello")).then_some(())
    });
    assert_eq!(
        l.helm_calls().len(),
        2,
        "install and one correction: {:?}",
        l.helm_calls()
    );
    t.wait_ready("site");
}

#[test]
fn an_upgrade_is_inventoried_from_helms_output_without_reading_its_secret() {
    let t = TestNs::new("no-read");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "site");
    let gets = metric(&l, "lostromos_api_requests{verb=\"get\"}");
    // a new revision: Ready is written only once its objects are inventoried
    t.apply_widget("site", json!({"greeting": "second"}));
    t.wait_ready("site");
    assert_eq!(
        metric(&l, "lostromos_api_requests{verb=\"get\"}"),
        gets,
        "the upgrade's release Secret was read back"
    );
    // and the inventory is the new revision's: its objects are judged
    edit_greeting(&t, "site-config", "edited by hand");
    wait_for("the ConfigMap put back", WAIT, || {
        (config_data(&t, "site-config").as_deref() == Some("second")).then_some(())
    });
}

#[test]
fn a_deleted_deployment_is_recreated() {
    let t = TestNs::new("drift-del");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "shop");
    let before = t.object("deployment", "shop-web").expect("deployment");
    t.kubectl(&["delete", "deployment", "shop-web", "--wait=false"])
        .expect("delete");
    let after = wait_for("the Deployment recreated", WAIT, || {
        t.object("deployment", "shop-web")
            .filter(|d| d["metadata"]["uid"] != before["metadata"]["uid"])
    });
    assert_eq!(after["spec"]["replicas"], 1);
    wait_for("a DriftCorrected Event naming it", WAIT, || {
        t.events("shop")
            .iter()
            .any(|(_, reason, note)| {
                reason == "DriftCorrected" && note.contains("shop-web deleted")
            })
            .then_some(())
    });
    // the new Deployment is not available yet: Ready waits for it again
    wait_condition(&t, "shop", "Ready", is("False", "Progressing"));
    assert_eq!(l.helm_calls().len(), 2, "{:?}", l.helm_calls());
}

#[test]
fn drift_warn_reports_and_runs_nothing() {
    let t = TestNs::new("drift-warn");
    let l = Lostromos::start(&t, &chart("workload"), &["--drift", "warn"]);
    ready_workload(&t, "site");
    t.kubectl(&[
        "patch",
        "configmap",
        "site-config",
        "--type=merge",
        "-p",
        r#"{"data":{"greeting":"edited"}}"#,
    ])
    .expect("edit the ConfigMap");
    let drifted = wait_condition(&t, "site", "Drifted", |c| c["status"] == "True");
    assert!(
        drifted["message"]
            .as_str()
            .is_some_and(|m| m.contains("site-config") && m.contains("data.greeting")),
        "{drifted}"
    );
    t.wait_warning("site", "Drifted");
    assert_eq!(config_data(&t, "site-config").as_deref(), Some("edited"));
    assert_eq!(
        l.helm_calls().len(),
        1,
        "warn runs nothing: {:?}",
        l.helm_calls()
    );
    assert!(
        metric(
            &l,
            "lostromos_drift_total{kind=\"widgets.test.lostromos.dev\",outcome=\"warned\"}"
        ) >= 1.0
    );
}

#[test]
fn scaling_through_the_scale_subresource_is_not_drift() {
    let t = TestNs::new("scale");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "shop");
    t.kubectl(&["scale", "deployment", "shop-web", "--replicas=3"])
        .expect("scale");
    // the decision on the scaled Deployment: waiting for its controller, not drift
    wait_condition(&t, "shop", "Ready", |c| {
        c["reason"] == "Progressing"
            && c["message"]
                .as_str()
                .is_some_and(|m| m.contains("shop-web"))
    });
    t.deployment_available("shop-web");
    t.wait_ready("shop");
    let d = t.object("deployment", "shop-web").expect("deployment");
    assert_eq!(d["spec"]["replicas"], 3, "the scale stays");
    assert_eq!(l.helm_calls().len(), 1, "{:?}", l.helm_calls());
    assert!(!t
        .events("shop")
        .iter()
        .any(|(_, r, _)| r == "DriftCorrected"));
    assert_eq!(metric(&l, "lostromos_drift_total"), 0.0);
}

#[test]
fn a_writer_that_keeps_changing_a_field_back_ends_in_a_drift_loop() {
    let t = TestNs::new("fight");
    let l = Lostromos::start(&t, &chart("workload"), &[]);
    ready_workload(&t, "site");
    // another controller that wants its own greeting, for ever
    let stop = Arc::new(AtomicBool::new(false));
    let fighter = {
        let (stop, ns, kubeconfig) = (
            stop.clone(),
            t.ns.clone(),
            t.cluster.kubeconfig().to_path_buf(),
        );
        let kubectl = t.cluster.binaries().kubectl.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let out = std::process::Command::new(&kubectl)
                    .arg("--kubeconfig")
                    .arg(&kubeconfig)
                    .args([
                        "-n",
                        &ns,
                        "get",
                        "configmap",
                        "site-config",
                        "-o",
                        "jsonpath={.data.greeting}",
                    ])
                    .output();
                if out.is_ok_and(|o| o.stdout != b"theirs") {
                    let _ = std::process::Command::new(&kubectl)
                        .arg("--kubeconfig")
                        .arg(&kubeconfig)
                        .args([
                            "-n",
                            &ns,
                            "patch",
                            "configmap",
                            "site-config",
                            "--type=merge",
                            "--field-manager=fighter",
                            "-p",
                            r#"{"data":{"greeting":"theirs"}}"#,
                        ])
                        .output();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let stalled = wait_condition(&t, "site", "Stalled", is("True", "DriftLoop"));
    let message = stalled["message"].as_str().unwrap_or_default().to_owned();
    for part in ["site-config", "manager fighter", "data.greeting"] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    let (revision, _) = t.release("site").expect("release");
    assert!(
        revision <= 1 + 3,
        "at most three corrections before the pause: revision {revision}"
    );
    // the fight goes on (a second writer joins); each change is decided on, and held
    let held = metric(
        &l,
        "lostromos_drift_total{kind=\"widgets.test.lostromos.dev\",outcome=\"held\"}",
    );
    t.kubectl(&[
        "patch",
        "configmap",
        "site-config",
        "--type=merge",
        "--field-manager=second-writer",
        "-p",
        r#"{"data":{"greeting":"mine"}}"#,
    ])
    .expect("patch");
    wait_for("the next write decided on", WAIT, || {
        (metric(
            &l,
            "lostromos_drift_total{kind=\"widgets.test.lostromos.dev\",outcome=\"held\"}",
        ) > held)
            .then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    fighter.join().expect("fighter");
    let (after, _) = t.release("site").expect("release");
    assert_eq!(after, revision, "no revision while corrections pause");
    assert_eq!(
        l.helm_calls().len() as u64,
        revision,
        "{:?}",
        l.helm_calls()
    );
}

#[test]
fn a_kind_lostromos_may_not_watch_is_named_with_the_fix() {
    let t = TestNs::new("objects-rbac");
    let user = t.cluster.unprivileged_user();
    // all it needs, and helm may write ConfigMaps, but not list or watch them
    for (name, verbs, resources) in [
        (
            "lostromos",
            "*",
            format!("widgets.{GROUP},widgets.{GROUP}/status,widgets.{GROUP}/finalizers,secrets,events.events.k8s.io"),
        ),
        ("helm-configmaps", "get,create,update,patch,delete", "configmaps".to_owned()),
    ] {
        t.kubectl(&["create", "role", name, &format!("--verb={verbs}"), &format!("--resource={resources}")])
            .expect("role");
        t.kubectl(&["create", "rolebinding", name, &format!("--role={name}"), &format!("--user={user}")])
            .expect("rolebinding");
    }
    let args = integration::widget_args(&[&t.ns], &chart("configmap"));
    let l = Lostromos::start_args(t.cluster.kubeconfig_for_unprivileged(), args);
    t.apply_widget("w", json!({}));
    let ready = wait_condition(&t, "w", "Ready", |c| {
        c["reason"] == "Progressing" && c["message"].as_str().is_some_and(|m| m.contains("may not"))
    });
    let message = ready["message"].as_str().unwrap_or_default();
    for part in ["ConfigMap", "configmaps", &t.ns, "rbac.objects"] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    let (code, body) = l.http_get("/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("configmaps"), "{body}");
    // and at start-up, from the chart rendered with its defaults, before any CR
    let warning = l
        .logs()
        .lines()
        .find(|line| line.contains("WARN") && line.contains("lacks permissions"))
        .map(str::to_owned)
        .unwrap_or_default();
    for part in [
        "list, watch configmaps",
        &t.ns,
        "readiness and drift",
        "rbac.objects",
    ] {
        assert!(
            warning.contains(part),
            "{part:?} missing from the start-up warning: {warning:?}"
        );
    }
}
