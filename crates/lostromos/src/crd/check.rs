//! Validates a value against a converted (structural) schema the way the API
//! server does for the parts the converter emits: used to keep a `default`
//! only where the API server will accept it, and in tests.

use serde_json::{Map, Value};

/// Deeper than any value the converter emits a schema for.
const MAX_DEPTH: usize = 128;

/// The first reason `value` does not satisfy `schema`, or `None`.
pub fn validate(schema: &Map<String, Value>, value: &Value) -> Option<String> {
    Checker { prune_nulls: false }.check(schema, value, "", 0)
}

/// The first reason the API server would refuse `value` as an object of
/// `schema`, or `None`: as [`validate`], except that a null in a field that
/// is not nullable is accepted, since the API server drops it first.
pub fn admits(schema: &Map<String, Value>, value: &Value) -> Option<String> {
    Checker { prune_nulls: true }.check(schema, value, "", 0)
}

struct Checker {
    prune_nulls: bool,
}

impl Checker {
    fn check(&self, s: &Map<String, Value>, v: &Value, at: &str, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return Some(format!("{at}: nested too deep"));
        }
        let here = || if at.is_empty() { "<root>" } else { at };
        if v.is_null() {
            if !flag(s, "nullable") {
                return Some(format!("{}: null is not allowed", here()));
            }
            // the API server checks the node's own enum against null too, and
            // null never matches one
            return s
                .contains_key("enum")
                .then(|| format!("{}: null is refused by the enum", here()));
        }
        let int_or_string = flag(s, "x-kubernetes-int-or-string");
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            if !type_matches(t, v) {
                return Some(format!("{}: must be of type {t}", here()));
            }
        } else if int_or_string && !(v.is_string() || is_integer(v)) {
            return Some(format!("{}: must be an integer or a string", here()));
        }
        if let Some(Value::Array(e)) = s.get("enum") {
            if !e.contains(v) {
                return Some(format!(
                    "{}: must be one of {}",
                    here(),
                    Value::Array(e.clone())
                ));
            }
        }
        if let Some(why) = scalar(s, v) {
            return Some(format!("{}: {why}", here()));
        }
        match v {
            Value::Object(o) => {
                if let Some(Value::Array(req)) = s.get("required") {
                    for r in req.iter().filter_map(Value::as_str) {
                        if !o.contains_key(r) {
                            return Some(format!("{}: {r} is required", here()));
                        }
                    }
                }
                let n = o.len() as f64;
                if num(s, "minProperties").is_some_and(|m| n < m)
                    || num(s, "maxProperties").is_some_and(|m| n > m)
                {
                    return Some(format!("{}: wrong number of properties", here()));
                }
                let props = s.get("properties").and_then(Value::as_object);
                let extra = s.get("additionalProperties");
                let open = flag(s, "x-kubernetes-preserve-unknown-fields");
                for (k, item) in o {
                    let path = format!("{at}.{k}");
                    if let Some(p) = props.and_then(|p| p.get(k)).and_then(Value::as_object) {
                        if item.is_null() && self.prune_nulls && !flag(p, "nullable") {
                            continue;
                        }
                        if let Some(e) = self.check(p, item, &path, depth + 1) {
                            return Some(e);
                        }
                    } else if let Some(Value::Object(ap)) = extra {
                        if item.is_null() && self.prune_nulls && !flag(ap, "nullable") {
                            continue;
                        }
                        if let Some(e) = self.check(ap, item, &path, depth + 1) {
                            return Some(e);
                        }
                    } else if extra == Some(&Value::Bool(false)) || !(open || extra.is_some()) {
                        // a closed object: the API server prunes, or rejects when strict
                        // (a branch of a junctor has no type, and leaves other keys alone)
                        if s.contains_key("type") {
                            return Some(format!("{path}: unknown field"));
                        }
                    }
                }
            }
            Value::Array(a) => {
                let n = a.len() as f64;
                if num(s, "minItems").is_some_and(|m| n < m)
                    || num(s, "maxItems").is_some_and(|m| n > m)
                {
                    return Some(format!("{}: wrong number of items", here()));
                }
                if let Some(Value::Object(items)) = s.get("items") {
                    for (i, item) in a.iter().enumerate() {
                        if let Some(e) = self.check(items, item, &format!("{at}[{i}]"), depth + 1) {
                            return Some(e);
                        }
                    }
                }
            }
            _ => {}
        }
        self.junctors(s, v, at, depth)
    }

    fn junctors(
        &self,
        s: &Map<String, Value>,
        v: &Value,
        at: &str,
        depth: usize,
    ) -> Option<String> {
        let list = |k: &str| {
            s.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).collect::<Vec<_>>())
        };
        let ok = |b: &Map<String, Value>| self.check(b, v, at, depth + 1).is_none();
        if let Some(all) = list("allOf") {
            for b in all {
                if let Some(e) = self.check(b, v, at, depth + 1) {
                    return Some(e);
                }
            }
        }
        if let Some(any) = list("anyOf") {
            if !any.iter().any(|b| ok(b)) {
                return Some(format!("{at}: matches none of anyOf"));
            }
        }
        if let Some(one) = list("oneOf") {
            let n = one.iter().filter(|b| ok(b)).count();
            if n != 1 {
                return Some(format!("{at}: matches {n} of oneOf, not exactly one"));
            }
        }
        if let Some(Value::Object(not)) = s.get("not") {
            if ok(not) {
                return Some(format!("{at}: matches `not`"));
            }
        }
        None
    }
}

/// The checks that apply to one JSON type only (whatever the node's type).
fn scalar(s: &Map<String, Value>, v: &Value) -> Option<String> {
    match v {
        Value::String(text) => {
            let n = text.chars().count() as f64;
            if num(s, "minLength").is_some_and(|m| n < m) {
                return Some("too short".into());
            }
            if num(s, "maxLength").is_some_and(|m| n > m) {
                return Some("too long".into());
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                match regex::Regex::new(p) {
                    Ok(re) if re.is_match(text) => {}
                    _ => return Some(format!("does not match {p:?}")),
                }
            }
            if let Some(f) = s.get("format").and_then(Value::as_str) {
                if !super::formats::matches(f, text) {
                    return Some(format!("is not a valid {f}"));
                }
            }
            None
        }
        Value::Number(n) => {
            let x = n.as_f64()?;
            let exclusive = |k| flag(s, k);
            if let Some(m) = num(s, "minimum") {
                if x < m || (exclusive("exclusiveMinimum") && x == m) {
                    return Some(format!("must be at least {m}"));
                }
            }
            if let Some(m) = num(s, "maximum") {
                if x > m || (exclusive("exclusiveMaximum") && x == m) {
                    return Some(format!("must be at most {m}"));
                }
            }
            if let Some(m) = num(s, "multipleOf") {
                if m > 0.0 && (x / m).fract() != 0.0 {
                    return Some(format!("must be a multiple of {m}"));
                }
            }
            None
        }
        _ => None,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => is_integer(v),
        _ => true,
    }
}

pub(super) fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

fn flag(s: &Map<String, Value>, k: &str) -> bool {
    s.get(k) == Some(&Value::Bool(true))
}

fn num(s: &Map<String, Value>, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn types_ranges_and_unknown_fields() {
        let s = schema(json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1, "maximum": 3},
            "s": {"type": "string", "enum": ["a", "b"]},
        }}));
        assert_eq!(validate(&s, &json!({"n": 2, "s": "a"})), None);
        assert!(validate(&s, &json!({"n": 4})).unwrap().contains("at most"));
        assert!(validate(&s, &json!({"s": "c"})).unwrap().contains("one of"));
        assert!(validate(&s, &json!({"x": 1}))
            .unwrap()
            .contains("unknown field"));
        assert!(validate(&s, &json!({"n": "1"}))
            .unwrap()
            .contains("integer"));
    }

    #[test]
    fn open_nullable_and_int_or_string() {
        let s = schema(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"q": {"x-kubernetes-int-or-string": true, "nullable": true}}}),
        );
        assert_eq!(validate(&s, &json!({"other": [1], "q": null})), None);
        assert_eq!(validate(&s, &json!({"q": "1Gi"})), None);
        assert!(validate(&s, &json!({"q": true})).is_some());
    }

    #[test]
    fn null_against_an_enum_and_pruned_nulls() {
        // the API server refuses null against a node's own enum, even a
        // nullable one with null among its values
        let s = schema(json!({"type": "object", "properties": {
            "e": {"type": "string", "nullable": true, "enum": ["a", null]},
            "n": {"type": "string"},
        }}));
        assert!(validate(&s, &json!({"e": null})).unwrap().contains("enum"));
        // a null where none is allowed: refused as a default, dropped from a CR
        assert!(validate(&s, &json!({"n": null})).is_some());
        assert_eq!(admits(&s, &json!({"n": null})), None);
        assert!(admits(&s, &json!({"e": null})).is_some());
    }
}
