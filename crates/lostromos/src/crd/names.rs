//! The CRD's names, checked by the rules the API server applies to them
//! (apiextensions validation), so a bad name fails here with its fix rather
//! than at `kubectl apply`.

/// The names of the generated CRD, all checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub group: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub version: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

impl Names {
    /// `<plural>.<group>`: the CRD's own name.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--{option} {value:?}: {problem}; fix: {fix}")]
pub struct NameError {
    pub option: &'static str,
    pub value: String,
    pub problem: String,
    pub fix: String,
}

/// What the user asked for; `plural` defaults from the kind.
#[derive(Clone, Debug, Default)]
pub struct NameRequest<'a> {
    pub group: &'a str,
    pub kind: &'a str,
    pub version: &'a str,
    pub plural: Option<&'a str>,
    pub short_names: &'a [String],
    pub categories: &'a [String],
}

/// Checks every name and fills in the defaults.
pub fn check(r: &NameRequest) -> Result<Names, NameError> {
    let err = |option, value: &str, problem: String, fix: &str| NameError {
        option,
        value: value.to_owned(),
        problem,
        fix: fix.to_owned(),
    };
    if let Some(problem) = dns_subdomain(r.group) {
        return Err(err(
            "group",
            r.group,
            problem,
            "use a lowercase DNS name you own, e.g. platform.example.com",
        ));
    }
    if !r.group.contains('.') {
        return Err(err(
            "group",
            r.group,
            "must be a domain with at least one dot".into(),
            "use a lowercase DNS name you own, e.g. platform.example.com",
        ));
    }
    if r.kind.is_empty()
        || !r.kind.starts_with(|c: char| c.is_ascii_uppercase())
        || !r.kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(err(
            "kind",
            r.kind,
            "must be CamelCase: a capital letter, then letters and digits".into(),
            "e.g. --kind Tenant",
        ));
    }
    if let Some(problem) = dns_label(&r.kind.to_ascii_lowercase()) {
        return Err(err("kind", r.kind, problem, "use a shorter kind"));
    }
    let list_kind = format!("{}List", r.kind);
    if let Some(problem) = dns_label(&list_kind.to_ascii_lowercase()) {
        return Err(err(
            "kind",
            r.kind,
            format!("its list kind {list_kind}: {problem}"),
            "use a shorter kind",
        ));
    }
    if let Some(problem) = dns_label(r.version) {
        return Err(err(
            "version",
            r.version,
            problem,
            "use a Kubernetes API version such as v1alpha1, v1beta1 or v1",
        ));
    }
    let singular = r.kind.to_ascii_lowercase();
    let plural = match r.plural {
        Some(p) => p.to_owned(),
        None => plural_of(&singular),
    };
    if let Some(problem) = dns_label(&plural) {
        return Err(err(
            "plural",
            &plural,
            problem,
            "give --plural in lowercase letters, digits and '-'",
        ));
    }
    if plural == singular {
        return Err(err(
            "plural",
            &plural,
            "is the same as the singular (the lowercase kind)".into(),
            "give --plural a different name",
        ));
    }
    let crd_name = format!("{plural}.{}", r.group);
    if let Some(problem) = dns_subdomain(&crd_name) {
        return Err(err(
            "plural",
            &plural,
            format!("the CRD name {crd_name} {problem}"),
            "use a shorter plural or group",
        ));
    }
    for s in r.short_names {
        if let Some(problem) = dns_label(s) {
            return Err(err(
                "short-name",
                s,
                problem,
                "lowercase letters, digits and '-', e.g. --short-name tn",
            ));
        }
    }
    for c in r.categories {
        if let Some(problem) = dns_label(c) {
            return Err(err(
                "category",
                c,
                problem,
                "lowercase letters, digits and '-', e.g. --category platform",
            ));
        }
    }
    Ok(Names {
        group: r.group.to_owned(),
        kind: r.kind.to_owned(),
        list_kind,
        plural,
        singular,
        version: r.version.to_owned(),
        short_names: r.short_names.to_vec(),
        categories: r.categories.to_vec(),
    })
}

/// English plural of a lowercase kind, as people name resources:
/// policy -> policies, class -> classes, box -> boxes, tenant -> tenants.
pub fn plural_of(singular: &str) -> String {
    let vowel_before_y = singular
        .strip_suffix('y')
        .and_then(|s| s.chars().last())
        .is_some_and(|c| "aeiou".contains(c));
    if let Some(stem) = singular.strip_suffix('y') {
        if !vowel_before_y && !stem.is_empty() {
            return format!("{stem}ies");
        }
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| singular.ends_with(end))
    {
        return format!("{singular}es");
    }
    format!("{singular}s")
}

/// RFC 1035 label, as Kubernetes checks it: `None` when valid, else why not.
fn dns_label(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 63 {
        return Some(format!("must be at most 63 characters (has {})", s.len()));
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("must start with a lowercase letter".into());
    }
    if s.ends_with('-') {
        return Some("must end with a letter or digit".into());
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("may hold only lowercase letters, digits and '-'".into());
    }
    None
}

/// RFC 1123 subdomain, as Kubernetes checks it.
fn dns_subdomain(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > 253 {
        return Some(format!("must be at most 253 characters (has {})", s.len()));
    }
    for part in s.split('.') {
        let ok = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !part.starts_with('-')
            && !part.ends_with('-');
        if !ok {
            return Some(
                "must be lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"
                    .into(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(group: &'a str, kind: &'a str) -> NameRequest<'a> {
        NameRequest {
            group,
            kind,
            version: "v1alpha1",
            ..Default::default()
        }
    }

    #[test]
    fn plurals_follow_english() {
        for (s, p) in [
            ("tenant", "tenants"),
            ("policy", "policies"),
            ("gateway", "gateways"),
            ("class", "classes"),
            ("box", "boxes"),
            ("match", "matches"),
            ("mesh", "meshes"),
        ] {
            assert_eq!(plural_of(s), p);
        }
    }

    #[test]
    fn defaults_and_crd_name() {
        let n = check(&req("platform.example.com", "Policy")).unwrap();
        assert_eq!(n.plural, "policies");
        assert_eq!(n.singular, "policy");
        assert_eq!(n.list_kind, "PolicyList");
        assert_eq!(n.crd_name(), "policies.platform.example.com");
    }

    #[test]
    fn bad_names_name_the_option_and_the_fix() {
        let e = check(&req("example", "Tenant")).unwrap_err();
        assert_eq!(e.option, "group");
        assert!(e.to_string().contains("at least one dot"), "{e}");
        let e = check(&req("Example.com", "Tenant")).unwrap_err();
        assert_eq!(e.option, "group");
        let e = check(&req("example.com", "tenant")).unwrap_err();
        assert_eq!(e.option, "kind");
        assert!(e.to_string().contains("fix:"));
        let e = check(&req("example.com", "Ten-ant")).unwrap_err();
        assert_eq!(e.option, "kind");
        let mut r = req("example.com", "Tenant");
        r.plural = Some("Tenants");
        assert_eq!(check(&r).unwrap_err().option, "plural");
        r.plural = Some("tenant");
        assert_eq!(check(&r).unwrap_err().option, "plural");
        let mut r = req("example.com", "Tenant");
        r.version = "1";
        assert_eq!(check(&r).unwrap_err().option, "version");
        let shorts = vec!["T".to_owned()];
        let mut r = req("example.com", "Tenant");
        r.short_names = &shorts;
        assert_eq!(check(&r).unwrap_err().option, "short-name");
        let long = format!("K{}", "a".repeat(63));
        assert_eq!(
            check(&req("example.com", &long)).unwrap_err().option,
            "kind"
        );
    }
}
