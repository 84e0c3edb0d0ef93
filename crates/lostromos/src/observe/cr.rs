//! A plain view of one custom resource: what plan and values need, no client types.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use kube::api::DynamicObject;
use serde_json::Value;

/// The parts of a CR that decisions depend on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrView {
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
}

impl CrView {
    pub fn from_dynamic(obj: &DynamicObject) -> Self {
        let meta = &obj.metadata;
        Self {
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation,
            labels: meta.labels.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            spec: obj.data.get("spec").cloned(),
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

/// A hash of everything in a CR that can change a decision (generation for the
/// spec, labels, annotations, finalizers, deletion), but not its status: our own
/// status writes must not wake the CR up again, or retries would skip backoff.
pub fn decision_hash(obj: &DynamicObject) -> Option<u64> {
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
    use kube::api::ApiResource;
    use serde_json::json;

    fn obj() -> DynamicObject {
        let ar = ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("g", "v1", "W"));
        let mut o = DynamicObject::new("w", &ar)
            .within("ns")
            .data(json!({"spec": {"a": 1}}));
        o.metadata.generation = Some(1);
        o
    }

    #[test]
    fn status_changes_do_not_change_the_hash() {
        let a = obj();
        let mut b = obj();
        b.data["status"] = json!({"conditions": []});
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
        let v = CrView::from_dynamic(&obj());
        assert_eq!(v.key(), "ns/w");
        assert_eq!(v.spec, Some(json!({"a": 1})));
        assert!(!v.deleting);
    }
}
