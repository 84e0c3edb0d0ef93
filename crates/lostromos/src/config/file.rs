//! The `--config` file: YAML whose keys are the options' long names, or a
//! config file of the original Lostrómos. Every problem in it is reported at
//! once: a type error names its key and the expected form, an unknown key is
//! named, a YAML syntax error gives its line and column.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::cli::{option_names, Options, RunOptions, SharedOptions, WatchOptions};
use crate::config::original;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("cannot read it: {0}")]
    Read(String),
    #[error("not valid YAML: {0}")]
    Syntax(String),
    #[error(
        "must hold a map of options at the top, found {0}; fix: write `key: value` lines, e.g. `timeout: 2m`"
    )]
    NotAMap(&'static str),
    #[error("key `{key}`: {message}")]
    Type { key: String, message: String },
    #[error("unknown key `{key}`; fix: {fix}")]
    UnknownKey { key: String, fix: String },
    /// What a config file of the original Lostrómos has without an equivalent.
    #[error("{0}")]
    Original(String),
}

/// Reads and checks a config file.
pub fn read(path: &Path) -> Result<Options, Vec<FileError>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![FileError::Read(e.to_string())])?;
    parse(&text)
}

/// Checks a config file's text and turns it into options.
pub fn parse(text: &str) -> Result<Options, Vec<FileError>> {
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| vec![FileError::Syntax(yaml_error(&e))])?;
    if original::is_original(&doc) {
        return original::translate(&doc)
            .map_err(|problems| problems.into_iter().map(FileError::Original).collect());
    }
    let map = match doc {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => return Err(vec![FileError::NotAMap(kind_of(&other))]),
    };
    from_map(map)
}

/// Options from a map whose keys are the options' long names.
pub fn from_map(map: Map<String, Value>) -> Result<Options, Vec<FileError>> {
    // key by key, so that one bad key does not hide the next
    let problems: Vec<FileError> = map
        .iter()
        .filter_map(|(key, value)| check_key(key, value).err())
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let doc = Value::Object(map);
    // each key is checked; what is left is one key given twice (`namespace` and `namespaces`)
    let whole = |e: FileError| vec![e];
    Ok(Options {
        watch: section::<WatchOptions>(&doc).map_err(whole)?.0,
        shared: section::<SharedOptions>(&doc).map_err(whole)?.0,
        run: section::<RunOptions>(&doc).map_err(whole)?.0,
    })
}

/// A key some option group takes, with a value of the right type.
fn check_key(key: &str, value: &Value) -> Result<(), FileError> {
    let one = Value::Object(Map::from_iter([(key.to_owned(), value.clone())]));
    let taken = [
        section::<WatchOptions>(&one)?.1,
        section::<SharedOptions>(&one)?.1,
        section::<RunOptions>(&one)?.1,
    ];
    if taken.contains(&true) {
        Ok(())
    } else {
        Err(FileError::UnknownKey {
            key: key.to_owned(),
            fix: suggestion(key),
        })
    }
}

/// One option group read from `doc`, and whether it took every key of `doc`.
fn section<T: DeserializeOwned>(doc: &Value) -> Result<(T, bool), FileError> {
    let mut ignored = false;
    let mut note = |_: serde_ignored::Path<'_>| ignored = true;
    let de = serde_ignored::Deserializer::new(doc, &mut note);
    let options = serde_path_to_error::deserialize(de).map_err(|e| FileError::Type {
        key: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    Ok((options, !ignored))
}

/// The nearest option name, or where the names are.
fn suggestion(key: &str) -> String {
    nearest(key, option_names())
        .map(|name| format!("did you mean `{name}`?"))
        .unwrap_or_else(|| {
            "the keys are the long option names of `lostromos run --help`, without --".into()
        })
}

/// The name among `names` nearest to `key`, if one is near.
pub fn nearest(key: &str, names: impl IntoIterator<Item = String>) -> Option<String> {
    names
        .into_iter()
        .map(|name| (strsim::jaro_winkler(key, &name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// A YAML error in one line, with its line and column.
pub fn yaml_error(e: &serde_saphyr::Error) -> String {
    let mut options = serde_saphyr::RenderOptions::new(&serde_saphyr::UserMessageFormatter);
    options.snippets = serde_saphyr::SnippetMode::Off;
    e.render_with_options(options)
}

/// The JSON kind of a value, for messages ("a list", "a map").
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::settings::LogFormat;
    use crate::plan::values::Layout;

    fn problems(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(o) => panic!("{text:?} was accepted: {o:?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_group_is_read_from_one_file() {
        let o = parse(
            "group: g.example.com\nnamespace: [a, b]\nchart: ./c\nvalues-layout: resource\n\
             log-format: json\nconcurrency: 2\nleader-elect: true\nallowed-chart: [x/]\n",
        )
        .unwrap();
        assert_eq!(o.watch.group.as_deref(), Some("g.example.com"));
        assert_eq!(o.watch.namespaces, vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(o.shared.chart.as_deref(), Some("./c"));
        assert_eq!(o.shared.values_layout, Some(Layout::Resource));
        assert_eq!(o.shared.log_format, Some(LogFormat::Json));
        assert_eq!(o.run.concurrency, Some(2));
        assert_eq!(o.run.leader_elect, Some(true));
        assert_eq!(o.run.allowed_charts, vec!["x/".to_owned()]);
    }

    #[test]
    fn durations_may_be_numbers_of_seconds() {
        let o =
            parse("timeout: 90\nreconcile-period: 600\nlease-duration: 1.5\nshutdown-grace: 30s\n")
                .unwrap();
        assert_eq!(o.shared.timeout.as_deref(), Some("90"));
        assert_eq!(o.watch.reconcile_period.as_deref(), Some("600"));
        assert_eq!(o.run.lease_duration.as_deref(), Some("1.5"));
        assert_eq!(o.run.shutdown_grace.as_deref(), Some("30s"));
        let secs = |t: &Option<String>| crate::config::duration::parse(t.as_deref().unwrap());
        assert_eq!(secs(&o.shared.timeout), Ok(Duration::from_secs(90)));
        assert_eq!(secs(&o.run.lease_duration), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn a_type_error_names_the_key_and_the_expected_form() {
        assert_eq!(
            problems("timeout: [1, 2]\n"),
            vec!["key `timeout`: invalid type: sequence, expected a duration: 90 (seconds), 30s, 5m, 1h30m or 250ms"]
        );
        assert_eq!(
            problems("history-max: many\n"),
            vec!["key `history-max`: invalid type: string \"many\", expected u32"]
        );
        assert_eq!(
            problems("namespace: [a, {b: c}]\n"),
            vec!["key `namespace[1]`: invalid type: map, expected a string"]
        );
    }

    #[test]
    fn a_wrong_closed_value_lists_the_allowed_ones() {
        assert_eq!(
            problems("values-layout: flat\nlog-format: xml\n"),
            vec![
                "key `log-format`: unknown variant `xml`, expected `human` or `json`",
                "key `values-layout`: unknown variant `flat`, expected `spec` or `resource`",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_named_with_the_nearest_option() {
        assert_eq!(
            problems("chrat: x\ntimeout: 2m\nzzz: 1\n"),
            vec![
                "unknown key `chrat`; fix: did you mean `chart`?".to_owned(),
                "unknown key `zzz`; fix: the keys are the long option names of `lostromos run --help`, without --".to_owned(),
            ]
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported_at_once() {
        let all = problems("chrat: x\ntimeout: {a: 1}\nconcurrency: -1\n");
        assert_eq!(all.len(), 3, "{all:?}");
    }

    #[test]
    fn yaml_syntax_errors_give_line_and_column() {
        let all = problems("chart: ./c\ntimeout: [1\n");
        assert_eq!(all.len(), 1);
        assert!(all[0].starts_with("not valid YAML: "), "{}", all[0]);
        assert!(all[0].contains("line 2, column 10"), "{}", all[0]);
        let all = problems("chart: a\n  timeout: b\n");
        assert!(all[0].contains("line 2, column"), "{}", all[0]);
    }

    #[test]
    fn the_top_must_be_a_map() {
        assert_eq!(
            problems("- a\n"),
            vec!["must hold a map of options at the top, found a list; fix: write `key: value` lines, e.g. `timeout: 2m`"]
        );
        assert!(parse("").is_ok());
        assert!(parse("# nothing\n").is_ok());
    }

    #[test]
    fn one_key_given_twice_is_named() {
        let all = problems("namespace: [a]\nnamespaces: [b]\n");
        assert_eq!(all.len(), 1);
        assert!(all[0].contains("namespaces"), "{all:?}");
    }
}
