//! `lostromos crd`: a chart made into a CustomResourceDefinition whose spec
//! schema is the chart's values (from `values.schema.json`, else inferred
//! from `values.yaml`), with the status Lostrómos writes and printer columns.
//!
//! A folder of its own rather than part of `plan`: plan decides about one CR
//! at run time, this builds the API once, before anything runs. Pure like
//! plan: the chart's files come in as text, the CRD goes out as YAML.

pub mod check;
pub mod comments;
pub mod convert;
pub mod formats;
pub mod infer;
mod intern;
pub mod names;
pub mod re2;
pub mod status;

use std::fmt;

use serde_json::{json, Value};

use crate::plan::values::Layout;
pub use names::{NameError, NameRequest, Names};

/// A constraint of the chart that the API server will not check (or checks
/// less), at a field of the CR (`spec.image.tag`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Whether the CRs live in namespaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    #[default]
    #[value(name = "Namespaced", alias = "namespaced")]
    Namespaced,
    #[value(name = "Cluster", alias = "cluster")]
    Cluster,
}

/// What the chart brings: its identity and the text of its values files.
#[derive(Clone, Debug, Default)]
pub struct ChartInput {
    /// As the user gave it (`--chart`), for the header.
    pub reference: String,
    pub name: String,
    pub version: String,
    pub schema: Option<String>,
    pub values: Option<String>,
    /// Subcharts (name or alias): their values are theirs, left open.
    pub subcharts: Vec<String>,
}

/// The generated CRD.
#[derive(Clone, Debug)]
pub struct Generated {
    pub document: Value,
    pub warnings: Vec<Warning>,
    /// What to know about the CRD as a whole (its size), not about a field.
    pub notes: Vec<String>,
    /// Comment header, then the CRD as YAML.
    pub yaml: String,
}

/// `kubectl apply` (client-side) copies the whole object into an
/// annotation, and an object's annotations may hold 256 KiB in all.
pub const LAST_APPLIED_LIMIT: usize = 256 * 1024;
/// etcd's default request limit (`--max-request-bytes`): a larger object
/// cannot be stored.
pub const STORE_LIMIT: usize = 3 * 512 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("chart {chart} has neither values.schema.json nor values.yaml: nothing says what its values are; fix: add a values.schema.json (or a values.yaml with the chart's defaults) to the chart")]
    NoValues { chart: String },
    #[error("chart {chart}: values.schema.json is not valid JSON: {cause}; fix: correct the file (helm refuses it too)")]
    SchemaJson {
        chart: String,
        cause: serde_json::Error,
    },
    #[error("chart {chart}: values.schema.json is not a valid JSON Schema: {problems}; fix: correct the schema (helm refuses it too)")]
    SchemaInvalid { chart: String, problems: String },
    #[error("chart {chart}: values.yaml is not valid YAML: {message}; fix: correct the file (helm refuses it too)")]
    ValuesYaml { chart: String, message: String },
    #[error("chart {chart}: values.yaml must be a map of values at the top, found {found}; fix: correct the file")]
    ValuesNotMap { chart: String, found: &'static str },
    #[error("the CRD could not be written as YAML: {0}")]
    Yaml(String),
}

/// Where the spec's schema came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Schema,
    Values,
}

/// Builds the CRD for `chart` with `names`.
pub fn generate(
    names: &Names,
    scope: Scope,
    layout: Layout,
    chart: &ChartInput,
) -> Result<Generated, CrdError> {
    let chart_id = format!("{} {}", chart.name, chart.version);
    let values = match &chart.values {
        None => None,
        Some(text) => Some(parse_values(text, &chart_id)?),
    };
    // where the CR's spec sits in the values (plan::values::build)
    let at: &[&str] = match layout {
        Layout::Spec | Layout::Whole => &[],
        Layout::Resource => &["resource", "spec"],
    };
    let defaults = values
        .as_ref()
        .and_then(|v| at.iter().try_fold(v, |v, k| v.get(*k)));
    let (spec, warnings, source) = match &chart.schema {
        Some(text) => {
            let doc: Value = serde_json::from_str(text).map_err(|cause| CrdError::SchemaJson {
                chart: chart_id.clone(),
                cause,
            })?;
            let problems = lint(&doc);
            if !problems.is_empty() {
                return Err(CrdError::SchemaInvalid {
                    chart: chart_id,
                    problems: problems.join("; "),
                });
            }
            let (spec, warnings) = convert::convert(&doc, at, defaults);
            (spec, warnings, Source::Schema)
        }
        None => {
            if values.is_none() {
                return Err(CrdError::NoValues { chart: chart_id });
            }
            let subcharts = if at.is_empty() {
                let mut keys = chart.subcharts.clone();
                keys.push("global".into());
                keys
            } else {
                Vec::new()
            };
            // paths below where the spec sits, as the spec's
            let commented: infer::Commented = chart
                .values
                .as_deref()
                .map(comments::commented_fields)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(p, fields)| {
                    let below = at
                        .iter()
                        .enumerate()
                        .all(|(i, k)| p.get(i).map(String::as_str) == Some(*k));
                    below.then(|| (p[at.len()..].to_vec(), fields))
                })
                .collect();
            let spec = match defaults {
                Some(d @ Value::Object(o)) if !o.is_empty() => {
                    infer::infer(d, &subcharts, &commented)
                }
                _ => infer::infer(&json!({}), &[], &infer::Commented::new()),
            };
            (spec, Vec::new(), Source::Values)
        }
    };
    let mut spec = Value::Object(spec);
    if spec.get("description").is_none() {
        spec["description"] =
            format!("Values of the chart {} (the release's values).", chart.name).into();
    }
    let mut root = json!({
        "type": "object",
        "properties": {"spec": spec, "status": status::schema()},
    });
    if spec_required(&root) {
        root["required"] = json!(["spec"]);
    }
    let mut document = document(names, scope, &chart_id, root);
    let notes = fit(&mut document);
    let yaml = serde_saphyr::to_string(&document).map_err(|e| CrdError::Yaml(e.to_string()))?;
    let mut header = header(chart, layout, source, warnings.len());
    for n in &notes {
        header.push_str(&format!("# {n}\n"));
    }
    Ok(Generated {
        document,
        warnings,
        notes,
        yaml: format!("{header}{yaml}"),
    })
}

/// Bytes of `v` as the API server receives it (compact JSON).
fn json_size(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

/// Keeps the CRD storable: past etcd's limit its schema's descriptions go
/// (they are the bulk of a large schema; `kubectl explain` loses them).
/// Says what a large CRD needs.
fn fit(document: &mut Value) -> Vec<String> {
    let kib = |n: usize| n.div_ceil(1024);
    let mut notes = Vec::new();
    let mut size = json_size(document);
    if size > STORE_LIMIT {
        let before = size;
        if let Some(schema) = document.pointer_mut("/spec/versions/0/schema/openAPIV3Schema") {
            strip_descriptions(schema, 0);
        }
        size = json_size(document);
        if size <= STORE_LIMIT {
            notes.push(format!(
                "the CRD was {} KiB, over etcd's default limit of {} KiB for an object: its schema's descriptions were left out ({} KiB now)",
                kib(before),
                kib(STORE_LIMIT),
                kib(size)
            ));
        }
    }
    if size > STORE_LIMIT {
        notes.push(format!(
            "the CRD is {} KiB even without descriptions, over etcd's default limit of {} KiB for an object: the API server will most likely refuse it; fix: give the chart's large fields a simpler schema",
            kib(size),
            kib(STORE_LIMIT)
        ));
    } else if size + 1024 > LAST_APPLIED_LIMIT {
        notes.push(format!(
            "the CRD is {} KiB: too large for `kubectl apply`, whose last-applied annotation holds {} KiB; apply it with `kubectl apply --server-side` or `kubectl create`",
            kib(size),
            kib(LAST_APPLIED_LIMIT)
        ));
    }
    notes
}

/// Removes `description` from every schema node (not from a property
/// named `description`).
fn strip_descriptions(schema: &mut Value, depth: usize) {
    let Value::Object(o) = schema else {
        return;
    };
    if depth > 2 * convert::MAX_DEPTH + 16 {
        return;
    }
    if o.get("description").is_some_and(Value::is_string) {
        o.remove("description");
    }
    for (k, v) in o.iter_mut() {
        match k.as_str() {
            "properties" => {
                if let Value::Object(props) = v {
                    for p in props.values_mut() {
                        strip_descriptions(p, depth + 1);
                    }
                }
            }
            "items" | "additionalProperties" | "not" => strip_descriptions(v, depth + 1),
            "allOf" | "anyOf" | "oneOf" => {
                if let Value::Array(list) = v {
                    for b in list {
                        strip_descriptions(b, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

fn spec_required(root: &Value) -> bool {
    root["properties"]["spec"]["required"]
        .as_array()
        .is_some_and(|r| !r.is_empty())
}

fn parse_values(text: &str, chart: &str) -> Result<Value, CrdError> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| CrdError::ValuesYaml {
        chart: chart.to_owned(),
        message: crate::config::file::yaml_error(&e),
    })?;
    match v {
        Value::Null => Ok(json!({})),
        Value::Object(_) => Ok(v),
        Value::Array(_) => Err(CrdError::ValuesNotMap {
            chart: chart.to_owned(),
            found: "a list",
        }),
        _ => Err(CrdError::ValuesNotMap {
            chart: chart.to_owned(),
            found: "a single value",
        }),
    }
}

fn header(chart: &ChartInput, layout: Layout, source: Source, warnings: usize) -> String {
    let from = match source {
        Source::Schema => "its values.schema.json",
        Source::Values => "the defaults in its values.yaml (it has no values.schema.json)",
    };
    let layout = match layout {
        Layout::Resource => "resource (the CR's spec is the values' resource.spec)",
        _ => "spec (the CR's spec is the values)",
    };
    let mut h = format!(
        "# Generated by `lostromos crd` from the chart {} {} ({}),\n# spec schema from {from}; values layout {layout}.\n",
        chart.name, chart.version, chart.reference
    );
    if warnings > 0 {
        h.push_str(&format!(
            "# {warnings} constraint(s) of the chart are not checked by the API server (listed when generated).\n"
        ));
    }
    h
}

fn document(names: &Names, scope: Scope, chart_id: &str, root: Value) -> Value {
    let mut n = json!({
        "kind": names.kind,
        "listKind": names.list_kind,
        "plural": names.plural,
        "singular": names.singular,
    });
    if !names.short_names.is_empty() {
        n["shortNames"] = json!(names.short_names);
    }
    if !names.categories.is_empty() {
        n["categories"] = json!(names.categories);
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": names.crd_name(),
            "annotations": {"lostromos.dev/chart": chart_id},
        },
        "spec": {
            "group": names.group,
            "scope": match scope { Scope::Namespaced => "Namespaced", Scope::Cluster => "Cluster" },
            "names": n,
            "versions": [{
                "name": names.version,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": status::printer_columns(),
                "schema": {"openAPIV3Schema": root},
            }],
        },
    })
}

const TYPES: &[&str] = &[
    "null", "boolean", "object", "array", "number", "integer", "string",
];
const SCHEMA_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
const SCHEMA_LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
const SCHEMAS: &[&str] = &[
    "not",
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "contains",
    "if",
    "then",
    "else",
];
const NUMBERS: &[&str] = &[
    "minimum",
    "maximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
];

/// What makes `schema` no JSON Schema at all (the keywords' own shapes), as
/// JSON pointers with the problem; at most a few.
pub fn lint(schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    lint_at(schema, "", 0, &mut problems);
    problems.truncate(5);
    problems
}

fn lint_at(s: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
    if out.len() >= 5 || depth > 64 {
        return;
    }
    let here = if at.is_empty() { "/" } else { at };
    let o = match s {
        Value::Bool(_) => return,
        Value::Object(o) => o,
        other => {
            out.push(format!(
                "{here}: a schema must be an object or a boolean, found {other}"
            ));
            return;
        }
    };
    let mut bad = |what: String| out.push(format!("{here}: {what}"));
    if let Some(t) = o.get("type") {
        let names: Vec<&Value> = match t {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for n in names {
            if !n.as_str().is_some_and(|n| TYPES.contains(&n)) {
                bad(format!("type {n} is not one of {}", TYPES.join(", ")));
            }
        }
    }
    for k in NUMBERS {
        if o.get(*k).is_some_and(|v| !v.is_number()) {
            bad(format!("{k} must be a number"));
        }
    }
    if o.get("required")
        .is_some_and(|r| !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
    {
        bad("required must be a list of field names".into());
    }
    if o.get("enum").is_some_and(|e| !e.is_array()) {
        bad("enum must be a list".into());
    }
    for k in ["pattern", "$ref", "format", "description"] {
        if o.get(k).is_some_and(|v| !v.is_string()) {
            bad(format!("{k} must be a string"));
        }
    }
    for k in SCHEMA_MAPS {
        match o.get(*k) {
            None => {}
            Some(Value::Object(m)) => {
                for (name, sub) in m {
                    lint_at(sub, &format!("{at}/{k}/{}", escape(name)), depth + 1, out);
                }
            }
            Some(_) => out.push(format!("{here}: {k} must be a map of schemas")),
        }
    }
    for k in SCHEMA_LISTS {
        match o.get(*k) {
            None => {}
            Some(Value::Array(list)) if !list.is_empty() || *k == "prefixItems" => {
                for (i, sub) in list.iter().enumerate() {
                    lint_at(sub, &format!("{at}/{k}/{i}"), depth + 1, out);
                }
            }
            Some(_) => out.push(format!("{here}: {k} must be a non-empty list of schemas")),
        }
    }
    for k in SCHEMAS {
        if let Some(sub) = o.get(*k) {
            lint_at(sub, &format!("{at}/{k}"), depth + 1, out);
        }
    }
    match o.get("items") {
        Some(Value::Array(list)) => {
            for (i, sub) in list.iter().enumerate() {
                lint_at(sub, &format!("{at}/items/{i}"), depth + 1, out);
            }
        }
        Some(sub) => lint_at(sub, &format!("{at}/items"), depth + 1, out),
        None => {}
    }
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
