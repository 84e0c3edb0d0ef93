//! Without a values.schema.json: a schema inferred from values.yaml's
//! defaults. A default's type is the field's type; a map with keys lists its
//! fields (closed: a misspelt key is refused), and those values.yaml names
//! in comments beside them (any value); an empty map, a null and an empty
//! list say nothing about their content, so they stay open.
//!
//! Not every map is the chart's own, though. What a chart hands on to a
//! Kubernetes object or to an application's config (`resources`,
//! `securityContext`, a probe, labels, `config`) takes whatever that takes,
//! and its default is an example (`requests.cpu: 100m` does not make
//! `limits` wrong): those, known by name, accept any value. A list's items
//! likewise accept fields its default items do not show (a toleration's,
//! an alert receiver's). Both guesses err towards open: wrong that way, a
//! check is lost; wrong the other way, a valid CR is refused.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::comments::{Path, ITEMS};
use super::convert::{Obj, MAX_DEPTH};

/// The schema of the values `v` holds by default. `open_keys` (the chart's
/// subcharts, `global`) stay open at the top: their values are the
/// subcharts' own, not listed here. `commented` are the fields named in
/// comments, by map (see [`super::comments`]).
pub fn infer(v: &Value, open_keys: &[String], commented: &Commented) -> Obj {
    let mut out = node(v, 0, &mut Vec::new(), commented);
    if let Some(Value::Object(props)) = out.get_mut("properties") {
        for key in open_keys {
            if props.contains_key(key) {
                props.insert(key.clone(), Value::Object(open_object()));
            }
        }
    }
    out
}

pub type Commented = BTreeMap<Path, BTreeSet<String>>;

fn open_object() -> Obj {
    obj(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
}

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

/// Fields (lowercase names) a chart hands on as they are to a Kubernetes
/// object. A heuristic by name: a chart-own map caught here only loses its
/// check of misspelt keys; a handed-on one missed here refuses valid CRs,
/// so the list errs towards more.
const HANDED_ON: &[&str] = &[
    "lifecycle",
    "topologyspreadconstraints",
    "poddisruptionbudget",
    "pdb",
    "hostaliases",
    "capabilities",
    "seccompprofile",
    "behavior",
];

/// Endings (lowercase) of such names, and of an application's config:
/// `podSecurityContext`, `livenessProbe`, `nodeSelector`, `podAnnotations`,
/// `extraEnv`, `initContainers`, `extraVolumeMounts`, `updateStrategy`,
/// `dnsConfig`.
const HANDED_ON_ENDINGS: &[&str] = &[
    "resources",
    "securitycontext",
    "affinity",
    "tolerations",
    "probe",
    "selector",
    "annotations",
    "labels",
    "env",
    "envfrom",
    "envvars",
    "environment",
    "args",
    "containers",
    "sidecars",
    "volumes",
    "volumemounts",
    "pullsecrets",
    "strategy",
    "config",
    "configuration",
];

fn handed_on(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    HANDED_ON.contains(&k.as_str()) || HANDED_ON_ENDINGS.iter().any(|e| k.ends_with(e))
}

fn node(v: &Value, depth: usize, path: &mut Path, commented: &Commented) -> Obj {
    if depth > MAX_DEPTH {
        return obj(json!({"x-kubernetes-preserve-unknown-fields": true}));
    }
    // a handed-on map or list takes anything; a scalar keeps its type
    if path.last().is_some_and(|k| handed_on(k)) {
        match v {
            Value::Object(_) => return open_object(),
            Value::Array(_) => {
                let any = json!({"x-kubernetes-preserve-unknown-fields": true});
                return obj(json!({"type": "array", "items": any}));
            }
            _ => {}
        }
    }
    // a list's default items are examples, not the only shape: fields they
    // do not show are fine (those they show keep their types)
    let example = path.iter().any(|k| k == ITEMS);
    match v {
        Value::Null => obj(json!({"x-kubernetes-preserve-unknown-fields": true, "nullable": true})),
        Value::Bool(_) => obj(json!({"type": "boolean"})),
        // written with a fraction or an exponent (`1.0`), it is a number
        Value::Number(n) if n.is_i64() || n.is_u64() => obj(json!({"type": "integer"})),
        Value::Number(_) => obj(json!({"type": "number"})),
        Value::String(_) => obj(json!({"type": "string"})),
        Value::Array(items) => {
            let mut merged: Option<Obj> = None;
            path.push(ITEMS.into());
            for item in items {
                let s = node(item, depth + 1, path, commented);
                merged = Some(match merged {
                    None => s,
                    Some(m) => union(m, s),
                });
            }
            path.pop();
            let items = merged
                .unwrap_or_else(|| obj(json!({"x-kubernetes-preserve-unknown-fields": true})));
            obj(json!({"type": "array", "items": items}))
        }
        Value::Object(o) if o.is_empty() => open_object(),
        Value::Object(o) => {
            let mut props = Map::new();
            for (k, v) in o {
                path.push(k.clone());
                props.insert(
                    k.clone(),
                    Value::Object(node(v, depth + 1, path, commented)),
                );
                path.pop();
            }
            for field in commented.get(path).into_iter().flatten() {
                if !props.contains_key(field) {
                    let any =
                        json!({"x-kubernetes-preserve-unknown-fields": true, "nullable": true});
                    props.insert(field.clone(), any);
                }
            }
            let mut out = obj(json!({"type": "object", "properties": props}));
            if example {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
            out
        }
    }
}

/// A schema for the items of a list whose defaults differ in shape: the
/// fields of both, open if either is.
fn union(a: Obj, b: Obj) -> Obj {
    if a == b {
        return a;
    }
    let ty = |s: &Obj| s.get("type").and_then(Value::as_str).map(str::to_owned);
    match (ty(&a).as_deref(), ty(&b).as_deref()) {
        (Some("integer"), Some("number")) | (Some("number"), Some("integer")) => {
            obj(json!({"type": "number"}))
        }
        (Some("object"), Some("object")) => {
            let open = |s: &Obj| s.contains_key("x-kubernetes-preserve-unknown-fields");
            let either_open = open(&a) || open(&b);
            let mut props = a
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Object(more)) = b.get("properties") {
                for (k, s) in more {
                    let merged = match (props.remove(k), s) {
                        (Some(Value::Object(x)), Value::Object(y)) => union(x, y.clone()),
                        (_, Value::Object(y)) => y.clone(),
                        _ => Map::new(),
                    };
                    props.insert(k.clone(), Value::Object(merged));
                }
            }
            let mut out = obj(json!({"type": "object"}));
            if !props.is_empty() {
                out.insert("properties".into(), Value::Object(props));
            }
            if either_open {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
            out
        }
        _ => obj(json!({"x-kubernetes-preserve-unknown-fields": true})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_defaults_and_empty_things_stay_open() {
        let v = json!({
            "replicas": 1, "ratio": 0.5, "name": "x", "on": true, "nothing": null,
            "annotations": {}, "hosts": [], "image": {"tag": "1"},
            "ports": [{"name": "http", "port": 80}, {"name": "tls", "port": 443, "tls": true}],
            "sub": {"a": 1},
        });
        let s = Value::Object(infer(&v, &["sub".to_owned()], &Commented::new()));
        let p = &s["properties"];
        assert_eq!(p["replicas"]["type"], "integer");
        assert_eq!(p["ratio"]["type"], "number");
        assert_eq!(p["on"]["type"], "boolean");
        assert_eq!(p["nothing"]["nullable"], true);
        assert_eq!(
            p["annotations"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            p["hosts"]["items"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(p["image"]["properties"]["tag"]["type"], "string");
        assert!(p["image"]
            .get("x-kubernetes-preserve-unknown-fields")
            .is_none());
        let port = &p["ports"]["items"]["properties"];
        assert_eq!(port["port"]["type"], "integer");
        assert_eq!(port["tls"]["type"], "boolean");
        assert_eq!(p["sub"]["x-kubernetes-preserve-unknown-fields"], true);
    }

    fn open(s: &Value) -> bool {
        s["x-kubernetes-preserve-unknown-fields"] == true
    }

    #[test]
    fn what_a_chart_hands_on_to_kubernetes_is_open() {
        let v = json!({
            "resources": {"requests": {"cpu": "100m"}},
            "podSecurityContext": {"runAsUser": 1000},
            "livenessProbe": {"httpGet": {"path": "/", "port": "http"}},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "extraEnv": [{"name": "A", "value": "1"}],
            "controller": {"podAnnotations": {"a": "b"}, "updateStrategy": {"type": "RollingUpdate"}},
            "config": {"log": {"level": "info"}},
            "image": {"repository": "r/a", "tag": "1"},
            "env": "production",
        });
        let s = Value::Object(infer(&v, &[], &Commented::new()));
        let p = &s["properties"];
        for field in [
            "resources",
            "podSecurityContext",
            "livenessProbe",
            "nodeSelector",
            "config",
        ] {
            assert!(open(&p[field]), "{field}: {:#}", p[field]);
            assert_eq!(p[field]["type"], "object", "{field}");
            assert!(p[field].get("properties").is_none(), "{field}");
        }
        let c = &p["controller"]["properties"];
        assert!(open(&c["podAnnotations"]) && open(&c["updateStrategy"]));
        // the controller itself is the chart's own
        assert!(!open(&p["controller"]));
        assert_eq!(p["extraEnv"]["type"], "array");
        assert!(open(&p["extraEnv"]["items"]));
        assert!(p["extraEnv"]["items"].get("properties").is_none());
        // the chart's own map stays closed; a handed-on scalar keeps its type
        assert!(!open(&p["image"]));
        assert_eq!(p["image"]["properties"]["tag"]["type"], "string");
        assert_eq!(p["env"], json!({"type": "string"}));
    }

    #[test]
    fn list_items_take_fields_their_defaults_do_not_show() {
        let v = json!({
            "receivers": [
                {"name": "a", "slack": {"channel": "#a"}},
                {"name": "b", "email": {"to": "x@example.com"}},
                {},
            ],
        });
        let s = Value::Object(infer(&v, &[], &Commented::new()));
        let item = &s["properties"]["receivers"]["items"];
        assert!(open(item), "{item:#}");
        // the shown fields keep their types, from every item
        assert_eq!(item["properties"]["name"]["type"], "string");
        assert_eq!(
            item["properties"]["slack"]["properties"]["channel"]["type"],
            "string"
        );
        assert!(open(&item["properties"]["slack"]));
        assert_eq!(
            item["properties"]["email"]["properties"]["to"]["type"],
            "string"
        );
    }

    #[test]
    fn handed_on_names_by_name_and_ending_any_case() {
        for k in [
            "resources",
            "Resources",
            "containerSecurityContext",
            "readinessProbe",
            "podAntiAffinity",
            "commonLabels",
            "extraVolumeMounts",
            "initContainers",
            "envFrom",
            "imagePullSecrets",
            "dnsConfig",
            "pdb",
        ] {
            assert!(handed_on(k), "{k}");
        }
        for k in [
            "image",
            "service",
            "ingress",
            "persistence",
            "autoscaling",
            "replicaCount",
            "serviceAccount",
            "metrics",
            "ports",
        ] {
            assert!(!handed_on(k), "{k}");
        }
    }

    #[test]
    fn deep_values_stop_at_the_bound() {
        let mut v = json!(1);
        for _ in 0..60 {
            v = json!({ "a": v });
        }
        let s = Value::Object(infer(&v, &[], &Commented::new()));
        assert!(s
            .to_string()
            .contains("x-kubernetes-preserve-unknown-fields"));
    }
}
