//! The custom resources: how they are kept in memory (`CrObject`), and the plain
//! view decisions are made from (`CrView`, no client types).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ApiResource;
use kube::core::{DynamicResourceScope, Resource};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// kubectl's copy of the whole object: never a decision input, often the
/// largest annotation, so it is not kept.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The type of a watched CR, as every `ObjectRef<CrObject>` carries it. Shared:
/// kube-runtime keeps several refs per CR (the store's key, the scheduler's
/// queue and map, the predicate's map) and one more is kept per release, so a
/// plain `ApiResource` would copy its five strings into each of them.
pub type CrType = Arc<ApiResource>;

/// A custom resource as the controller holds it.
///
/// Decoding it never fails on content: `spec` and `status` are kept as raw JSON
/// text (read without recursion, whatever their depth) and parsed only when a
/// decision needs them, so one CR nested too deep for a JSON parser gets a
/// status that says so instead of breaking the watch for every CR. The
/// metadata drops `managedFields` (which mirrors the spec's nesting) and
/// kubectl's last-applied copy: neither decides anything, both cost memory.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct CrObject {
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lean_metadata")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<RawValue>>,
}

impl Resource for CrObject {
    type DynamicType = CrType;
    type Scope = DynamicResourceScope;

    fn group(dt: &CrType) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &CrType) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn kind(dt: &CrType) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn api_version(dt: &CrType) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &CrType) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl CrObject {
    /// A CR with this metadata and spec (tests and `render`).
    pub fn new(metadata: ObjectMeta, spec: Option<&Value>) -> Self {
        Self {
            api_version: None,
            kind: None,
            metadata,
            spec: spec.and_then(|s| serde_json::value::to_raw_value(s).ok()),
            status: None,
        }
    }

    /// The stored status, parsed; `None` when absent or not JSON we can read.
    pub fn status_value(&self) -> Option<Value> {
        self.status
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

/// Reads `metadata`, skipping `managedFields` without parsing it and dropping
/// the last-applied annotation. Every other field is shallow.
fn lean_metadata<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    struct Lean;
    impl<'de> Visitor<'de> for Lean {
        type Value = Map<String, Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("object metadata")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if key == "managedFields" {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    kept.insert(key, map.next_value()?);
                }
            }
            Ok(kept)
        }
    }
    let mut kept = d.deserialize_map(Lean)?;
    if let Some(Value::Object(annotations)) = kept.get_mut("annotations") {
        annotations.remove(LAST_APPLIED);
    }
    serde_json::from_value(Value::Object(kept)).map_err(serde::de::Error::custom)
}

/// The parts of a CR that decisions depend on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrView {
    /// `apiVersion` and `kind`, as stored (templates can read them).
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    /// `None` for cluster-scoped CRs.
    pub namespace: Option<String>,
    pub uid: String,
    pub generation: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
    /// The CR's `.spec`, as stored (may be absent or not an object).
    pub spec: Option<Value>,
    /// Why the spec could not be read (for example nested too deep), if so.
    pub spec_error: Option<String>,
}

impl CrView {
    pub fn from_object(obj: &CrObject) -> Self {
        let meta = &obj.metadata;
        let (spec, spec_error) = match obj.spec.as_deref().map(|raw| read_spec(raw.get())) {
            None => (None, None),
            Some(Ok(v)) => (Some(v), None),
            Some(Err(e)) => (None, Some(e)),
        };
        Self {
            api_version: obj.api_version.clone(),
            kind: obj.kind.clone(),
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation,
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            spec,
            spec_error,
        }
    }

    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// `namespace/name`, or `name` for a cluster-scoped CR: for logs and events.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Parses a spec, saying in words why it cannot be when it cannot.
fn read_spec(raw: &str) -> Result<Value, String> {
    serde_json::from_str(raw).map_err(|e| {
        if e.to_string().contains("recursion limit") {
            format!(
                "spec is nested more than {MAX_DEPTH} levels deep ({} bytes); fix: flatten the spec",
                raw.len()
            )
        } else {
            format!("spec is not readable JSON ({e})")
        }
    })
}

/// serde_json's nesting limit, which the spec must stay under.
pub const MAX_DEPTH: usize = 128;

/// A hash of everything in a CR that can change a decision (generation for the
/// spec, labels, annotations, finalizers, deletion), but not its status: our own
/// status writes must not wake the CR up again, or retries would skip backoff.
pub fn decision_hash(obj: &CrObject) -> Option<u64> {
    let m = &obj.metadata;
    let mut h = DefaultHasher::new();
    m.generation.hash(&mut h);
    m.labels.hash(&mut h);
    m.annotations.hash(&mut h);
    m.finalizers.hash(&mut h);
    m.deletion_timestamp.is_some().hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> CrObject {
        let mut o = CrObject::new(
            ObjectMeta {
                name: Some("w".into()),
                namespace: Some("ns".into()),
                generation: Some(1),
                ..Default::default()
            },
            Some(&json!({"a": 1})),
        );
        o.status = None;
        o
    }

    #[test]
    fn status_changes_do_not_change_the_hash() {
        let a = obj();
        let mut b = obj();
        b.status = serde_json::value::to_raw_value(&json!({"conditions": []})).ok();
        b.metadata.resource_version = Some("99".into());
        assert_eq!(decision_hash(&a), decision_hash(&b));
    }

    #[test]
    fn decision_inputs_change_the_hash() {
        let base = decision_hash(&obj());
        let mut o = obj();
        o.metadata.generation = Some(2);
        assert_ne!(base, decision_hash(&o));
        let mut o = obj();
        o.metadata.annotations = Some([("k".to_owned(), "v".to_owned())].into());
        assert_ne!(base, decision_hash(&o));
        let mut o = obj();
        o.metadata.labels = Some([("k".to_owned(), "v".to_owned())].into());
        assert_ne!(base, decision_hash(&o));
        let mut o = obj();
        o.metadata.finalizers = Some(vec!["f".into()]);
        assert_ne!(base, decision_hash(&o));
    }

    #[test]
    fn view_reads_the_object() {
        let v = CrView::from_object(&obj());
        assert_eq!(v.key(), "ns/w");
        assert_eq!(v.spec, Some(json!({"a": 1})));
        assert_eq!(v.spec_error, None);
        assert!(!v.deleting);
    }

    /// `{"a":{"a":...}}` nested `depth` levels deep.
    fn nested(depth: usize) -> String {
        format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
    }

    #[test]
    fn a_spec_nested_too_deep_still_decodes_and_says_why() {
        let depth = 200;
        let text = format!(
            r#"{{"apiVersion":"g/v1","kind":"W","metadata":{{"name":"deep","namespace":"ns","uid":"u",
               "managedFields":[{{"fieldsV1":{}}}],
               "annotations":{{"{LAST_APPLIED}":"{{}}","keep":"me"}}}},
               "spec":{},"status":{}}}"#,
            nested(depth),
            nested(depth),
            nested(depth)
        );
        // a plain serde_json::Value cannot hold it
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let obj: CrObject = serde_json::from_str(&text).expect("decodes whatever the depth");
        assert_eq!(obj.metadata.name.as_deref(), Some("deep"));
        assert!(obj.metadata.managed_fields.is_none());
        let annotations = obj.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.len(), 1, "{annotations:?}");
        assert!(obj.status_value().is_none());
        let view = CrView::from_object(&obj);
        assert_eq!(view.spec, None);
        let why = view.spec_error.expect("a reason");
        assert!(why.contains("nested more than 128 levels"), "{why}");
        assert!(why.contains("fix:"), "{why}");
    }

    #[test]
    fn a_spec_just_under_the_limit_is_read() {
        let raw = nested(MAX_DEPTH - 1);
        assert!(read_spec(&raw).is_ok());
    }
}
