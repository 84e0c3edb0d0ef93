//! helm's failures, sorted by what the controller should do about them.
//! helm exits 1 for every error, so the kind comes from the text on stderr.

/// Longest message kept from helm (it goes into status and events).
const MAX_MESSAGE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelmErrorKind {
    /// Another helm operation holds the release.
    InProgress,
    ReleaseNotFound,
    NameInUse,
    InvalidName,
    /// The release is over helm's 1 MiB storage limit.
    TooLarge,
    /// The chart's values.schema.json rejects the values.
    ValuesRejected,
    /// A template failed to render.
    RenderFailed,
    /// The API server refused a rendered object.
    ManifestRejected,
    ChartUnavailable,
    /// helm's own timeout, or ours.
    TimedOut,
    Unreachable,
    Forbidden,
    /// helm could not be started at all.
    Spawn,
    Other,
}

impl HelmErrorKind {
    /// Failures that only a change to the CR (or chart) can fix: reported as Stalled.
    pub fn is_bad_input(self) -> bool {
        matches!(
            self,
            Self::TooLarge
                | Self::ValuesRejected
                | Self::RenderFailed
                | Self::ManifestRejected
                | Self::InvalidName
        )
    }

    /// A short PascalCase reason for conditions, events and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InProgress => "OperationInProgress",
            Self::ReleaseNotFound => "ReleaseNotFound",
            Self::NameInUse => "ReleaseNameInUse",
            Self::InvalidName => "InvalidReleaseName",
            Self::TooLarge => "ReleaseTooLarge",
            Self::ValuesRejected => "ValuesRejected",
            Self::RenderFailed => "RenderFailed",
            Self::ManifestRejected => "ManifestRejected",
            Self::ChartUnavailable => "ChartUnavailable",
            Self::TimedOut => "Timeout",
            Self::Unreachable => "ClusterUnreachable",
            Self::Forbidden => "Forbidden",
            Self::Spawn => "HelmNotStarted",
            Self::Other => "HelmFailed",
        }
    }
}

/// A failed helm run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("helm {action} failed ({}): {message}", kind.reason())]
pub struct HelmError {
    pub action: &'static str,
    pub kind: HelmErrorKind,
    /// helm's own message, trimmed; never the values.
    pub message: String,
}

/// How helm's messages name template files, mapped to the names the user
/// knows (a generated chart's files are the user's templates under other
/// names). Longest first, so a name that extends another is mapped whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceNames(std::sync::Arc<[(String, String)]>);

impl SourceNames {
    pub fn new(mut pairs: Vec<(String, String)>) -> Self {
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self(pairs.into())
    }

    /// `message` with every known name replaced.
    pub fn apply(&self, message: &str) -> String {
        if self.0.is_empty() {
            return message.to_owned();
        }
        // one pass, so a replacement is never replaced again
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        'scan: while !rest.is_empty() {
            for (from, to) in self.0.iter() {
                if let Some(after) = rest.strip_prefix(from.as_str()) {
                    out.push_str(to);
                    rest = after;
                    continue 'scan;
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Sorts a helm error text into a kind. Patterns hold for helm 3 and helm 4.
pub fn classify(stderr: &str) -> HelmErrorKind {
    let s = stderr.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if has(&["another operation (install/upgrade/rollback) is in progress"]) {
        HelmErrorKind::InProgress
    } else if has(&["1048576 bytes"]) {
        HelmErrorKind::TooLarge
    } else if has(&[
        "don't meet the specifications of the schema",
        "values don't meet",
    ]) {
        HelmErrorKind::ValuesRejected
    } else if has(&["release name is invalid", "invalid release name"]) {
        HelmErrorKind::InvalidName
    } else if has(&["a name that is still in use"]) {
        HelmErrorKind::NameInUse
    } else if has(&[
        "kubernetes cluster unreachable",
        "connection refused",
        "no such host",
    ]) {
        HelmErrorKind::Unreachable
    } else if has(&[
        "context deadline exceeded",
        "timed out waiting",
        "timeout waiting",
    ]) {
        HelmErrorKind::TimedOut
    } else if has(&[
        "parse error",
        "template: ",
        "execution error at",
        "executing \"",
        "nil pointer evaluating",
        "yaml parse error",
        "error converting yaml to json",
        "rendered manifests contain",
    ]) {
        HelmErrorKind::RenderFailed
    } else if has(&[
        "unable to build kubernetes objects",
        "error validating data",
        " is invalid: ",
        "failed to create typed patch object",
        "field not declared in schema",
    ]) {
        HelmErrorKind::ManifestRejected
    } else if has(&[" is forbidden: ", "forbidden:"]) {
        HelmErrorKind::Forbidden
    } else if has(&["release: not found"]) {
        HelmErrorKind::ReleaseNotFound
    } else if has(&[
        "chart not found",
        "failed to download",
        "no chart name found",
        "not a valid chart",
        "path \"",
        "no such file or directory",
    ]) {
        HelmErrorKind::ChartUnavailable
    } else {
        HelmErrorKind::Other
    }
}

/// What helm appends to a render failure.
const DEBUG_HINT: &str = "Use --debug flag to render out invalid YAML";

/// The part of stderr worth showing: the `Error:` line and what follows it,
/// without helm's warnings or its advice to a CLI user, trimmed to a bounded
/// length.
pub fn summarize(stderr: &str) -> String {
    let text = match stderr.find("Error: ") {
        Some(at) => &stderr[at + "Error: ".len()..],
        None => stderr,
    };
    // helm's advice to its own CLI user means nothing on a CR
    let text = text.replace(DEBUG_HINT, "");
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.len() <= MAX_MESSAGE {
        return joined;
    }
    let mut end = MAX_MESSAGE;
    while !joined.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &joined[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use HelmErrorKind::*;

    /// Error texts as helm 3 and helm 4 print them.
    const CASES: &[(&str, HelmErrorKind)] = &[
        ("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress", InProgress),
        ("Error: INSTALLATION FAILED: create: failed to create: Secret \"sh.helm.release.v1.big.v1\" is invalid: data: Too long: must have at most 1048576 bytes", TooLarge),
        ("Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n- replicas: Invalid type. Expected: integer, given: string\n", ValuesRejected),
        ("Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\nschema:\n- at '/replicas': got string, want integer\n", ValuesRejected),
        // Kubernetes 1.35 words the 1 MiB limit differently
        ("Error: INSTALLATION FAILED: create: failed to create: Secret \"sh.helm.release.v1.big.v1\" is invalid: data: Too long: may not be more than 1048576 bytes", TooLarge),
        ("Error: INSTALLATION FAILED: release name \"Bad\": invalid release name, must match regex", InvalidName),
        ("Error: INSTALLATION FAILED: cannot re-use a name that is still in use", NameInUse),
        ("Error: INSTALLATION FAILED: Kubernetes cluster unreachable: Get \"https://127.0.0.1:1/version\": dial tcp 127.0.0.1:1: connect: connection refused", Unreachable),
        ("Error: UPGRADE FAILED: pre-upgrade hooks failed: 1 error occurred:\n\t* timed out waiting for the condition", TimedOut),
        ("Error: UPGRADE FAILED: failed pre-install: resource Job/ns/x not ready. status: InProgress, message: ...: context deadline exceeded", TimedOut),
        ("Error: INSTALLATION FAILED: template: broken/templates/deployment.yaml:12:20: executing \"broken/templates/deployment.yaml\" at <.Values.image.repository>: nil pointer evaluating interface {}.repository", RenderFailed),
        // helm 4 drops the "template:" prefix
        ("Error: broken/templates/deployment.yaml:15:17\n  executing \"broken/templates/deployment.yaml\" at <.Values.broken.By>:\n    nil pointer evaluating interface {}.By", RenderFailed),
        ("Error: INSTALLATION FAILED: parse error at (broken/templates/deployment.yaml:4): function \"nope\" not defined", RenderFailed),
        ("Error: INSTALLATION FAILED: execution error at (app/templates/cm.yaml:3:4): name is required", RenderFailed),
        ("Error: UPGRADE FAILED: YAML parse error on app/templates/cm.yaml: error converting YAML to JSON: yaml: line 3", RenderFailed),
        ("Error: INSTALLATION FAILED: unable to build kubernetes objects from release manifest: error validating \"\": error validating data: ValidationError(Deployment.spec): unknown field \"bogus\"", ManifestRejected),
        ("Error: INSTALLATION FAILED: 1 error occurred:\n\t* Deployment.apps \"x\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0", ManifestRejected),
        ("Error: INSTALLATION FAILED: configmaps is forbidden: User \"system:serviceaccount:a:b\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"x\"", Forbidden),
        ("Error: uninstall: Release not loaded: nemo: release: not found", ReleaseNotFound),
        ("Error: INSTALLATION FAILED: path \"/nope\" not found", ChartUnavailable),
        ("Error: INSTALLATION FAILED: something new went wrong", Other),
    ];

    #[test]
    fn classifies_real_helm_errors() {
        for (text, kind) in CASES {
            assert_eq!(classify(text), *kind, "{text}");
        }
    }

    #[test]
    fn bad_input_kinds() {
        assert!(ValuesRejected.is_bad_input());
        assert!(RenderFailed.is_bad_input());
        assert!(TooLarge.is_bad_input());
        assert!(!TimedOut.is_bad_input());
        assert!(!InProgress.is_bad_input());
        assert!(!Unreachable.is_bad_input());
    }

    #[test]
    fn summary_drops_warnings_and_bounds_length() {
        let s = summarize("WARNING: Kubernetes configuration file is group-readable.\nError: INSTALLATION FAILED: boom\n  details\n");
        assert_eq!(s, "INSTALLATION FAILED: boom details");
        let long = format!("Error: {}", "é".repeat(2000));
        let s = summarize(&long);
        assert!(s.len() <= MAX_MESSAGE + "…".len());
        assert!(s.ends_with('…'));
        assert_eq!(summarize("plain"), "plain");
        assert_eq!(
            summarize("Error: parse error at (c/t.yaml:6): missing value for if\nUse --debug flag to render out invalid YAML\n"),
            "parse error at (c/t.yaml:6): missing value for if"
        );
    }
}
