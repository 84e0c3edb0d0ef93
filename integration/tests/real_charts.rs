//! Real-world charts, unchanged, with values from CR specs: podinfo (through the
//! tenants example) and hello-world.

use std::time::Duration;

use integration::{chart, repo_root, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

fn env_of(d: &Value, var: &str) -> Option<String> {
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == var)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

#[test]
fn podinfo_per_tenant_from_the_tenants_example() {
    let t = TestNs::new("tenants");
    let ex = repo_root().join("examples/tenants");
    let path = |p: &str| ex.join(p).to_string_lossy().into_owned();
    t.cluster
        .kubectl(["apply", "-f", &path("crd.yaml")])
        .unwrap();
    t.cluster
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/tenants.platform.example.com",
        ])
        .unwrap();
    let args: Vec<String> = [
        "run",
        "--group",
        "platform.example.com",
        "--version",
        "v1alpha1",
        "--kind",
        "Tenant",
        "--namespace",
        &t.ns,
        "--chart",
        &path("chart"),
        "--values",
        &path("platform-values.yaml"),
        "--override-values",
        &path("override-values.yaml"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let _l = Lostromos::start_args(t.cluster.kubeconfig(), args);
    t.kubectl(&["apply", "-f", &path("tenants")]).unwrap();

    let ready = |name: &str| {
        wait_for(
            &format!("tenant {name} Ready"),
            Duration::from_secs(120),
            || {
                let out = t.kubectl(&["get", "tenant", name, "-o", "json"]).ok()?;
                let v: Value = serde_json::from_str(&out).ok()?;
                v["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "True"
                            && c["observedGeneration"] == v["metadata"]["generation"]
                    })
                    .then_some(v)
            },
        )
    };
    for name in ["acme", "globex", "initech"] {
        // no kubelet: the test plays the Deployment controller
        t.deployment_available(&format!("{name}-podinfo"));
        let v = ready(name);
        assert_eq!(v["status"]["release"]["chart"], "podinfo-6.14.1");
    }
    // the tenant's spec reached the chart, and the platform's overrides beat it
    let d = t
        .object("deployment", "acme-podinfo")
        .expect("acme's podinfo Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        env_of(&d, "PODINFO_UI_MESSAGE").as_deref(),
        Some("Welcome to ACME: everything you need, by mail order")
    );
    assert_eq!(env_of(&d, "PODINFO_UI_COLOR").as_deref(), Some("#c0392b"));
    let sc = &d["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/stefanprodan/podinfo:6.14.1"
    );

    // a tenant edit upgrades its release only
    t.kubectl(&[
        "patch",
        "tenant",
        "acme",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"ui":{"message":"hi"}}}"#,
    ])
    .unwrap();
    wait_for(
        "acme's Deployment upgraded",
        Duration::from_secs(120),
        || {
            let d = t.object("deployment", "acme-podinfo")?;
            (env_of(&d, "PODINFO_UI_MESSAGE").as_deref() == Some("hi")).then_some(())
        },
    );
    t.deployment_available("acme-podinfo");
    let v = ready("acme");
    assert_eq!(v["status"]["release"]["revision"], 2);
    assert_eq!(t.release("globex"), Some((1, "deployed".into())));
}

#[test]
fn hello_world_chart_unchanged_with_values_from_the_spec() {
    let t = TestNs::new("hello");
    let _l = Lostromos::start(&t, &chart("third-party/hello-world"), &[]);
    t.apply_widget("hw", json!({"replicaCount": 2, "service": {"port": 8080}}));
    t.deployment_available("hw-hello-world");
    let w = t.wait_ready("hw");
    assert_eq!(w["status"]["release"]["chart"], "hello-world-0.1.0");
    let d = t
        .object("deployment", "hw-hello-world")
        .expect("Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let svc: Value = serde_json::from_str(
        &t.kubectl(&["get", "service", "hw-hello-world", "-o", "json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
}
