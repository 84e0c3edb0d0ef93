//! Durations as people write them in flags, the environment and config files:
//! `90` (seconds), `30s`, `5m`, `1h30m`, `250ms`, `1.5s`. jiff's "friendly"
//! parser does the work (it also takes longer forms such as `2 hours 30 mins`);
//! a bare number is seconds.

use std::fmt;
use std::time::Duration;

use jiff::fmt::friendly::SpanParser;
use serde::de::{self, Deserializer, Visitor};

/// The longest duration any option takes. Longer ones would overflow what they
/// feed: helm's `--timeout` (Go's int64 nanoseconds), the Lease's int32
/// seconds, the runtime's timer wheel (about two years).
pub const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// How the forms are shown in messages.
pub const FORMS: &str = "90 (seconds), 30s, 5m, 1h30m or 250ms";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("{text:?} is not a duration ({reason}); write it like {FORMS}")]
    Invalid { text: String, reason: String },
    #[error("{text:?} is too long; at most 8760h (365 days)")]
    TooLong { text: String },
}

static PARSER: SpanParser = SpanParser::new();

/// Parses a duration; overflow and negative values are errors, never panics.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    // a bare number is seconds
    let bare = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-'));
    let input = if bare { format!("{t}s") } else { t.to_owned() };
    let d = PARSER
        .parse_unsigned_duration(&input)
        .map_err(|e| DurationError::Invalid {
            text: text.to_owned(),
            reason: reason(&e),
        })?;
    if d > MAX {
        return Err(DurationError::TooLong {
            text: text.to_owned(),
        });
    }
    Ok(d)
}

/// jiff's message without its fixed preamble.
fn reason(e: &jiff::Error) -> String {
    let full = e.to_string();
    match full.split_once("duration format: ") {
        Some((_, why)) => why.to_owned(),
        None => full,
    }
}

/// Deserializes a duration option from a config file: a string, or a number
/// of seconds (`timeout: 90`). Checked later, with the other sources.
pub fn deserialize_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Text;
    impl Visitor<'_> for Text {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a duration: {FORMS}")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form() {
        for (text, want) in [
            ("90", Duration::from_secs(90)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("1.5s", Duration::from_millis(1500)),
            ("1.5", Duration::from_millis(1500)),
            (" 2m ", Duration::from_secs(120)),
            // jiff's longer forms, which README mentions
            ("2h 30m", Duration::from_secs(9000)),
            ("90 seconds", Duration::from_secs(90)),
            ("8760h", MAX),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn nonsense_is_an_error_naming_the_forms() {
        for bad in ["", "5x", "m", "5m3", "-1s", "-5", "1.2.3", "soon", "1d"] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains("1h30m"), "{bad}: {err}");
        }
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        for huge in [
            "99999999999999999999h",
            "99999999999999999999",
            "9999999999999999h",
            "18446744073709551615s",
            "1e400",
        ] {
            assert!(parse(huge).is_err(), "{huge}");
        }
        assert_eq!(
            parse("8761h"),
            Err(DurationError::TooLong {
                text: "8761h".into()
            })
        );
        assert_eq!(
            parse("99999999999999999999h").unwrap_err().to_string(),
            "\"99999999999999999999h\" is not a duration (number too big to parse into 64-bit \
             integer); write it like 90 (seconds), 30s, 5m, 1h30m or 250ms"
        );
    }

    #[test]
    fn numbers_in_a_file_are_seconds() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "deserialize_text")]
            d: Option<String>,
        }
        let read = |v: serde_json::Value| serde_json::from_value::<T>(v).map(|t| t.d);
        assert_eq!(
            read(serde_json::json!({"d": 90})).unwrap().as_deref(),
            Some("90")
        );
        assert_eq!(
            read(serde_json::json!({"d": 1.5})).unwrap().as_deref(),
            Some("1.5")
        );
        assert_eq!(
            read(serde_json::json!({"d": "5m"})).unwrap().as_deref(),
            Some("5m")
        );
        assert_eq!(read(serde_json::json!({})).unwrap(), None);
        let err = read(serde_json::json!({"d": [1]}))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("expected a duration: 90 (seconds)"), "{err}");
    }
}
