//! Keeping a CR's values out of error texts.
//!
//! When a value is itself refused, the refusal quotes it: the API server
//! (`Invalid value: "…"`), helm 4's schema check (`'…' does not match pattern`),
//! a chart's `fail`. Those texts go to status, Events and logs, so every string
//! of the values document is replaced there by `[redacted]`, in each form those
//! tools print it (as is, Go-quoted, JSON-escaped, ...).

use std::fmt::{self, Write as _};

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

/// What a value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The whole text, when it cannot be checked (a matcher too large to build).
pub const WITHHELD: &str = "[error text withheld: it could not be checked for values]";

/// Strings shorter than this (in characters) stay: three characters hide no
/// secret worth the name, and replacing every `on`, `v1` or `app` in a message
/// would make it unreadable.
pub const MIN_CHARS: usize = 4;

/// The strings to hide, and how to hide them.
///
/// Only strings are hidden, not numbers or booleans, nor map keys (which name
/// settings; errors need them to say what is wrong).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Sorted, without duplicates. The printed forms are made only when a text
    /// is redacted: most runs succeed and never need them.
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} strings)", self.secrets.len())
    }
}

impl Redactor {
    /// Hides every string of `values` except those in `public`: the CR's name
    /// and namespace (and its release's) are in every log line and Event of the
    /// CR already, and hiding them would leave errors naming no object.
    pub fn new(values: &Value, public: &[&str]) -> Self {
        let mut secrets: Vec<String> = strings(values)
            .into_iter()
            .filter(|s| s.chars().count() >= MIN_CHARS && !public.contains(s))
            .map(str::to_owned)
            .collect();
        secrets.sort_unstable();
        secrets.dedup();
        Self { secrets }
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        self.apply(text, false)
    }

    /// The same for a text whose head was cut off (the tail of a long output):
    /// a value cut in two there is no longer recognisable, so the head as long
    /// as the longest printed value is dropped too (marked `…`).
    pub fn redact_tail(&self, text: &str) -> String {
        self.apply(text, true)
    }

    fn apply(&self, text: &str, head_cut: bool) -> String {
        if self.secrets.is_empty() {
            return text.to_owned();
        }
        let patterns: Vec<String> = {
            let mut all: Vec<String> = self.secrets.iter().flat_map(|s| forms(s)).collect();
            all.sort_unstable();
            all.dedup();
            all
        };
        let Ok(matcher) = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
        else {
            return WITHHELD.to_owned();
        };
        // A partial value at the head is shorter than the longest form.
        let cut = if head_cut {
            let longest = patterns.iter().map(String::len).max().unwrap_or(0);
            ceil_char_boundary(text, longest)
        } else {
            0
        };
        let mut out = String::with_capacity(text.len());
        if cut > 0 {
            out.push('…');
        }
        let mut at = 0;
        for m in matcher.find_iter(text) {
            // patterns are whole UTF-8 strings: matches start and end on char boundaries
            let from = at.max(cut);
            if from < m.start() {
                out.push_str(&text[from..m.start()]);
            }
            out.push_str(REDACTED);
            at = m.end();
        }
        let from = at.max(cut);
        if from < text.len() {
            out.push_str(&text[from..]);
        }
        out
    }
}

/// Every string in `v` (not the keys), without recursion: a values document
/// may be nested deeply.
fn strings(v: &Value) -> Vec<&str> {
    let mut found = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => found.push(s.as_str()),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    found
}

/// The ways `s` shows up in the error texts of helm, Go libraries and the API
/// server (without the surrounding quotes, which vary).
fn forms(s: &str) -> Vec<String> {
    let go = go_quote(s, false);
    vec![
        s.to_owned(),
        // Go's %q / strconv.Quote: the API server's `Invalid value: "…"`
        go.clone(),
        // strconv.QuoteToASCII
        go_quote(s, true),
        // helm 4's JSON schema library: %q with `"` left bare and `'` escaped
        go.replace("\\\"", "\"").replace('\'', "\\'"),
        json_escape(s, false),
        // Go's encoding/json also escapes <, >, & and U+2028/2029
        json_escape(s, true),
        // YAML single-quoted
        s.replace('\'', "''"),
    ]
}

/// `s` as Go's `strconv.Quote` (or `QuoteToASCII`) prints it, without the quotes.
fn go_quote(s: &str, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_ascii() || (!ascii_only && go_printable(c)) => out.push(c),
            c if (c as u32) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out
}

/// Go's `unicode.IsPrint` for non-ASCII characters, closely enough: no control,
/// space, format or private-use character. (Where it errs, the `QuoteToASCII`
/// form, `\u` for every non-ASCII character, is the fallback.)
fn go_printable(c: char) -> bool {
    let n = c as u32;
    let format = matches!(
        n,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
    );
    let private = matches!(n, 0xE000..=0xF8FF | 0xF_0000..);
    !c.is_control() && !c.is_whitespace() && !format && !private
}

/// `s` as a JSON string, without the quotes; `html` as Go's encoding/json
/// writes it by default.
fn json_escape(s: &str, html: bool) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    let inner = &quoted[1..quoted.len() - 1];
    if !html {
        return inner.to_owned();
    }
    let mut out = String::with_capacity(inner.len());
    for c in inner.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn ceil_char_boundary(s: &str, mut at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MARKER: &str = "s3cr3t-MARKER";

    fn redactor(values: Value) -> Redactor {
        Redactor::new(&values, &["nemo", "fish"])
    }

    #[test]
    fn every_string_of_the_document_is_hidden() {
        let r = redactor(json!({
            "top": "topsecret",
            "nested": {"deep": [{"x": "listed-value"}]},
            "n": 12345678,
            "flag": true,
        }));
        let text = "a topsecret b listed-value c 12345678 true";
        assert_eq!(
            r.redact(text),
            "a [redacted] b [redacted] c 12345678 true",
            "strings go, numbers and booleans stay"
        );
    }

    #[test]
    fn keys_short_strings_and_public_names_stay() {
        let r = redactor(json!({"password": "abc", "name": "nemo", "ns": "fish", "k": "kept!"}));
        assert_eq!(
            r.redact("password abc for nemo in fish: kept!"),
            "password abc for nemo in fish: [redacted]"
        );
    }

    #[test]
    fn nothing_to_hide_leaves_the_text() {
        let r = redactor(json!({"a": 1}));
        assert!(r.is_empty());
        assert_eq!(r.redact("same"), "same");
        assert_eq!(r.redact_tail("same"), "same");
    }

    /// The forms real tools print, each seen with helm 3.17 / 4.1 and
    /// Kubernetes 1.35 for the value below.
    #[test]
    fn escaped_forms_are_hidden() {
        let value = format!("{MARKER} \"q\" \\ é <&> tab\there");
        let r = redactor(json!({ "v": value }));
        let seen = [
            // API server, via helm (Go %q)
            format!(
                r#"metadata.labels: Invalid value: "{MARKER} \"q\" \\ é <&> tab\there": a valid label"#
            ),
            // helm 4's schema error
            format!(
                r#"- at '/code': '{MARKER} "q" \\ é <&> tab\there' does not match pattern '^[0-9]+$'"#
            ),
            // a chart's fail: as is
            format!("execution error at (leak/templates/cm.yaml:10:3): refusing {value}"),
            // JSON, as encoding/json writes it
            format!(r#"{{"v":"{MARKER} \"q\" \\ é \u003c\u0026\u003e tab\there"}}"#),
            // JSON, as serde writes it
            json!({ "v": value }).to_string(),
            // QuoteToASCII
            format!(r#""{MARKER} \"q\" \\ \u00e9 <&> tab\there""#),
        ];
        for text in &seen {
            let out = r.redact(text);
            assert!(!out.contains(MARKER), "{text} -> {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn go_quote_matches_go() {
        // strconv.Quote / QuoteToASCII outputs, checked against Go's documentation rules
        assert_eq!(go_quote("a\"b\\c", false), r#"a\"b\\c"#);
        assert_eq!(go_quote("\x01\x7f\n\u{2028}", false), r"\x01\x7f\n\u2028");
        assert_eq!(go_quote("é😀", false), "é😀");
        assert_eq!(go_quote("é😀", true), r"\u00e9\U0001f600");
        assert_eq!(go_quote("\u{a0}\u{200b}", false), r"\u00a0\u200b");
        assert_eq!(
            json_escape("<a&b>\u{2028}\n", true),
            r"\u003ca\u0026b\u003e\u2028\n"
        );
    }

    #[test]
    fn longest_match_wins_and_overlaps_are_covered() {
        let r = redactor(json!({"a": "secret", "b": "secret-and-more"}));
        assert_eq!(
            r.redact("x secret-and-more y secret z"),
            "x [redacted] y [redacted] z"
        );
    }

    #[test]
    fn a_value_cut_at_the_head_of_a_tail_is_dropped() {
        let value = format!("{MARKER}-0123456789");
        let r = redactor(json!({ "v": value }));
        let full = format!("junk {value} middle {value} Error: refused {value}");
        let last = full.rfind(&value).unwrap();
        // every cut point: nothing of the value may survive, whole or in part
        for cut in 0..full.len() {
            if !full.is_char_boundary(cut) {
                continue;
            }
            let tail = &full[cut..];
            let out = r.redact_tail(tail);
            for piece in ["MARKER", "0123456789", "3cr3t"] {
                assert!(!out.contains(piece), "cut {cut}: {tail:?} -> {out:?}");
            }
            if cut <= last {
                // the last value was whole in the tail: it shows as redacted
                assert!(out.ends_with("[redacted]"), "cut {cut}: {out:?}");
            }
        }
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let r = redactor(json!({"v": "ééééé"}));
        // the longest form, `\u00e9` five times, is 30 bytes: that much of the head goes
        let text = format!("éé ééééé {} ééééé ok", "x".repeat(30));
        let out = r.redact_tail(&text);
        assert!(out.starts_with('…'), "{out}");
        assert!(out.ends_with("xx [redacted] ok"), "{out}");
        assert!(!out.contains('é'), "{out}");
    }

    #[test]
    fn debug_does_not_show_the_values() {
        let r = redactor(json!({"v": MARKER}));
        assert!(!format!("{r:?}").contains(MARKER));
    }
}
