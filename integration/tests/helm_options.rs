//! helm options reach helm: history is bounded, --wait waits, a packaged chart
//! works; and values never leak into logs, events or status.

use std::process::Command;
use std::time::Duration;

use integration::{chart, files_containing, package, wait_for, Lostromos, TestNs};
use serde_json::json;

/// `helm package CHART` into `dir`; the archive's path.
#[test]
fn history_max_bounds_the_revisions_kept() {
    let t = TestNs::new("history");
    let _l = Lostromos::start(&t, &chart("configmap"), &["--history-max", "2"]);
    for v in 1..=4 {
        t.apply_widget("hist", json!({"v": v}));
        let w = t.wait_ready("hist");
        assert_eq!(w["status"]["release"]["revision"], v);
    }
    let secrets = t
        .kubectl(&["get", "secrets", "-l", "owner=helm,name=hist", "-o", "name"])
        .unwrap();
    assert_eq!(secrets.lines().count(), 2, "{secrets}");
}

#[test]
fn wait_makes_helm_wait_for_the_objects() {
    // no kubelet here: a Deployment never becomes available, so with --wait helm
    // runs into its timeout, which shows that it waited
    let t = TestNs::new("wait");
    let l = Lostromos::start(
        &t,
        &chart("third-party/hello-world"),
        &["--wait", "--timeout", "3s"],
    );
    t.apply_widget("waiter", json!({}));
    let ready = wait_for(
        "Ready=False after helm's wait timed out",
        Duration::from_secs(60),
        || {
            t.condition("waiter", "Ready")
                .filter(|c| c["status"] == "False" && c["reason"] == "Timeout")
        },
    );
    assert!(
        ready["message"].as_str().unwrap_or("").len() <= 1100,
        "{ready}"
    );
    assert!(l.logs().contains("Timeout"), "{}", l.logs());
}

#[test]
fn packaged_chart_archive_works() {
    let t = TestNs::new("tgz");
    let dir = tempfile::tempdir().unwrap();
    let tgz = package(&chart("configmap"), dir.path());
    let _l = Lostromos::start(&t, &tgz.to_string_lossy(), &[]);
    t.apply_widget("packed", json!({"from": "tgz"}));
    let w = t.wait_ready("packed");
    assert_eq!(w["status"]["release"]["chart"], "configmap-0.1.0");
    assert_eq!(t.released_values("packed"), Some(json!({"from": "tgz"})));
}

#[test]
fn values_never_leak_into_logs_events_or_status() {
    let t = TestNs::new("leak");
    let secret = "s3cr3t-Value-7f1c";
    // routine Events too, so that every kind of Event is searched
    let l = Lostromos::start(
        &t,
        &chart("schema"),
        &["--log-format", "json", "--routine-events"],
    );
    // one good CR, one the schema rejects, both carrying the secret
    t.apply_widget("good", json!({"name": "good", "password": secret}));
    t.apply_widget(
        "bad",
        json!({"name": "bad", "replicas": "many", "password": secret}),
    );
    t.wait_ready("good");
    wait_for("the bad CR to be reported", Duration::from_secs(60), || {
        t.condition("bad", "Ready")
            .filter(|c| c["reason"] == "ValuesRejected")
    });
    assert!(!l.logs().contains(secret), "a value leaked into the logs");
    for name in ["good", "bad"] {
        let w = t.widget(name).unwrap();
        assert!(
            !w["status"].to_string().contains(secret),
            "a value leaked into status: {w}"
        );
        let events = t.events(name);
        assert!(!events.is_empty());
        assert!(
            events.iter().all(|(_, _, note)| !note.contains(secret)),
            "{events:?}"
        );
    }
}

#[test]
fn values_reach_helm_on_its_standard_input() {
    let t = TestNs::new("values-stdin");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("private", json!({"token": "s3cr3t-Stdin-5e2a"}));
    t.wait_ready("private");
    assert_eq!(
        t.released_values("private"),
        Some(json!({"token": "s3cr3t-Stdin-5e2a"}))
    );
    // `--values -` and a pipe for every helm run: no values file to leave behind
    l.assert_values_on_stdin();
    assert_eq!(
        files_containing(&l.tmp_dir(), "s3cr3t-Stdin-5e2a"),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn chart_reference_is_pulled_once_at_start() {
    // a chart repository on loopback: `helm pull` of a URL reference
    let t = TestNs::new("pull");
    let repo = tempfile::tempdir().unwrap();
    package(&chart("configmap"), repo.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(repo.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/configmap-0.1.0.tgz");
    wait_for("the chart server", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });

    let l = Lostromos::start(&t, &url, &[]);
    t.apply_widget("pulled", json!({"from": "repo"}));
    let w = t.wait_ready("pulled");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(w["status"]["release"]["chart"], "configmap-0.1.0");
    assert_eq!(t.released_values("pulled"), Some(json!({"from": "repo"})));
    let pulls = std::fs::read_to_string(l.logs_dir().join("helm-calls.log")).unwrap();
    assert_eq!(pulls.lines().filter(|c| *c == "pull").count(), 1, "{pulls}");
}
