//! Config files of the original Lostrómos (sections `crd`, `helm`, `k8s`, ...),
//! read as today's options so a migration starts from the file it had.

use serde_json::Value;

use crate::config::cli::{Options, RunOptions, SharedOptions, WatchOptions};
use crate::config::duration;
use crate::config::settings::LogFormat;
use crate::plan::values::Layout;

/// Sections only the original's files have.
const SECTIONS: &[&str] = &["crd", "helm", "k8s", "server", "logging", "templates"];

/// Whether a parsed config file is in the original's format.
pub fn is_original(doc: &Value) -> bool {
    doc.as_object()
        .is_some_and(|m| m.keys().any(|k| SECTIONS.contains(&k.as_str())))
}

/// Translates an original config file; `Err` lists what has no equivalent
/// and what is malformed.
pub fn translate(doc: &Value) -> Result<Options, Vec<String>> {
    let s = |section: &str, key: &str| {
        doc.get(section)
            .and_then(|v| v.get(key))
            .and_then(value_string)
    };
    let mut problems = Vec::new();
    let templates = match doc.get("templates") {
        None | Some(Value::Null) => None,
        Some(Value::String(dir)) if !dir.is_empty() => Some(std::path::PathBuf::from(dir)),
        Some(other) => {
            problems.push(format!(
                "templates: {other} is not a directory path; write it like templates: ./templates"
            ));
            None
        }
    };
    let wait = doc
        .get("helm")
        .and_then(|h| h.get("wait"))
        .and_then(Value::as_bool);
    // the original's waitTimeout is seconds; a string is taken as a duration
    let timeout = match doc.get("helm").and_then(|h| h.get("waitTimeout")) {
        None | Some(Value::Null) => None,
        Some(v) => match value_string(v) {
            Some(t) => match duration::parse(&t) {
                Ok(_) => Some(t),
                Err(e) => {
                    problems.push(format!("helm.waitTimeout: {e}"));
                    None
                }
            },
            None => {
                problems.push(format!(
                    "helm.waitTimeout: {v} is not a number of seconds; write it like 300"
                ));
                None
            }
        },
    };
    let debug = doc
        .get("logging")
        .and_then(|l| l.get("debug"))
        .and_then(Value::as_bool);
    let pretty = doc
        .get("logging")
        .and_then(|l| l.get("pretty"))
        .and_then(Value::as_bool);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Options {
        watch: WatchOptions {
            kubeconfig: s("k8s", "config").map(Into::into),
            group: s("crd", "group"),
            // the original's defaults
            version: s("crd", "version").or_else(|| Some("v1".into())),
            kind: s("crd", "name"),
            namespaces: s("crd", "namespace").into_iter().collect(),
            filter_annotation: s("crd", "filter"),
            ..WatchOptions::default()
        },
        shared: SharedOptions {
            chart: s("helm", "chart"),
            // the templates get the whole CR; a chart, the original's values layout
            values_layout: templates.is_none().then_some(Layout::Resource),
            templates,
            release_prefix: s("helm", "releasePrefix").or_else(|| Some("lostromos".into())),
            release_namespace: s("helm", "namespace").or_else(|| Some("default".into())),
            timeout,
            log_level: debug.map(|d| if d { "debug" } else { "info" }.to_owned()),
            log_format: pretty.map(|p| if p { LogFormat::Human } else { LogFormat::Json }),
            ..SharedOptions::default()
        },
        run: RunOptions {
            wait,
            ..RunOptions::default()
        },
    })
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn helm_config_of_the_original() {
        // test/data/helm/wait-config.yaml of the original
        let doc = json!({
            "crd": {"group": "stable.nicolerenee.io", "name": "characters"},
            "helm": {"chart": "test/data/helm/brokenchart", "namespace": "lostromos", "tiller": "192.168.99.100:32664", "wait": true, "waitTimeout": 10},
            "logging": {"debug": true, "pretty": true}
        });
        assert!(is_original(&doc));
        let o = translate(&doc).unwrap();
        assert_eq!(o.watch.group.as_deref(), Some("stable.nicolerenee.io"));
        assert_eq!(o.watch.kind.as_deref(), Some("characters"));
        assert_eq!(o.watch.version.as_deref(), Some("v1"));
        assert_eq!(
            o.shared.chart.as_deref(),
            Some("test/data/helm/brokenchart")
        );
        assert_eq!(o.shared.release_namespace.as_deref(), Some("lostromos"));
        assert_eq!(o.shared.release_prefix.as_deref(), Some("lostromos"));
        assert_eq!(o.shared.values_layout, Some(Layout::Resource));
        assert_eq!(o.run.wait, Some(true));
        assert_eq!(o.shared.timeout.as_deref(), Some("10"));
        assert_eq!(o.shared.log_level.as_deref(), Some("debug"));
        assert_eq!(o.shared.log_format, Some(LogFormat::Human));
    }

    #[test]
    fn filter_namespace_and_kubeconfig() {
        let doc = json!({"crd": {"group": "g", "name": "things", "version": "v2", "namespace": "ns", "filter": "a/b"}, "k8s": {"config": "/kc"}});
        let o = translate(&doc).unwrap();
        assert_eq!(o.watch.namespaces, vec!["ns".to_owned()]);
        assert_eq!(o.watch.filter_annotation.as_deref(), Some("a/b"));
        assert_eq!(o.watch.version.as_deref(), Some("v2"));
        assert_eq!(o.watch.kubeconfig, Some("/kc".into()));
    }

    #[test]
    fn wait_timeout_is_seconds_or_a_duration_and_never_overflows() {
        let timeout = |t: Value| {
            translate(&json!({"crd": {"group": "g", "name": "things"}, "helm": {"waitTimeout": t}}))
        };
        assert_eq!(
            timeout(json!("2m")).unwrap().shared.timeout.as_deref(),
            Some("2m")
        );
        assert_eq!(
            timeout(json!(300)).unwrap().shared.timeout.as_deref(),
            Some("300")
        );
        for bad in [
            json!(1e20),
            json!("99999999999999999999h"),
            json!(-5),
            json!({"a": 1}),
        ] {
            let err = timeout(bad.clone()).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}: {err:?}");
            assert!(err[0].starts_with("helm.waitTimeout: "), "{bad}: {err:?}");
        }
    }

    #[test]
    fn templates_back_end_of_the_original() {
        // test/data/config.yaml of the original
        let doc = json!({"crd": {"group": "stable.nicolerenee.io", "name": "characters"},
            "templates": "test/data/templates", "logging": {"debug": true, "pretty": true}});
        let o = translate(&doc).unwrap();
        assert_eq!(o.shared.templates, Some("test/data/templates".into()));
        assert_eq!(o.shared.chart, None);
        assert_eq!(o.shared.values_layout, None);
        let err = translate(&json!({"crd": {"name": "x"}, "templates": 3})).unwrap_err();
        assert!(
            err[0].starts_with("templates: 3 is not a directory path"),
            "{err:?}"
        );
    }

    #[test]
    fn todays_format_is_not_original() {
        assert!(!is_original(&json!({"group": "g", "chart": "c"})));
    }
}
