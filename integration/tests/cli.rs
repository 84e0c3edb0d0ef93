//! The commands (`render`, `version`, `run`) and what `run` checks before it
//! starts: clear messages, a non-zero exit, quickly.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use integration::{chart, helm_binary, repo_root, wait_for, widget_args, Lostromos, TestNs, GROUP};
use serde_json::{json, Value};

type Run = integration::Finished;

/// Runs `lostromos ARGS` offline-clean (see `integration::run_to_exit`).
fn lostromos(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    integration::run_to_exit(args, env, timeout)
}

fn helm() -> String {
    helm_binary().to_string_lossy().into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// A Widget as a YAML file (JSON is YAML).
fn cr_file(dir: &Path, name: &str, namespace: &str, spec: Value) -> PathBuf {
    let cr = json!({
        "apiVersion": format!("{GROUP}/v1"), "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace}, "spec": spec,
    });
    write(dir, &format!("{name}.yaml"), &cr.to_string())
}

/// The values block `render` prints as `#` comments, parsed back.
fn rendered_values(stdout: &str) -> Value {
    let text: String = stdout
        .lines()
        .skip_while(|l| !l.starts_with("# values:"))
        .skip(1)
        .take_while(|l| l.starts_with("#   "))
        .map(|l| &l[4..])
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("values block {text:?}: {e}\n{stdout}"))
}

/// `data.values.json` of the ConfigMap in `render`'s manifests.
fn manifest_values(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("values.json: "))
        .unwrap_or_else(|| panic!("no values.json in the manifests:\n{stdout}"));
    let inner: String = serde_json::from_str(line).expect("a quoted string");
    serde_json::from_str(&inner).expect("values JSON")
}

const QUICK: Duration = Duration::from_secs(30);
const OFFLINE: (&str, &str) = ("KUBECONFIG", "/nonexistent");

#[test]
fn render_prints_values_and_manifests_offline() {
    let dir = tempfile::tempdir().unwrap();
    let cr = cr_file(dir.path(), "w", "shop", json!({"color": "blue", "size": 3}));
    let cr = cr.to_str().unwrap();
    let configmap = chart("configmap");

    let run = lostromos(
        &[
            "render",
            "--cr",
            cr,
            "--chart",
            &configmap,
            "--helm-binary",
            &helm(),
        ],
        &[OFFLINE],
        QUICK,
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(
        run.stdout.lines().next(),
        Some("# release w in namespace shop"),
        "{}",
        run.stdout
    );
    assert_eq!(
        rendered_values(&run.stdout),
        json!({"color": "blue", "size": 3})
    );
    assert!(run.stdout.contains("kind: ConfigMap"), "{}", run.stdout);
    assert!(run.stdout.contains("name: w-values"), "{}", run.stdout);
    assert_eq!(
        manifest_values(&run.stdout),
        json!({"color": "blue", "size": 3})
    );

    let run = lostromos(
        &[
            "render",
            "--cr",
            cr,
            "--chart",
            &configmap,
            "--helm-binary",
            &helm(),
            "--values-layout",
            "resource",
        ],
        &[OFFLINE],
        QUICK,
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let expected = json!({"resource": {"name": "w", "namespace": "shop", "spec": {"color": "blue", "size": 3}}});
    assert_eq!(rendered_values(&run.stdout), expected);
    assert_eq!(manifest_values(&run.stdout), expected);
}

#[test]
fn render_of_a_spec_that_is_not_an_object_fails_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cr = cr_file(dir.path(), "five", "shop", json!(5));
    let run = lostromos(
        &[
            "render",
            "--cr",
            cr.to_str().unwrap(),
            "--chart",
            &chart("configmap"),
            "--helm-binary",
            &helm(),
        ],
        &[OFFLINE],
        QUICK,
    );
    assert_eq!(
        run.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(run.stderr.contains("fix:"), "{}", run.stderr);
    assert!(run.stderr.contains("spec"), "{}", run.stderr);
    assert!(!run.stdout.contains("kind: ConfigMap"), "{}", run.stdout);
}

#[test]
fn version_prints_lostromos_and_helm() {
    let run = lostromos(&["version", "--helm-binary", &helm()], &[], QUICK);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("lostromos 0.1.0"), "{}", run.stdout);
    let major = match std::env::var("LOSTROMOS_TEST_HELM").as_deref() {
        Ok("3") | Ok("v3") => "v3.",
        _ => "v4.",
    };
    let helm_line = lines.next().unwrap_or_default();
    assert!(
        helm_line.starts_with("helm ") && helm_line.contains(major),
        "expected a helm {major} line: {}",
        run.stdout
    );
}

#[test]
fn missing_required_options_are_all_listed_at_once() {
    let started = Instant::now();
    let run = lostromos(&["run"], &[OFFLINE], QUICK);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    for flag in ["--group", "--version", "--kind", "--chart"] {
        assert!(
            run.stderr.contains(&format!("{flag} is required")),
            "{flag} not named in:\n{}",
            run.stderr
        );
    }
    // one message, before anything else is tried
    assert_eq!(
        run.stderr.matches("lostromos:").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("kubeconfig"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// `run` with every required option, offline, plus `extra`.
fn run_offline(extra: &[&str], env: &[(&str, &str)]) -> Run {
    let configmap = chart("configmap");
    let mut args = vec![
        "run",
        "--group",
        GROUP,
        "--version",
        "v1",
        "--kind",
        "Widget",
        "--chart",
        &configmap,
    ];
    args.extend_from_slice(extra);
    let mut all_env = vec![OFFLINE];
    all_env.extend_from_slice(env);
    lostromos(&args, &all_env, QUICK)
}

#[test]
fn a_wrong_closed_value_lists_the_allowed_values() {
    // a flag: clap's usage error (exit 2) with the values
    let run = run_offline(&["--values-layout", "flat"], &[]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("'flat'"), "{}", run.stderr);
    assert!(run.stderr.contains("--values-layout"), "{}", run.stderr);
    assert!(
        run.stderr.contains("[possible values: spec, resource]"),
        "{}",
        run.stderr
    );
    // refused from the options alone: the (missing) cluster was never tried
    assert!(!run.stderr.contains("kubeconfig"), "{}", run.stderr);

    // the environment: the same
    let run = run_offline(&[], &[("LOSTROMOS_LOG_FORMAT", "xml")]);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--log-format"), "{}", run.stderr);
    assert!(
        run.stderr.contains("[possible values: human, json]"),
        "{}",
        run.stderr
    );

    // the config file: the key and the values
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.yaml",
        "values-layout: flat\nlog-format: xml\n",
    );
    let run = run_offline(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("key `values-layout`: unknown variant `flat`, expected `spec` or `resource`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("key `log-format`: unknown variant `xml`, expected `human` or `json`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_huge_duration_is_an_error_naming_the_option_not_a_panic() {
    let huge = "99999999999999999999h";
    for (flag, run) in [
        ("--timeout", run_offline(&["--timeout", huge], &[])),
        (
            "--reconcile-period",
            run_offline(&[], &[("LOSTROMOS_RECONCILE_PERIOD", huge)]),
        ),
        (
            "--lease-duration",
            run_offline(&["--lease-duration", huge], &[]),
        ),
        (
            "--shutdown-grace",
            run_offline(&[], &[("LOSTROMOS_SHUTDOWN_GRACE", huge)]),
        ),
    ] {
        assert_eq!(run.status.code(), Some(1), "{flag}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{flag}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "{flag}: \"{huge}\" is not a duration (number too big"
            )),
            "{flag}: {}",
            run.stderr
        );
        // the only problem, found before anything was started
        assert_eq!(run.stderr.matches("\n  - ").count(), 1, "{}", run.stderr);
    }
    // within range but beyond what helm and the timers take
    let run = run_offline(&["--timeout", "9000h"], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--timeout: \"9000h\" is too long"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_config_file_shared_with_run_works_for_render_with_numbers_as_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let cr = cr_file(dir.path(), "w", "shop", json!({"a": 1}));
    // run's keys (group, listen, leader election, ...) and durations as numbers
    let shared = format!(
        "group: {GROUP}\nversion: v1\nkind: Widget\nnamespace: [shop]\nchart: {}\n\
         timeout: 90\nreconcile-period: 600\nlease-duration: 20\nshutdown-grace: 45\n\
         listen: ':9999'\nleader-elect: true\nconcurrency: 2\nrelease-prefix: shared\n",
        chart("configmap")
    );
    let config = write(dir.path(), "shared.yaml", &shared);
    let render = |config: &Path| {
        lostromos(
            &[
                "render",
                "--cr",
                cr.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--helm-binary",
                &helm(),
            ],
            &[OFFLINE],
            QUICK,
        )
    };
    let run = render(&config);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().next(),
        Some("# release shared-w in namespace shop"),
        "{}",
        run.stdout
    );

    // the number is read as a duration, not skipped: zero is refused
    let zero = write(
        dir.path(),
        "zero.yaml",
        &shared.replace("timeout: 90", "timeout: 0"),
    );
    let run = render(&zero);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--timeout must be longer than zero"),
        "{}",
        run.stderr
    );

    // keys no command takes are still refused, by name
    let typo = write(dir.path(), "typo.yaml", &format!("{shared}chrat: x\n"));
    let run = render(&typo);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unknown key `chrat`; fix: did you mean `chart`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_type_error_in_the_config_file_names_the_key_and_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.yaml",
        "timeout: {minutes: 5}\nhistory-max: many\n",
    );
    let run = run_offline(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "key `timeout`: invalid type: map, expected a duration: 90 (seconds), 30s, 5m, 1h30m"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("key `history-max`: invalid type: string \"many\", expected u32"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("kebab-case"), "{}", run.stderr);
}

#[test]
fn a_yaml_syntax_error_in_the_config_file_shows_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "c.yaml", "chart: ./x\ntimeout: [1\n");
    let run = run_offline(&["--config", config.to_str().unwrap()], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("not valid YAML"), "{}", run.stderr);
    assert!(
        run.stderr.contains("at line 2, column 10"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_lists_the_values_of_the_closed_sets() {
    let run = lostromos(&["run", "--help"], &[], QUICK);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let section = |flag: &str| {
        let start = run
            .stdout
            .find(&format!("{flag} <"))
            .unwrap_or_else(|| panic!("{flag} in {}", run.stdout));
        let rest = &run.stdout[start..];
        rest[..rest.find("\n\n      --").unwrap_or(rest.len())].to_owned()
    };
    let layout = section("--values-layout");
    assert!(layout.contains("Possible values:"), "{layout}");
    assert!(layout.contains("- spec:"), "{layout}");
    assert!(layout.contains("- resource:"), "{layout}");
    let format = section("--log-format");
    assert!(format.contains("- human:"), "{format}");
    assert!(format.contains("- json:"), "{format}");
}

#[test]
fn render_help_shows_only_the_options_render_uses() {
    let run = lostromos(&["render", "--help"], &[], QUICK);
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    let help = &run.stdout;
    for used in [
        "--cr <CR>",
        "--config <FILE>",
        "--chart <REF>",
        "--chart-version",
        "--values <FILE>",
        "--override-values <FILE>",
        "--values-layout",
        "--metadata-key",
        "--release-prefix",
        "--release-namespace",
        "--helm-binary",
        "--timeout",
        "--log-format",
        "--log-level",
    ] {
        assert!(
            help.contains(used),
            "{used} missing from render --help:\n{help}"
        );
    }
    for unused in [
        "--group",
        "--version",
        "--kind",
        "--namespace ",
        "--selector",
        "--listen",
        "--leader-elect",
        "--concurrency",
        "--reconcile-period",
    ] {
        assert!(!help.contains(unused), "{unused} in render --help:\n{help}");
    }
    // and render does not take them either
    let run = lostromos(&["render", "--cr", "x.yaml", "--group", "g"], &[], QUICK);
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("'--group'"), "{}", run.stderr);

    // run still shows everything
    let run = lostromos(&["run", "--help"], &[], QUICK);
    for flag in [
        "--group",
        "--kind",
        "--listen",
        "--leader-elect",
        "--chart ",
        "--values ",
    ] {
        assert!(run.stdout.contains(flag), "{flag} in run --help");
    }
}

#[test]
fn a_missing_helm_binary_is_reported() {
    let t = TestNs::new("cli-nohelm");
    let kubeconfig = t.cluster.kubeconfig().to_string_lossy().into_owned();
    let configmap = chart("configmap");
    let mut args = widget_args(&[&t.ns], &configmap);
    args.extend([
        "--helm-binary".to_owned(),
        "/nonexistent/bin/helm".to_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = lostromos(&args, &[("KUBECONFIG", &kubeconfig)], QUICK);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("/nonexistent/bin/helm"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("fix:"), "{}", run.stderr);
}

/// `widget_args` with another kind.
fn run_args(t: &TestNs, kind: &str, chart: &str) -> Vec<String> {
    widget_args(&[&t.ns], chart)
        .into_iter()
        .map(|a| if a == "Widget" { kind.to_owned() } else { a })
        .collect()
}

fn wait_exit(l: &mut Lostromos) -> ExitStatus {
    wait_for("lostromos to exit", QUICK, || l.exited())
}

#[test]
fn a_kind_the_api_server_does_not_serve_is_reported() {
    let t = TestNs::new("cli-nokind");
    let mut l = Lostromos::start_args(
        t.cluster.kubeconfig(),
        run_args(&t, "Gizmo", &chart("configmap")),
    );
    let status = wait_exit(&mut l);
    assert!(!status.success());
    let logs = l.logs();
    assert!(logs.contains("does not serve"), "{logs}");
    assert!(logs.contains("Gizmo"), "{logs}");
    assert!(logs.contains("fix:"), "{logs}");
    assert!(l.helm_calls().is_empty());
}

#[test]
fn a_chart_path_that_does_not_exist_is_reported() {
    let t = TestNs::new("cli-nochart");
    let missing = repo_root()
        .join("integration/charts/no-such-chart")
        .to_string_lossy()
        .into_owned();
    let mut l = Lostromos::start_args(t.cluster.kubeconfig(), run_args(&t, "Widget", &missing));
    let status = wait_exit(&mut l);
    assert!(!status.success());
    let logs = l.logs();
    assert!(logs.contains("--chart"), "{logs}");
    assert!(logs.contains("no-such-chart"), "{logs}");
    assert!(l.helm_calls().is_empty());
}

#[test]
fn flags_beat_environment_beat_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cr = cr_file(dir.path(), "w", "shop", json!({"a": 1}));
    let cr = cr.to_str().unwrap();
    let config = write(
        dir.path(),
        "lostromos.yaml",
        &format!("chart: {}\nrelease-prefix: fromfile\n", chart("configmap")),
    );
    let config = config.to_str().unwrap();
    let base = [
        "render",
        "--cr",
        cr,
        "--config",
        config,
        "--helm-binary",
        &helm(),
    ];
    let first_line = |run: &Run| {
        assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
        run.stdout.lines().next().unwrap_or_default().to_owned()
    };

    let run = lostromos(&base, &[OFFLINE], QUICK);
    assert_eq!(first_line(&run), "# release fromfile-w in namespace shop");
    assert!(
        run.stdout.contains("name: fromfile-w-values"),
        "{}",
        run.stdout
    );

    let env = [OFFLINE, ("LOSTROMOS_RELEASE_PREFIX", "fromenv")];
    let run = lostromos(&base, &env, QUICK);
    assert_eq!(first_line(&run), "# release fromenv-w in namespace shop");

    let mut with_flag = base.to_vec();
    with_flag.extend(["--release-prefix", "fromflag"]);
    let run = lostromos(&with_flag, &env, QUICK);
    assert_eq!(first_line(&run), "# release fromflag-w in namespace shop");
}

#[test]
fn dry_run_decides_but_changes_nothing() {
    let t = TestNs::new("cli-dry");
    let l = Lostromos::start(&t, &chart("configmap"), &["--dry-run"]);
    t.apply_widget("dry", json!({"a": 1}));

    wait_for(
        "the dry-run decision in the log",
        Duration::from_secs(60),
        || {
            l.logs()
                .lines()
                .any(|line| line.contains("dry run") && line.contains(&format!("{}/dry", t.ns)))
                .then_some(())
        },
    );
    assert!(l.helm_calls().is_empty(), "{:?}", l.helm_calls());
    let w = t.widget("dry").unwrap();
    assert!(
        w["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "{w}"
    );
    assert!(w["status"].is_null(), "{w}");
    assert_eq!(t.release("dry"), None);
}

#[test]
fn values_files_metadata_and_overrides_layer_in_order() {
    let t = TestNs::new("cli-values");
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "base.yaml",
        "a: base\nb: base\nnested:\n  x: base\n  y: base\nforced: base\n",
    );
    let over = write(
        dir.path(),
        "override.yaml",
        "forced: override\nnested:\n  z: override\n",
    );
    let (base, over) = (base.to_str().unwrap(), over.to_str().unwrap());
    let _l = Lostromos::start(
        &t,
        &chart("configmap"),
        &[
            "--values",
            base,
            "--override-values",
            over,
            "--metadata-key",
            "cr",
        ],
    );
    t.apply_widget_meta(
        "layered",
        json!({"b": "cr", "c": "cr", "nested": {"y": "cr"}, "forced": "cr"}),
        json!({"labels": {"team": "blue"}}),
    );
    let w = t.wait_ready("layered");
    let values = t.released_values("layered").expect("released values");

    assert_eq!(values["a"], "base");
    assert_eq!(values["b"], "cr");
    assert_eq!(values["c"], "cr");
    assert_eq!(values["forced"], "override");
    assert_eq!(
        values["nested"],
        json!({"x": "base", "y": "cr", "z": "override"})
    );
    let meta = &values["cr"];
    assert_eq!(meta["name"], "layered");
    assert_eq!(meta["namespace"], t.ns.as_str());
    assert_eq!(meta["uid"], w["metadata"]["uid"]);
    assert_eq!(meta["labels"], json!({"team": "blue"}));
    // kubectl's copy of the object is not passed on
    assert!(
        !meta["annotations"]
            .as_object()
            .is_some_and(|a| a.keys().any(|k| k.contains("last-applied"))),
        "{meta}"
    );
}

#[test]
fn json_logs_parse_and_carry_the_helm_fields() {
    let t = TestNs::new("cli-json");
    let l = Lostromos::start(&t, &chart("configmap"), &["--log-format", "json"]);
    t.apply_widget("logged", json!({"a": 1}));
    t.wait_ready("logged");

    let logs = l.logs();
    let complete = match logs.rfind('\n') {
        Some(end) => &logs[..end],
        None => "",
    };
    let lines: Vec<Value> = complete
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    // tracing's JSON puts the fields under "fields"; accept them at the top too
    let field = |line: &Value, k: &str| {
        line["fields"]
            .get(k)
            .or_else(|| line.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let helm_line = lines
        .iter()
        .find(|line| field(line, "message") == "helm" && field(line, "action") == "upgrade")
        .unwrap_or_else(|| panic!("no helm line in:\n{complete}"));
    assert_eq!(
        field(helm_line, "cr"),
        json!(format!("{}/logged", t.ns)),
        "{helm_line}"
    );
    assert_eq!(field(helm_line, "release"), "logged", "{helm_line}");
    // helm's own run and the wait for a slot, apart
    assert!(field(helm_line, "helm_ms").is_u64(), "{helm_line}");
    assert!(field(helm_line, "queue_ms").is_u64(), "{helm_line}");
    assert_eq!(field(helm_line, "result"), "ok", "{helm_line}");
}

#[test]
fn original_config_file_is_understood() {
    // the original's format (crd/helm sections): prefix `lostromos`, releases in
    // helm.namespace, values in the `resource` layout
    let dir = tempfile::tempdir().unwrap();
    let cr = cr_file(dir.path(), "nemo", "fish", json!({"Name": "Nemo"}));
    let config = write(
        dir.path(),
        "original.yaml",
        &format!(
            "crd:\n  group: {GROUP}\n  name: widgets\nhelm:\n  chart: {}\n  namespace: lostromos\n  wait: false\n  waitTimeout: 10\nlogging:\n  debug: false\n",
            chart("configmap")
        ),
    );
    let run = lostromos(
        &[
            "render",
            "--cr",
            cr.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--helm-binary",
            &helm(),
        ],
        &[OFFLINE],
        QUICK,
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().next(),
        Some("# release lostromos-nemo in namespace lostromos")
    );
    assert_eq!(
        rendered_values(&run.stdout),
        json!({"resource": {"name": "nemo", "namespace": "fish", "spec": {"Name": "Nemo"}}})
    );

    // its templates back end (test/data/config.yaml): the same CR, through the
    // original's templates, brought up to date
    let templates = write(
        dir.path(),
        "templates.yaml",
        &format!(
            "crd:\n  group: {GROUP}\n  name: widgets\ntemplates: {}\nlogging:\n  debug: true\n  pretty: true\n",
            repo_root().join("examples/characters-templates/templates").display()
        ),
    );
    let cr = cr_file(
        dir.path(),
        "nemo",
        "fish",
        json!({"Name": "Nemo", "By": "Disney"}),
    );
    let run = lostromos(
        &[
            "render",
            "--cr",
            cr.to_str().unwrap(),
            "--config",
            templates.to_str().unwrap(),
            "--helm-binary",
            &helm(),
        ],
        &[OFFLINE],
        QUICK,
    );
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().next(),
        Some("# release lostromos-nemo in namespace default")
    );
    for line in ["name: nemo-configmap", "by: Disney", "name: nemo-nginx"] {
        assert!(run.stdout.contains(line), "{line} in\n{}", run.stdout);
    }
}
