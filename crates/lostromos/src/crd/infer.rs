//! Without a values.schema.json: a schema inferred from values.yaml's
//! defaults. A default's type is the field's type; a map with keys lists its
//! fields (closed: a misspelt key is refused), and those values.yaml names
//! in comments beside them (any value); an empty map, a null and an empty
//! list say nothing about their content, so they stay open.

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

fn node(v: &Value, depth: usize, path: &mut Path, commented: &Commented) -> Obj {
    if depth > MAX_DEPTH {
        return obj(json!({"x-kubernetes-preserve-unknown-fields": true}));
    }
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
            obj(json!({"type": "object", "properties": props}))
        }
    }
}

/// A schema for the items of a list whose defaults differ in shape.
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
            if open(&a) || open(&b) {
                return open_object();
            }
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
            obj(json!({"type": "object", "properties": props}))
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
