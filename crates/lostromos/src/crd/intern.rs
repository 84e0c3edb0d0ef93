//! The schema document with every subschema moved into a table and put back
//! as a small stand-in (`{"$lostromos-node": N}`), which the converter
//! follows like an inlined `$ref`.
//!
//! The converter copies a node's keywords (its `properties`, its `anyOf`
//! branches) each time it looks at the node, and looks at a node once per
//! enclosing branch. With subschemas written inline, each copy is a whole
//! subtree: a 12 MB schema of nested `anyOf`s took 4 GB. With stand-ins a
//! copy is one node's own keywords.

use serde_json::{Map, Value};

/// The stand-in's only key. Not a JSON Schema keyword; one found in a
/// chart's schema is dropped (it would mean nothing to helm either).
const KEY: &str = "$lostromos-node";

/// Deeper than serde_json parses (128): a document built otherwise is
/// left as it is below this.
const MAX_DEPTH: usize = 256;

/// Keywords whose value is a schema.
const ONE: &[&str] = &["additionalProperties", "unevaluatedProperties", "not"];
/// Keywords whose value is a map of schemas.
const MAPS: &[&str] = &["properties", "patternProperties", "$defs", "definitions"];
/// Keywords whose value is a list of schemas.
const LISTS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

#[derive(Debug, Default)]
pub struct Interned {
    root: Value,
    table: Vec<Value>,
}

impl Interned {
    pub fn new(doc: &Value) -> Interned {
        let mut i = Interned::default();
        i.root = i.schema(doc, 0, true);
        i
    }

    /// `v`, or the node it stands in for.
    pub fn follow<'s>(&'s self, mut v: &'s Value) -> &'s Value {
        // stand-ins only point at earlier entries: no cycle
        while let Some(n) = stand_in(v) {
            match self.table.get(n) {
                Some(t) => v = t,
                None => break,
            }
        }
        v
    }

    /// The value at JSON pointer `pointer` (already percent-decoded) of
    /// the document as written.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let mut here = self.follow(&self.root);
        if pointer.is_empty() {
            return Some(here);
        }
        for token in pointer.strip_prefix('/')?.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            here = match here {
                Value::Object(o) => o.get(&token)?,
                Value::Array(a) => a.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
            here = self.follow(here);
        }
        Some(here)
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    /// `v` with its subschemas interned; itself interned unless `top`.
    fn schema(&mut self, v: &Value, depth: usize, top: bool) -> Value {
        let Value::Object(o) = v else {
            return v.clone();
        };
        if depth > MAX_DEPTH {
            return v.clone();
        }
        let mut out = Map::new();
        for (k, x) in o {
            let k = k.as_str();
            let x = if k == KEY {
                continue;
            } else if ONE.contains(&k) || (k == "items" && x.is_object()) {
                self.schema(x, depth + 1, false)
            } else if MAPS.contains(&k) && x.is_object() {
                let m = x.as_object().into_iter().flatten();
                Value::Object(
                    m.map(|(name, s)| (name.clone(), self.schema(s, depth + 1, false)))
                        .collect(),
                )
            } else if (LISTS.contains(&k) || k == "items") && x.is_array() {
                let a = x.as_array().into_iter().flatten();
                Value::Array(a.map(|s| self.schema(s, depth + 1, false)).collect())
            } else {
                x.clone()
            };
            out.insert(k.to_owned(), x);
        }
        // a leaf is as cheap to copy as its stand-in; a null-only branch is
        // read as written (it makes its node nullable)
        if top || !out.keys().any(|k| has_schemas(k)) {
            return Value::Object(out);
        }
        self.table.push(Value::Object(out));
        let mut s = Map::new();
        s.insert(KEY.into(), (self.table.len() - 1).into());
        Value::Object(s)
    }
}

fn has_schemas(k: &str) -> bool {
    ONE.contains(&k) || MAPS.contains(&k) || LISTS.contains(&k) || k == "items"
}

fn stand_in(v: &Value) -> Option<usize> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get(KEY)?.as_u64().and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subschemas_become_stand_ins_that_lead_back() {
        let doc = json!({"type": "object", "properties": {
            "a": {"type": "object", "properties": {"b/c": {"type": "string"}}},
            "leaf": {"type": "integer", "default": {"properties": {"x": 1}}},
        }, "$defs": {"list": {"type": "array", "items": [{"type": "object", "properties": {}}]}}});
        let i = Interned::new(&doc);
        let a = &i.root()["properties"]["a"];
        assert!(stand_in(a).is_some(), "{a}");
        assert_eq!(i.follow(a)["properties"]["b/c"], json!({"type": "string"}));
        // leaves, and what is no schema (a default), stay as written
        assert_eq!(i.root()["properties"]["leaf"], doc["properties"]["leaf"]);
        assert_eq!(
            i.pointer("/properties/a/properties/b~1c"),
            Some(&json!({"type": "string"}))
        );
        assert_eq!(
            i.pointer("/$defs/list/items/0/type"),
            Some(&json!("object"))
        );
        assert_eq!(i.pointer("/properties/nothing"), None);
        assert_eq!(i.pointer("").unwrap()["type"], "object");
    }

    /// Nested anyOfs, each branch with the next level inline: the shape
    /// that made the converter copy whole subtrees once per branch.
    fn nested_any_of(depth: usize, branches: usize) -> Value {
        let mut level = json!({"type": "string"});
        for _ in 0..depth {
            let list: Vec<Value> = (0..branches)
                .map(|i| json!({"properties": {"x": level.clone(), format!("y{i}"): {"type": "string"}}, "required": [format!("y{i}")]}))
                .collect();
            level = json!({"type": "object", "anyOf": list});
        }
        json!({"type": "object", "properties": {"a": level}})
    }

    #[test]
    fn a_node_is_small_however_large_its_subtree() {
        let doc = nested_any_of(4, 6);
        assert!(doc.to_string().len() > 100_000);
        let i = Interned::new(&doc);
        assert!(i.root().to_string().len() < 100, "{}", i.root());
        let a = i.follow(&i.root()["properties"]["a"]);
        assert!(a.to_string().len() < 300, "{a}");
        let branch = i.follow(&a["anyOf"][0]);
        assert_eq!(i.follow(&branch["properties"]["x"])["type"], "object");
    }
}
