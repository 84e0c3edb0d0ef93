//! The values document handed to helm: platform values, the CR, forced values.
//!
//! Layers merge the way helm merges `-f` files (maps merge key by key, anything else
//! is replaced, `null` survives so it can remove a chart default), so one generated
//! file gives the chart exactly what helm would have built from several.

use serde_json::{Map, Value};

use crate::observe::cr::CrView;

/// Where the CR's spec sits in the values. Also `--values-layout`'s closed set
/// (clap lists the values in `--help`, serde names them in file errors).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// The spec is the root of the values: existing charts work unchanged.
    #[default]
    Spec,
    /// The original Lostrómos layout: `resource.{name,namespace,spec}`.
    Resource,
    /// The whole CR (apiVersion, kind, metadata, spec) under `cr`: what a
    /// chart generated from `--templates` reads. Not a choice for charts.
    #[value(skip)]
    #[serde(skip)]
    Whole,
}

/// Everything besides the CR that shapes the values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValuesConfig {
    pub layout: Layout,
    /// When set, the CR's metadata is exposed under this top-level key.
    pub metadata_key: Option<String>,
    /// Shared platform values, below the CR (in order).
    pub base: Vec<Value>,
    /// Forced values that beat the CR (in order).
    pub overrides: Vec<Value>,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum ValuesError {
    #[error(
        "spec must be an object of chart values, found {found}; fix: set `spec:` to a map of keys"
    )]
    SpecNotObject { found: &'static str },
    /// The spec could not be parsed at all (for example nested too deep).
    #[error("{0}")]
    Unreadable(String),
}

/// Annotations never passed to a chart: kubectl's copy of the whole object.
const HIDDEN_ANNOTATIONS: &[&str] = &[crate::observe::cr::LAST_APPLIED];

/// Builds the values for one CR: base < CR < metadata < overrides.
pub fn build(cfg: &ValuesConfig, cr: &CrView) -> Result<Value, ValuesError> {
    if let Some(why) = &cr.spec_error {
        return Err(ValuesError::Unreadable(why.clone()));
    }
    let spec = match &cr.spec {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(other) => return Err(ValuesError::SpecNotObject { found: kind(other) }),
    };
    let from_cr = match cfg.layout {
        Layout::Spec => spec,
        Layout::Resource => serde_json::json!({
            "resource": {
                "name": cr.name,
                "namespace": cr.namespace.clone().unwrap_or_default(),
                "spec": spec,
            }
        }),
        Layout::Whole => {
            let mut whole = Map::new();
            if let Some(v) = &cr.api_version {
                whole.insert("apiVersion".into(), v.clone().into());
            }
            if let Some(k) = &cr.kind {
                whole.insert("kind".into(), k.clone().into());
            }
            whole.insert("metadata".into(), metadata(cr));
            whole.insert("spec".into(), spec);
            let mut top = Map::new();
            top.insert(crate::helm::templates::CR_KEY.into(), Value::Object(whole));
            Value::Object(top)
        }
    };

    let mut values = Value::Object(Map::new());
    for base in &cfg.base {
        merge(&mut values, base);
    }
    merge(&mut values, &from_cr);
    if let Some(key) = &cfg.metadata_key {
        let mut top = Map::new();
        top.insert(key.clone(), metadata(cr));
        merge(&mut values, &Value::Object(top));
    }
    for forced in &cfg.overrides {
        merge(&mut values, forced);
    }
    Ok(values)
}

fn metadata(cr: &CrView) -> Value {
    let annotations: Map<String, Value> = cr
        .annotations
        .iter()
        .filter(|(k, _)| !HIDDEN_ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "name": cr.name,
        "namespace": cr.namespace.clone().unwrap_or_default(),
        "uid": cr.uid,
        "labels": cr.labels,
        "annotations": annotations,
    })
}

/// Merges `top` over `base` as helm merges values files.
pub fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, tv) in t {
                match b.get_mut(k) {
                    Some(bv) if bv.is_object() && tv.is_object() => merge(bv, tv),
                    _ => {
                        b.insert(k.clone(), tv.clone());
                    }
                }
            }
        }
        (b, t) => *b = t.clone(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cr(spec: Option<Value>) -> CrView {
        CrView {
            name: "nemo".into(),
            namespace: Some("fish".into()),
            uid: "u-1".into(),
            spec,
            ..Default::default()
        }
    }

    #[test]
    fn spec_layout_puts_spec_at_root() {
        let v = build(&ValuesConfig::default(), &cr(Some(json!({"a": 1})))).unwrap();
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn resource_layout_matches_the_original() {
        let cfg = ValuesConfig {
            layout: Layout::Resource,
            ..Default::default()
        };
        let v = build(&cfg, &cr(Some(json!({"Name": "Nemo"})))).unwrap();
        assert_eq!(
            v,
            json!({"resource": {"name": "nemo", "namespace": "fish", "spec": {"Name": "Nemo"}}})
        );
    }

    #[test]
    fn missing_or_null_spec_is_empty_values() {
        assert_eq!(
            build(&ValuesConfig::default(), &cr(None)).unwrap(),
            json!({})
        );
        assert_eq!(
            build(&ValuesConfig::default(), &cr(Some(Value::Null))).unwrap(),
            json!({})
        );
    }

    #[test]
    fn spec_that_is_not_an_object_is_rejected_with_the_fix() {
        let err = build(&ValuesConfig::default(), &cr(Some(json!("hello")))).unwrap_err();
        assert_eq!(err, ValuesError::SpecNotObject { found: "a string" });
        assert!(err.to_string().contains("fix:"));
        assert!(build(&ValuesConfig::default(), &cr(Some(json!([1])))).is_err());
    }

    #[test]
    fn layers_merge_base_cr_metadata_override() {
        let cfg = ValuesConfig {
            layout: Layout::Spec,
            metadata_key: Some("cr".into()),
            base: vec![json!({"image": {"tag": "1", "repo": "r"}, "replicas": 1, "keep": true})],
            overrides: vec![json!({"replicas": 3, "cr": {"name": "forced"}})],
        };
        let mut c = cr(Some(
            json!({"image": {"tag": "2"}, "replicas": 2, "keep": null}),
        ));
        c.labels.insert("team".into(), "a".into());
        c.annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{}".into(),
        );
        c.annotations.insert("note".into(), "x".into());
        let v = build(&cfg, &c).unwrap();
        assert_eq!(v["image"], json!({"tag": "2", "repo": "r"}));
        assert_eq!(v["replicas"], json!(3));
        assert_eq!(
            v["keep"],
            Value::Null,
            "null from the CR survives to remove a default"
        );
        assert_eq!(v["cr"]["name"], json!("forced"));
        assert_eq!(v["cr"]["namespace"], json!("fish"));
        assert_eq!(v["cr"]["uid"], json!("u-1"));
        assert_eq!(v["cr"]["labels"], json!({"team": "a"}));
        assert_eq!(v["cr"]["annotations"], json!({"note": "x"}));
    }

    #[test]
    fn cr_cannot_forge_its_metadata() {
        let cfg = ValuesConfig {
            metadata_key: Some("cr".into()),
            ..Default::default()
        };
        let v = build(&cfg, &cr(Some(json!({"cr": {"name": "other"}})))).unwrap();
        assert_eq!(v["cr"]["name"], json!("nemo"));
    }

    #[test]
    fn merge_replaces_non_maps() {
        let mut b = json!({"list": [1, 2], "m": {"a": 1}});
        merge(&mut b, &json!({"list": [3], "m": 5}));
        assert_eq!(b, json!({"list": [3], "m": 5}));
    }
}
