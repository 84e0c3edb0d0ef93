//! The original's second back end: a directory of Go templates, each CR one
//! helm release of the chart Lostrómos generates from it. The original's
//! scenario runs on its own templates (examples/characters-templates).

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::{helm_binary, repo_root, run_to_exit, wait_for, Lostromos, TestNs, GROUP};
use serde_json::{json, Value};

const QUICK: Duration = Duration::from_secs(60);

/// The original's templates, brought up to date.
fn examples() -> PathBuf {
    repo_root().join("examples/characters-templates/templates")
}

fn run_args(t: &TestNs, templates: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--group",
        GROUP,
        "--version",
        "v1",
        "--kind",
        "Widget",
        "--namespace",
        &t.ns,
        "--templates",
        &templates.to_string_lossy(),
    ]
    .map(str::to_owned)
    .into();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// JSON logs: [`Lostromos::skipped_since`] reads the decisions from them.
fn start(t: &TestNs, templates: &Path, extra: &[&str]) -> Lostromos {
    let mut args = run_args(t, templates, extra);
    args.extend(["--log-format".to_owned(), "json".to_owned()]);
    Lostromos::start_args(t.cluster.kubeconfig(), args)
}

fn character(name: &str, by: &str) -> Value {
    json!({"Name": name, "From": "Cat in the Hat", "By": by})
}

/// `data.by` of the ConfigMap the original's templates make for a CR.
fn by(t: &TestNs, cr: &str) -> Option<String> {
    t.object("configmap", &format!("{cr}-configmap"))
        .and_then(|c| c["data"]["by"].as_str().map(str::to_owned))
}

/// Plays the Deployment controller for the CR's nginx and waits for Ready.
fn ready(t: &TestNs, cr: &str) -> Value {
    t.deployment_available(&format!("{cr}-nginx"));
    t.wait_ready(cr)
}

fn revision(w: &Value) -> u64 {
    w["status"]["release"]["revision"].as_u64().unwrap_or(0)
}

/// Waits until Lostrómos has decided, after log line `from`, that `cr` is up
/// to date (the positive signal that nothing else will run for it).
fn wait_up_to_date(l: &Lostromos, t: &TestNs, cr: &str, from: usize) {
    let key = format!("{}/{cr}", t.ns);
    wait_for(&format!("the up-to-date decision on {cr}"), QUICK, || {
        l.skipped_since(from).contains(&key).then_some(())
    });
}

fn write_templates(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("templates dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write template");
    }
}

#[test]
fn the_originals_scenario_on_its_templates() {
    let t = TestNs::new("tmpl-scenario");
    // a re-check every few seconds decides about unchanged CRs
    let l = start(&t, &examples(), &["--reconcile-period", "3s"]);

    // thing1 and thing2: each one's ConfigMap says who made it
    for name in ["thing1", "thing2"] {
        t.apply_widget(name, character(name, "Dr. Seuss"));
    }
    for name in ["thing1", "thing2"] {
        assert_eq!(revision(&ready(&t, name)), 1);
        assert_eq!(by(&t, name).as_deref(), Some("Dr. Seuss"));
        let d = t.object("deployment", &format!("{name}-nginx")).unwrap();
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], name);
    }
    let releases: Vec<String> = t.releases().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(releases, ["thing1", "thing2"]);

    // nemo: created, patched, re-applied with a new field: revisions 1, 2, 3
    t.apply_widget(
        "nemo",
        json!({"Name": "Nemo", "From": "Finding Nemo", "By": "Disney"}),
    );
    assert_eq!(revision(&ready(&t, "nemo")), 1);
    t.kubectl(&[
        "patch",
        "widget",
        "nemo",
        "--type=merge",
        "-p",
        r#"{"spec":{"By":"Pixar"}}"#,
    ])
    .unwrap();
    assert_eq!(revision(&t.wait_ready("nemo")), 2);
    assert_eq!(by(&t, "nemo").as_deref(), Some("Pixar"));
    let update = json!({"Name": "Nemo", "From": "Finding Nemo", "By": "Disney", "For": "Reasons"});
    t.apply_widget("nemo", update.clone());
    assert_eq!(revision(&t.wait_ready("nemo")), 3);
    assert_eq!(by(&t, "nemo").as_deref(), Some("Disney"));

    // the same spec again, then a periodic re-check: no revision (labels and
    // annotations are the templates' data too, so they are left alone here)
    let calls = l.helm_calls().len();
    t.apply_widget("nemo", update);
    let from = l.logs().lines().count();
    wait_up_to_date(&l, &t, "nemo", from);
    assert_eq!(l.helm_calls().len(), calls, "{:?}", l.helm_calls());
    assert_eq!(t.release("nemo"), Some((3, "deployed".into())));

    // deleted: their objects are gone with their releases
    for name in ["thing1", "thing2", "nemo"] {
        t.kubectl(&["delete", "widget", name, "--wait=false"])
            .unwrap();
    }
    wait_for("every release uninstalled", QUICK, || {
        t.releases().is_empty().then_some(())
    });
    for name in ["thing1", "thing2", "nemo"] {
        assert!(t
            .object("configmap", &format!("{name}-configmap"))
            .is_none());
        assert!(t.object("deployment", &format!("{name}-nginx")).is_none());
        wait_for("the CR to go", QUICK, || {
            t.widget(name).is_none().then_some(())
        });
    }
}

#[test]
fn deleted_while_stopped_is_cleaned_up_after_restart() {
    let t = TestNs::new("tmpl-offline");
    let mut l = start(&t, &examples(), &["--watch-objects=false"]);
    t.apply_widget("thing1", character("Thing 1", "Dr. Seuss"));
    t.wait_ready("thing1");
    l.kill();
    t.kubectl(&["delete", "widget", "thing1", "--wait=false"])
        .unwrap();
    assert!(t.object("configmap", "thing1-configmap").is_some());

    l.restart();
    wait_for("the CR to go", QUICK, || {
        t.widget("thing1").is_none().then_some(())
    });
    assert_eq!(t.release("thing1"), None);
    assert!(t.object("configmap", "thing1-configmap").is_none());
    assert!(t.object("deployment", "thing1-nginx").is_none());
}

#[test]
fn filter_annotation_transitions_with_templates() {
    const KEY: &str = "io.nicolerenee.lostromosApplied";
    let t = TestNs::new("tmpl-filter");
    let l = start(
        &t,
        &examples(),
        &["--filter-annotation", KEY, "--watch-objects=false"],
    );
    // absent: nothing, while an annotated CR beside it is installed
    t.apply_widget("thing2", character("Thing 2", "Dr. Seuss"));
    t.apply_widget_meta(
        "thing1",
        character("Thing 1", "Dr. Seuss"),
        json!({"annotations": {KEY: "Opting In"}}),
    );
    t.wait_ready("thing1");
    assert_eq!(l.helm_calls(), ["upgrade"]);
    assert_eq!(t.release("thing2"), None);
    assert!(t.object("configmap", "thing2-configmap").is_none());

    // added: installed
    t.kubectl(&["annotate", "widget", "thing2", &format!("{KEY}=now")])
        .unwrap();
    assert_eq!(revision(&t.wait_ready("thing2")), 1);
    assert_eq!(by(&t, "thing2").as_deref(), Some("Dr. Seuss"));

    // kept: a change upgrades
    t.apply_widget_meta(
        "thing2",
        character("Thing 2", "Theodor Geisel"),
        json!({"annotations": {KEY: "now"}}),
    );
    assert_eq!(revision(&t.wait_ready("thing2")), 2);
    assert_eq!(by(&t, "thing2").as_deref(), Some("Theodor Geisel"));

    // removed: uninstalled, the CR stays
    t.kubectl(&["annotate", "widget", "thing2", &format!("{KEY}-")])
        .unwrap();
    wait_for("thing2's release to go", QUICK, || {
        t.release("thing2").is_none().then_some(())
    });
    assert!(t.object("configmap", "thing2-configmap").is_none());
    assert!(t.widget("thing2").is_some());
    assert_eq!(t.release("thing1"), Some((1, "deployed".into())));
}

#[test]
fn a_template_edit_upgrades_once_at_restart_and_a_plain_restart_runs_no_helm() {
    let t = TestNs::new("tmpl-digest");
    let dir = tempfile::tempdir().unwrap();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Name }}-configmap\ndata:\n  by: {{ .GetField \"spec\" \"By\" | quote }}\n";
    write_templates(dir.path(), &[("configmap.tmpl", cm)]);
    let mut l = start(&t, dir.path(), &[]);
    for name in ["a", "b"] {
        t.apply_widget(name, character(name, "Dr. Seuss"));
    }
    for name in ["a", "b"] {
        assert_eq!(revision(&t.wait_ready(name)), 1);
    }

    // a restart without an edit: every CR re-checked, no helm
    let calls = l.helm_calls().len();
    l.kill();
    let from = l.logs().lines().count();
    l.restart();
    for name in ["a", "b"] {
        wait_up_to_date(&l, &t, name, from);
    }
    assert_eq!(l.helm_calls().len(), calls, "{:?}", l.helm_calls());

    // an edit, then a restart: one upgrade per release, and then none
    let edited = format!("{cm}  edited: \"yes\"\n");
    write_templates(dir.path(), &[("configmap.tmpl", &edited)]);
    l.kill();
    let from = l.logs().lines().count();
    l.restart();
    for name in ["a", "b"] {
        wait_for(&format!("{name} at revision 2"), QUICK, || {
            (t.release(name) == Some((2, "deployed".into()))).then_some(())
        });
        let c = t.object("configmap", &format!("{name}-configmap")).unwrap();
        assert_eq!(c["data"]["edited"], "yes");
    }
    for name in ["a", "b"] {
        wait_up_to_date(&l, &t, name, from);
    }
    assert_eq!(l.helm_calls().len(), calls + 2, "{:?}", l.helm_calls());
}

#[test]
fn a_template_that_does_not_parse_stops_the_start_naming_file_and_line() {
    let t = TestNs::new("tmpl-parse");
    let dir = tempfile::tempdir().unwrap();
    write_templates(
        dir.path(),
        &[
            ("0_base.tmpl", "{{ template \"cm.tmpl\" . }}\n"),
            (
                "cm.tmpl",
                "kind: ConfigMap\nmetadata:\n  name: {{ .Name }\n",
            ),
        ],
    );
    let mut args = run_args(&t, dir.path(), &["--listen", "127.0.0.1:0"]);
    args.extend([
        "--helm-binary".into(),
        helm_binary().to_string_lossy().into_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let kubeconfig = t.cluster.kubeconfig().to_string_lossy().into_owned();
    let exit = run_to_exit(&args, &[("KUBECONFIG", &kubeconfig)], QUICK);
    assert_eq!(exit.status.code(), Some(1), "{}", exit.stderr);
    let file_and_line = format!("{}/cm.tmpl:3", dir.path().display());
    assert!(
        exit.stderr.contains("a template does not parse") && exit.stderr.contains(&file_and_line),
        "{}",
        exit.stderr
    );
    assert!(t.releases().is_empty());
}

#[test]
fn a_template_that_fails_for_one_cr_stalls_only_that_cr() {
    let t = TestNs::new("tmpl-fail");
    let dir = tempfile::tempdir().unwrap();
    write_templates(
        dir.path(),
        &[
            ("0_base.tmpl", "---\n{{ template \"cm.tmpl\" . }}\n"),
            (
                "cm.tmpl",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Name }}-configmap\ndata:\n  by: {{ required \"spec.By is required\" (.GetField \"spec\" \"By\") | quote }}\n  raw: {{ .GetField \"spec\" \"Raw\" }}\n",
            ),
        ],
    );
    let _l = start(&t, dir.path(), &[]);
    t.apply_widget("missing", json!({"Raw": "x"}));
    t.apply_widget("bad-yaml", json!({"By": "me", "Raw": "[unclosed"}));
    t.apply_widget("fine", json!({"By": "me", "Raw": "plain"}));
    t.wait_ready("fine");
    assert_eq!(by(&t, "fine").as_deref(), Some("me"));

    let stalled = |name: &str| {
        wait_for(&format!("{name} Stalled"), QUICK, || {
            t.condition(name, "Stalled")
                .filter(|c| c["status"] == "True")
        })
    };
    let c = stalled("missing");
    let message = c["message"].as_str().unwrap_or_default();
    assert_eq!(c["reason"], "RenderFailed", "{c}");
    let file = format!("{}/cm.tmpl:6", dir.path().display());
    assert!(
        message.contains(&file) && message.contains("spec.By is required"),
        "{message}"
    );
    let c = stalled("bad-yaml");
    let message = c["message"].as_str().unwrap_or_default();
    let root = format!(
        "{}/0_base.tmpl (the root template's output)",
        dir.path().display()
    );
    assert!(message.contains(&root), "{message}");
    assert_eq!(t.release("missing"), None);
    assert_eq!(t.release("bad-yaml"), None);
    assert_eq!(t.release("fine"), Some((1, "deployed".into())));
}

/// The YAML documents of a manifest stream, comments dropped, sorted.
fn documents(stream: &str) -> Vec<String> {
    let mut docs: Vec<String> = stream
        .split("\n---")
        .map(|d| {
            d.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && l.trim() != "---")
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|d| !d.is_empty())
        .collect();
    docs.sort();
    docs
}

#[test]
fn render_prints_what_is_installed() {
    let t = TestNs::new("tmpl-render");
    let _l = start(&t, &examples(), &["--watch-objects=false"]);
    let dir = tempfile::tempdir().unwrap();
    let cr = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Widget",
        "metadata": {"name": "nemo", "namespace": t.ns},
        "spec": {"Name": "Nemo", "From": "Finding Nemo", "By": "Disney"}});
    let file = dir.path().join("nemo.yaml");
    std::fs::write(&file, cr.to_string()).unwrap();
    t.apply(&cr.to_string());
    t.wait_ready("nemo");

    let helm = helm_binary().to_string_lossy().into_owned();
    let run = run_to_exit(
        &[
            "render",
            "--templates",
            &examples().to_string_lossy(),
            "--cr",
            &file.to_string_lossy(),
            "--helm-binary",
            &helm,
        ],
        &[],
        QUICK,
    );
    assert!(run.status.success(), "{}", run.stderr);
    let installed = t.helm(&["get", "manifest", "nemo"]).unwrap();
    let rendered = documents(&run.stdout);
    assert_eq!(rendered.len(), 2, "{}", run.stdout);
    assert_eq!(rendered, documents(&installed));
}

#[test]
fn the_originals_data_model_and_sprig() {
    let dir = tempfile::tempdir().unwrap();
    let model = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Name }}-model
data:
  getField: {{ .GetField "spec" "By" | quote }}
  missing: {{ .GetField "spec" "Nope" "deeper" | quote }}
  notString: {{ .GetField "spec" "Count" | quote }}
  dollar: {{ $.GetField "metadata" "name" | quote }}
  object: {{ .Resource.Object.spec.By | quote }}
  getName: {{ .Resource.GetName | quote }}
  own: {{ .spec.From | quote }}
  kind: {{ .kind | quote }}
  namespace: {{ .metadata.namespace | quote }}
  sprig: {{ .Name | upper | quote }}
  release: {{ .Release.Name | quote }}
  {{- with .spec }}
  inWith: {{ $.GetField "spec" "By" | quote }}
  {{- end }}
  label: {{ index .Resource.GetLabels "team" | quote }}
  {{- if eq (.GetField "spec" "By") "Pixar" }}
  branch: "taken"
  {{- end }}
"#;
    write_templates(dir.path(), &[("model.tmpl", model)]);
    let cr = json!({"apiVersion": format!("{GROUP}/v1"), "kind": "Widget",
        "metadata": {"name": "nemo", "namespace": "sea", "labels": {"team": "fish"}},
        "spec": {"From": "Finding Nemo", "By": "Pixar", "Count": 3}});
    let file = dir.path().join("nemo.yaml");
    std::fs::write(&file, cr.to_string()).unwrap();
    let helm = helm_binary().to_string_lossy().into_owned();
    let run = run_to_exit(
        &[
            "render",
            "--templates",
            &dir.path().to_string_lossy(),
            "--cr",
            &file.to_string_lossy(),
            "--helm-binary",
            &helm,
        ],
        &[],
        QUICK,
    );
    assert!(run.status.success(), "{}", run.stderr);
    for line in [
        "name: nemo-model",
        "getField: \"Pixar\"",
        "missing: \"\"",
        "notString: \"\"",
        "dollar: \"nemo\"",
        "object: \"Pixar\"",
        "getName: \"nemo\"",
        "own: \"Finding Nemo\"",
        "kind: \"Widget\"",
        "namespace: \"sea\"",
        "sprig: \"NEMO\"",
        "release: \"nemo\"",
        "inWith: \"Pixar\"",
        "label: \"fish\"",
        "branch: \"taken\"",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line} missing in\n{}",
            run.stdout
        );
    }
}
