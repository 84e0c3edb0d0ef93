//! `--watches FILE`: every kind one process serves, in Operator SDK
//! helm-operator's `watches.yaml` format, so a file written for it runs
//! unchanged. Each entry may also take `run`'s per-kind options under their
//! long names; process-wide options (helm binary, concurrency, listen address,
//! leader election, logs) stay flags, environment or `--config`.
//!
//! helm-operator's keys and what they become:
//! - `group`, `version`, `kind`, `chart`: the same options;
//! - `overrideValues`: `--set`-style paths to strings (`image.tag: "1.2"`), each
//!   value expanded from the environment (`$VAR`, `${VAR}`) as helm-operator
//!   does; they beat the CR, like `--override-values`;
//! - `selector`: a LabelSelector (`matchLabels`, `matchExpressions`);
//! - `reconcilePeriod`, `maxConcurrentReconciles`, `watchDependentResources`:
//!   `reconcile-period`, `max-concurrent-reconciles`, `watch-objects`;
//! - `dryRunOption`: accepted and ignored (Lostrómos does not dry-run upgrades).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::config::cli::Options;
use crate::config::file::{self, kind_of};
use crate::config::settings::Settings;

/// One entry of the file, as options for its kind.
#[derive(Debug)]
pub struct Entry {
    /// How messages name it: `entry 2 (kind Gadget)`.
    pub label: String,
    pub options: Options,
    /// `overrideValues`, as a values document.
    pub overrides: Vec<Value>,
}

/// `run`'s options that an entry may set, by their long names.
const PER_KIND: &[&str] = &[
    "group",
    "version",
    "kind",
    "namespace",
    "namespaces",
    "selector",
    "filter-annotation",
    "reconcile-period",
    "chart",
    "chart-version",
    "templates",
    "release-prefix",
    "release-namespace",
    "values",
    "values-files",
    "override-values",
    "override-values-files",
    "values-layout",
    "metadata-key",
    "timeout",
    "chart-annotation",
    "allowed-chart",
    "allowed-charts",
    "wait",
    "history-max",
    "max-concurrent-reconciles",
    "watch-objects",
    "ready-timeout",
    "drift",
    "adopt-from",
];

/// helm-operator's own keys, and the option each one is.
const HELM_OPERATOR: &[(&str, &str)] = &[
    ("reconcilePeriod", "reconcile-period"),
    ("maxConcurrentReconciles", "max-concurrent-reconciles"),
    ("watchDependentResources", "watch-objects"),
];

/// Keys an entry's options hold paths in.
const PATHS: &[&str] = &[
    "templates",
    "values",
    "values-files",
    "override-values",
    "override-values-files",
];

/// The entries read, and the problems of those that could not be (each naming
/// its entry by index and kind), so the others are still checked.
#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub problems: Vec<String>,
}

/// Reads the file; `Err` when it is not a list of watches at all.
pub fn read(path: &Path) -> Result<Parsed, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![format!(
            "cannot read it: {e}; fix: point --watches at a watches.yaml file"
        )]
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &base, &|name| std::env::var(name).ok())
}

/// Parses the file's text; relative paths that are not found from the working
/// directory are taken from `base` (the file's folder).
pub fn parse(
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, Vec<String>> {
    let doc: Value = serde_saphyr::from_str(text)
        .map_err(|e| vec![format!("not valid YAML: {}", file::yaml_error(&e))])?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(vec![format!(
                "must hold a list of watches, found {}; fix: write entries like `- group: example.com`, `  version: v1`, `  kind: Widget`, `  chart: ./chart`",
                kind_of(&other)
            )])
        }
    };
    if items.is_empty() {
        return Err(vec![
            "lists no watches; fix: add an entry with group, version, kind and chart".into(),
        ]);
    }
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
        let label = if kind.is_empty() {
            format!("entry {}", i + 1)
        } else {
            format!("entry {} (kind {kind})", i + 1)
        };
        match entry(item, base, env) {
            Ok((options, overrides)) => entries.push(Entry {
                label,
                options,
                overrides,
            }),
            Err(errs) => problems.extend(errs.into_iter().map(|p| format!("{label}: {p}"))),
        }
    }
    Ok(Parsed { entries, problems })
}

fn entry(
    item: Value,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Options, Vec<Value>), Vec<String>> {
    let Value::Object(map) = item else {
        return Err(vec![format!(
            "is {}, not a map of keys; fix: write it like `- group: example.com` with version, kind and chart",
            kind_of(&item)
        )]);
    };
    let mut problems = Vec::new();
    let mut options = Map::new();
    let mut overrides = Vec::new();
    for (key, value) in map {
        if let Some((_, option)) = HELM_OPERATOR.iter().find(|(k, _)| *k == key) {
            options.insert((*option).to_owned(), value);
            continue;
        }
        match key.as_str() {
            "overrideValues" => match override_values(&value, env) {
                Ok(doc) => overrides.push(doc),
                Err(e) => problems.push(format!("overrideValues: {e}")),
            },
            // helm-operator's dry run of upgrades; Lostrómos has none to configure
            "dryRunOption" => {}
            "selector" => match selector(&value) {
                Ok(Some(s)) => {
                    options.insert(key, Value::String(s));
                }
                Ok(None) => {}
                Err(e) => problems.push(format!("selector: {e}")),
            },
            "chart" => {
                // helm-operator's charts are folders (`helm-charts/nginx`),
                // which would otherwise read as a repository reference
                let chart = match value.as_str().map(|c| locate(Path::new(c), base)) {
                    Some(p) if p.exists() => Value::String(
                        std::path::absolute(&p).unwrap_or(p).display().to_string(),
                    ),
                    _ => value,
                };
                options.insert(key, chart);
            }
            k if PATHS.contains(&k) => {
                options.insert(key, locate_all(value, base));
            }
            k if PER_KIND.contains(&k) => {
                options.insert(key, value);
            }
            k if crate::config::cli::option_names().iter().any(|n| n == k) => problems.push(format!(
                "`{k}` holds for the whole process, not one kind; fix: give it as --{k} (or in --config) and remove it from the entry"
            )),
            k => {
                let names = PER_KIND
                    .iter()
                    .map(|n| n.to_string())
                    .chain(HELM_OPERATOR.iter().map(|(n, _)| n.to_string()))
                    .chain(["overrideValues", "dryRunOption"].map(String::from));
                let fix = match file::nearest(k, names) {
                    Some(name) => format!("did you mean `{name}`?"),
                    None => "an entry takes helm-operator's keys (group, version, kind, chart, overrideValues, selector, reconcilePeriod, maxConcurrentReconciles, watchDependentResources) and run's per-kind options by their long names".into(),
                };
                problems.push(format!("unknown key `{k}`; fix: {fix}"));
            }
        }
    }
    let options = file::from_map(options).map_err(|errs| {
        errs.into_iter()
            .map(|e| e.to_string())
            .chain(problems.iter().cloned())
            .collect::<Vec<_>>()
    })?;
    if problems.is_empty() {
        Ok((options, overrides))
    } else {
        Err(problems)
    }
}

/// A relative path as helm-operator takes it (from the working directory),
/// else from the watches file's folder when it is there.
fn locate(path: &Path, base: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    let beside = base.join(path);
    if beside.exists() {
        beside
    } else {
        path.to_path_buf()
    }
}

fn locate_all(value: Value, base: &Path) -> Value {
    match value {
        Value::String(p) => Value::String(locate(Path::new(&p), base).display().to_string()),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| locate_all(v, base)).collect())
        }
        other => other,
    }
}

/// Two entries for one kind would be two controllers fighting over its CRs.
pub fn duplicates(kinds: &[Settings]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, a) in kinds.iter().enumerate() {
        for (j, b) in kinds.iter().enumerate().skip(i + 1) {
            let (Some(wa), Some(wb)) = (&a.watched, &b.watched) else {
                continue;
            };
            if wa.group == wb.group && wa.kind.eq_ignore_ascii_case(&wb.kind) {
                problems.push(format!(
                    "entries {} and {} both watch kind {} of group {}; fix: keep one entry per kind",
                    i + 1,
                    j + 1,
                    wa.kind,
                    wa.group
                ));
            }
        }
    }
    problems
}

/// helm-operator's `overrideValues`: `--set`-style paths to strings, each
/// expanded from the environment, parsed as `helm --set-string` would.
fn override_values(value: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let map = match value {
        Value::Object(map) => map,
        Value::Null => return Ok(Value::Object(Map::new())),
        other => {
            return Err(format!(
                "is {}, not a map; fix: write paths to strings, like `image.tag: \"1.2.3\"`",
                kind_of(other)
            ))
        }
    };
    let mut doc = Map::new();
    for (path, v) in map {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(format!(
                    "`{path}` is {}; fix: give a string (helm-operator sets strings)",
                    kind_of(other)
                ))
            }
        };
        let expanded = expand_env(&text, env);
        if expanded.contains("{{") {
            return Err(format!(
                "`{path}` holds a Go template ({expanded:?}); Lostrómos does not render templates in overrideValues; fix: write the value itself, or take it from the environment with $VAR"
            ));
        }
        set_string(&mut doc, &format!("{path}={expanded}"))
            .map_err(|e| format!("`{path}`: {e}"))?;
    }
    Ok(Value::Object(doc))
}

/// Go's `os.ExpandEnv`: `$NAME` and `${NAME}` replaced by the variable (empty
/// when unset); `$` followed by nothing that names a variable stays.
pub fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[last..i]);
            let (name, width) = shell_name(&s[i + 1..]);
            match name {
                // bad syntax (`${}`, `${` unclosed): eaten, as Go does
                None if width > 0 => {}
                None => out.push('$'),
                Some(n) => out.push_str(&env(n).unwrap_or_default()),
            }
            i += 1 + width;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// The variable name after a `$`, and how many bytes it took.
fn shell_name(s: &str) -> (Option<&str>, usize) {
    let b = s.as_bytes();
    let special = |c: u8| b"*#$@!?-".contains(&c) || c.is_ascii_digit();
    if b[0] == b'{' {
        if b.len() > 2 && special(b[1]) && b[2] == b'}' {
            return (Some(&s[1..2]), 3);
        }
        return match s[1..].find('}') {
            Some(0) => (None, 2),
            Some(end) => (Some(&s[1..end + 1]), end + 2),
            None => (None, 1),
        };
    }
    if special(b[0]) {
        return (Some(&s[..1]), 1);
    }
    let n = b
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    if n == 0 {
        (None, 0)
    } else {
        (Some(&s[..n]), n)
    }
}

/// Sets `path=value` assignments (comma-separated) into `doc` as `helm
/// --set-string` does: `.` nests maps, `[i]` indexes lists, `\` escapes the
/// next character, and `{a,b}` is a list of strings.
fn set_string(doc: &mut Map<String, Value>, text: &str) -> Result<(), String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let (steps, next) = path(&chars, i)?;
        i = next;
        let (value, next) = string_value(&chars, i);
        i = next;
        put(doc, &steps, value)?;
    }
    Ok(())
}

/// One step of a path: a map key or a list index.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Reads a path up to its `=`; returns the steps and the index after `=`.
fn path(chars: &[char], mut i: usize) -> Result<(Vec<Step>, usize), String> {
    let mut steps = Vec::new();
    let mut key = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(format!(
                "`{}` has no `=value`",
                chars.iter().collect::<String>()
            ));
        };
        match c {
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    key.push(n);
                }
                i += 2;
            }
            '.' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                i += 1;
            }
            '[' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or("a `[` is not closed")?;
                let digits: String = chars[i + 1..i + close].iter().collect();
                let index: usize = digits
                    .parse()
                    .map_err(|_| format!("list index `[{digits}]` is not a number"))?;
                if index > 65_536 {
                    return Err(format!("list index {index} is too large"));
                }
                steps.push(Step::Index(index));
                i += close + 1;
            }
            '=' => {
                if !key.is_empty() {
                    steps.push(Step::Key(key));
                }
                if steps.is_empty() {
                    return Err("an empty path".into());
                }
                return Ok((steps, i + 1));
            }
            ',' => return Err(format!("key `{key}` has no value")),
            c => {
                key.push(c);
                i += 1;
            }
        }
    }
}

/// A value up to an unescaped `,` (or the end); `{a,b}` is a list.
fn string_value(chars: &[char], mut i: usize) -> (Value, usize) {
    if chars.get(i) == Some(&'{') {
        let mut items = Vec::new();
        let mut item = String::new();
        i += 1;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '\\' => {
                    if let Some(&n) = chars.get(i) {
                        item.push(n);
                    }
                    i += 1;
                }
                ',' => items.push(Value::String(std::mem::take(&mut item))),
                '}' => {
                    items.push(Value::String(item));
                    // past the comma that ends this assignment
                    if chars.get(i) == Some(&',') {
                        i += 1;
                    }
                    return (Value::Array(items), i);
                }
                c => item.push(c),
            }
        }
        items.push(Value::String(item));
        return (Value::Array(items), i);
    }
    let mut s = String::new();
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '\\' => {
                if let Some(&n) = chars.get(i) {
                    s.push(n);
                }
                i += 1;
            }
            ',' => return (Value::String(s), i),
            c => s.push(c),
        }
    }
    (Value::String(s), i)
}

/// Sets `value` at `steps` under `doc`, making maps and lists on the way.
fn put(doc: &mut Map<String, Value>, steps: &[Step], value: Value) -> Result<(), String> {
    let Some((Step::Key(first), rest)) = steps.split_first() else {
        return Err("a path must start with a key".into());
    };
    let slot = doc.entry(first.clone()).or_insert(Value::Null);
    put_in(slot, rest, value);
    Ok(())
}

fn put_in(slot: &mut Value, steps: &[Step], value: Value) {
    let Some((step, rest)) = steps.split_first() else {
        *slot = value;
        return;
    };
    match step {
        Step::Key(k) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                put_in(m.entry(k.clone()).or_insert(Value::Null), rest, value);
            }
        }
        Step::Index(n) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(items) = slot {
                if items.len() <= *n {
                    items.resize(n + 1, Value::Null);
                }
                put_in(&mut items[*n], rest, value);
            }
        }
    }
}

/// A LabelSelector (`matchLabels`, `matchExpressions`) as a selector string;
/// `None` for an empty one (every CR), as helm-operator takes it.
fn selector(value: &Value) -> Result<Option<String>, String> {
    let map = match value {
        Value::Null => return Ok(None),
        // already a selector string, as `--selector` takes it
        Value::String(s) => return Ok(Some(s.clone()).filter(|s| !s.trim().is_empty())),
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "is {}; fix: write a LabelSelector (matchLabels, matchExpressions)",
                kind_of(other)
            ))
        }
    };
    let mut parts = Vec::new();
    for (key, value) in map {
        match key.as_str() {
            "matchLabels" => {
                let labels = value.as_object().ok_or("matchLabels must be a map")?;
                for (k, v) in labels {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    parts.push(format!("{k}={v}"));
                }
            }
            "matchExpressions" => {
                let exprs = value.as_array().ok_or("matchExpressions must be a list")?;
                for e in exprs {
                    parts.push(expression(e)?);
                }
            }
            other => {
                return Err(format!(
                "unknown key `{other}`; fix: a LabelSelector has matchLabels and matchExpressions"
            ))
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join(",")))
}

fn expression(e: &Value) -> Result<String, String> {
    let key = e
        .get("key")
        .and_then(Value::as_str)
        .ok_or("a matchExpressions item needs a key")?;
    let op = e.get("operator").and_then(Value::as_str).unwrap_or("");
    let values: Vec<String> = e
        .get("values")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    match op {
        "In" | "NotIn" if values.is_empty() => Err(format!(
            "matchExpressions `{key}` {op} needs values"
        )),
        "In" => Ok(format!("{key} in ({})", values.join(","))),
        "NotIn" => Ok(format!("{key} notin ({})", values.join(","))),
        "Exists" => Ok(key.to_owned()),
        "DoesNotExist" => Ok(format!("!{key}")),
        other => Err(format!(
            "matchExpressions `{key}`: operator {other:?}; fix: use In, NotIn, Exists or DoesNotExist"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "IMAGE" => Some("quay.io/x/nginx".into()),
            "TAG" => Some("1.2".into()),
            _ => None,
        }
    }

    fn parse_ok(text: &str) -> Vec<Entry> {
        let parsed = parse(text, Path::new("/nonexistent"), &env).unwrap();
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        parsed.entries
    }

    fn parse_err(text: &str) -> Vec<String> {
        match parse(text, Path::new("/nonexistent"), &env) {
            Ok(parsed) => {
                assert!(!parsed.problems.is_empty(), "accepted: {text}");
                parsed.problems
            }
            Err(problems) => problems,
        }
    }

    #[test]
    fn a_helm_operator_watches_file_reads_as_it_is() {
        let entries = parse_ok(
            r#"
# Use the 'create api' subcommand to add watches to this file.
- group: demo.example.com
  version: v1alpha1
  kind: Nginx
  chart: helm-charts/nginx
  overrideValues:
    image.repository: $IMAGE
    image.tag: ${TAG}-alpine
  selector:
    matchLabels:
      tier: web
    matchExpressions:
      - {key: env, operator: In, values: [prod, staging]}
      - {key: legacy, operator: DoesNotExist}
  reconcilePeriod: 1m30s
  maxConcurrentReconciles: 2
  watchDependentResources: false
  dryRunOption: server
- group: demo.example.com
  version: v1
  kind: Redis
  chart: helm-charts/redis
"#,
        );
        assert_eq!(entries.len(), 2);
        let nginx = &entries[0];
        assert_eq!(nginx.label, "entry 1 (kind Nginx)");
        let o = &nginx.options;
        assert_eq!(o.watch.group.as_deref(), Some("demo.example.com"));
        assert_eq!(o.watch.kind.as_deref(), Some("Nginx"));
        assert_eq!(o.shared.chart.as_deref(), Some("helm-charts/nginx"));
        assert_eq!(o.watch.reconcile_period.as_deref(), Some("1m30s"));
        assert_eq!(o.run.max_concurrent_reconciles, Some(2));
        assert_eq!(o.run.watch_objects, Some(false));
        assert_eq!(
            o.watch.selector.as_deref(),
            Some("env in (prod,staging),!legacy,tier=web")
        );
        assert_eq!(
            nginx.overrides,
            vec![json!({"image": {"repository": "quay.io/x/nginx", "tag": "1.2-alpine"}})]
        );
        assert_eq!(entries[1].label, "entry 2 (kind Redis)");
        assert!(entries[1].overrides.is_empty());
    }

    #[test]
    fn an_entry_takes_run_options_by_their_long_names() {
        let entries = parse_ok(
            "- {group: g, version: v1, kind: K, chart: c, timeout: 2m, history-max: 5, namespace: [a, b], values-layout: resource, release-prefix: p, wait: true, drift: warn}\n",
        );
        let o = &entries[0].options;
        assert_eq!(o.shared.timeout.as_deref(), Some("2m"));
        assert_eq!(o.run.history_max, Some(5));
        assert_eq!(o.watch.namespaces, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(o.run.wait, Some(true));
        assert_eq!(o.shared.release_prefix.as_deref(), Some("p"));
    }

    #[test]
    fn unknown_and_process_wide_keys_name_the_entry_and_the_fix() {
        let errs = parse_err(
            "- {group: g, version: v1, kind: A, chart: c, chrat: x}\n- {group: g, version: v1, kind: B, chart: c, listen: ':9090', timeout: soon-ish, overrideValues: [1]}\n",
        );
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert_eq!(
            errs[0],
            "entry 1 (kind A): unknown key `chrat`; fix: did you mean `chart`?"
        );
        assert!(
            errs.iter().any(|e| e
                .starts_with("entry 2 (kind B): `listen` holds for the whole process")
                && e.contains("--listen")),
            "{errs:#?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("entry 2 (kind B): overrideValues: is a list")),
            "{errs:#?}"
        );
    }

    #[test]
    fn the_file_must_be_a_list_of_maps() {
        assert!(parse_err("group: g\n")[0].contains("must hold a list of watches, found a map"));
        assert!(parse_err("[]\n")[0].contains("lists no watches"));
        assert!(parse_err("- just a string\n")[0].starts_with("entry 1: is a string"));
        assert!(parse_err("- [unclosed\n")[0].starts_with("not valid YAML"));
    }

    #[test]
    fn env_expansion_is_gos() {
        let e = |s: &str| expand_env(s, &env);
        assert_eq!(e("$IMAGE:$TAG"), "quay.io/x/nginx:1.2");
        assert_eq!(e("${TAG}x"), "1.2x");
        assert_eq!(e("$UNSET-a"), "-a");
        assert_eq!(e("cost $"), "cost $");
        assert_eq!(e("a $ b"), "a $ b");
        assert_eq!(e("${}x"), "x");
        assert_eq!(e("${TAG"), "TAG");
        assert_eq!(e("ünï$TAG"), "ünï1.2");
    }

    #[test]
    fn set_string_paths_nest_index_and_escape() {
        let mut doc = Map::new();
        for a in [
            r"a.b.c=1",
            r"a.d=true",
            r"list[1].name=x",
            r"dotted\.key=v",
            r"comma=a\,b",
            r"several=1,other=2",
            r"names={x,y}",
            r"empty=",
        ] {
            set_string(&mut doc, a).unwrap();
        }
        assert_eq!(
            Value::Object(doc),
            json!({
                "a": {"b": {"c": "1"}, "d": "true"},
                "list": [null, {"name": "x"}],
                "dotted.key": "v",
                "comma": "a,b",
                "several": "1",
                "other": "2",
                "names": ["x", "y"],
                "empty": "",
            })
        );
        let mut doc = Map::new();
        assert!(set_string(&mut doc, "a[x]=1")
            .unwrap_err()
            .contains("not a number"));
        assert!(set_string(&mut doc, "a[99999999]=1")
            .unwrap_err()
            .contains("too large"));
        assert!(set_string(&mut doc, "noval")
            .unwrap_err()
            .contains("no `=value`"));
        assert!(set_string(&mut doc, "=x")
            .unwrap_err()
            .contains("empty path"));
    }

    #[test]
    fn templates_in_override_values_are_named() {
        let errs = parse_err(
            "- {group: g, version: v1, kind: K, chart: c, overrideValues: {a: '{{ .x }}'}}\n",
        );
        assert!(errs[0].contains("holds a Go template"), "{errs:?}");
    }

    #[test]
    fn selectors_with_bad_operators_are_refused() {
        let errs = parse_err(
            "- {group: g, version: v1, kind: K, chart: c, selector: {matchExpressions: [{key: a, operator: Like}]}}\n",
        );
        assert!(errs[0].contains("operator \"Like\""), "{errs:?}");
        let entries = parse_ok("- {group: g, version: v1, kind: K, chart: c, selector: {}}\n");
        assert_eq!(entries[0].options.watch.selector, None);
    }

    #[test]
    fn relative_paths_are_found_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mychart")).unwrap();
        std::fs::write(dir.path().join("v.yaml"), "a: 1\n").unwrap();
        let entries = parse(
            "- {group: g, version: v1, kind: K, chart: mychart, values: [v.yaml], chart-version: '1'}\n",
            dir.path(),
            &env,
        )
        .unwrap()
        .entries;
        let o = &entries[0].options;
        assert_eq!(
            o.shared.chart.as_deref(),
            Some(dir.path().join("mychart").display().to_string().as_str()),
            "a folder beside the file, made absolute"
        );
        assert_eq!(o.shared.values_files, vec![dir.path().join("v.yaml")]);
    }
}
