//! Config files of the original Lostrómos (sections `crd`, `helm`, `k8s`, ...),
//! read as today's options so a migration starts from the file it had.

use serde_json::Value;

use crate::config::cli::Options;

/// Sections only the original's files have.
const SECTIONS: &[&str] = &["crd", "helm", "k8s", "server", "logging", "templates"];

/// Whether a parsed config file is in the original's format.
pub fn is_original(doc: &Value) -> bool {
    doc.as_object()
        .is_some_and(|m| m.keys().any(|k| SECTIONS.contains(&k.as_str())))
}

/// Translates an original config file; `Err` lists what has no equivalent.
pub fn translate(doc: &Value) -> Result<Options, Vec<String>> {
    let s = |section: &str, key: &str| {
        doc.get(section)
            .and_then(|v| v.get(key))
            .and_then(value_string)
    };
    let mut problems = Vec::new();
    if doc.get("templates").is_some() {
        problems.push(
            "the original's `templates` back end is not supported; fix: move the templates into a chart (templates/ plus a Chart.yaml) and use --chart"
                .to_owned(),
        );
    }
    let wait = doc
        .get("helm")
        .and_then(|h| h.get("wait"))
        .and_then(Value::as_bool);
    let timeout = s("helm", "waitTimeout").map(|t| {
        if t.chars().all(|c| c.is_ascii_digit()) {
            format!("{t}s")
        } else {
            t
        }
    });
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
        kubeconfig: s("k8s", "config").map(Into::into),
        group: s("crd", "group"),
        // the original's defaults
        version: s("crd", "version").or_else(|| Some("v1".into())),
        kind: s("crd", "name"),
        namespaces: s("crd", "namespace").into_iter().collect(),
        filter_annotation: s("crd", "filter"),
        chart: s("helm", "chart"),
        release_prefix: s("helm", "releasePrefix").or_else(|| Some("lostromos".into())),
        release_namespace: s("helm", "namespace").or_else(|| Some("default".into())),
        values_layout: Some("resource".into()),
        wait,
        timeout,
        log_level: debug.map(|d| if d { "debug" } else { "info" }.to_owned()),
        log_format: pretty.map(|p| if p { "human" } else { "json" }.to_owned()),
        ..Options::default()
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
        assert_eq!(o.group.as_deref(), Some("stable.nicolerenee.io"));
        assert_eq!(o.kind.as_deref(), Some("characters"));
        assert_eq!(o.version.as_deref(), Some("v1"));
        assert_eq!(o.chart.as_deref(), Some("test/data/helm/brokenchart"));
        assert_eq!(o.release_namespace.as_deref(), Some("lostromos"));
        assert_eq!(o.release_prefix.as_deref(), Some("lostromos"));
        assert_eq!(o.values_layout.as_deref(), Some("resource"));
        assert_eq!(o.wait, Some(true));
        assert_eq!(o.timeout.as_deref(), Some("10s"));
        assert_eq!(o.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn filter_namespace_and_kubeconfig() {
        let doc = json!({"crd": {"group": "g", "name": "things", "version": "v2", "namespace": "ns", "filter": "a/b"}, "k8s": {"config": "/kc"}});
        let o = translate(&doc).unwrap();
        assert_eq!(o.namespaces, vec!["ns".to_owned()]);
        assert_eq!(o.filter_annotation.as_deref(), Some("a/b"));
        assert_eq!(o.version.as_deref(), Some("v2"));
        assert_eq!(o.kubeconfig, Some("/kc".into()));
    }

    #[test]
    fn templates_back_end_is_refused_with_a_fix() {
        let doc =
            json!({"crd": {"group": "g", "name": "things"}, "templates": "test/data/templates"});
        let err = translate(&doc).unwrap_err();
        assert!(err[0].contains("fix:"));
    }

    #[test]
    fn todays_format_is_not_original() {
        assert!(!is_original(&json!({"group": "g", "chart": "c"})));
    }
}
