//! The chart (`charts/lostromos`) with several kinds (`watches`): it renders
//! a watches file, its mounts and the RBAC of every kind; `watch` and
//! `watches` exclude each other; every key and flag it writes is one
//! `lostromos run` reads; installed on a real API server, its ServiceAccount
//! lets the real binary, run with the chart's own watches file, install a
//! release of each kind, and is denied what it does not need.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use integration::{
    chart, helm_binary, package, repo_root, run_to_exit, wait_for, Lostromos, TestNs, GROUP,
};
use serde_json::{json, Value};

/// The start of helm's error for values its `values.schema.json` refuses, the
/// same in helm 3 and helm 4.
const SCHEMA_ERROR: &str = "values don't meet the specifications of the schema(s)";

/// Where the chart mounts the watches file, as `--watches` names it.
const WATCHES: &str = "/etc/lostromos/watches/watches.yaml";

/// Two kinds of the suite's group, with most per-kind keys set: a Widget from
/// a chart in a ConfigMap with its values ConfigMaps and helm-operator's keys,
/// and a Gadget from a chart reference, released into namespace `rel`.
const TWO_KINDS: &str = r#"
rbac:
  clusterWide: false
  extraRules:
    - apiGroups: [""]
      resources: [configmaps]
      verbs: [get, list, watch, create, update, patch, delete]
adoptFrom: helm-operator
watches:
  - group: test.lostromos.dev
    version: v1
    kind: Widget
    plural: widgets
    namespaces: [apps]
    chart: {configMap: widget-chart}
    valuesConfigMaps: [widget-shared, widget-more]
    overrideValuesConfigMaps: [widget-forced]
    overrideValues:
      image.repository: $RELATED_IMAGE_WIDGET
      image.tag: "1.27"
    selector:
      matchLabels: {tier: web}
    reconcilePeriod: 1m30s
    maxConcurrentReconciles: 2
    watchDependentResources: false
    dryRunOption: server
    timeout: 2m
    historyMax: 5
    wait: true
  - group: test.lostromos.dev
    version: v1
    kind: Gadget
    plural: gadgets
    namespaces: [apps, more]
    chart: {reference: oci://example.com/charts/gadget, version: 1.2.3}
    releaseNamespace: rel
    filterAnnotation: example.com/managed
    readyTimeout: 30s
    drift: warn
    chartAnnotation: example.com/chart
    allowedCharts: [oci://example.com/]
"#;

/// One kind, the chart's other mode.
const SINGLE: &str =
    "watch: {group: g.example.com, version: v1, plural: things, namespaces: [apps]}
chart: {path: /charts/x}
";

/// The chart under test.
fn lostromos_chart() -> String {
    repo_root()
        .join("charts/lostromos")
        .to_string_lossy()
        .into_owned()
}

/// Runs `helm` (the given binary) with these arguments and no cluster:
/// (success, stdout, stderr).
fn run_helm(helm: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm)
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

/// A values file holding `text`, kept in `dir`.
fn values_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a values file");
    path.to_string_lossy().into_owned()
}

/// `helm template lostromos charts/lostromos -n ops -f VALUES EXTRA...`.
fn template(values: &str, extra: &[&str]) -> (bool, String, String) {
    let chart = lostromos_chart();
    let mut args = vec!["template", "lostromos", &chart, "-n", "ops", "-f", values];
    args.extend_from_slice(extra);
    run_helm(&helm_binary(), Path::new("/nonexistent-kubeconfig"), &args)
}

/// Like [`template`], panicking on failure; the rendered objects as JSON.
fn rendered(values: &str, extra: &[&str]) -> Vec<Value> {
    let (ok, out, stderr) = template(values, extra);
    assert!(ok, "helm template {extra:?}: {stderr}");
    objects(&out)
}

/// The objects of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("a rendered YAML document"))
        .filter(|doc| doc.get("kind").is_some())
        .collect()
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in {objects:#?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The container's arguments of a Deployment.
fn args_of(deployment: &Value) -> Vec<String> {
    strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"])
}

/// The watches file in the chart's ConfigMap, parsed.
fn watches_file(objects: &[Value]) -> Value {
    let cm = named(objects, "ConfigMap", "lostromos-watches");
    let text = cm["data"]["watches.yaml"]
        .as_str()
        .expect("data.watches.yaml");
    serde_saphyr::from_str(text).expect("the watches file is YAML")
}

/// The ConfigMap volumes of a Deployment's pod, as (mountPath, ConfigMap,
/// item key), in mount order.
fn config_map_mounts(deployment: &Value) -> Vec<(String, String, Option<String>)> {
    let pod = &deployment["spec"]["template"]["spec"];
    let volumes = pod["volumes"].as_array().expect("volumes");
    pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .filter_map(|m| {
            let v = volumes.iter().find(|v| v["name"] == m["name"])?;
            let cm = v.get("configMap")?;
            assert_eq!(m["readOnly"], true, "{m}");
            let key = cm["items"].as_array().map(|items| {
                assert_eq!(items.len(), 1, "{cm}");
                assert_eq!(items[0]["key"], items[0]["path"], "{cm}");
                items[0]["key"].as_str().unwrap().to_owned()
            });
            Some((
                m["mountPath"].as_str().unwrap().to_owned(),
                cm["name"].as_str().unwrap().to_owned(),
                key,
            ))
        })
        .collect()
}

/// The rules of each Role, by namespace, and the Lease Role apart.
fn roles_by_namespace(objects: &[Value]) -> std::collections::BTreeMap<String, Vec<Value>> {
    of_kind(objects, "Role")
        .into_iter()
        .filter(|r| {
            !r["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-leader-election")
        })
        .map(|r| {
            (
                r["metadata"]["namespace"].as_str().unwrap().to_owned(),
                r["rules"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// The rules on the suite's watched types, for these plurals.
fn type_rules(plurals: &[&str]) -> Vec<Value> {
    let with =
        |suffix: &str| -> Vec<String> { plurals.iter().map(|p| format!("{p}{suffix}")).collect() };
    vec![
        json!({"apiGroups": [GROUP], "resources": plurals, "verbs": ["get", "list", "watch", "patch"]}),
        json!({"apiGroups": [GROUP], "resources": with("/status"), "verbs": ["get", "patch", "update"]}),
        json!({"apiGroups": [GROUP], "resources": with("/finalizers"), "verbs": ["update"]}),
    ]
}

fn events_rule() -> Value {
    rule(&["events.k8s.io"], &["events"], &["create", "patch"])
}

fn secrets_rule() -> Value {
    rule(
        &[""],
        &["secrets"],
        &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    )
}

fn configmaps_rule() -> Value {
    rule(
        &[""],
        &["configmaps"],
        &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    )
}

/// The object-watch rules of the default `rbac.objects`: list and watch only.
fn is_object_rule(r: &Value) -> bool {
    r["verbs"] == json!(["list", "watch"])
}

#[test]
fn two_kinds_render_one_watches_file_its_mounts_and_rbac_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(dir.path(), "two.yaml", TWO_KINDS);
    let objects = rendered(&values, &[]);
    let deployment = named(&objects, "Deployment", "lostromos");

    // the kinds are in the file; the flags are the process's and every kind's defaults
    assert_eq!(
        args_of(deployment),
        [
            "run",
            "--watches",
            WATCHES,
            "--concurrency",
            "4",
            "--timeout",
            "5m",
            "--history-max",
            "3",
            "--reconcile-period",
            "10m",
            "--adopt-from",
            "helm-operator",
            "--log-format",
            "json",
            "--listen",
            "0.0.0.0:8080",
            "--shutdown-grace",
            "30s",
        ]
    );

    // the file: helm-operator's keys as they are, the chart's under run's long
    // names, each ConfigMap at its own path
    assert_eq!(
        watches_file(&objects),
        json!([
            {
                "group": GROUP, "version": "v1", "kind": "Widget",
                "chart": "/etc/lostromos/kinds/0/chart/chart.tgz",
                "namespace": ["apps"],
                "values": [
                    "/etc/lostromos/kinds/0/values/0/values.yaml",
                    "/etc/lostromos/kinds/0/values/1/values.yaml",
                ],
                "override-values": ["/etc/lostromos/kinds/0/override-values/0/values.yaml"],
                "overrideValues": {"image.repository": "$RELATED_IMAGE_WIDGET", "image.tag": "1.27"},
                "selector": {"matchLabels": {"tier": "web"}},
                "reconcilePeriod": "1m30s",
                "maxConcurrentReconciles": 2,
                "watchDependentResources": false,
                "dryRunOption": "server",
                "timeout": "2m",
                "history-max": 5,
                "wait": true,
            },
            {
                "group": GROUP, "version": "v1", "kind": "Gadget",
                "chart": "oci://example.com/charts/gadget",
                "chart-version": "1.2.3",
                "namespace": ["apps", "more"],
                "release-namespace": "rel",
                "filter-annotation": "example.com/managed",
                "ready-timeout": "30s",
                "drift": "warn",
                "chart-annotation": "example.com/chart",
                "allowed-chart": ["oci://example.com/"],
            },
        ])
    );

    // mounted: the file where --watches points, each ConfigMap where the file points
    assert_eq!(
        config_map_mounts(deployment),
        [
            ("/etc/lostromos/watches", "lostromos-watches", None),
            (
                "/etc/lostromos/kinds/0/chart",
                "widget-chart",
                Some("chart.tgz")
            ),
            (
                "/etc/lostromos/kinds/0/values/0",
                "widget-shared",
                Some("values.yaml")
            ),
            (
                "/etc/lostromos/kinds/0/values/1",
                "widget-more",
                Some("values.yaml")
            ),
            (
                "/etc/lostromos/kinds/0/override-values/0",
                "widget-forced",
                Some("values.yaml")
            ),
        ]
        .map(|(p, c, k)| (p.to_owned(), c.to_owned(), k.map(str::to_owned)))
    );

    // a changed entry restarts the pod: the file's checksum is on the pod template
    let checksum = |objects: &[Value]| {
        named(objects, "Deployment", "lostromos")["spec"]["template"]["metadata"]["annotations"]
            ["checksum/watches"]
            .as_str()
            .expect("the checksum/watches annotation")
            .to_owned()
    };
    let before = checksum(&objects);
    assert_eq!(before.len(), 64, "{before}");
    assert!(before.chars().all(|c| c.is_ascii_hexdigit()), "{before}");
    let changed = rendered(&values, &["--set", "watches[1].timeout=3m"]);
    assert_eq!(watches_file(&changed)[1]["timeout"], "3m");
    assert_ne!(checksum(&changed), before);
    assert_eq!(checksum(&rendered(&values, &[])), before, "not stable");

    // RBAC: one Role per namespace with the union of its kinds' needs
    assert!(of_kind(&objects, "ClusterRole").is_empty());
    let roles = roles_by_namespace(&objects);
    assert_eq!(
        roles.keys().collect::<Vec<_>>(),
        ["apps", "more", "rel"],
        "{roles:#?}"
    );
    // apps: both kinds' CRs (one rule per verb set for both), the Widgets'
    // releases (Secrets, extraRules), no object watches (the Widget turns them off)
    let mut apps = type_rules(&["widgets", "gadgets"]);
    apps.extend([events_rule(), secrets_rule(), configmaps_rule()]);
    assert_eq!(roles["apps"], apps);
    // more: Gadgets only, whose releases live in rel
    let mut more = type_rules(&["gadgets"]);
    more.push(events_rule());
    assert_eq!(roles["more"], more);
    // rel: the Gadgets' releases and their objects, no CRs
    let rel = &roles["rel"];
    assert_eq!(rel[0], secrets_rule());
    assert_eq!(rel.last(), Some(&configmaps_rule()));
    assert_eq!(
        rel.iter().filter(|r| is_object_rule(r)).count(),
        5,
        "{rel:#?}"
    );
    assert_eq!(rel.len(), 7, "{rel:#?}");
    for binding in of_kind(&objects, "RoleBinding") {
        let name = &binding["metadata"]["name"];
        assert_eq!(binding["roleRef"]["name"], *name, "{binding}");
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "lostromos", "namespace": "ops"}])
        );
    }
    assert_eq!(of_kind(&objects, "RoleBinding").len(), 3);

    // the single-kind mode is untouched: no watches file, no checksum
    let single = rendered(&values_file(dir.path(), "single.yaml", SINGLE), &[]);
    assert!(of_kind(&single, "ConfigMap").is_empty());
    let d = named(&single, "Deployment", "lostromos");
    assert!(
        d["spec"]["template"]["metadata"]
            .get("annotations")
            .is_none(),
        "{d}"
    );
    assert!(!args_of(d).iter().any(|a| a == "--watches"));
    // where adoptFrom is a flag too
    let adopting = rendered(
        &values_file(
            dir.path(),
            "adopting.yaml",
            &format!("{SINGLE}adoptFrom: helm-operator\n"),
        ),
        &[],
    );
    let args = args_of(named(&adopting, "Deployment", "lostromos"));
    let at = args
        .iter()
        .position(|a| a == "--adopt-from")
        .expect("--adopt-from");
    assert_eq!(args[at + 1], "helm-operator");
}

#[test]
fn cluster_wide_watches_make_one_cluster_role_and_the_lease_once() {
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(dir.path(), "two.yaml", TWO_KINDS);
    let cw = ["--set", "rbac.clusterWide=true"];

    // the Widgets' releases live anywhere their CRs do: Secrets cluster-wide,
    // so the Gadgets' release namespace needs no Role of its own
    let objects = rendered(&values, &cw);
    let roles = of_kind(&objects, "ClusterRole");
    assert_eq!(roles.len(), 1);
    let rules = roles[0]["rules"].as_array().unwrap();
    let mut want = type_rules(&["widgets", "gadgets"]);
    want.extend([events_rule(), secrets_rule(), configmaps_rule()]);
    assert_eq!(rules[..6], want[..], "{rules:#?}");
    // the Gadgets watch their objects
    assert_eq!(rules[6..].iter().filter(|r| is_object_rule(r)).count(), 5);
    assert_eq!(rules.len(), 11);
    assert!(of_kind(&objects, "Role").is_empty(), "{objects:#?}");

    // every kind's releases in one namespace and no object watches: Secrets
    // only there, no object rules at all
    let objects = rendered(
        &values,
        &[
            "--set",
            "rbac.clusterWide=true",
            "--set",
            "releaseNamespace=rel",
            "--set",
            "watchObjects=false",
        ],
    );
    let rules = of_kind(&objects, "ClusterRole")[0]["rules"]
        .as_array()
        .unwrap()
        .clone();
    let mut want = type_rules(&["widgets", "gadgets"]);
    want.extend([events_rule(), configmaps_rule()]);
    assert_eq!(rules, want);
    let roles = roles_by_namespace(&objects);
    assert_eq!(roles.len(), 1, "{roles:#?}");
    assert_eq!(roles["rel"], [secrets_rule()]);
    // the top-level defaults reach lostromos as flags, beneath each entry's own
    let args = args_of(named(&objects, "Deployment", "lostromos"));
    for flag in ["--watch-objects=false", "--release-namespace"] {
        assert!(args.iter().any(|a| a == flag), "{flag} in {args:?}");
    }

    // two replicas: leader election, and its Lease Role once for all kinds
    let objects = rendered(&values, &["--set", "replicas=2"]);
    let lease: Vec<&Value> = of_kind(&objects, "Role")
        .into_iter()
        .filter(|r| r["rules"].to_string().contains("leases"))
        .collect();
    assert_eq!(lease.len(), 1, "{objects:#?}");
    assert_eq!(lease[0]["metadata"]["namespace"], "ops");
    let args = args_of(named(&objects, "Deployment", "lostromos"));
    assert!(args.iter().any(|a| a == "--leader-elect"), "{args:?}");
}

#[test]
fn watch_and_watches_are_exclusive_and_each_entry_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(dir.path(), "two.yaml", TWO_KINDS);

    // the schema refuses watch.* or chart.* beside watches, naming the value
    for (set, name) in [
        ("watch.group=example.com", "group"),
        ("watch.plural=things", "plural"),
        ("chart.path=/charts/app", "path"),
    ] {
        let (ok, _, stderr) = template(&values, &["--set", set]);
        assert!(!ok, "{set} was accepted");
        assert!(stderr.contains(SCHEMA_ERROR), "{set}: {stderr}");
        assert!(stderr.contains(name), "{name} for {set}: {stderr}");
    }
    // and the chart itself, when the schema is not checked, in words
    let (ok, _, stderr) = template(
        &values,
        &[
            "--set",
            "watch.group=example.com",
            "--set",
            "chart.path=/charts/app",
            "--skip-schema-validation",
        ],
    );
    assert!(!ok);
    assert!(
        stderr.contains(
            "watch and watches are exclusive: watches lists 2 kind(s), each with its own chart, \
             and watch.group, chart.path are set too; one installation serves either one kind \
             (watch + chart) or the kinds of watches"
        ),
        "{stderr}"
    );

    // each entry's keys are the schema's: a typo, a missing plural, a bad value
    for (extra, names) in [
        (
            &["--set-json", r#"watches[0].chrat="x""#][..],
            &["chrat", "not allowed"][..],
        ),
        (
            &["--set-json", r#"watches[1].release-namespace="x""#],
            &["release-namespace", "not allowed"],
        ),
        (&["--set-json", r#"watches[1].plural="""#], &["plural"]),
        (
            &["--set-json", r#"watches[1].adoptFrom="helm""#],
            &["adoptFrom"],
        ),
        (
            &["--set-json", r#"watches[0].maxConcurrentReconciles=0"#],
            &["maxConcurrentReconciles"],
        ),
        (
            &["--set-json", r#"watches[0].chart={"pth":"/x"}"#],
            &["pth", "not allowed"],
        ),
        (&["--set", "adoptFrom=kopf"], &["adoptFrom"]),
    ] {
        let (ok, _, stderr) = template(&values, extra);
        assert!(!ok, "{extra:?} was accepted");
        assert!(stderr.contains(SCHEMA_ERROR), "{extra:?}: {stderr}");
        for name in names {
            assert!(stderr.contains(name), "{name} for {extra:?}: {stderr}");
        }
    }
    // without plural at all: required
    let no_plural = values_file(
        dir.path(),
        "no-plural.yaml",
        "rbac: {clusterWide: true}\nwatches: [{group: g.example.com, version: v1, kind: Thing, chart: /c}]\n",
    );
    let (ok, _, stderr) = template(&no_plural, &[]);
    assert!(!ok);
    assert!(
        stderr.contains(SCHEMA_ERROR) && stderr.contains("plural"),
        "{stderr}"
    );

    // what only the chart can tell, naming the entry
    for (extra, message) in [
        (
            &["--set-json", r#"watches[1].chart={}"#][..],
            "watches[1] (kind Gadget): no chart to drive: set exactly one of watches[1].chart.path",
        ),
        (
            &["--set-json", r#"watches[1].chart={"path":"/charts/g","configMap":"g"}"#],
            "watches[1] (kind Gadget): ambiguous chart: watches[1].chart.path, watches[1].chart.configMap are set",
        ),
        (
            &["--set-json", r#"watches[1].kind="Widget""#],
            "watches[0] and watches[1] both watch kind Widget of group test.lostromos.dev",
        ),
        (
            &["--set-json", r#"watches[1].namespaces=[]"#],
            "watches[1] (kind Gadget): rbac.clusterWide=false needs watches[1].namespaces",
        ),
        (
            &[
                "--set-json",
                r#"watches[1].namespaces=[]"#,
                "--set-json",
                r#"watches[1].clusterScoped=true"#,
            ],
            "watches[1] (kind Gadget): watches[1].clusterScoped needs rbac.clusterWide=true",
        ),
        (
            &[
                "--set",
                "rbac.clusterWide=true",
                "--set-json",
                r#"watches[0].clusterScoped=true"#,
                "--set-json",
                r#"watches[0].namespaces=[]"#,
            ],
            "watches[0] (kind Widget): watches[0].clusterScoped needs a releaseNamespace",
        ),
        (
            &[
                "--set-json",
                r#"watches[0].chart={"templatesPath":"/templates"}"#,
                "--set",
                "watches[0].valuesLayout=resource",
            ],
            "watches[0] (kind Widget): watches[0].valuesLayout does not apply to templates",
        ),
        (
            &["--set-json", r#"watches[1].chart={"path":"/charts/g","version":"1"}"#],
            "watches[1] (kind Gadget): watches[1].chart.version applies only to chart.reference",
        ),
        (
            &["--set", "watches[0].watchObjects=true"],
            "watches[0] (kind Widget): watchObjects and watchDependentResources are one option",
        ),
        (
            &["--set-json", r#"watches[1].allowedCharts=[]"#],
            "watches[1] (kind Gadget): chartAnnotation needs allowedCharts",
        ),
    ] {
        let (ok, _, stderr) = template(&values, extra);
        assert!(!ok, "{extra:?} rendered");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
    }
}

#[test]
fn chart_with_watches_lints_with_helm_3_and_4() {
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(dir.path(), "two.yaml", TWO_KINDS);
    let chart = lostromos_chart();
    let bins = testenv::Binaries::locate().expect("test binaries");
    let nowhere = Path::new("/nonexistent-kubeconfig");
    for helm in [&bins.helm3, &bins.helm4] {
        // as `just lint` runs it, and strictly with two kinds in both RBAC modes
        for args in [
            vec!["lint", chart.as_str()],
            vec!["lint", "--strict", chart.as_str(), "-f", &values],
            vec![
                "lint",
                "--strict",
                chart.as_str(),
                "-f",
                &values,
                "--set",
                "rbac.clusterWide=true",
                "--set",
                "replicas=2",
            ],
        ] {
            let (ok, out, stderr) = run_helm(helm, nowhere, &args);
            assert!(ok, "{} {args:?}:\n{out}\n{stderr}", helm.display());
            assert!(out.contains("0 chart(s) failed"), "{out}");
        }
        // and lint refuses what the schema refuses
        let (ok, out, stderr) = run_helm(
            helm,
            nowhere,
            &[
                "lint",
                chart.as_str(),
                "-f",
                &values,
                "--set",
                "watch.group=example.com",
            ],
        );
        assert!(
            !ok,
            "{}: lint accepted watch beside watches: {out}",
            helm.display()
        );
        assert!(format!("{out}{stderr}").contains("group"), "{out}{stderr}");
    }
}

/// Writes the ConfigMap volumes of a rendered Deployment under `root` (each
/// item at `root/<mountPath>/<key>`) with stand-ins: a packaged `configmap`
/// chart for chart.tgz, `{"<ConfigMap>": true}` for values.yaml, the Go
/// templates of examples/characters-templates for a whole-ConfigMap mount,
/// and `watches` for the watches file.
fn stand_in_mounts(deployment: &Value, root: &Path, watches: &str) {
    let packaged = tempfile::tempdir().unwrap();
    let tgz = package(&chart("configmap"), packaged.path());
    for (mount, config_map, key) in config_map_mounts(deployment) {
        let dir = root.join(mount.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        match key.as_deref() {
            Some("chart.tgz") => {
                std::fs::copy(&tgz, dir.join("chart.tgz")).unwrap();
            }
            Some("values.yaml") => {
                std::fs::write(dir.join("values.yaml"), format!("{config_map}: true\n")).unwrap()
            }
            Some(other) => panic!("unexpected item {other}"),
            None if mount == "/etc/lostromos/watches" => {
                std::fs::write(dir.join("watches.yaml"), watches).unwrap()
            }
            None => {
                let from = repo_root().join("examples/characters-templates/templates");
                for f in std::fs::read_dir(from).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
                }
            }
        }
    }
}

#[test]
fn every_key_and_flag_the_chart_writes_is_one_lostromos_run_reads() {
    // every per-kind key the chart knows on one entry or the other (a chart,
    // templates), and every optional top-level value
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(
        dir.path(),
        "all.yaml",
        r#"
rbac: {clusterWide: true}
values: {configMaps: [shared]}
overrideValues: {configMaps: [forced]}
valuesLayout: resource
metadataKey: cr
releasePrefix: t
releaseNamespace: apps
wait: true
dryRun: true
watchObjects: false
readyTimeout: 30s
drift: warn
adoptFrom: helm-operator
logLevel: debug
replicas: 2
watches:
  - group: test.lostromos.dev
    version: v1
    kind: Widget
    plural: widgets
    namespaces: [a, b]
    chart: {configMap: widget-chart}
    valuesConfigMaps: [widget-shared]
    overrideValuesConfigMaps: [widget-forced]
    overrideValues: {image.tag: "1.27"}
    selector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}
    reconcilePeriod: 90
    maxConcurrentReconciles: 1
    watchDependentResources: true
    dryRunOption: none
    filterAnnotation: example.com/managed
    valuesLayout: spec
    metadataKey: meta
    releasePrefix: w
    releaseNamespace: rel
    timeout: 1h30m
    wait: false
    historyMax: 2
    readyTimeout: 1m
    drift: correct
    adoptFrom: helm-operator
    chartAnnotation: example.com/chart
    allowedCharts: [oci://example.com/]
  - group: test.lostromos.dev
    version: v1
    kind: Gadget
    plural: gadgets
    chart: {templatesConfigMap: gadget-templates}
    selector: tier=web
    watchObjects: true
  - group: test.lostromos.dev
    version: v1
    kind: ClusterWidget
    plural: clusterwidgets
    clusterScoped: true
    chart: {reference: oci://example.com/charts/clusterwidget, version: 1.0.0}
  - group: test.lostromos.dev
    version: v1
    kind: Sprocket
    plural: sprockets
    chart: /charts/sprocket
"#,
    );
    let objects = rendered(&values, &[]);
    let deployment = named(&objects, "Deployment", "lostromos");
    let file = watches_file(&objects);
    let keys: std::collections::BTreeSet<&str> = file
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e.as_object().unwrap().keys().map(String::as_str))
        .collect();
    let every: std::collections::BTreeSet<&str> = [
        "adopt-from",
        "allowed-chart",
        "chart",
        "chart-annotation",
        "chart-version",
        "drift",
        "dryRunOption",
        "filter-annotation",
        "group",
        "history-max",
        "kind",
        "maxConcurrentReconciles",
        "metadata-key",
        "namespace",
        "override-values",
        "overrideValues",
        "ready-timeout",
        "reconcilePeriod",
        "release-namespace",
        "release-prefix",
        "selector",
        "templates",
        "timeout",
        "values",
        "values-layout",
        "version",
        "wait",
        "watch-objects",
        "watchDependentResources",
    ]
    .into();
    assert_eq!(keys, every);

    // the pod's files, stood in for under a folder of this machine
    let root = tempfile::tempdir().unwrap();
    let on_root = |s: &str| {
        s.replace(
            "/etc/lostromos/",
            &format!("{}/etc/lostromos/", root.path().display()),
        )
        .replace("/charts/sprocket", &chart("configmap"))
    };
    let text = named(&objects, "ConfigMap", "lostromos-watches")["data"]["watches.yaml"]
        .as_str()
        .unwrap()
        .to_owned();
    stand_in_mounts(deployment, root.path(), &on_root(&text));
    let mut args: Vec<String> = args_of(deployment).iter().map(|a| on_root(a)).collect();
    args.extend(["--kubeconfig".into(), "/nonexistent-kubeconfig".into()]);
    assert!(args.iter().any(|a| a == "--adopt-from"), "{args:?}");

    // lostromos reads all of it, and stops only at what the test left out: a cluster
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_to_exit(&args, &[], Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("--kubeconfig /nonexistent-kubeconfig: no such file"),
        "{}",
        out.stderr
    );
    let problems: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("--watches") || l.contains("entry") || l.contains("unknown"))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\n{}", out.stderr);
}

#[test]
fn the_readme_two_kind_example_renders_the_file_it_shows() {
    let readme = std::fs::read_to_string(repo_root().join("charts/lostromos/README.md")).unwrap();
    let values = readme
        .split_once("cat > platform-values.yaml <<'EOF'\n")
        .and_then(|(_, rest)| rest.split_once("\nEOF\n"))
        .map(|(values, _)| values)
        .expect("the two-kind example's values in charts/lostromos/README.md");
    let shown = readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        .find(|block| block.starts_with("# Rendered by the Lostrómos chart"))
        .expect("the rendered watches file in charts/lostromos/README.md");
    let dir = tempfile::tempdir().unwrap();
    let values = values_file(dir.path(), "platform-values.yaml", values);
    let chart = lostromos_chart();
    let (ok, out, stderr) = run_helm(
        &helm_binary(),
        Path::new("/nonexistent-kubeconfig"),
        &[
            "template", "platform", &chart, "-n", "platform", "-f", &values,
        ],
    );
    assert!(ok, "{stderr}");
    let objects = objects(&out);
    let cm = named(&objects, "ConfigMap", "platform-lostromos-watches");
    assert_eq!(
        cm["data"]["watches.yaml"].as_str().unwrap().trim_end(),
        shown
    );
    // a Role per namespace of the example, each for its own kind
    let roles = roles_by_namespace(&objects);
    assert_eq!(
        roles.keys().collect::<Vec<_>>(),
        ["characters", "team-a", "team-b"]
    );
    assert!(roles["characters"][0]
        .to_string()
        .contains("\"characters\""));
    assert!(roles["team-a"][0].to_string().contains("\"tenants\""));
}

/// A kubeconfig for ServiceAccount `sa` of `ns`, with a token from the
/// TokenRequest API and the admin kubeconfig's CA.
fn service_account_kubeconfig(t: &TestNs, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    let token = t
        .cluster
        .kubectl(["-n", ns, "create", "token", sa, "--duration", "1h"])
        .expect("kubectl create token (TokenRequest API)");
    let admin = std::fs::read_to_string(t.cluster.kubeconfig()).expect("admin kubeconfig");
    let ca = admin
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("certificate-authority-data in the admin kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    \
         server: \"{server}\"\n    certificate-authority-data: \"{ca}\"\nusers:\n- name: {sa}\n  \
         user:\n    token: \"{token}\"\ncontexts:\n- name: {sa}\n  context:\n    \
         cluster: testenv\n    user: {sa}\n    namespace: {ns}\ncurrent-context: {sa}\n",
        server = t.cluster.server_url(),
        token = token.trim(),
    );
    let path = dir.join(format!("kubeconfig-{sa}"));
    std::fs::write(&path, text).expect("write SA kubeconfig");
    path
}

/// `kubectl auth can-i ARGS --as system:serviceaccount:NS:SA`.
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

/// Writes the installed Deployment's ConfigMap volumes under `root` as the
/// kubelet would (each item at `root/<mountPath>/<key>`, binaryData decoded),
/// from the ConfigMaps on the API server.
fn mount_from_cluster(t: &TestNs, deployment: &Value, root: &Path) {
    for (mount, config_map, key) in config_map_mounts(deployment) {
        let cm = t
            .object("configmap", &config_map)
            .unwrap_or_else(|| panic!("ConfigMap {config_map}, mounted at {mount}"));
        let dir = root.join(mount.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        let mut keys: Vec<String> = cm["data"]
            .as_object()
            .into_iter()
            .chain(cm["binaryData"].as_object())
            .flat_map(|m| m.keys().cloned())
            .collect();
        if let Some(key) = key {
            keys.retain(|k| *k == key);
            assert_eq!(
                keys,
                std::slice::from_ref(&key),
                "{config_map} has no {key}"
            );
        }
        for k in keys {
            let bytes = match (cm["data"][&k].as_str(), cm["binaryData"][&k].as_str()) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(b64)) => base64_decode(b64),
                _ => unreachable!(),
            };
            std::fs::write(dir.join(&k), bytes).unwrap();
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("base64");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "base64 -d");
    out.stdout
}

fn apply_gadget(t: &TestNs, name: &str, spec: Value) {
    let obj = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Gadget",
        "metadata": {"name": name, "namespace": t.ns}, "spec": spec,
    });
    t.apply(&obj.to_string());
}

/// Waits until the CR is Ready for its current generation.
fn wait_ready(t: &TestNs, kind: &str, name: &str) -> Value {
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
            ready.then_some(o)
        },
    )
}

#[test]
fn two_kinds_installed_run_lostromos_as_the_service_account_and_nothing_more() {
    let t = TestNs::new("chart-kinds");
    let ns = t.ns.clone();
    let rel = TestNs {
        cluster: t.cluster,
        ns: t.cluster.create_namespace("chart-kinds-rel").unwrap(),
    };
    let other = t.cluster.create_namespace("chart-kinds-other").unwrap();

    // Widgets from a chart in a ConfigMap (as the values' comment says to make
    // it), without object watches; Gadgets from a chart in the image, released
    // into their own namespace
    let dir = tempfile::tempdir().unwrap();
    let packaged = dir.path().join("packaged");
    std::fs::create_dir(&packaged).unwrap();
    let tgz = package(&chart("configmap"), &packaged);
    t.kubectl(&[
        "create",
        "configmap",
        "widget-chart",
        &format!("--from-file=chart.tgz={}", tgz.display()),
    ])
    .unwrap();
    let values = values_file(
        dir.path(),
        "kinds.yaml",
        &format!(
            r#"
rbac:
  clusterWide: false
  extraRules:
    - apiGroups: [""]
      resources: [configmaps]
      verbs: [get, list, watch, create, update, patch, delete]
watches:
  - group: {GROUP}
    version: v1
    kind: Widget
    plural: widgets
    namespaces: [{ns}]
    chart: {{configMap: widget-chart}}
    watchDependentResources: false
    maxConcurrentReconciles: 1
  - group: {GROUP}
    version: v1
    kind: Gadget
    plural: gadgets
    namespaces: [{ns}]
    chart: {{path: /charts/gadget}}
    releaseNamespace: {rel}
"#,
            rel = rel.ns
        ),
    );
    let chart_dir = lostromos_chart();
    let (ok, _, stderr) = run_helm(
        &helm_binary(),
        t.cluster.kubeconfig(),
        &["install", "lostromos", &chart_dir, "-n", &ns, "-f", &values],
    );
    assert!(ok, "helm install: {stderr}");

    // what the API server accepted: the file, and a Role where each kind needs one
    let d = t.object("deployment", "lostromos").expect("the Deployment");
    let mut args = args_of(&d);
    assert_eq!(args[..3], ["run", "--watches", WATCHES]);
    t.object("configmap", "lostromos-watches")
        .expect("the watches ConfigMap");
    t.object("role", "lostromos").expect("the Role of the CRs");
    rel.object("role", &format!("{ns}-lostromos"))
        .expect("the Role of the Gadgets' releases");

    // Lostrómos as the chart's ServiceAccount, with the chart's own watches
    // file and ConfigMaps laid out as the kubelet mounts them: only the pod's
    // paths become this machine's (and the image's chart a local one)
    let root = tempfile::tempdir().unwrap();
    mount_from_cluster(&t, &d, root.path());
    let file = root.path().join(WATCHES.trim_start_matches('/'));
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            "/etc/lostromos/",
            &format!("{}/etc/lostromos/", root.path().display()),
        )
        .replace("/charts/gadget", &chart("schema"));
    std::fs::write(&file, text).unwrap();
    for i in 0..args.len() - 1 {
        match args[i].as_str() {
            "--watches" => args[i + 1] = file.to_string_lossy().into_owned(),
            "--listen" => args[i + 1] = "127.0.0.1:0".to_owned(),
            _ => {}
        }
    }
    let kubeconfig = service_account_kubeconfig(&t, &ns, "lostromos", dir.path());
    let l = Lostromos::start_args(&kubeconfig, args);

    // a release of each kind, each from its own chart
    t.apply_widget("w1", json!({"from": "widget"}));
    apply_gadget(&t, "g1", json!({"name": "g", "replicas": 2}));
    let w = wait_ready(&t, "widget", "w1");
    let g = wait_ready(&t, "gadget", "g1");
    assert_eq!(w["status"]["release"]["status"], "deployed", "{w}");
    assert_eq!(g["status"]["release"]["status"], "deployed", "{g}");
    assert_eq!(t.release("w1"), Some((1, "deployed".into())));
    assert_eq!(t.released_values("w1"), Some(json!({"from": "widget"})));
    assert_eq!(rel.release("g1"), Some((1, "deployed".into())));
    assert_eq!(t.release("g1"), None);
    assert_eq!(
        rel.released_values("g1"),
        Some(json!({"name": "g", "replicas": 2}))
    );
    let (code, body) = l.http_get("/readyz");
    assert_eq!(code, 200, "{body}");

    // and nothing beyond what the kinds need
    let yes = |args: &[&str]| assert!(can_i(&t, &ns, "lostromos", args), "can-i {args:?}: no");
    let no = |args: &[&str]| assert!(!can_i(&t, &ns, "lostromos", args), "can-i {args:?}: yes");
    for kind in ["widgets", "gadgets"] {
        let kind = format!("{kind}.{GROUP}");
        yes(&["watch", &kind, "-n", &ns]);
        yes(&["patch", &kind, "--subresource=status", "-n", &ns]);
        no(&["create", &kind, "-n", &ns]);
        no(&["delete", &kind, "-n", &ns]);
        no(&["list", &kind, "-n", &rel.ns]);
        no(&["list", &kind, "-n", &other]);
        no(&["list", &kind, "--all-namespaces"]);
    }
    no(&["list", &format!("clusterwidgets.{GROUP}")]);
    yes(&["create", "secrets", "-n", &rel.ns]);
    no(&["list", "secrets", "-n", &other]);
    no(&["create", "configmaps", "-n", &other]);
    // the object watches where Gadgets' releases live, not where the Widgets'
    // (which turned them off) do
    yes(&["watch", "deployments.apps", "-n", &rel.ns]);
    no(&["watch", "deployments.apps", "-n", &ns]);
    no(&["create", "leases.coordination.k8s.io", "-n", &ns]);
    no(&["create", "roles", "-n", &ns]);
    // asked for real, as the ServiceAccount: refused
    let denied = Command::new(&t.cluster.binaries().kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-n", &other, "get", "secrets"])
        .output()
        .expect("kubectl get secrets as the ServiceAccount");
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("Forbidden") && stderr.contains("cannot list resource \"secrets\""),
        "{stderr}"
    );
    assert!(
        !l.logs().to_lowercase().contains("forbidden"),
        "{}",
        l.logs()
    );
}
