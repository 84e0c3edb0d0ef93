//! A release's rendered manifest (from helm's release record), read for what
//! drift detection needs: which objects helm made, and which fields it set on
//! each. Only hashes of field paths are kept, never values, so a release's
//! footprint stays small however big its objects are.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use crate::config::file::yaml_error;

/// One object of a release's rendered manifest: its identity and the fields helm sets on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestObject {
    /// `""` for the core group; `apps` for `apps/v1`.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// As written in the manifest; None when absent (helm then uses the
    /// release namespace for namespaced kinds, which only discovery can tell).
    pub namespace: Option<String>,
    pub name: String,
    pub fields: FieldSet,
}

/// The leaf field paths an object sets, hashed (never the values): compact, so
/// memory stays small however big the object is. 64-bit hashes make a false
/// match between two real paths of one object vanishingly unlikely.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(Box<[u64]>); // sorted, deduplicated

impl FieldSet {
    /// Leaf paths of an object: walk maps key by key; a scalar, a list or an
    /// empty map ends a path. `apiVersion`, `kind`, `metadata.name`,
    /// `metadata.namespace` (the identity, not fields anyone edits) and
    /// `status` (never written through the main resource) are left out, and so
    /// are nulls: the API server stores nothing for them, so nobody can overwrite them.
    pub fn of(object: &Value) -> FieldSet {
        let mut hashes = Vec::new();
        let Value::Object(root) = object else {
            return FieldSet::default();
        };
        // Iterative, so no input depth can exhaust the stack.
        let mut stack: Vec<(Vec<&str>, &Value)> =
            root.iter().map(|(k, v)| (vec![k.as_str()], v)).collect();
        while let Some((path, value)) = stack.pop() {
            if identity_or_status(&path) {
                continue;
            }
            match value {
                Value::Null => {}
                Value::Object(map) if !map.is_empty() => {
                    for (k, v) in map {
                        let mut child = path.clone();
                        child.push(k.as_str());
                        stack.push((child, v));
                    }
                }
                _ => hashes.push(path_hash(&path)),
            }
        }
        hashes.sort_unstable();
        hashes.dedup();
        FieldSet(hashes.into_boxed_slice())
    }

    /// Whether `path` (segments) or one of its prefixes is a leaf of this set:
    /// a write below a field helm set (a key inside a list helm set as a whole,
    /// say) changes that field.
    pub fn overlaps(&self, path: &[String]) -> bool {
        let mut hasher = DefaultHasher::new();
        path.iter().any(|segment| {
            segment.as_str().hash(&mut hasher);
            self.0.binary_search(&hasher.finish()).is_ok()
        })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn identity_or_status(path: &[&str]) -> bool {
    matches!(
        path,
        ["apiVersion"] | ["kind"] | ["status"] | ["metadata", "name"] | ["metadata", "namespace"]
    )
}

/// Hash of a path given as segments. A segment may contain dots or slashes
/// (annotation keys), so segments are hashed one by one (`str`'s hash ends
/// each with a separator), never joined. `DefaultHasher::new()` is stable
/// within a process, which is all the sets need: they are never stored.
pub fn path_hash(path: &[impl AsRef<str>]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for segment in path {
        segment.as_ref().hash(&mut hasher);
    }
    hasher.finish()
}

/// A path for a person: segments joined with '.'.
pub fn show(path: &[String]) -> String {
    path.join(".")
}

/// Where in a manifest: the document's 1-based index, and the template that
/// rendered it (helm's `# Source:` line), which is what a chart author can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub index: usize,
    pub source: Option<String>,
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest document {}", self.index)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// `reason` gives the line and column in the whole manifest.
    #[error("{at}: not valid YAML: {reason}")]
    Syntax { at: Document, reason: String },
    #[error("{at}: not a Kubernetes object: {problem}")]
    NotAnObject { at: Document, problem: String },
}

/// The objects of a rendered manifest: YAML documents separated by `---`
/// (helm writes `---\n# Source: chart/templates/x.yaml\n...`). Empty and
/// comment-only documents are skipped; `kind: List` (any kind ending in
/// "List" with `items`) is flattened into its items.
///
/// Documents are split here and parsed one by one, as helm itself does, so
/// an error names the document and its template, and a release with many
/// documents is not held to a YAML parser's per-stream document limit.
pub fn objects(manifest: &str) -> Result<Vec<ManifestObject>, ManifestError> {
    let mut out = Vec::new();
    for (index, (line, text)) in documents(manifest).into_iter().enumerate() {
        let at = Document {
            index: index + 1,
            source: source_line(text),
        };
        if is_blank(text) {
            continue;
        }
        let value: Value = match serde_saphyr::from_str(text) {
            Ok(value) => value,
            Err(first) => {
                // Parsed again, only on this rare path, behind blank lines so
                // the error's line is the manifest's, as `helm get manifest` shows it.
                let padded = format!("{}{text}", "\n".repeat(line - 1));
                let reason = match serde_saphyr::from_str::<Value>(&padded) {
                    Err(e) => yaml_error(&e),
                    Ok(_) => yaml_error(&first),
                };
                return Err(ManifestError::Syntax { at, reason });
            }
        };
        if value.is_null() {
            continue;
        }
        collect(&value, &at, "", &mut out)?;
    }
    Ok(out)
}

/// Adds `value` (the document, or an item of a list in it at `item`) to `out`.
fn collect(
    value: &Value,
    at: &Document,
    item: &str,
    out: &mut Vec<ManifestObject>,
) -> Result<(), ManifestError> {
    let fail = |problem: String| ManifestError::NotAnObject {
        at: at.clone(),
        problem: format!("{item}{problem}"),
    };
    let Value::Object(map) = value else {
        return Err(fail(format!("{}, not a map", kind_of(value))));
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let Some(kind) = text("kind") else {
        return Err(fail("no kind".into()));
    };
    if kind.ends_with("List") {
        if let Some(items) = map.get("items") {
            let Value::Array(items) = items else {
                return Err(fail(format!("{kind} items is not a list")));
            };
            for (i, entry) in items.iter().enumerate() {
                collect(entry, at, &format!("{item}items[{i}]: "), out)?;
            }
            return Ok(());
        }
    }
    let Some(api_version) = text("apiVersion") else {
        return Err(fail(format!("{kind} has no apiVersion")));
    };
    let metadata = map.get("metadata");
    let meta = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let Some(name) = meta("name") else {
        return Err(fail(format!("{kind} has no metadata.name")));
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    out.push(ManifestObject {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        namespace: meta("namespace").map(Into::into),
        name: name.into(),
        fields: FieldSet::of(value),
    });
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The texts of the stream's documents, each with the 1-based line of the
/// manifest it starts on. A line starting with `---` then a space or its end
/// opens a document (YAML's rule: inside a block scalar it could not appear at
/// column 0, so this never splits a value); what follows the marker on its
/// line belongs to the new document. Text before the first marker is a
/// document only when it holds more than comments.
fn documents(manifest: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let mut offset = 0;
    for (number, line) in manifest.split_inclusive('\n').enumerate() {
        let rest = line.strip_prefix("---");
        if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with(char::is_whitespace)) {
            let text = &manifest[start..offset];
            let preamble = start == 0;
            if !(preamble && is_blank(text)) {
                docs.push((start_line, text));
            }
            start = offset + line.len() - rest.len();
            start_line = number + 1;
        }
        offset += line.len();
    }
    let text = &manifest[start..];
    if !(start == 0 && is_blank(text)) {
        docs.push((start_line, text));
    }
    docs
}

/// Whether a document holds nothing but blank lines and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim_start();
        l.is_empty() || l.starts_with('#')
    })
}

/// The template helm rendered a document from: its leading `# Source:` comment.
fn source_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.is_empty() || l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# Source:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn names(text: &str) -> Result<Vec<String>, ManifestError> {
        objects(text).map(|o| o.into_iter().map(|o| o.name).collect())
    }

    const RELEASE: &str = "---
# Source: demo/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo-config
  labels:
    app.kubernetes.io/managed-by: Helm
  annotations:
    meta.helm.sh/release-name: demo
data:
  x: \"1\"
---
# Source: demo/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: apps
spec:
  replicas: 2
  selector:
    matchLabels:
      app: demo
  template:
    metadata:
      labels:
        app: demo
    spec:
      containers:
        - name: web
          image: nginx:1.27
      volumes:
        - name: scratch
          emptyDir: {}
status:
  replicas: 2
";

    fn release() -> Vec<ManifestObject> {
        match objects(RELEASE) {
            Ok(objs) => objs,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn helm_manifest_gives_each_object_identity() {
        let ids: Vec<_> = release()
            .into_iter()
            .map(|o| (o.group, o.version, o.kind, o.namespace, o.name))
            .collect();
        assert_eq!(
            ids,
            vec![
                (
                    "".to_string(),
                    "v1".to_string(),
                    "ConfigMap".to_string(),
                    None,
                    "demo-config".to_string()
                ),
                (
                    "apps".to_string(),
                    "v1".to_string(),
                    "Deployment".to_string(),
                    Some("apps".to_string()),
                    "demo".to_string()
                ),
            ]
        );
    }

    #[test]
    fn empty_and_comment_only_documents_are_skipped() {
        let text = "# leading comment\n---\n\n---\n# Source: demo/templates/empty.yaml\n# nothing rendered\n---\n---\nnull\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\n";
        assert_eq!(names(text), Ok(vec!["s".to_string()]));
        assert_eq!(objects(""), Ok(vec![]));
        assert_eq!(objects("# only a comment\n"), Ok(vec![]));
    }

    #[test]
    fn a_document_without_leading_marker_counts() {
        let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n";
        assert_eq!(names(text), Ok(vec!["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn a_list_is_flattened_into_its_items() {
        let text = "---
# Source: demo/templates/list.yaml
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: one
    data:
      a: b
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: Role
    metadata:
      name: two
      namespace: ns
    rules: []
";
        let Ok(objs) = objects(text) else {
            panic!("list did not parse")
        };
        let ids: Vec<_> = objs
            .iter()
            .map(|o| {
                (
                    o.group.as_str(),
                    o.kind.as_str(),
                    o.namespace.as_deref(),
                    o.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                ("", "ConfigMap", None, "one"),
                ("rbac.authorization.k8s.io", "Role", Some("ns"), "two"),
            ]
        );
        assert!(objs[0].fields.overlaps(&path(&["data", "a"])));
        assert!(objs[1].fields.overlaps(&path(&["rules"])));
    }

    #[test]
    fn a_syntax_error_names_the_document_and_template() {
        let text = "---\n# Source: demo/templates/a.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n---\n# Source: demo/templates/bad.yaml\napiVersion: v1\nkind: [unclosed\n";
        let Err(ManifestError::Syntax { at, reason }) = objects(text) else {
            panic!("expected a syntax error")
        };
        assert_eq!(
            at,
            Document {
                index: 2,
                source: Some("demo/templates/bad.yaml".into())
            }
        );
        // the line of the manifest, not of the document
        assert_eq!(reason, "unclosed bracket '[' at line 10, column 7");
        let shown = ManifestError::Syntax { at, reason }.to_string();
        assert!(
            shown.starts_with("manifest document 2 (demo/templates/bad.yaml): not valid YAML: "),
            "{shown}"
        );
    }

    #[test]
    fn a_document_that_is_not_an_object_is_an_error() {
        let err = |text: &str| match objects(text) {
            Err(ManifestError::NotAnObject { at, problem }) => (at.index, problem),
            other => panic!("{other:?}"),
        };
        assert_eq!(err("---\n- a\n- b\n"), (1, "a list, not a map".to_string()));
        assert_eq!(
            err("---\napiVersion: v1\nmetadata: {name: a}\n"),
            (1, "no kind".to_string())
        );
        assert_eq!(
            err("---\n---\napiVersion: v1\nkind: Secret\nmetadata: {}\n"),
            (2, "Secret has no metadata.name".to_string())
        );
        assert_eq!(
            err("---\nkind: Secret\nmetadata: {name: a}\n"),
            (1, "Secret has no apiVersion".to_string())
        );
        assert_eq!(
            err("---\napiVersion: v1\nkind: List\nitems:\n  - 3\n"),
            (1, "items[0]: a number, not a map".to_string())
        );
    }

    #[test]
    fn configmap_fields_are_its_leaves() {
        let cm = &release()[0];
        assert!(cm.fields.overlaps(&path(&["data", "x"])));
        assert!(!cm.fields.overlaps(&path(&["data", "extra"])));
        assert!(!cm
            .fields
            .overlaps(&path(&["metadata", "annotations", "other"])));
        assert!(cm.fields.overlaps(&path(&[
            "metadata",
            "annotations",
            "meta.helm.sh/release-name"
        ])));
        assert!(cm.fields.overlaps(&path(&[
            "metadata",
            "labels",
            "app.kubernetes.io/managed-by"
        ])));
        // deeper than a leaf: a write inside a field helm set
        assert!(cm.fields.overlaps(&path(&["data", "x", "y"])));
        // a map above the leaves is not a leaf
        assert!(!cm.fields.overlaps(&path(&["data"])));
        assert!(!cm.fields.overlaps(&[]));
        for identity in [
            &["apiVersion"][..],
            &["kind"],
            &["metadata", "name"],
            &["metadata", "namespace"],
        ] {
            assert!(!cm.fields.overlaps(&path(identity)), "{identity:?}");
        }
        // data.x, the label, the annotation
        assert_eq!(cm.fields.len(), 3);
    }

    #[test]
    fn deployment_fields_end_at_lists_and_leave_out_status() {
        let deploy = &release()[1];
        let f = &deploy.fields;
        assert!(f.overlaps(&path(&["spec", "template", "spec", "containers"])));
        assert!(f.overlaps(&path(&["spec", "template", "spec", "volumes"])));
        assert!(f.overlaps(&path(&["spec", "replicas"])));
        assert!(f.overlaps(&path(&["spec", "selector", "matchLabels", "app"])));
        assert!(!f.overlaps(&path(&["status", "replicas"])));
        assert!(!f.overlaps(&path(&["status"])));
        assert!(!f.overlaps(&path(&["spec", "paused"])));
        // replicas, matchLabels.app, template labels.app, containers, volumes
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn empty_maps_end_a_path_and_nulls_set_nothing() {
        let obj = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": null},
            "spec": {"securityContext": {}, "nodeSelector": null},
        });
        let f = FieldSet::of(&obj);
        assert!(f.overlaps(&path(&["spec", "securityContext"])));
        assert!(f.overlaps(&path(&["spec", "securityContext", "runAsUser"])));
        assert!(!f.overlaps(&path(&["spec", "nodeSelector"])));
        assert!(!f.overlaps(&path(&["metadata", "creationTimestamp"])));
        assert_eq!(f.len(), 1);
        assert!(FieldSet::of(&serde_json::json!([1, 2])).is_empty());
        assert!(FieldSet::of(&serde_json::json!("x")).is_empty());
    }

    #[test]
    fn segments_are_hashed_apart_not_joined() {
        assert_ne!(path_hash(&["a.b"]), path_hash(&["a", "b"]));
        assert_ne!(path_hash(&["ab"]), path_hash(&["a", "b"]));
        assert_eq!(path_hash(&["a", "b"]), path_hash(&path(&["a", "b"])));
        let f = FieldSet::of(&serde_json::json!({"metadata": {"annotations": {"a.b/c": "1"}}}));
        assert!(f.overlaps(&path(&["metadata", "annotations", "a.b/c"])));
        assert!(!f.overlaps(&path(&["metadata", "annotations", "a", "b/c"])));
        assert_eq!(
            show(&path(&["metadata", "annotations", "a.b/c"])),
            "metadata.annotations.a.b/c"
        );
    }

    #[test]
    fn markers_follow_yaml_not_substrings() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  script: |\n    echo ---not-a-marker\n  other: ---x\n--- \napiVersion: v1\nkind: Secret\nmetadata: {name: s}\n";
        assert_eq!(names(text), Ok(vec!["c".to_string(), "s".to_string()]));
    }
}
