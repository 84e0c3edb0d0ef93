//! Bad input is reported (conditions, `status.lastError`, a Warning event), is
//! retried with backoff when helm reported it, never blocks the other CRs, and
//! never uninstalls a release.

use std::time::{Duration, Instant};

use integration::{chart, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

/// Waits until the Widget's current generation is reported failed with `reason`:
/// Ready=False with that reason. Returns the Widget.
fn wait_failed(t: &TestNs, name: &str, reason: &str) -> Value {
    wait_for(
        &format!("widget {name} Ready=False reason {reason}"),
        Duration::from_secs(90),
        || {
            let w = t.widget(name)?;
            let generation = w["metadata"]["generation"].clone();
            let failed = w["status"]["conditions"].as_array()?.iter().any(|c| {
                c["type"] == "Ready"
                    && c["status"] == "False"
                    && c["reason"] == reason
                    && c["observedGeneration"] == generation
            });
            failed.then_some(w)
        },
    )
}

/// A condition of a Widget taken from an already-read object.
fn cond<'a>(w: &'a Value, type_: &str) -> &'a Value {
    w["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("no {type_} condition in {w}"))
}

/// Asserts the kstatus shape of a failure only a change to the CR can fix.
fn assert_stalled(w: &Value, reason: &str) {
    assert_eq!(cond(w, "Ready")["status"], "False", "{w}");
    assert_eq!(cond(w, "Ready")["reason"], reason, "{w}");
    assert_eq!(cond(w, "Stalled")["status"], "True", "{w}");
    assert_eq!(cond(w, "Stalled")["reason"], reason, "{w}");
    assert_eq!(cond(w, "Reconciling")["status"], "False", "{w}");
    assert_eq!(
        w["status"]["observedGeneration"], w["metadata"]["generation"],
        "{w}"
    );
}

/// Waits for a Warning event with `reason` on the Widget and returns its note.
fn count(calls: &[String], verb: &str) -> usize {
    calls.iter().filter(|c| *c == verb).count()
}

/// Log lines of helm runs (the controller logs one line per helm process) that
/// name this release.
fn helm_log_lines_for(l: &Lostromos, release: &str) -> Vec<String> {
    l.logs()
        .lines()
        .filter(|line| line.contains(" helm ") || line.ends_with(" helm"))
        .filter(|line| {
            line.contains(&format!("release={release} "))
                || line.contains(&format!("release=\"{release}\""))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn spec_that_is_not_an_object_is_rejected_without_helm_and_does_not_block_others() {
    let t = TestNs::new("invalid-spec");
    let l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("bad", json!("hello"));
    t.apply_widget("good", json!({"color": "blue"}));

    let w = wait_failed(&t, "bad", "InvalidSpec");
    assert_stalled(&w, "InvalidSpec");
    let last_error = w["status"]["lastError"].as_str().expect("status.lastError");
    assert!(last_error.contains("fix:"), "{last_error}");
    let note = t.wait_warning("bad", "InvalidSpec");
    assert!(note.contains("spec must be an object"), "{note}");

    // the good one is not held up by the bad one
    t.wait_ready("good");
    assert_eq!(t.released_values("good"), Some(json!({"color": "blue"})));
    assert_eq!(t.release("bad"), None);
    // one helm process in all: the good Widget's install
    assert_eq!(l.helm_calls(), vec!["upgrade".to_owned()]);
    assert!(
        helm_log_lines_for(&l, "bad").is_empty(),
        "{:?}",
        helm_log_lines_for(&l, "bad")
    );

    // a list is no better
    t.apply_widget("bad", json!(["a", "b"]));
    let w = wait_failed(&t, "bad", "InvalidSpec");
    assert!(
        w["status"]["lastError"]
            .as_str()
            .unwrap()
            .contains("a list"),
        "{w}"
    );
    assert_eq!(l.helm_calls(), vec!["upgrade".to_owned()]);

    // fixed: installed and Ready
    t.apply_widget("bad", json!({"color": "red"}));
    let w = t.wait_ready("bad");
    assert_eq!(w["status"]["lastError"], Value::Null, "{w}");
    assert_eq!(cond(&w, "Stalled")["status"], "False");
    assert_eq!(t.release("bad"), Some((1, "deployed".into())));
    assert_eq!(t.released_values("bad"), Some(json!({"color": "red"})));
}

#[test]
fn values_rejected_by_the_chart_schema_are_reported_without_the_values() {
    let t = TestNs::new("schema");
    let l = Lostromos::start(&t, &chart("schema"), &[]);
    t.apply_widget("bad", json!({"name": "x", "replicas": "many"}));
    t.apply_widget("good", json!({"name": "y", "replicas": 3}));

    let w = wait_failed(&t, "bad", "ValuesRejected");
    assert_stalled(&w, "ValuesRejected");
    let last_error = w["status"]["lastError"]
        .as_str()
        .expect("status.lastError")
        .to_owned();
    assert!(
        last_error.contains("replicas"),
        "lastError should name the field: {last_error}"
    );
    // neither helm 3 nor helm 4 repeats the offending value; neither may we
    assert!(
        !last_error.contains("many"),
        "lastError leaks the value: {last_error}"
    );
    assert!(
        last_error.len() <= 1100,
        "lastError is {} bytes",
        last_error.len()
    );
    let note = t.wait_warning("bad", "ValuesRejected");
    assert!(
        note.contains("replicas") && !note.contains("many"),
        "{note}"
    );
    assert!(
        !cond(&w, "Ready")["message"]
            .as_str()
            .unwrap_or("")
            .contains("many"),
        "{w}"
    );

    t.wait_ready("good");
    assert_eq!(t.release("good"), Some((1, "deployed".into())));
    // helm rejected the values before storing anything
    assert_eq!(t.release("bad"), None);
    assert!(!l.logs().contains("many"), "the values reached the log");

    t.apply_widget("bad", json!({"name": "x", "replicas": 2}));
    let w = t.wait_ready("bad");
    assert_eq!(w["status"]["release"]["status"], "deployed");
    assert_eq!(w["status"]["lastError"], Value::Null, "{w}");
    let (_, status) = t.release("bad").expect("release bad");
    assert_eq!(status, "deployed");
    assert_eq!(
        t.released_values("bad"),
        Some(json!({"name": "x", "replicas": 2}))
    );
}

/// Waits until the Widget's current generation has failed, whatever the reason.
fn wait_any_failure(t: &TestNs, name: &str) -> Value {
    wait_for(
        &format!("widget {name} to fail"),
        Duration::from_secs(90),
        || {
            let w = t.widget(name)?;
            let generation = w["metadata"]["generation"].clone();
            let ready = cond_opt(&w, "Ready")?;
            (ready["status"] == "False"
                && ready["observedGeneration"] == generation
                && w["status"]["lastError"].is_string())
            .then_some(w)
        },
    )
}

fn cond_opt(w: &Value, type_: &str) -> Option<Value> {
    w["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Counts `upgrade` runs for ~12 s after `since`: with a 5 s base that doubles,
/// a failing CR is tried at about 0 s, 5 s and 15 s, so at most 3 (allowing one
/// extra run) and at least 2. Counted, not timed.
fn assert_backoff(l: &Lostromos, since: Instant) {
    wait_for("12 s of retries", Duration::from_secs(30), || {
        let n = count(&l.helm_calls(), "upgrade");
        assert!(
            n <= 3,
            "{n} helm upgrades within {:?} of the first failure: no backoff",
            since.elapsed()
        );
        (since.elapsed() >= Duration::from_secs(12)).then_some(())
    });
    let n = count(&l.helm_calls(), "upgrade");
    assert!(
        n >= 2,
        "a failure must be retried (only {n} attempt in 12 s)"
    );
}

#[test]
fn a_repeated_failure_is_one_event_counted_in_its_series() {
    let t = TestNs::new("series");
    let _l = Lostromos::start(&t, &chart("schema"), &[]);
    t.apply_widget("bad", json!({"name": "x", "replicas": 11}));
    wait_failed(&t, "bad", "ValuesRejected");
    // the retries 5 and 10 s later repeat the same Warning: one Event, counted
    let series = wait_for("a series on the Warning", Duration::from_secs(60), || {
        let out = t
            .kubectl(&[
                "get",
                "events.events.k8s.io",
                "-o",
                "json",
                "--field-selector",
                "regarding.name=bad",
            ])
            .ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        let warnings: Vec<Value> = v["items"]
            .as_array()?
            .iter()
            .filter(|e| e["type"] == "Warning")
            .cloned()
            .collect();
        assert!(warnings.len() <= 1, "one Event per repeat: {warnings:?}");
        let series = warnings.first()?["series"].clone();
        (series["count"].as_i64()? >= 2).then_some(series)
    });
    assert!(
        series["lastObservedTime"].is_string(),
        "the series says when: {series}"
    );
}

#[test]
fn chart_that_fails_to_render_is_retried_with_backoff_and_recovers_after_a_fix() {
    let t = TestNs::new("render-fails");
    let l = Lostromos::start(&t, &chart("broken"), &[]);
    t.apply_widget("brk", json!({}));

    let w = wait_any_failure(&t, "brk");
    let first_failure = Instant::now();
    assert_eq!(
        cond(&w, "Ready")["reason"],
        "RenderFailed",
        "lastError: {}",
        w["status"]["lastError"]
    );
    assert_stalled(&w, "RenderFailed");
    let last_error = w["status"]["lastError"].as_str().expect("status.lastError");
    assert!(last_error.contains("nil pointer"), "{last_error}");
    let note = t.wait_warning("brk", "RenderFailed");
    assert!(note.contains("nil pointer"), "{note}");
    assert_eq!(t.release("brk"), None);

    assert_backoff(&l, first_failure);

    // the values the template reads repair it
    t.apply_widget("brk", json!({"broken": {"By": "x"}}));
    t.deployment_available("brk-hello");
    let w = t.wait_ready("brk");
    assert_eq!(w["status"]["lastError"], Value::Null, "{w}");
    assert_eq!(t.release("brk").map(|(_, st)| st), Some("deployed".into()));
}

#[test]
fn failing_cr_is_retried_with_backoff_not_in_a_loop() {
    // the schema chart's rejection is classified alike by helm 3 and 4, so this
    // shows the retry pace on its own
    let t = TestNs::new("backoff");
    let l = Lostromos::start(&t, &chart("schema"), &[]);
    t.apply_widget("bad", json!({"name": "x", "replicas": 11}));
    wait_failed(&t, "bad", "ValuesRejected");
    assert_backoff(&l, Instant::now());
}

#[test]
fn release_too_large_for_helm_storage_is_reported_and_leaves_nothing() {
    let t = TestNs::new("too-large");
    let _l = Lostromos::start(&t, &chart("big"), &[]);
    t.apply_widget("huge", json!({}));

    let w = wait_failed(&t, "huge", "ReleaseTooLarge");
    assert_stalled(&w, "ReleaseTooLarge");
    let last_error = w["status"]["lastError"].as_str().expect("status.lastError");
    assert!(last_error.contains("1048576"), "{last_error}");
    assert!(
        last_error.len() <= 1100,
        "lastError is {} bytes",
        last_error.len()
    );
    t.wait_warning("huge", "ReleaseTooLarge");
    assert_eq!(t.release("huge"), None);
    assert!(t
        .kubectl(&["get", "configmap", "huge-big", "--ignore-not-found"])
        .unwrap()
        .trim()
        .is_empty());
}

/// The stamped owner of a release, from its latest release Secret.
fn release_owner(t: &TestNs, release: &str) -> Option<(String, String)> {
    let out = t
        .kubectl(&[
            "get",
            "secrets",
            "-l",
            &format!("owner=helm,name={release}"),
            "-o",
            "json",
        ])
        .ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    let latest = v["items"].as_array()?.iter().max_by_key(|s| {
        s["metadata"]["labels"]["version"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })?;
    let labels = &latest["metadata"]["labels"];
    Some((
        labels["lostromos.dev/cr-namespace"].as_str()?.to_owned(),
        labels["lostromos.dev/cr-name"].as_str()?.to_owned(),
    ))
}

fn start_two_namespaces(rel: &TestNs, a: &TestNs, b: &TestNs) -> Lostromos {
    let mut args = integration::widget_args(&[&a.ns, &b.ns], &chart("configmap"));
    args.extend(["--release-namespace".to_owned(), rel.ns.clone()]);
    Lostromos::start_args(rel.cluster.kubeconfig(), args)
}

#[test]
fn two_crs_mapping_to_one_release_conflict_and_the_first_keeps_it() {
    let rel = TestNs::new("conflict-rel");
    let a = TestNs::new("conflict-a");
    let b = TestNs::new("conflict-b");
    let l = start_two_namespaces(&rel, &a, &b);

    a.apply_widget("same", json!({"owner": "a"}));
    let w = a.wait_ready("same");
    assert_eq!(w["status"]["release"]["namespace"], rel.ns.as_str());
    assert_eq!(rel.release("same"), Some((1, "deployed".into())));

    b.apply_widget("same", json!({"owner": "b"}));
    let w = wait_failed(&b, "same", "ReleaseConflict");
    assert_stalled(&w, "ReleaseConflict");
    let last_error = w["status"]["lastError"].as_str().unwrap();
    assert!(
        last_error.contains(&format!("{}/same", a.ns)),
        "should name the owner: {last_error}"
    );
    let note = b.wait_warning("same", "ReleaseConflict");
    assert!(note.contains("fix:"), "{note}");

    // the first one's release is untouched, and still the first one's
    assert_eq!(rel.release("same"), Some((1, "deployed".into())));
    assert_eq!(rel.released_values("same"), Some(json!({"owner": "a"})));
    assert_eq!(
        release_owner(&rel, "same"),
        Some((a.ns.clone(), "same".into()))
    );
    assert_eq!(l.helm_calls(), vec!["upgrade".to_owned()]);
    assert_eq!(cond(&a.widget("same").unwrap(), "Ready")["status"], "True");
}

#[test]
fn two_crs_created_together_for_one_release_end_with_one_owner_and_its_values() {
    let rel = TestNs::new("race-rel");
    let a = TestNs::new("race-a");
    let b = TestNs::new("race-b");
    let l = start_two_namespaces(&rel, &a, &b);

    a.apply_widget("same", json!({"owner": "a"}));
    b.apply_widget("same", json!({"owner": "b"}));

    // one of the two ends Ready, the other ReleaseConflict
    let (winner, loser) = wait_for(
        "one owner and one conflict",
        Duration::from_secs(90),
        || {
            let ready = |t: &TestNs| {
                t.condition("same", "Ready")
                    .filter(|c| c["status"] == "True")
                    .is_some()
            };
            let conflict = |t: &TestNs| {
                t.condition("same", "Ready")
                    .filter(|c| c["status"] == "False" && c["reason"] == "ReleaseConflict")
                    .is_some()
            };
            if ready(&a) && conflict(&b) {
                Some((&a, &b))
            } else if ready(&b) && conflict(&a) {
                Some((&b, &a))
            } else {
                None
            }
        },
    );
    let owner = if std::ptr::eq(winner, &a) { "a" } else { "b" };
    // the release carries the winner's values and stamp, at the revision the winner reports
    let (revision, status) = rel.release("same").expect("release");
    assert_eq!(status, "deployed");
    // one install and no second writer: the loser never upgraded it
    assert_eq!(revision, 1, "helm calls: {:?}", l.helm_calls());
    assert_eq!(
        rel.released_values("same"),
        Some(json!({"owner": owner})),
        "helm calls: {:?}",
        l.helm_calls()
    );
    assert_eq!(
        release_owner(&rel, "same"),
        Some((winner.ns.clone(), "same".into()))
    );
    assert_eq!(
        winner.widget("same").unwrap()["status"]["release"]["revision"],
        revision
    );
    assert!(loser.widget("same").unwrap()["status"]["lastError"]
        .as_str()
        .unwrap()
        .contains(&winner.ns));
}

#[test]
fn a_failing_cr_never_uninstalls_its_release() {
    let t = TestNs::new("no-uninstall");
    // Ready on a chart without a schema...
    let mut l = Lostromos::start(&t, &chart("configmap"), &[]);
    t.apply_widget("keep", json!({"name": "x", "replicas": "many"}));
    t.wait_ready("keep");
    assert_eq!(t.release("keep"), Some((1, "deployed".into())));
    l.kill();

    // ...then the chart turns strict: the same CR's values are now rejected
    let l = Lostromos::start(&t, &chart("schema"), &[]);
    let w = wait_failed(&t, "keep", "ValuesRejected");
    assert_stalled(&w, "ValuesRejected");
    // the last known release stays visible in status
    assert_eq!(w["status"]["release"]["revision"], 1, "{w}");
    // retried at least once, and still nothing but upgrades
    wait_for("a retry", Duration::from_secs(30), || {
        (count(&l.helm_calls(), "upgrade") >= 2).then_some(())
    });
    let calls = l.helm_calls();
    assert!(calls.iter().all(|c| c == "upgrade"), "{calls:?}");
    assert_eq!(t.release("keep"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("keep"),
        Some(json!({"name": "x", "replicas": "many"}))
    );

    // a spec that is not even an object: rejected, and still nothing is removed
    t.apply_widget("keep", json!("hello"));
    let w = wait_failed(&t, "keep", "InvalidSpec");
    assert_eq!(w["status"]["release"]["revision"], 1, "{w}");
    let calls = l.helm_calls();
    assert!(calls.iter().all(|c| c == "upgrade"), "{calls:?}");
    assert_eq!(t.release("keep"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("keep"),
        Some(json!({"name": "x", "replicas": "many"}))
    );
}
