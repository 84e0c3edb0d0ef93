//! Fields values.yaml names only in comments. Charts document optional
//! fields that way (`# nameOverride: ""`, `## repository:` beside
//! `image:`'s keys); helm takes them like any other, so a schema inferred
//! from values.yaml must not refuse them. This finds them and the map each
//! belongs to, by indentation: a heuristic, erring towards more fields (a
//! commented example's nested keys count as the map's own).

use std::collections::{BTreeMap, BTreeSet};

/// A path of keys in values.yaml; `[]` stands for a list's items.
pub type Path = Vec<String>;

/// The path component of a list's items.
pub const ITEMS: &str = "[]";

/// Words that start prose in a comment (`# Ref: https://...`), not a field.
const PROSE: &[&str] = &[
    "ref",
    "refs",
    "note",
    "notes",
    "see",
    "example",
    "examples",
    "eg",
    "e.g",
    "ie",
    "i.e",
    "todo",
    "fixme",
    "warning",
    "deprecated",
    "important",
    "info",
    "docs",
    "usage",
];

/// The fields that comments of values.yaml `text` name, by the path of
/// the map among whose fields they stand.
pub fn commented_fields(text: &str) -> BTreeMap<Path, BTreeSet<String>> {
    let mut found: BTreeMap<Path, BTreeSet<String>> = BTreeMap::new();
    // (indent, key) of the lines that hold the current one
    let mut stack: Vec<(usize, String)> = Vec::new();
    // the indent of a key whose value is a block scalar (`|`, `>`)
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        if body.trim().is_empty() {
            continue;
        }
        if let Some(b) = block {
            if indent > b {
                continue;
            }
            block = None;
        }
        if let Some(comment) = body.strip_prefix('#') {
            if let Some((item, field)) = commented_field(comment) {
                let mut path: Path = stack
                    .iter()
                    .filter(|(i, _)| *i < indent)
                    .map(|(_, k)| k.clone())
                    .collect();
                if item {
                    path.push(ITEMS.into());
                }
                found.entry(path).or_default().insert(field.to_owned());
            }
            continue;
        }
        if body.starts_with("---") || body.starts_with("...") {
            stack.clear();
            continue;
        }
        // list items, `- - key: v` too, then perhaps a key
        let mut col = indent;
        let mut rest = body;
        while rest == "-" || rest.starts_with("- ") {
            // an item pops what is deeper, and the item before it
            while stack
                .last()
                .is_some_and(|(i, k)| *i > col || (*i == col && k == ITEMS))
            {
                stack.pop();
            }
            stack.push((col, ITEMS.into()));
            let after = &rest[1..];
            let value = after.trim_start_matches(' ');
            col += 1 + after.len() - value.len();
            rest = value;
        }
        if let Some((key, value)) = key_of(rest) {
            while stack.last().is_some_and(|(i, _)| *i >= col) {
                stack.pop();
            }
            stack.push((col, key));
            if value.starts_with('|') || value.starts_with('>') {
                block = Some(col);
            }
        }
    }
    found
}

/// The field a comment (its text after `#`) names, and whether it is one
/// of a list item (`# - name: x`).
fn commented_field(comment: &str) -> Option<(bool, &str)> {
    let c = comment.trim_start_matches('#').trim_start();
    let (item, c) = match c.strip_prefix("- ") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, c),
    };
    let end = c.find(':')?;
    let key = &c[..end];
    let after = &c[end + 1..];
    let mut chars = key.chars();
    let field = chars.next().is_some_and(|f| f.is_ascii_lowercase())
        && chars.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.' | '/'))
        && (after.is_empty() || after.starts_with([' ', '\t']))
        && !PROSE.contains(&key.to_ascii_lowercase().as_str());
    field.then_some((item, key))
}

/// The key of a `key: value` line (after its list dashes), and the value.
fn key_of(rest: &str) -> Option<(String, &str)> {
    let (key, after) = match rest.chars().next()? {
        q @ ('"' | '\'') => {
            let close = rest[1..].find(q)? + 1;
            (rest[1..close].to_owned(), &rest[close + 1..])
        }
        '{' | '[' | '#' | '&' | '*' | '!' | '|' | '>' => return None,
        _ => {
            let end = rest
                .find(": ")
                .or_else(|| rest.strip_suffix(':').map(str::len))?;
            (rest[..end].trim_end().to_owned(), &rest[end..])
        }
    };
    let value = after.trim_start().strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, value.trim_start()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<String> {
        commented_fields(text)
            .into_iter()
            .flat_map(|(p, fs)| fs.into_iter().map(move |f| format!("{}:{f}", p.join("."))))
            .collect()
    }

    #[test]
    fn fields_named_in_comments_and_their_maps() {
        let text = "\
# nameOverride: \"\"
controller:
  image:
    chroot: false
    ## repository:
    tag: \"1.0\"
  # Ref: https://kubernetes.io/docs/
  ports:
  - name: http
    # hostPort: 80
  config: |
    # notAField: true
  resources: {}
    # limits:
    #   cpu: 100m
extraEnv: []
  # - name: FOO
\"quoted.key\":
  # inner: 1
";
        assert_eq!(
            fields(text),
            [
                ":nameOverride",
                "controller.image:repository",
                "controller.ports.[]:hostPort",
                "controller.resources:cpu",
                "controller.resources:limits",
                "extraEnv.[]:name",
                "quoted.key:inner"
            ]
        );
    }

    #[test]
    fn prose_and_values_are_not_fields() {
        for text in [
            "a:\n  # Ref: https://example.com\n  b: 1\n",
            "a:\n  # NOTE: something\n  b: 1\n",
            "a:\n  # -- the port: of the service\n  b: 1\n",
            "a:\n  b: http://example.com # c: 1\n",
            "a:\n  # @schema type:[string, null]\n  b: 1\n",
        ] {
            assert!(commented_fields(text).is_empty(), "{text}");
        }
    }
}
