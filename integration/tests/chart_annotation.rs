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

/// Paths a [`chart_server`] was asked for.
type Asked = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A chart server on loopback: serves `files` by name; a request for `gated`
/// is answered only once the returned sender sends (or is dropped).
fn chart_server(
    files: Vec<(String, Vec<u8>)>,
    gated: &str,
) -> (u16, std::sync::mpsc::Sender<()>, Asked) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(gate));
    let gated = format!("/{gated}");
    let asked = Asked::default();
    let seen = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (files, gate, gated, seen) =
                (files.clone(), gate.clone(), gated.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                if let Ok(mut seen) = seen.lock() {
                    seen.push(path.clone());
                }
                if path == gated {
                    let _ = gate.lock().map(|g| g.recv());
                }
                let body = files
                    .iter()
                    .find(|(name, _)| path == format!("/{name}"))
                    .map(|(_, bytes)| bytes.clone());
                let mut out = &stream;
                let _ = match body {
                    Some(b) => out
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", b.len())
                                .as_bytes(),
                        )
                        .and_then(|()| out.write_all(&b)),
                    None => out.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
                };
            });
        }
    });
    (port, open, asked)
}

/// `helm package` of one of the suite's charts, as bytes.
fn packaged(name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::read(integration::package(&chart(name), dir.path())).unwrap()
}

#[test]
fn a_slow_pull_holds_up_only_the_crs_waiting_for_that_chart() {
    let t = TestNs::new("chart-slow");
    let (port, open, asked) = chart_server(
        vec![
            ("schema-0.1.0.tgz".into(), packaged("schema")),
            ("slow-0.1.0.tgz".into(), packaged("configmap")),
            ("broken.tgz".into(), b"not a chart archive".to_vec()),
        ],
        "slow-0.1.0.tgz",
    );
    let base = format!("http://127.0.0.1:{port}/");
    let _l = Lostromos::start(
        &t,
        &chart("configmap"),
        &["--chart-annotation", KEY, "--allowed-chart", &base],
    );
    // a chart that is pulled once and cached
    let cached = format!("{base}schema-0.1.0.tgz");
    t.apply_widget_meta(
        "quick",
        json!({"name": "q", "replicas": 1}),
        json!({"annotations": {KEY: cached}}),
    );
    t.wait_ready("quick");

    // a pull that hangs until the test lets it go
    t.apply_widget_meta(
        "waits",
        json!({"a": 1}),
        json!({"annotations": {KEY: format!("{base}slow-0.1.0.tgz")}}),
    );
    wait_for("the slow pull to start", Duration::from_secs(60), || {
        let asked = asked.lock().ok()?;
        asked.iter().any(|p| p == "/slow-0.1.0.tgz").then_some(())
    });
    // meanwhile a CR whose chart is cached is upgraded, and a failed pull
    // leaves nothing that a later pull could pick up
    t.apply_widget_meta(
        "quick",
        json!({"name": "q", "replicas": 2}),
        json!({"annotations": {KEY: cached}}),
    );
    let w = t.wait_ready("quick");
    assert_eq!(w["status"]["release"]["revision"], 2);
    t.apply_widget_meta(
        "bad",
        json!({"a": 1}),
        json!({"annotations": {KEY: format!("{base}broken.tgz")}}),
    );
    let failed = wait_for("the broken pull to fail", Duration::from_secs(60), || {
        t.condition("bad", "Ready")
            .filter(|c| c["reason"] == "ChartUnavailable")
    });
    assert_eq!(failed["status"], "False");
    assert_eq!(t.release("waits"), None, "the slow pull is still waiting");

    drop(open);
    let w = t.wait_ready("waits");
    assert_eq!(w["status"]["release"]["chart"], "configmap-0.1.0");
}
