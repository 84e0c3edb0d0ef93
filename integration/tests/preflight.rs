//! What `run` checks before it starts, against the real API server: missing
//! permissions, an unreachable server, a type it does not serve, no
//! kubeconfig. Each ends the process at once with one message and its fix.

use std::path::Path;
use std::time::Duration;

use integration::{chart, helm_binary, widget_args, Finished, TestNs, GROUP};

/// Runs `lostromos ARGS` to its end (see `integration::run_to_exit`), on
/// loopback, with the helm under test, `KUBECONFIG` as given and a HOME of its
/// own (so no ~/.kube/config).
fn run_to_exit(args: &[String], kubeconfig: Option<&Path>, limit: Duration) -> Finished {
    let home = tempfile::tempdir().expect("tempdir");
    let helm = helm_binary().to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(["--listen", "127.0.0.1:0", "--helm-binary", &helm]);
    let home_path = home.path().to_string_lossy().into_owned();
    let kubeconfig = kubeconfig.map(|k| k.to_string_lossy().into_owned());
    let mut env = vec![("HOME", home_path.as_str())];
    if let Some(k) = &kubeconfig {
        env.push(("KUBECONFIG", k.as_str()));
    }
    integration::run_to_exit(&all, &env, limit)
}

const LIMIT: Duration = Duration::from_secs(45);

/// The one error line(s): what follows `lostromos: `.
fn message(exit: &Finished) -> &str {
    exit.stderr
        .find("lostromos: ")
        .map_or("", |at| &exit.stderr[at..])
}

fn args_for(t: &TestNs, group: &str, version: &str, kind: &str) -> Vec<String> {
    widget_args(&[&t.ns], &chart("configmap"))
        .into_iter()
        .map(|a| match a.as_str() {
            GROUP => group.to_owned(),
            "v1" => version.to_owned(),
            "Widget" => kind.to_owned(),
            _ => a,
        })
        .collect()
}

#[test]
fn an_identity_without_rbac_is_told_every_missing_permission_at_once() {
    let t = TestNs::new("pre-rbac");
    let exit = run_to_exit(
        &widget_args(&[&t.ns], &chart("configmap")),
        Some(t.cluster.kubeconfig_for_unprivileged()),
        LIMIT,
    );
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    let msg = message(&exit);
    let ns = &t.ns;
    for line in [
        format!("get, list, watch, patch widgets.{GROUP} in namespace {ns}"),
        format!("patch widgets.{GROUP}/status in namespace {ns}"),
        format!("get, list, watch, create, update, delete secrets in namespace {ns}"),
        format!("create, patch events.events.k8s.io in namespace {ns}"),
    ] {
        assert!(msg.contains(&line), "missing {line:?} in:\n{msg}");
    }
    assert!(msg.contains(t.cluster.unprivileged_user()), "{msg}");
    assert!(
        msg.contains("fix:") && msg.contains("rbac.extraRules"),
        "{msg}"
    );
    // one message, no API Status dump, no retry loop
    assert_eq!(
        exit.stderr.matches("lostromos: ").count(),
        1,
        "{}",
        exit.stderr
    );
    assert!(!exit.stderr.contains("Status {"), "{}", exit.stderr);
}

#[test]
fn only_the_permissions_that_are_missing_are_listed() {
    let t = TestNs::new("pre-partial");
    let user = t.cluster.unprivileged_user();
    // the CRs and their status, but no Secrets and no Events
    t.kubectl(&[
        "create",
        "role",
        "widgets",
        "--verb=get,list,watch,patch",
        &format!("--resource=widgets.{GROUP},widgets.{GROUP}/status"),
    ])
    .expect("role");
    t.kubectl(&[
        "create",
        "rolebinding",
        "widgets",
        "--role=widgets",
        &format!("--user={user}"),
    ])
    .expect("rolebinding");
    let exit = run_to_exit(
        &widget_args(&[&t.ns], &chart("configmap")),
        Some(t.cluster.kubeconfig_for_unprivileged()),
        LIMIT,
    );
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    let msg = message(&exit);
    assert!(
        msg.contains(&format!("secrets in namespace {}", t.ns)),
        "{msg}"
    );
    assert!(msg.contains("events.events.k8s.io"), "{msg}");
    assert!(!msg.contains(&format!("widgets.{GROUP}")), "{msg}");
}

#[test]
fn an_unreachable_api_server_is_named_with_its_url() {
    let t = TestNs::new("pre-unreach");
    // the same kubeconfig, pointing at a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let text = std::fs::read_to_string(t.cluster.kubeconfig()).expect("kubeconfig");
    let nowhere = format!("https://127.0.0.1:{closed}");
    let moved = text.replace(t.cluster.server_url(), &nowhere);
    assert_ne!(moved, text, "the kubeconfig names the server URL");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, moved).unwrap();

    let exit = run_to_exit(
        &widget_args(&[&t.ns], &chart("configmap")),
        Some(&kubeconfig),
        LIMIT,
    );
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    let msg = message(&exit);
    assert!(msg.contains("cannot reach the API server"), "{msg}");
    assert!(msg.contains(&nowhere), "{msg}");
    assert!(
        msg.contains("fix:") && msg.contains("kubeconfig") && msg.contains("context"),
        "{msg}"
    );
    assert!(!msg.contains("does not serve"), "{msg}");
}

#[test]
fn a_wrong_group_or_version_names_what_is_served() {
    let t = TestNs::new("pre-served");
    for (group, version) in [("nope.example.com", "v1"), (GROUP, "v9")] {
        let exit = run_to_exit(
            &args_for(&t, group, version, "Widget"),
            Some(t.cluster.kubeconfig()),
            LIMIT,
        );
        assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
        let msg = message(&exit);
        assert!(
            msg.contains(&format!("does not serve {group}/{version} kind Widget")),
            "{msg}"
        );
        assert!(msg.contains(&format!("served: {GROUP}/v1 Widget")), "{msg}");
        assert!(msg.contains("fix:"), "{msg}");
        assert!(!msg.contains("Status {"), "{msg}");
    }
    // a kind no group serves says so
    let exit = run_to_exit(
        &args_for(&t, "nope.example.com", "v1", "Sprocket"),
        Some(t.cluster.kubeconfig()),
        LIMIT,
    );
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    assert!(
        message(&exit).contains("no API group serves kind Sprocket"),
        "{}",
        exit.stderr
    );
}

#[test]
fn no_kubeconfig_is_said_once() {
    let t = TestNs::new("pre-nokube");
    let exit = run_to_exit(&widget_args(&[&t.ns], &chart("configmap")), None, LIMIT);
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    let msg = message(&exit);
    assert!(msg.contains("no kubeconfig"), "{msg}");
    assert!(msg.contains("fix:") && msg.contains("KUBECONFIG"), "{msg}");
    assert!(
        exit.stderr.matches("No such file or directory").count() <= 1,
        "{}",
        exit.stderr
    );
}
