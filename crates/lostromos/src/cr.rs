//! A plain view of one custom resource: what plan and values need, no client types.

use std::collections::BTreeMap;

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

    /// `namespace/name`, or `name` for a cluster-scoped CR: for logs and labels.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}
