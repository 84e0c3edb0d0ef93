//! API server outages and lost permissions, against a real API server that is
//! SIGKILLed and restarted, or SIGSTOPped and resumed (each on a cluster of the
//! test's own, so other tests keep theirs), and a real RoleBinding removed.
//! The two outages run one at a time, so their timings do not suffer each
//! other; the lost permission, mostly a wait for a watch's server-side timeout
//! on the shared cluster, runs beside them.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use integration::{chart, wait_for, widget_args, Lostromos, TestNs};
use serde_json::{json, Value};
use testenv::Cluster;

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until the Widget is Ready for its current generation.
fn ready_within(t: &TestNs, name: &str, timeout: Duration) -> Value {
    wait_for(&format!("widget {name} Ready"), timeout, || {
        let w = t.widget(name)?;
        let generation = w["metadata"]["generation"].clone();
        let ready = w["status"]["conditions"].as_array()?.iter().any(|c| {
            c["type"] == "Ready" && c["status"] == "True" && c["observedGeneration"] == generation
        });
        ready.then_some(w)
    })
}

/// Waits until `path` answers `code` with a body holding every one of `parts`.
fn wait_http(l: &Lostromos, path: &str, code: u16, parts: &[&str], timeout: Duration) -> String {
    let what = format!("{path} to answer {code} with {parts:?}");
    wait_for(&what, timeout, || {
        let (got, body) = l.http_get(path);
        (got == code && parts.iter().all(|p| body.contains(p))).then_some(body)
    })
}

#[test]
fn after_an_api_server_restart_a_new_cr_converges_within_seconds() {
    let _one = one_at_a_time();
    let cluster = Cluster::start().expect("a cluster of this test's own");
    let t = TestNs::on(&cluster, "restart");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("before", json!({"n": 1}));
    t.wait_ready("before");
    wait_http(&l, "/readyz", 200, &["ready"], Duration::from_secs(30));

    let down = Instant::now();
    cluster.stop_apiserver();
    let body = wait_http(
        &l,
        "/readyz",
        503,
        &[
            "API server: GET /readyz",
            "refused",
            &format!("watch of Secrets (helm releases) in namespace {}", t.ns),
        ],
        Duration::from_secs(20),
    );
    eprintln!("/readyz while the API server is down:\n{body}");
    let (code, body) = l.http_get("/healthz");
    assert_eq!(
        code, 200,
        "refused requests end at once; nothing hangs: {body}"
    );
    // The outage of the issue: ~20 s, long enough for kube's default backoff
    // (0.8 s doubling to 30 s) to reach 12.8 s between tries.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(down.elapsed()));
    cluster
        .start_apiserver()
        .expect("start the API server again");
    let back = Instant::now();
    eprintln!("the API server was down for {:?}", back - down);

    t.apply_widget("after", json!({"n": 2}));
    ready_within(&t, "after", Duration::from_secs(15));
    eprintln!(
        "a CR created once the API server answered again was Ready after {:?}",
        back.elapsed()
    );
    wait_http(&l, "/readyz", 200, &["ready"], Duration::from_secs(30));
    eprintln!("/readyz was 200 again after {:?}", back.elapsed());
    let logs = l.logs();
    assert!(logs.contains("watch failed"), "{logs}");
    assert!(logs.contains("watch recovered"), "{logs}");
    assert_eq!(t.released_values("after").expect("released")["n"], 2);
}

#[test]
fn a_frozen_api_server_fails_readyz_and_a_reconcile_hanging_on_it_fails_healthz() {
    let _one = one_at_a_time();
    let cluster = Cluster::start().expect("a cluster of this test's own");
    let t = TestNs::on(&cluster, "frozen");
    // helm stops after 3 s + 3 s; a request waiting 3 s means stuck
    let l = Lostromos::start(
        &t,
        &chart("slow"),
        &["--timeout", "3s", "--stuck-after", "3s"],
    );
    t.apply_widget("steady", json!({"block": false}));
    t.wait_ready("steady");
    wait_http(&l, "/readyz", 200, &["ready"], Duration::from_secs(30));
    assert_eq!(l.http_get("/healthz").0, 200);

    // A reconcile in the middle of helm when the API server freezes: once helm
    // is stopped at its deadline, the reconcile's next request hangs.
    t.apply_widget("hang", json!({"block": true}));
    wait_for("helm to be installing", Duration::from_secs(60), || {
        let (_, status) = t.release("hang")?;
        (status == "pending-install" && !l.running_helms().is_empty()).then_some(())
    });
    cluster.pause_apiserver().expect("SIGSTOP kube-apiserver");
    let paused = Instant::now();
    let body = wait_http(
        &l,
        "/readyz",
        503,
        &["API server: GET /readyz: no answer within 2s"],
        Duration::from_secs(30),
    );
    eprintln!(
        "/readyz after {:?} of a frozen API server:\n{body}",
        paused.elapsed()
    );
    let body = wait_http(
        &l,
        "/healthz",
        503,
        &["stuck: ", "for the API server (--stuck-after 3s)"],
        Duration::from_secs(90),
    );
    eprintln!(
        "/healthz after {:?} of a frozen API server: {body}",
        paused.elapsed()
    );

    cluster.resume_apiserver().expect("SIGCONT kube-apiserver");
    let resumed = Instant::now();
    wait_http(&l, "/healthz", 200, &["ok"], Duration::from_secs(30));
    wait_http(&l, "/readyz", 200, &["ready"], Duration::from_secs(30));
    eprintln!(
        "/healthz and /readyz were 200 again {:?} after the resume",
        resumed.elapsed()
    );
    // and the work goes on
    t.apply_widget("hang", json!({"block": false}));
    t.wait_ready("hang");
}

/// What Lostrómos needs in its namespace (as the chart's Role grants), with
/// list and watch on Secrets in a Role of their own so a test can take them away.
const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: lostromos}
rules:
- {apiGroups: [test.lostromos.dev], resources: [widgets], verbs: [get, list, watch, patch]}
- {apiGroups: [test.lostromos.dev], resources: [widgets/status], verbs: [get, patch, update]}
- {apiGroups: [test.lostromos.dev], resources: [widgets/finalizers], verbs: [update]}
- {apiGroups: [events.k8s.io], resources: [events], verbs: [create, patch]}
- {apiGroups: [""], resources: [secrets], verbs: [get, create, update, patch, delete]}
- {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: lostromos}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: lostromos}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: lostromos-tester}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-releases}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [list, watch]}
"#;

const READ_RELEASES_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: read-releases}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-releases}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: lostromos-tester}
"#;

/// The error count /readyz shows for the release watch: `... (N errors): ...`.
fn release_watch_errors(body: &str) -> Option<u64> {
    let line = body
        .lines()
        .find(|l| l.contains("watch of Secrets (helm releases)"))?;
    let (before, _) = line.split_once(" errors)")?;
    before.rsplit('(').next()?.parse().ok()
}

#[test]
fn a_permission_lost_on_release_secrets_gives_a_forbidden_condition_and_few_log_lines() {
    let t = TestNs::new("forbidden");
    t.apply(RBAC);
    t.apply(READ_RELEASES_BINDING);
    let l = Lostromos::start_args(
        t.cluster.kubeconfig_for_unprivileged(),
        widget_args(&[&t.ns], &chart("configmap")),
    );
    t.apply_widget("web", json!({"n": 1}));
    t.wait_ready("web");

    t.kubectl(&["delete", "rolebinding", "read-releases"])
        .expect("take list/watch on secrets away");
    let lost = Instant::now();
    t.apply_widget("web", json!({"n": 2}));
    // the running watch lasts until its server-side timeout (60 s); the one
    // started then is refused
    let ready = wait_for(
        "Ready=False, reason Forbidden, from the release watch",
        Duration::from_secs(180),
        || {
            let c = t.condition("web", "Ready")?;
            let ours = c["message"].as_str()?.contains("rbac.extraRules");
            (c["status"] == "False" && c["reason"] == "Forbidden" && ours).then_some(c)
        },
    );
    eprintln!(
        "Forbidden {:?} after the RoleBinding went: {ready}",
        lost.elapsed()
    );
    let message = ready["message"].as_str().unwrap_or_default();
    for part in [
        format!("secrets in namespace {}", t.ns),
        format!("release {}/web", t.ns),
        "get, list and watch on secrets".to_owned(),
    ] {
        assert!(message.contains(&part), "{part:?} missing: {message}");
    }
    assert!(
        message.contains("may not watch") || message.contains("may not list"),
        "{message}"
    );
    assert_eq!(t.condition("web", "Reconciling").unwrap()["status"], "True");
    assert_eq!(t.condition("web", "Stalled").unwrap()["status"], "False");
    assert_ne!(
        t.released_values("web").expect("released")["n"],
        2,
        "the upgrade did not happen (helm cannot list the release either)"
    );

    // Many refused retries, few log lines: the first at once, then one a minute.
    let errors = wait_for(
        "the refused watch to retry many times",
        Duration::from_secs(60),
        || {
            let (code, body) = l.http_get("/readyz");
            let n = release_watch_errors(&body)?;
            (code == 503 && body.contains("forbidden to") && n >= 10).then_some(n)
        },
    );
    let lines = l
        .logs()
        .lines()
        .filter(|l| {
            l.contains("Secrets (helm releases)")
                && (l.contains("watch failed") || l.contains("watch still failing"))
        })
        .count() as u64;
    let minutes = lost.elapsed().as_secs() / 60;
    eprintln!(
        "{errors} refused tries of the release watch, {lines} log lines about them, \
         {minutes} min after the RoleBinding went"
    );
    assert!(lines >= 1, "the first failure is logged at once");
    assert!(
        lines <= 1 + minutes,
        "at most one line a minute: {lines} lines\n{}",
        l.logs()
    );

    // The permission back: the watch recovers and the CR goes on.
    t.apply(READ_RELEASES_BINDING);
    let restored = Instant::now();
    t.wait_ready("web");
    eprintln!(
        "Ready {:?} after the RoleBinding came back",
        restored.elapsed()
    );
    assert_eq!(t.released_values("web").expect("released")["n"], 2);
    wait_http(&l, "/readyz", 200, &["ready"], Duration::from_secs(30));
    assert!(l.logs().contains("watch recovered"), "{}", l.logs());
}
