//! A chart's `values.schema.json` (JSON Schema draft-07 or 2020-12, as helm
//! reads it) made into the structural OpenAPI v3 schema a CRD needs.
//!
//! JSON Schema says more than the API server can check, so every node is
//! rebuilt from its keywords: `$ref`s are inlined (a recursive one is cut
//! with `x-kubernetes-preserve-unknown-fields`), `allOf` is merged into its
//! node, `anyOf`/`oneOf`/`not` stay only as the value validations the API
//! server accepts inside them (their fields also specified outside), and
//! every node gets a type. Whatever cannot be kept is dropped or opened, never
//! narrowed, and said in a [`Warning`]: the generated CRD may let through a
//! value helm then refuses, but never refuses one the chart accepts.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::check;
use super::formats::{self, Format};
use super::intern::Interned;
use super::re2;
use super::Warning;

pub type Obj = Map<String, Value>;

/// Nodes nested deeper than this are left open (no real chart comes close;
/// a generated or hostile schema cannot exhaust the stack).
pub const MAX_DEPTH: usize = 32;
/// Schema nodes visited in all: bounds the size of what `$ref`s unfold into.
pub const MAX_NODES: usize = 20_000;
/// How often a recursive `$ref` is unfolded before it is cut: one level of
/// nesting is checked (a route and its child routes), deeper ones are open.
const RECURSION_UNFOLDS: usize = 2;
/// How many branches' shapes one node takes its fields from.
const MAX_SHAPES: usize = 64;

static ANY: Value = Value::Bool(true);

/// Converts the subschema at `at` (a path of property names: empty for the
/// whole values, `["resource", "spec"]` for the resource layout) of the
/// schema document `doc`. `defaults` are the chart's values.yaml at the same
/// place: a field with a default is not required of the CR, since helm merges
/// the CR over them.
pub fn convert(doc: &Value, at: &[&str], defaults: Option<&Value>) -> (Obj, Vec<Warning>) {
    let doc = Interned::new(doc);
    let mut c = Converter {
        doc: &doc,
        active: Vec::new(),
        nodes: 0,
        budget_warned: false,
        in_map: 0,
        warnings: Vec::new(),
    };
    let mut here = doc.root().clone();
    let path = "spec";
    for (i, key) in at.iter().enumerate() {
        let flat = c.flatten(&here, &mut Vec::new(), false, 0);
        let next = flat.kw.get("properties").and_then(|p| p.get(*key)).cloned();
        match next {
            Some(v) => here = v,
            None => {
                let at = at[..=i].join(".");
                c.warn(
                    path,
                    format!("the chart's schema does not describe `{at}`, where the CR's spec goes: any spec accepted"),
                );
                return (open_object(), c.warnings);
            }
        }
    }
    let mut spec = c.node(&here, &[], defaults, path, 0);
    if spec.get("type").and_then(Value::as_str) != Some("object") {
        if spec.get("type").is_some() || spec.contains_key("x-kubernetes-int-or-string") {
            c.warn(
                path,
                "the values' schema is not an object; the spec is left open".into(),
            );
        }
        let description = spec.remove("description");
        spec = open_object();
        if let Some(d) = description {
            spec.insert("description".into(), d);
        }
    }
    spec.remove("nullable");
    // a node met again through sibling branches says the same thing again
    let mut seen = BTreeSet::new();
    let mut warnings = c.warnings;
    warnings.retain(|w| seen.insert((w.path.clone(), w.message.clone())));
    (spec, warnings)
}

fn open_object() -> Obj {
    obj(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
}

fn open() -> Obj {
    obj(json!({"x-kubernetes-preserve-unknown-fields": true}))
}

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

/// A node's keywords with `$ref` and `allOf` merged in.
#[derive(Default)]
struct Flat {
    kw: Obj,
    /// `anyOf` / `oneOf` lists, each kept as written.
    groups: Vec<Group>,
    nots: Vec<Value>,
    /// Value validations that did not merge into `kw` (a second pattern).
    extra: Vec<Obj>,
    /// `$ref`s resolved for this node: active while its fields are converted.
    refs: Vec<String>,
    /// Why the node accepts anything (a recursive or external `$ref`).
    open: Option<String>,
    /// The schema `false`: no value is valid.
    never: bool,
}

struct Group {
    one_of: bool,
    branches: Vec<Value>,
}

/// The one structural type a node gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    IntOrString,
    Open,
}

impl Kind {
    fn type_name(self) -> Option<&'static str> {
        Some(match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::IntOrString | Kind::Open => return None,
        })
    }
}

/// A branch of a junctor, as value validations only.
enum ValueOnly {
    /// Cannot match any value of the node's type.
    Never,
    /// The validations, and whether some were left out (weaker than written).
    Some(Obj, bool),
}

struct Converter<'a> {
    doc: &'a Interned,
    /// `$ref`s being expanded on the way to the current node: one met again
    /// is a recursion, cut there.
    active: Vec<String>,
    nodes: usize,
    budget_warned: bool,
    /// Inside the values of a map (additionalProperties): the defaults
    /// there are those of all its entries at once, for `required` only.
    in_map: usize,
    warnings: Vec<Warning>,
}

const NUMBER_CHECKS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
/// Keywords the API server has no counterpart for.
const UNSUPPORTED: &[&str] = &[
    "if",
    "then",
    "else",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
    "additionalItems",
    "$dynamicRef",
    "$recursiveRef",
];

impl<'a> Converter<'a> {
    fn warn(&mut self, path: &str, message: String) {
        self.warnings.push(Warning {
            path: path.to_owned(),
            message,
        });
    }

    fn over_budget(&mut self, path: &str) -> bool {
        self.nodes += 1;
        if self.nodes <= MAX_NODES {
            return false;
        }
        if !self.budget_warned {
            self.budget_warned = true;
            self.warn(
                path,
                format!("the schema unfolds into more than {MAX_NODES} nodes: from here on, fields accept any value"),
            );
        }
        true
    }

    /// Resolves `$ref`s and merges `allOf` into one set of keywords.
    /// `ancestors`: a `$ref` already active above this node is a recursion.
    fn flatten(
        &mut self,
        schema: &Value,
        chain: &mut Vec<String>,
        ancestors: bool,
        depth: usize,
    ) -> Flat {
        let mut f = Flat::default();
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            f.open = Some("nested too deep (through $ref or allOf): any value accepted".into());
            return f;
        }
        self.nodes += 1;
        let o = match self.doc.follow(schema) {
            Value::Bool(true) => return f,
            Value::Bool(false) => {
                f.never = true;
                return f;
            }
            Value::Object(o) => o,
            _ => return f,
        };
        // the node's own keywords first: they win over what $ref and allOf bring
        for (k, v) in o {
            match k.as_str() {
                "$ref" | "allOf" | "anyOf" | "oneOf" | "not" | "$defs" | "definitions"
                | "$schema" | "$id" | "$comment" | "$anchor" | "$dynamicAnchor" => {}
                _ => merge_kw(&mut f, k, v),
            }
        }
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            match self.target(r, chain, ancestors) {
                Ok(target) => {
                    chain.push(r.to_owned());
                    let inner = self.flatten(target, chain, ancestors, depth + 1);
                    chain.pop();
                    f.refs.push(r.to_owned());
                    merge_flat(&mut f, inner);
                }
                Err(why) => f.open = Some(why),
            }
        }
        if let Some(Value::Array(all)) = o.get("allOf") {
            for b in all {
                let inner = self.flatten(b, chain, ancestors, depth + 1);
                merge_flat(&mut f, inner);
            }
        }
        for (key, one_of) in [("anyOf", false), ("oneOf", true)] {
            if let Some(Value::Array(branches)) = o.get(key) {
                f.groups.push(Group {
                    one_of,
                    branches: branches.clone(),
                });
            }
        }
        if let Some(not) = o.get("not") {
            f.nots.push(not.clone());
        }
        f
    }

    /// The schema a `$ref` points to, in this document.
    fn target(&self, r: &str, chain: &[String], ancestors: bool) -> Result<&'a Value, String> {
        let Some(pointer) = r.strip_prefix('#') else {
            return Err(format!(
                "$ref {r:?} points outside the chart's schema: not followed, any value accepted"
            ));
        };
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "$ref {r:?} names an anchor: not followed, any value accepted"
            ));
        }
        let above = self.active.iter().filter(|a| *a == r).count();
        if chain.iter().any(|c| c == r) || (ancestors && above >= RECURSION_UNFOLDS) {
            return Err(format!(
                "$ref {r:?} is recursive: cut here, any value accepted below"
            ));
        }
        let doc: &'a Interned = self.doc;
        doc.pointer(&percent_decode(pointer)).ok_or_else(|| {
            format!("$ref {r:?} points to nothing in the schema: any value accepted")
        })
    }

    /// Converts one node: `schema` gives its structure and its checks; each of
    /// `shapes` (the same field inside branches of an enclosing junctor) only
    /// adds structure, so the junctor's checks have the fields they name.
    fn node(
        &mut self,
        schema: &Value,
        shapes: &[Value],
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> Obj {
        if depth > MAX_DEPTH {
            self.warn(
                path,
                format!("nested deeper than {MAX_DEPTH} levels: any value accepted below"),
            );
            return open();
        }
        if self.over_budget(path) {
            return open();
        }
        let mark = self.active.len();
        let flat = self.flatten(schema, &mut Vec::new(), true, 0);
        self.active.extend(flat.refs.iter().cloned());
        let out = self.node_of(flat, shapes, defaults, path, depth);
        self.active.truncate(mark);
        out
    }

    fn node_of(
        &mut self,
        mut flat: Flat,
        shapes: &[Value],
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> Obj {
        if flat.never {
            self.warn(
                path,
                "the schema allows no value here (`false`): not enforced".into(),
            );
            return open();
        }
        if let Some(why) = flat.open.take() {
            self.warn(path, why);
            let mut out = open();
            copy(&flat.kw, &mut out, &["description"]);
            return out;
        }
        // null branches make the node nullable
        let mut nullable = types(&flat.kw).contains("null")
            || enum_of(&flat.kw).is_some_and(|e| e.contains(&Value::Null));
        let doc = self.doc;
        for g in &mut flat.groups {
            g.branches.retain(|b| {
                let null = is_null_only(doc.follow(b));
                nullable |= null;
                !null
            });
        }
        flat.groups.retain(|g| !g.branches.is_empty());

        // the shapes of every branch (and of their own branches), for structure
        // (siblings may share a definition: their refs become active together, after)
        let mut shape_flats = Vec::new();
        let mut shape_refs = Vec::new();
        let mut queue: Vec<Value> = shapes.to_vec();
        queue.extend(flat.groups.iter().flat_map(|g| g.branches.iter().cloned()));
        queue.reverse();
        while let Some(s) = queue.pop() {
            if shape_flats.len() >= MAX_SHAPES {
                break;
            }
            let mut sf = self.flatten(&s, &mut Vec::new(), true, 0);
            if sf.never {
                continue;
            }
            if let Some(why) = sf.open.take() {
                // a branch that accepts anything (an external $ref): the
                // node's type cannot come from the other branches
                self.warn(path, why);
                shape_flats.push(Flat::default());
                continue;
            }
            shape_refs.extend(sf.refs.iter().cloned());
            queue.extend(sf.groups.iter().flat_map(|g| g.branches.iter().cloned()));
            shape_flats.push(sf);
        }
        self.active.extend(shape_refs);

        let kind = self.kind(&flat, &shape_flats, path);
        let mut out = Obj::new();
        if let Some(Value::String(d)) = flat.kw.get("description").or_else(|| flat.kw.get("title"))
        {
            out.insert("description".into(), Value::String(d.clone()));
        }
        match kind {
            Kind::Object => self.object(&flat, &shape_flats, defaults, path, depth, &mut out),
            Kind::Array => self.array(&flat, &shape_flats, path, depth, &mut out),
            Kind::String | Kind::Integer | Kind::Number | Kind::Boolean => {
                out.insert("type".into(), kind.type_name().unwrap_or("string").into());
                self.scalar_checks(&flat.kw, kind, path, &mut out);
            }
            Kind::IntOrString => {
                out.insert("x-kubernetes-int-or-string".into(), true.into());
                self.scalar_checks(&flat.kw, kind, path, &mut out);
                self.int_or_string_groups(&mut flat, path, &mut out);
            }
            Kind::Open => {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
        }
        self.enum_of_node(&flat.kw, kind, nullable, path, &mut out);
        if nullable {
            out.insert("nullable".into(), true.into());
        }
        for k in UNSUPPORTED {
            if flat.kw.contains_key(*k) {
                self.warn(
                    path,
                    format!("`{k}` has no counterpart in a CRD schema: not checked"),
                );
            }
        }
        if kind == Kind::Open {
            if !flat.groups.is_empty() || !flat.nots.is_empty() {
                self.warn(
                    path,
                    "anyOf/oneOf/not over values of different types: not checked".into(),
                );
            }
        } else {
            let groups = std::mem::take(&mut flat.groups);
            for g in groups {
                self.junction(g, &out.clone(), defaults, path, depth, &mut out);
            }
            for not in std::mem::take(&mut flat.nots) {
                match self.value_only(&not, &out.clone(), defaults, path, depth) {
                    ValueOnly::Some(v, false) if !v.is_empty() => {
                        place(&mut out, "not", Value::Object(v))
                    }
                    ValueOnly::Some(_, _) => self.warn(
                        path,
                        "`not` uses what a CRD cannot check inside it: dropped".into(),
                    ),
                    ValueOnly::Never => {}
                }
            }
            for extra in std::mem::take(&mut flat.extra) {
                if let ValueOnly::Some(v, weak) =
                    self.value_only(&Value::Object(extra), &out.clone(), defaults, path, depth)
                {
                    if weak {
                        self.warn(path, "a constraint merged from allOf is not checked".into());
                    }
                    if !v.is_empty() {
                        push_all_of(&mut out, v);
                    }
                }
            }
        }
        if nullable {
            // the API server checks a node's own enum even against null,
            // which never matches it; inside allOf, null skips it
            if let Some(Value::Array(values)) = out.remove("enum") {
                let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
                let mut e = Obj::new();
                e.insert("enum".into(), values.into());
                push_all_of(&mut out, e);
            }
        }
        self.default(&flat.kw, defaults, path, &mut out);
        out
    }

    /// The node's type, from `type`, else what its keywords or values imply,
    /// else what its branches agree on.
    fn kind(&mut self, flat: &Flat, shapes: &[Flat], path: &str) -> Kind {
        let mut own = implied_types(&flat.kw);
        own.remove("null");
        let set = if own.is_empty() {
            let mut union = BTreeSet::new();
            for s in shapes {
                let mut t = implied_types(&s.kw);
                t.remove("null");
                if t.is_empty() {
                    // a branch of any type
                    return Kind::Open;
                }
                union.extend(t);
            }
            union
        } else {
            own
        };
        let names: Vec<&str> = set.iter().map(String::as_str).collect();
        match names.as_slice() {
            [] => Kind::Open,
            ["object"] => Kind::Object,
            ["array"] => Kind::Array,
            ["string"] => Kind::String,
            ["integer"] => Kind::Integer,
            ["number"] | ["integer", "number"] => Kind::Number,
            ["boolean"] => Kind::Boolean,
            ["integer", "string"] => Kind::IntOrString,
            other => {
                self.warn(
                    path,
                    format!(
                        "may be any of {}: its type is not checked",
                        other.join(", ")
                    ),
                );
                Kind::Open
            }
        }
    }

    fn object(
        &mut self,
        flat: &Flat,
        shapes: &[Flat],
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
        out: &mut Obj,
    ) {
        out.insert("type".into(), "object".into());
        let own = flat.kw.get("properties").and_then(Value::as_object);
        let mut keys: BTreeSet<String> =
            own.map(|p| p.keys().cloned().collect()).unwrap_or_default();
        for s in shapes {
            if let Some(p) = s.kw.get("properties").and_then(Value::as_object) {
                keys.extend(p.keys().cloned());
            }
        }
        let additional = flat
            .kw
            .get("additionalProperties")
            .or_else(|| flat.kw.get("unevaluatedProperties"));
        let patterns = flat
            .kw
            .get("patternProperties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let closed = additional == Some(&Value::Bool(false)) && patterns.is_none();

        let mut props = Obj::new();
        for key in &keys {
            let child_path = format!("{path}.{key}");
            let own_child = own.and_then(|p| p.get(key));
            if own_child == Some(&Value::Bool(false)) {
                if !closed {
                    self.warn(
                        &child_path,
                        "the schema forbids this field (`false`): not enforced".into(),
                    );
                }
                continue;
            }
            let child_shapes: Vec<Value> = shapes
                .iter()
                .filter_map(|s| s.kw.get("properties")?.get(key))
                .filter(|v| **v != Value::Bool(false))
                .cloned()
                .collect();
            let child = self.node(
                own_child.unwrap_or(&ANY),
                &child_shapes,
                defaults.and_then(|d| d.get(key)),
                &child_path,
                depth + 1,
            );
            props.insert(key.clone(), Value::Object(child));
        }
        let has_props = !props.is_empty();
        if has_props {
            out.insert("properties".into(), Value::Object(props));
        }

        match (has_props, additional, patterns) {
            (true, Some(Value::Bool(false)), None) => {}
            (true, extra, pats) => {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
                if pats.is_some() || matches!(extra, Some(Value::Object(_))) {
                    self.warn(
                        path,
                        "fields besides the named ones are not checked (a CRD cannot have both properties and additionalProperties/patternProperties)".into(),
                    );
                }
            }
            (false, extra, Some(pats)) => {
                let mut schemas: Vec<Value> = pats.values().cloned().collect();
                if let Some(e @ Value::Object(_)) = extra {
                    schemas.push(e.clone());
                }
                let names: Vec<&String> = pats.keys().collect();
                self.warn(
                    path,
                    format!("patternProperties: the key patterns {names:?} are not checked, only the values"),
                );
                let schema = if schemas.len() == 1 {
                    schemas.remove(0)
                } else {
                    json!({ "anyOf": schemas })
                };
                let child = self.map_values(&schema, defaults, path, depth);
                out.insert("additionalProperties".into(), Value::Object(child));
            }
            (false, Some(Value::Bool(false)), None) => {
                out.insert("additionalProperties".into(), false.into());
            }
            (false, Some(extra @ Value::Object(_)), None) => {
                let child = self.map_values(extra, defaults, path, depth);
                out.insert("additionalProperties".into(), Value::Object(child));
            }
            (false, _, None) => {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), true.into());
            }
        }

        if let Some(req) = flat.kw.get("required").and_then(Value::as_array) {
            let (kept, defaulted) = split_required(req, defaults);
            // helm merges the CR over values.yaml, so a defaulted field is
            // always there; unless a CR's null, kept where the field is
            // nullable, removes it
            let nullable: Vec<&String> = defaulted
                .iter()
                .filter(|k| {
                    out.get("properties")
                        .and_then(|p| p.get(k.as_str()))
                        .and_then(|p| p.get("nullable"))
                        == Some(&Value::Bool(true))
                })
                .collect();
            if !nullable.is_empty() {
                self.warn(
                    path,
                    format!(
                        "required {nullable:?}: not required of the CR (values.yaml has defaults), but a CR's null removes the default: not checked"
                    ),
                );
            }
            if !kept.is_empty() {
                out.insert("required".into(), kept.into());
            }
        }
        copy(&flat.kw, out, &["minProperties", "maxProperties"]);
    }

    /// The schema of a map's values. helm merges a CR's entry over the
    /// values.yaml entry of the same key (`ports.web.port` stays when a CR
    /// sets `ports.web.expose`), so a field that any entry has a default
    /// for is not required of the CR's entries.
    fn map_values(
        &mut self,
        schema: &Value,
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> Obj {
        let entries = defaults.and_then(Value::as_object).and_then(|m| {
            m.values()
                .filter(|v| v.is_object())
                .cloned()
                .reduce(|mut all, v| {
                    merge_defaults(&mut all, &v, 0);
                    all
                })
        });
        self.in_map += 1;
        let child = self.node(
            schema,
            &[],
            entries.as_ref(),
            &format!("{path}.*"),
            depth + 1,
        );
        self.in_map -= 1;
        child
    }

    fn array(&mut self, flat: &Flat, shapes: &[Flat], path: &str, depth: usize, out: &mut Obj) {
        out.insert("type".into(), "array".into());
        let item_path = format!("{path}[]");
        let item_shapes: Vec<Value> = shapes
            .iter()
            .filter_map(|s| s.kw.get("items"))
            .filter(|i| !i.is_array())
            .cloned()
            .collect();
        let tuple = match (flat.kw.get("items"), flat.kw.get("prefixItems")) {
            (Some(Value::Array(t)), _) | (None, Some(Value::Array(t))) => Some(t.clone()),
            _ => None,
        };
        let items = if let Some(mut tuple) = tuple {
            self.warn(
                path,
                "items by position (a tuple): each item is checked against any of them".into(),
            );
            if let Some(rest @ (Value::Object(_) | Value::Bool(true))) = flat
                .kw
                .get("items")
                .filter(|_| flat.kw.contains_key("prefixItems"))
            {
                tuple.push(rest.clone());
            }
            let schema = json!({ "anyOf": tuple });
            self.node(&schema, &item_shapes, None, &item_path, depth + 1)
        } else if let Some(items) = flat.kw.get("items") {
            self.node(items, &item_shapes, None, &item_path, depth + 1)
        } else if !item_shapes.is_empty() {
            self.node(&ANY, &item_shapes, None, &item_path, depth + 1)
        } else {
            open()
        };
        out.insert("items".into(), Value::Object(items));
        copy(&flat.kw, out, &["minItems", "maxItems"]);
        if flat.kw.get("uniqueItems") == Some(&Value::Bool(true)) {
            self.warn(
                path,
                "uniqueItems: a CRD may not ask for it (quadratic cost): not checked".into(),
            );
        }
    }

    /// Checks of strings and numbers, as the node's kind allows.
    fn scalar_checks(&mut self, kw: &Obj, kind: Kind, path: &str, out: &mut Obj) {
        let strings = matches!(kind, Kind::String | Kind::IntOrString);
        let numbers = matches!(kind, Kind::Integer | Kind::Number | Kind::IntOrString);
        if strings {
            self.string_checks(kw, path, out);
        }
        if numbers {
            number_checks(kw, out);
        }
    }

    fn string_checks(&mut self, kw: &Obj, path: &str, out: &mut Obj) -> bool {
        let mut weak = false;
        copy(kw, out, &["minLength", "maxLength"]);
        if let Some(Value::String(p)) = kw.get("pattern") {
            match re2::refusal(p) {
                None => {
                    out.insert("pattern".into(), p.clone().into());
                }
                Some(why) => {
                    weak = true;
                    self.warn(
                        path,
                        format!("pattern {p:?} is not a regular expression the API server (RE2) reads ({why}): not checked"),
                    );
                }
            }
        }
        if let Some(Value::String(f)) = kw.get("format") {
            match formats::translate(f) {
                Format::Keep(name) => {
                    out.insert("format".into(), name.into());
                }
                Format::Drop(why) => {
                    weak = true;
                    self.warn(path, format!("format {f:?}: {why}: not checked"));
                }
            }
        }
        weak
    }

    /// `anyOf: [{type: integer, ...}, {type: string, ...}]` under an
    /// int-or-string node: each branch's checks apply to its own type only,
    /// which is how the API server applies them at the node.
    fn int_or_string_groups(&mut self, flat: &mut Flat, path: &str, out: &mut Obj) {
        let mut kept = Vec::new();
        for g in std::mem::take(&mut flat.groups) {
            let branches: Vec<Flat> = g
                .branches
                .iter()
                .map(|b| self.flatten(b, &mut Vec::new(), false, 0))
                .collect();
            let typed = |want: &[&str]| {
                branches
                    .iter()
                    .filter(|b| {
                        let t = implied_types(&b.kw);
                        !t.is_empty() && t.iter().all(|t| want.contains(&t.as_str()))
                    })
                    .count()
            };
            let (ints, strs) = (typed(&["integer", "number"]), typed(&["string"]));
            if ints > 1 || strs > 1 || ints + strs != branches.len() {
                kept.push(g);
                continue;
            }
            let mut enums = Vec::new();
            let mut all_enum = true;
            for b in &branches {
                if b.kw.contains_key("minLength")
                    || b.kw.contains_key("pattern")
                    || b.kw.contains_key("format")
                {
                    self.string_checks(&b.kw, path, out);
                }
                number_checks(&b.kw, out);
                match enum_of(&b.kw) {
                    Some(e) => enums.extend(e),
                    None => all_enum = false,
                }
            }
            if all_enum && !enums.is_empty() {
                out.insert("enum".into(), enums.into());
            } else if !enums.is_empty() {
                self.warn(
                    path,
                    "an enum of one branch of an int-or-string: not checked".into(),
                );
            }
        }
        flat.groups = kept;
        place(
            out,
            "anyOf",
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }

    fn enum_of_node(&mut self, kw: &Obj, kind: Kind, nullable: bool, path: &str, out: &mut Obj) {
        let Some(values) = enum_of(kw) else {
            return;
        };
        let kept: Vec<Value> = values
            .iter()
            .filter(|v| (v.is_null() && nullable) || fits(kind, v))
            .cloned()
            .collect();
        if kept.iter().all(Value::is_null) {
            if !values.is_empty() {
                self.warn(
                    path,
                    "enum has no value of the field's type: not checked".into(),
                );
            }
            return;
        }
        out.insert("enum".into(), kept.into());
    }

    /// One anyOf/oneOf, kept as the value validations the API server accepts
    /// inside it; oneOf becomes anyOf when a branch lost a check (a weaker
    /// branch could match together with another).
    fn junction(
        &mut self,
        g: Group,
        skeleton: &Obj,
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
        out: &mut Obj,
    ) {
        let mut branches = Vec::new();
        let mut weak = false;
        let mut vacuous = false;
        for b in &g.branches {
            match self.value_only(b, skeleton, defaults, path, depth) {
                ValueOnly::Never => {}
                ValueOnly::Some(v, w) => {
                    weak |= w;
                    vacuous |= v.is_empty();
                    branches.push(Value::Object(v));
                }
            }
        }
        let name = if g.one_of { "oneOf" } else { "anyOf" };
        if branches.is_empty() {
            self.warn(
                path,
                format!("no branch of {name} fits the field's type: not checked"),
            );
            return;
        }
        if weak {
            let how = if g.one_of && !vacuous {
                "checked as anyOf, with what a CRD cannot check inside it left out"
            } else {
                "partly checked: what a CRD cannot check inside it is left out"
            };
            self.warn(path, format!("{name}: {how}"));
        }
        let key = if g.one_of && !weak { "oneOf" } else { "anyOf" };
        if key == "anyOf" && vacuous {
            return;
        }
        if branches.len() == 1 {
            if let Some(Value::Object(only)) = branches.pop() {
                if !only.is_empty() {
                    push_all_of(out, only);
                }
            }
            return;
        }
        place(out, key, Value::Array(branches));
    }

    /// A branch of a junctor as value validations only: no type, description,
    /// default, nullable or additionalProperties, and fields only where the
    /// `skeleton` (the node outside) specifies them.
    fn value_only(
        &mut self,
        schema: &Value,
        skeleton: &Obj,
        defaults: Option<&Value>,
        path: &str,
        depth: usize,
    ) -> ValueOnly {
        if depth > MAX_DEPTH || self.over_budget(path) {
            return ValueOnly::Some(Obj::new(), true);
        }
        let f = self.flatten(schema, &mut Vec::new(), false, 0);
        if f.never {
            return ValueOnly::Never;
        }
        if f.open.is_some() {
            return ValueOnly::Some(Obj::new(), true);
        }
        let mut out = Obj::new();
        let mut weak = false;
        let skel_type = skeleton.get("type").and_then(Value::as_str);
        let mut t = implied_types(&f.kw);
        let null_ok = t.remove("null");
        if !t.is_empty() {
            match skel_type {
                Some(st) if t.contains(st) || (st == "number" && t.contains("integer")) => {
                    if st == "number" && !t.contains("number") {
                        // integer inside a number field: not expressible without type
                        weak = true;
                    }
                }
                Some(_) => return ValueOnly::Never,
                None => weak = true,
            }
        }
        let _ = null_ok;
        if let Some(values) = enum_of(&f.kw) {
            out.insert("enum".into(), values.into());
        }
        let kind = match skel_type {
            Some("string") => Kind::String,
            Some("integer") => Kind::Integer,
            Some("number") => Kind::Number,
            Some("object") => Kind::Object,
            Some("array") => Kind::Array,
            Some("boolean") => Kind::Boolean,
            _ if skeleton.contains_key("x-kubernetes-int-or-string") => Kind::IntOrString,
            _ => Kind::Open,
        };
        if matches!(kind, Kind::String | Kind::IntOrString | Kind::Open) {
            let mut sub = Obj::new();
            // warnings for these come from the branch as a whole
            let before = self.warnings.len();
            weak |= self.string_checks(&f.kw, path, &mut sub);
            self.warnings.truncate(before);
            out.extend(sub);
        }
        if matches!(
            kind,
            Kind::Integer | Kind::Number | Kind::IntOrString | Kind::Open
        ) {
            number_checks(&f.kw, &mut out);
        }
        copy(
            &f.kw,
            &mut out,
            &["minItems", "maxItems", "minProperties", "maxProperties"],
        );
        if let Some(req) = f.kw.get("required").and_then(Value::as_array) {
            let (kept, _) = split_required(req, defaults);
            if !kept.is_empty() {
                out.insert("required".into(), kept.into());
            }
        }
        if let Some(props) = f.kw.get("properties").and_then(Value::as_object) {
            let skel_props = skeleton.get("properties").and_then(Value::as_object);
            let mut vp = Obj::new();
            let mut absent = Vec::new();
            for (k, ps) in props {
                if k == "metadata" {
                    // the API server refuses `metadata` nested in a junctor
                    weak = true;
                    continue;
                }
                let Some(child_skel) = skel_props.and_then(|p| p.get(k)).and_then(Value::as_object)
                else {
                    weak |= *ps != Value::Bool(false);
                    continue;
                };
                let child_path = format!("{path}.{k}");
                match self.value_only(
                    ps,
                    child_skel,
                    defaults.and_then(|d| d.get(k)),
                    &child_path,
                    depth + 1,
                ) {
                    // a field that can hold no value must be absent
                    ValueOnly::Never => absent.push(Value::String(k.clone())),
                    ValueOnly::Some(v, w) => {
                        weak |= w;
                        if !v.is_empty() {
                            vp.insert(k.clone(), Value::Object(v));
                        }
                    }
                }
            }
            if !vp.is_empty() {
                out.insert("properties".into(), Value::Object(vp));
            }
            if !absent.is_empty() {
                let not = if absent.len() == 1 {
                    json!({ "required": absent })
                } else {
                    json!({ "anyOf": absent.into_iter().map(|k| json!({"required": [k]})).collect::<Vec<_>>() })
                };
                place(&mut out, "not", not);
            }
        }
        match f.kw.get("items") {
            Some(items @ (Value::Object(_) | Value::Bool(false))) => {
                match skeleton.get("items").and_then(Value::as_object) {
                    Some(item_skel) => {
                        match self.value_only(
                            items,
                            item_skel,
                            None,
                            &format!("{path}[]"),
                            depth + 1,
                        ) {
                            ValueOnly::Never => {
                                out.insert("maxItems".into(), 0.into());
                            }
                            ValueOnly::Some(v, w) => {
                                weak |= w;
                                if !v.is_empty() {
                                    out.insert("items".into(), Value::Object(v));
                                }
                            }
                        }
                    }
                    None => weak = true,
                }
            }
            Some(Value::Array(_)) => weak = true,
            _ => {}
        }
        if matches!(
            f.kw.get("additionalProperties"),
            Some(Value::Bool(false) | Value::Object(_))
        ) || f.kw.contains_key("patternProperties")
            || f.kw.get("uniqueItems") == Some(&Value::Bool(true))
            || f.kw.contains_key("prefixItems")
            || UNSUPPORTED.iter().any(|k| f.kw.contains_key(*k))
        {
            weak = true;
        }
        for g in f.groups {
            let before = self.warnings.len();
            let mut sub = Obj::new();
            self.junction(g, skeleton, defaults, path, depth + 1, &mut sub);
            weak |= self.warnings.len() > before;
            self.warnings.truncate(before);
            for (k, v) in sub {
                match v {
                    Value::Array(list) if k == "allOf" => {
                        for item in list {
                            if let Value::Object(o) = item {
                                push_all_of(&mut out, o);
                            }
                        }
                    }
                    v => place(&mut out, &k, v),
                }
            }
        }
        for not in f.nots {
            match self.value_only(&not, skeleton, defaults, path, depth + 1) {
                ValueOnly::Some(v, false) if !v.is_empty() => {
                    place(&mut out, "not", Value::Object(v))
                }
                ValueOnly::Some(_, _) => weak = true,
                ValueOnly::Never => {}
            }
        }
        for extra in f.extra {
            match self.value_only(&Value::Object(extra), skeleton, defaults, path, depth + 1) {
                ValueOnly::Some(v, w) => {
                    weak |= w;
                    if !v.is_empty() {
                        push_all_of(&mut out, v);
                    }
                }
                ValueOnly::Never => return ValueOnly::Never,
            }
        }
        ValueOnly::Some(out, weak)
    }

    /// Keeps `default` where the API server accepts it (it validates and
    /// has no unknown fields) and where it agrees with values.yaml, which is
    /// what helm uses when the CR says nothing.
    fn default(&mut self, kw: &Obj, defaults: Option<&Value>, path: &str, out: &mut Obj) {
        let Some(d) = kw.get("default") else {
            return;
        };
        if d.is_null() {
            return;
        }
        // in a map's values, the defaults are no one entry's
        if let Some(chart) = defaults.filter(|_| self.in_map == 0) {
            if chart != d {
                // a map's or list's default in the schema ({}) beside the one
                // values.yaml fills in is the usual case, not worth a line
                if !(is_container(chart) && is_container(d)) {
                    self.warn(
                        path,
                        format!(
                            "default {} dropped: values.yaml has {}, which is what helm uses",
                            short(d),
                            short(chart)
                        ),
                    );
                }
                return;
            }
        }
        match check::validate(out, d) {
            None => {
                out.insert("default".into(), d.clone());
            }
            Some(why) => self.warn(
                path,
                format!(
                    "default {} dropped: it does not fit the schema the CRD can check ({why})",
                    short(d)
                ),
            ),
        }
    }
}

/// Adds to `all` the fields of `more` it lacks (or has null), deeply.
fn merge_defaults(all: &mut Value, more: &Value, depth: usize) {
    let (Value::Object(a), Value::Object(b)) = (all, more) else {
        return;
    };
    for (k, v) in b {
        match a.get_mut(k) {
            Some(x) if x.is_null() => *x = v.clone(),
            Some(x) if depth < MAX_DEPTH => merge_defaults(x, v, depth + 1),
            Some(_) => {}
            None => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

fn is_container(v: &Value) -> bool {
    v.is_object() || v.is_array()
}

/// Longest value a warning quotes in full.
const SHORT: usize = 60;

/// `v` as JSON, cut to a warning's length.
fn short(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(SHORT) {
        None => text,
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Merges a flattened `$ref` target or `allOf` branch into `into`.
fn merge_flat(into: &mut Flat, from: Flat) {
    for (k, v) in &from.kw {
        merge_kw(into, k, v);
    }
    into.groups.extend(from.groups);
    into.nots.extend(from.nots);
    into.extra.extend(from.extra);
    into.refs.extend(from.refs);
    into.never |= from.never;
    if into.open.is_none() {
        into.open = from.open;
    }
}

/// Both `v` and what is there already apply (allOf): keep the stricter, or
/// both.
fn merge_kw(f: &mut Flat, k: &str, v: &Value) {
    let Some(cur) = f.kw.get_mut(k) else {
        f.kw.insert(k.to_owned(), v.clone());
        return;
    };
    match k {
        "properties" | "patternProperties" | "$defs" | "definitions" => {
            if let (Value::Object(a), Value::Object(b)) = (&mut *cur, v) {
                for (name, s) in b {
                    match a.get_mut(name) {
                        Some(existing) if existing != s => {
                            *existing = json!({ "allOf": [existing.clone(), s.clone()] });
                        }
                        Some(_) => {}
                        None => {
                            a.insert(name.clone(), s.clone());
                        }
                    }
                }
            }
        }
        "required" => {
            if let (Value::Array(a), Value::Array(b)) = (&mut *cur, v) {
                for r in b {
                    if !a.contains(r) {
                        a.push(r.clone());
                    }
                }
            }
        }
        "type" => {
            let a = type_set(cur);
            let b = type_set(v);
            let mut both: Vec<String> = a.intersection(&b).cloned().collect();
            if a.contains("integer") && b.contains("number")
                || a.contains("number") && b.contains("integer")
            {
                both.push("integer".into());
                both.retain(|t| t != "number");
                both.sort();
                both.dedup();
            }
            if !both.is_empty() {
                *cur = if both.len() == 1 {
                    Value::String(both.remove(0))
                } else {
                    both.into()
                };
            }
        }
        "enum" => {
            if let (Value::Array(a), Value::Array(b)) = (&mut *cur, v) {
                let kept: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
                if !kept.is_empty() {
                    *a = kept;
                }
            }
        }
        "minimum" | "minLength" | "minItems" | "minProperties" if v.as_f64() > cur.as_f64() => {
            *cur = v.clone();
        }
        "maximum" | "maxLength" | "maxItems" | "maxProperties" if v.as_f64() < cur.as_f64() => {
            *cur = v.clone();
        }
        "exclusiveMinimum" | "exclusiveMaximum" => match (&*cur, v) {
            (Value::Bool(a), Value::Bool(b)) => *cur = Value::Bool(*a || *b),
            (Value::Number(a), Value::Number(b)) => {
                let stricter = if k == "exclusiveMinimum" {
                    b.as_f64() > a.as_f64()
                } else {
                    b.as_f64() < a.as_f64()
                };
                if stricter {
                    *cur = v.clone();
                }
            }
            _ => {}
        },
        "additionalProperties" | "unevaluatedProperties" | "items" => match (&*cur, v) {
            (Value::Bool(false), _) => {}
            (_, Value::Bool(false)) | (Value::Bool(true), _) => *cur = v.clone(),
            (_, Value::Bool(true)) => {}
            (a, b) if a != b => *cur = json!({ "allOf": [a.clone(), b.clone()] }),
            _ => {}
        },
        "uniqueItems" if v == &Value::Bool(true) => *cur = v.clone(),
        // a second, different one: checked beside the first (allOf)
        "pattern" | "multipleOf" | "format" | "const" if cur != v => {
            let mut extra = Obj::new();
            extra.insert(k.to_owned(), v.clone());
            f.extra.push(extra);
        }
        _ => {}
    }
}

fn type_set(v: &Value) -> BTreeSet<String> {
    match v {
        Value::String(s) => [s.clone()].into(),
        Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The types `type` names.
fn types(kw: &Obj) -> BTreeSet<String> {
    kw.get("type").map(type_set).unwrap_or_default()
}

/// The types `type` names, else those its values or keywords imply.
fn implied_types(kw: &Obj) -> BTreeSet<String> {
    let t = types(kw);
    if !t.is_empty() {
        return t;
    }
    if let Some(values) = enum_of(kw) {
        return values.iter().map(|v| json_type(v).to_owned()).collect();
    }
    let has = |keys: &[&str]| keys.iter().any(|k| kw.contains_key(*k));
    let mut t = BTreeSet::new();
    if has(&[
        "properties",
        "additionalProperties",
        "patternProperties",
        "minProperties",
        "maxProperties",
    ]) {
        t.insert("object".to_owned());
    }
    if has(&[
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
    ]) {
        t.insert("array".to_owned());
    }
    if has(&["pattern", "minLength", "maxLength", "format"]) {
        t.insert("string".to_owned());
    }
    if has(NUMBER_CHECKS) {
        t.insert("number".to_owned());
    }
    if t.len() > 1 {
        // keywords of several types constrain each its own: no type implied
        return BTreeSet::new();
    }
    t
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if check::is_integer(v) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether value `v` is of a node of `kind`.
fn fits(kind: Kind, v: &Value) -> bool {
    match kind {
        Kind::Open => true,
        Kind::IntOrString => v.is_string() || check::is_integer(v),
        Kind::Number => v.is_number(),
        Kind::Integer => check::is_integer(v),
        Kind::String => v.is_string(),
        Kind::Boolean => v.is_boolean(),
        Kind::Object => v.is_object(),
        Kind::Array => v.is_array(),
    }
}

/// `enum`, or `const` as a one-value enum.
fn enum_of(kw: &Obj) -> Option<Vec<Value>> {
    if let Some(c) = kw.get("const") {
        return Some(vec![c.clone()]);
    }
    kw.get("enum").and_then(Value::as_array).cloned()
}

fn is_null_only(b: &Value) -> bool {
    let Some(o) = b.as_object() else {
        return false;
    };
    o.get("type") == Some(&Value::String("null".into()))
        || o.get("const") == Some(&Value::Null)
        || o.get("enum") == Some(&json!([null]))
}

fn number_checks(kw: &Obj, out: &mut Obj) {
    copy(kw, out, &["minimum", "maximum"]);
    for (excl, bound, stricter) in [
        ("exclusiveMinimum", "minimum", 1.0),
        ("exclusiveMaximum", "maximum", -1.0),
    ] {
        match kw.get(excl) {
            Some(Value::Bool(true)) if out.contains_key(bound) => {
                out.insert(excl.into(), true.into());
            }
            // draft-06 and later: the exclusive bound itself
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(0.0);
                let tighter = match out.get(bound).and_then(Value::as_f64) {
                    None => true,
                    Some(b) => (x - b) * stricter >= 0.0,
                };
                if tighter {
                    out.insert(bound.into(), Value::Number(n.clone()));
                    out.insert(excl.into(), true.into());
                }
            }
            _ => {}
        }
    }
    if let Some(m) = kw
        .get("multipleOf")
        .filter(|m| m.as_f64().is_some_and(|m| m > 0.0))
    {
        out.insert("multipleOf".into(), m.clone());
    }
}

/// `required`, less the fields values.yaml has a default for.
fn split_required(req: &[Value], defaults: Option<&Value>) -> (Vec<Value>, Vec<String>) {
    let mut kept = Vec::new();
    let mut defaulted = Vec::new();
    for r in req.iter().filter_map(Value::as_str) {
        if defaults
            .and_then(|d| d.get(r))
            .is_some_and(|v| !v.is_null())
        {
            defaulted.push(r.to_owned());
        } else {
            kept.push(Value::String(r.to_owned()));
        }
    }
    (kept, defaulted)
}

fn copy(from: &Obj, to: &mut Obj, keys: &[&str]) {
    for k in keys {
        if let Some(v) = from.get(*k) {
            to.insert((*k).to_owned(), v.clone());
        }
    }
}

/// Puts a junctor at `key`, or into `allOf` when `key` is taken.
fn place(out: &mut Obj, key: &str, v: Value) {
    if out.contains_key(key) {
        let mut o = Obj::new();
        o.insert(key.to_owned(), v);
        push_all_of(out, o);
    } else {
        out.insert(key.to_owned(), v);
    }
}

fn push_all_of(out: &mut Obj, v: Obj) {
    match out.get_mut("allOf") {
        Some(Value::Array(list)) => list.push(Value::Object(v)),
        _ => {
            out.insert("allOf".into(), Value::Array(vec![Value::Object(v)]));
        }
    }
}

/// `%25` and friends in a `$ref`'s JSON pointer.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
