//! String formats: which JSON Schema formats the API server checks the same
//! way (the others it ignores, or checks differently), and a check of a value
//! against the kept ones (for defaults).

/// What becomes of a JSON Schema `format` in the CRD.
#[derive(Debug, PartialEq, Eq)]
pub enum Format {
    /// The API server checks it under this name.
    Keep(&'static str),
    /// Not checked by the API server (unknown to it, or checked there with
    /// another meaning); the reason for the warning.
    Drop(&'static str),
}

pub fn translate(format: &str) -> Format {
    match format {
        "date-time" => Format::Keep("date-time"),
        "date" => Format::Keep("date"),
        "email" => Format::Keep("email"),
        "hostname" => Format::Keep("hostname"),
        "ipv4" => Format::Keep("ipv4"),
        "ipv6" => Format::Keep("ipv6"),
        "uri" => Format::Keep("uri"),
        "uuid" => Format::Keep("uuid"),
        "byte" => Format::Keep("byte"),
        "password" => Format::Keep("password"),
        "cidr" => Format::Keep("cidr"),
        "mac" => Format::Keep("mac"),
        // JSON Schema's duration is ISO 8601 (P1D); the API server's is Go's (1h30m)
        "duration" => {
            Format::Drop("the API server reads `duration` as a Go duration (1h30m), not ISO 8601")
        }
        "int32" | "int64" | "float" | "double" => {
            Format::Drop("a numeric format the API server does not check")
        }
        _ => Format::Drop("a format the API server does not check"),
    }
}

/// Whether `text` is a valid `format` (one of those [`translate`] keeps).
/// Stricter than the API server where unsure, so a default it keeps is valid.
pub fn matches(format: &str, text: &str) -> bool {
    let re = |p: &str| regex::Regex::new(p).is_ok_and(|r| r.is_match(text));
    match format {
        "date-time" => {
            re(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
        }
        "date" => re(r"^\d{4}-\d{2}-\d{2}$"),
        "email" => re(r"^[^@\s<>]+@[^@\s<>]+$"),
        "hostname" => {
            re(
                r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$",
            ) && text.len() <= 253
        }
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "uri" => re(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$"),
        "uuid" => re(r"^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"),
        "byte" => re(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"),
        "password" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_formats_check_values() {
        assert!(matches("date-time", "2024-01-02T03:04:05Z"));
        assert!(!matches("date-time", "yesterday"));
        assert!(matches("ipv4", "10.0.0.1"));
        assert!(!matches("ipv4", "10.0.0"));
        assert!(matches("email", "ops@example.com"));
        assert!(matches("hostname", "app.example.com"));
        assert!(!matches("hostname", "-bad"));
        assert!(matches("uri", "https://example.com/x"));
    }
}
