//! helm command lines, built as argv (never through a shell). Nothing from a CR
//! reaches a flag position: release names are validated, and values go to
//! helm's standard input (`--values -`), so they are in no argv and no file.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::helm::error::SourceNames;
use crate::plan::redact::Redactor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Major {
    V3,
    V4,
}

/// Options shared by every helm call of one Lostrómos process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmArgs {
    pub major: Major,
    /// A local chart directory or archive (remote charts are pulled at start-up).
    pub chart: String,
    pub chart_version: Option<String>,
    pub timeout: Duration,
    pub wait: bool,
    pub history_max: u32,
    /// How helm's messages name the chart's template files, for the user (set
    /// for a chart generated from --templates).
    pub sources: SourceNames,
}

/// One invocation: what to run and a short name for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub action: &'static str,
    pub args: Vec<OsString>,
    /// Written to helm's standard input when it has `--values -`.
    pub values: Option<ValuesInput>,
    /// How its messages name template files, for the user.
    pub sources: SourceNames,
    /// Most of stdout kept; more is cut (and what needs it whole then fails).
    pub stdout_limit: usize,
}

/// Most of stdout kept of helm's JSON or rendered manifests.
pub const MAX_STDOUT: usize = 32 << 20;

/// Most of an upgrade's printed release kept: it is a shortcut (the record is
/// read from its Secret when cut), and it is held whole while parsed, values,
/// chart files and all, so a huge chart's is not worth its memory.
pub const MAX_PRINTED_RELEASE: usize = 4 << 20;

/// Values for helm's standard input, and what to hide of them in its errors.
/// `Debug` shows their size only.
#[derive(Clone, PartialEq, Eq)]
pub struct ValuesInput {
    json: Arc<[u8]>,
    redactor: Redactor,
}

impl ValuesInput {
    /// `values` as JSON (a valid values file); its strings are redacted from
    /// helm's errors, except the `public` ones (see [`Redactor::new`]).
    pub fn new(values: &Value, public: &[&str]) -> Self {
        Self {
            json: values.to_string().into_bytes().into(),
            redactor: Redactor::new(values, public),
        }
    }

    pub fn json(&self) -> Arc<[u8]> {
        self.json.clone()
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

impl fmt::Debug for ValuesInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValuesInput({} bytes)", self.json.len())
    }
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

impl HelmArgs {
    /// The same options for a resolved chart (the configured one, or one a CR
    /// chose): local, so no version; its files named as the user knows them.
    pub fn with_chart(&self, chart: &crate::helm::chart::Chart) -> HelmArgs {
        HelmArgs {
            chart: chart.path.clone(),
            chart_version: None,
            sources: chart.sources.clone(),
            ..self.clone()
        }
    }

    fn timeout(&self) -> String {
        format!("{}s", self.timeout.as_secs().max(1))
    }

    fn wait_flag(&self) -> Option<&'static str> {
        match (self.wait, self.major) {
            (false, _) => None,
            (true, Major::V3) => Some("--wait"),
            // helm 4's bare --wait means the watcher strategy; say so explicitly
            (true, Major::V4) => Some("--wait=watcher"),
        }
    }

    /// `helm upgrade --install` with the values on standard input and stamped labels.
    /// A drift correction: the same upgrade, and for a release helm 4 applied
    /// server-side, `--force-conflicts` to take fields back from the other
    /// manager (else helm 4 refuses with a conflict; helm 3's three-way merge
    /// takes them back by itself, and rejects the flag).
    pub fn forcing_conflicts(&self, mut inv: Invocation, server_side: bool) -> Invocation {
        if self.major == Major::V4 && server_side {
            inv.args.push("--force-conflicts".into());
        }
        inv
    }

    pub fn upgrade_install(
        &self,
        release: &str,
        namespace: &str,
        values: ValuesInput,
        labels: &[(&str, String)],
        description: &str,
    ) -> Invocation {
        let mut args = os(&[
            "upgrade",
            release,
            &self.chart,
            "--install",
            "--reset-values",
        ]);
        args.extend(os(&[
            "--namespace",
            namespace,
            "--history-max",
            &self.history_max.to_string(),
        ]));
        args.extend(os(&["--timeout", &self.timeout()]));
        args.extend(os(&["--values", "-"]));
        if let Some(v) = &self.chart_version {
            args.extend(os(&["--version", v]));
        }
        if let Some(w) = self.wait_flag() {
            args.push(w.into());
        }
        if !labels.is_empty() {
            let joined: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            args.extend(os(&["--labels", &joined.join(",")]));
        }
        args.extend(os(&["--description", description]));
        // the release as helm stored it, on stdout: its manifest is the
        // inventory, which saves reading the release Secret back
        args.extend(os(&["--output", "json"]));
        Invocation {
            stdout_limit: MAX_PRINTED_RELEASE,
            action: "upgrade",
            args,
            values: Some(values),
            sources: self.sources.clone(),
        }
    }

    pub fn uninstall(&self, release: &str, namespace: &str) -> Invocation {
        let mut args = os(&[
            "uninstall",
            release,
            "--namespace",
            namespace,
            "--ignore-not-found",
        ]);
        args.extend(os(&["--timeout", &self.timeout()]));
        if self.wait {
            args.push("--wait".into());
        }
        Invocation {
            stdout_limit: MAX_STDOUT,
            action: "uninstall",
            args,
            values: None,
            sources: SourceNames::default(),
        }
    }

    pub fn rollback(&self, release: &str, namespace: &str, revision: u64) -> Invocation {
        let mut args = os(&[
            "rollback",
            release,
            &revision.to_string(),
            "--namespace",
            namespace,
        ]);
        args.extend(os(&[
            "--history-max",
            &self.history_max.to_string(),
            "--timeout",
            &self.timeout(),
        ]));
        if let Some(w) = self.wait_flag() {
            args.push(w.into());
        }
        Invocation {
            stdout_limit: MAX_STDOUT,
            action: "rollback",
            args,
            values: None,
            sources: SourceNames::default(),
        }
    }

    /// `helm template`: renders offline, for `lostromos render`.
    pub fn template(&self, release: &str, namespace: &str, values: ValuesInput) -> Invocation {
        let mut args = os(&["template", release, &self.chart, "--namespace", namespace]);
        args.extend(os(&["--values", "-"]));
        if let Some(v) = &self.chart_version {
            args.extend(os(&["--version", v]));
        }
        Invocation {
            stdout_limit: MAX_STDOUT,
            action: "template",
            args,
            values: Some(values),
            sources: self.sources.clone(),
        }
    }
}

/// `helm template` of a local chart with these values: does it parse?
pub fn check_template(chart: &str, values: ValuesInput, sources: SourceNames) -> Invocation {
    let mut args = os(&[
        "template",
        "lostromos-check",
        chart,
        "--namespace",
        "default",
    ]);
    args.extend(os(&["--values", "-"]));
    Invocation {
        stdout_limit: MAX_STDOUT,
        action: "template",
        args,
        values: Some(values),
        sources,
    }
}

/// `helm version`, parsed by `version::parse`.
pub fn version() -> Invocation {
    Invocation {
        stdout_limit: MAX_STDOUT,
        action: "version",
        args: os(&["version", "--template", "{{.Version}}"]),
        values: None,
        sources: SourceNames::default(),
    }
}

/// `helm show chart`: checks a chart reference at start-up.
pub fn show_chart(chart: &str, version: Option<&str>) -> Invocation {
    let mut args = os(&["show", "chart", chart]);
    if let Some(v) = version {
        args.extend(os(&["--version", v]));
    }
    Invocation {
        stdout_limit: MAX_STDOUT,
        action: "show-chart",
        args,
        values: None,
        sources: SourceNames::default(),
    }
}

/// `helm pull`: fetches a remote chart once, into `dest`.
pub fn pull(chart: &str, version: Option<&str>, dest: &Path) -> Invocation {
    let mut args = os(&["pull", chart, "--destination"]);
    args.push(dest.as_os_str().to_owned());
    if let Some(v) = version {
        args.extend(os(&["--version", v]));
    }
    Invocation {
        stdout_limit: MAX_STDOUT,
        action: "pull",
        args,
        values: None,
        sources: SourceNames::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(major: Major, wait: bool) -> HelmArgs {
        HelmArgs {
            major,
            chart: "/charts/app".into(),
            chart_version: None,
            timeout: Duration::from_secs(300),
            wait,
            history_max: 3,
            sources: SourceNames::default(),
        }
    }

    fn values() -> ValuesInput {
        ValuesInput::new(&serde_json::json!({"a": "b"}), &[])
    }

    fn strs(i: &Invocation) -> Vec<String> {
        i.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn upgrade_install_v4() {
        let i = args(Major::V4, false).upgrade_install(
            "nemo",
            "fish",
            values(),
            &[
                ("lostromos.dev/digest", "abc".into()),
                ("lostromos.dev/revision", "2".into()),
            ],
            "lostromos: fish/nemo",
        );
        assert_eq!(i.action, "upgrade");
        assert_eq!(
            strs(&i),
            [
                "upgrade",
                "nemo",
                "/charts/app",
                "--install",
                "--reset-values",
                "--namespace",
                "fish",
                "--history-max",
                "3",
                "--timeout",
                "300s",
                "--values",
                "-",
                "--labels",
                "lostromos.dev/digest=abc,lostromos.dev/revision=2",
                "--description",
                "lostromos: fish/nemo",
                "--output",
                "json",
            ]
        );
    }

    #[test]
    fn values_go_to_stdin_not_argv() {
        let secret = "s3cr3t-MARKER";
        let v = ValuesInput::new(&serde_json::json!({"password": secret}), &[]);
        for i in [
            args(Major::V4, false).upgrade_install("r", "n", v.clone(), &[], "d"),
            args(Major::V3, false).template("r", "n", v),
        ] {
            assert!(!strs(&i).iter().any(|a| a.contains(secret)), "{i:?}");
            assert!(!format!("{i:?}").contains(secret), "Debug shows values");
            let input = i.values.as_ref().expect("values on stdin");
            assert_eq!(&*input.json(), br#"{"password":"s3cr3t-MARKER"}"#);
            assert_eq!(input.redactor().redact(secret), "[redacted]");
        }
    }

    #[test]
    fn wait_differs_between_majors() {
        let v3 = strs(&args(Major::V3, true).upgrade_install("r", "n", values(), &[], "d"));
        let v4 = strs(&args(Major::V4, true).upgrade_install("r", "n", values(), &[], "d"));
        assert!(v3.contains(&"--wait".to_owned()));
        assert!(v4.contains(&"--wait=watcher".to_owned()));
        let rb3 = strs(&args(Major::V3, true).rollback("r", "n", 2));
        let rb4 = strs(&args(Major::V4, true).rollback("r", "n", 2));
        assert!(rb3.contains(&"--wait".to_owned()));
        assert!(rb4.contains(&"--wait=watcher".to_owned()));
        let no_wait = strs(&args(Major::V4, false).upgrade_install("r", "n", values(), &[], "d"));
        assert!(!no_wait.iter().any(|a| a.starts_with("--wait")));
    }

    #[test]
    fn chart_version_is_passed() {
        let mut a = args(Major::V3, false);
        a.chart_version = Some("1.2.3".into());
        let s = strs(&a.upgrade_install("r", "n", values(), &[], "d"));
        let at = s.iter().position(|x| x == "--version").unwrap();
        assert_eq!(s[at + 1], "1.2.3");
        assert!(strs(&a.template("r", "n", values())).contains(&"1.2.3".to_owned()));
    }

    #[test]
    fn uninstall_and_rollback() {
        for major in [Major::V3, Major::V4] {
            assert_eq!(
                strs(&args(major, false).uninstall("r", "n")),
                [
                    "uninstall",
                    "r",
                    "--namespace",
                    "n",
                    "--ignore-not-found",
                    "--timeout",
                    "300s"
                ]
            );
            assert_eq!(
                strs(&args(major, false).rollback("r", "n", 4)),
                [
                    "rollback",
                    "r",
                    "4",
                    "--namespace",
                    "n",
                    "--history-max",
                    "3",
                    "--timeout",
                    "300s"
                ]
            );
        }
    }

    #[test]
    fn template_and_helpers() {
        assert_eq!(
            strs(&args(Major::V4, false).template("r", "n", values())),
            [
                "template",
                "r",
                "/charts/app",
                "--namespace",
                "n",
                "--values",
                "-"
            ]
        );
        assert_eq!(strs(&version()), ["version", "--template", "{{.Version}}"]);
        assert_eq!(
            strs(&show_chart("repo/app", Some("1.0.0"))),
            ["show", "chart", "repo/app", "--version", "1.0.0"]
        );
        assert_eq!(
            strs(&pull("oci://r/app", None, Path::new("/d"))),
            ["pull", "oci://r/app", "--destination", "/d"]
        );
    }

    #[test]
    fn sub_second_timeout_rounds_up() {
        let mut a = args(Major::V4, false);
        a.timeout = Duration::from_millis(200);
        assert!(strs(&a.uninstall("r", "n")).contains(&"1s".to_owned()));
    }
}
