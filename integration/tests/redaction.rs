//! A value that is itself refused is quoted by whoever refuses it: the API
//! server (a label), helm's schema check, a chart's `fail`. Lostrómos reports
//! the refusal, without the value, in status, Events and its log.

use std::time::Duration;

use integration::{chart, helm_major, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

/// Quotes and a backslash: the API server and helm print it escaped.
const VALUE: &str = r#"s3cr3t-MARKER "quoted" \ back"#;
const MARKER: &str = "s3cr3t-MARKER";

/// Applies a Widget with `spec`, waits until it is refused with `reason`, and
/// checks that the refusal says `says` and shows `[redacted]` (when the
/// refusing tool quotes the value) but never the value.
fn refused_without_the_value(prefix: &str, spec: Value, reason: &str, says: &str, quoted: bool) {
    let t = TestNs::new(prefix);
    let l = Lostromos::start(&t, &chart("refused-value"), &[]);
    t.apply_widget("refused", spec);
    let cond = wait_for(
        &format!("Ready=False with {reason}"),
        Duration::from_secs(60),
        || {
            t.condition("refused", "Ready")
                .filter(|c| c["status"] == "False" && c["reason"] == reason)
        },
    );
    let message = cond["message"].as_str().unwrap_or_default();
    assert!(message.to_lowercase().contains(says), "{cond}");
    assert_eq!(message.contains("[redacted]"), quoted, "{cond}");
    let w = t.widget("refused").unwrap();
    assert!(!w["status"].to_string().contains(MARKER), "status: {w}");

    let events = wait_for(
        &format!("a {reason} event"),
        Duration::from_secs(30),
        || {
            let events = t.events("refused");
            events
                .iter()
                .any(|(ty, r, _)| ty == "Warning" && r == reason)
                .then_some(events)
        },
    );
    assert!(
        events.iter().all(|(_, _, note)| !note.contains(MARKER)),
        "{events:?}"
    );

    // the helm line for this refusal was logged (and the rest of the log is there)
    let logs = wait_for(
        "the failed helm run in the log",
        Duration::from_secs(30),
        || {
            let logs = l.logs();
            logs.lines()
                .any(|line| line.contains("release=refused") && line.contains(reason))
                .then_some(logs)
        },
    );
    assert!(!logs.contains(MARKER), "a value in the log:\n{logs}");
}

#[test]
fn a_value_the_api_server_refuses_in_a_label_is_not_echoed() {
    refused_without_the_value(
        "redact-label",
        json!({ "label": VALUE }),
        "ManifestRejected",
        "invalid value",
        true,
    );
}

#[test]
fn a_value_the_chart_schema_refuses_is_not_echoed() {
    // helm 4 quotes the value (`'…' does not match pattern`); helm 3 names only the key
    refused_without_the_value(
        "redact-schema",
        json!({ "code": VALUE }),
        "ValuesRejected",
        "match pattern",
        helm_major() == 4,
    );
}

#[test]
fn a_value_a_chart_fails_with_is_not_echoed() {
    refused_without_the_value(
        "redact-fail",
        json!({ "fail": VALUE }),
        "RenderFailed",
        "refusing",
        true,
    );
}
