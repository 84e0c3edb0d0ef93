//! Where the control plane's and the clients' binaries are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Context, Result};

/// The script that builds or downloads every binary into a per-version cache.
const FETCH_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../integration/tools/fetch-binaries.sh"
);

const KUBE_APISERVER: &str = "LOSTROMOS_KUBE_APISERVER";
const ETCD: &str = "LOSTROMOS_ETCD";
const HELM4: &str = "LOSTROMOS_HELM4";
const HELM3: &str = "LOSTROMOS_HELM3";
const KUBECTL: &str = "LOSTROMOS_KUBECTL";
const ALL_VARS: [&str; 5] = [KUBE_APISERVER, ETCD, HELM4, HELM3, KUBECTL];

/// Paths of the binaries the tests use, all pinned in `integration/tools/versions.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `etcd`.
    pub etcd: PathBuf,
    /// `helm` v4.
    pub helm4: PathBuf,
    /// `helm` v3.
    pub helm3: PathBuf,
    /// `kubectl`.
    pub kubectl: PathBuf,
}

impl Binaries {
    /// Finds the binaries, at most once per process.
    ///
    /// When all of `LOSTROMOS_KUBE_APISERVER`, `LOSTROMOS_ETCD`, `LOSTROMOS_HELM4`,
    /// `LOSTROMOS_HELM3` and `LOSTROMOS_KUBECTL` are set, they are used as they are.
    /// Otherwise this runs `integration/tools/fetch-binaries.sh` (a no-op once its
    /// cache is warm, minutes on a cold machine; its progress goes to stderr), reads
    /// the env file it names on its last stdout line, and lets any of those
    /// variables that are set override the fetched path. A failure is cached too.
    pub fn locate() -> Result<&'static Binaries> {
        static LOCATED: OnceLock<Result<Binaries, String>> = OnceLock::new();
        LOCATED
            .get_or_init(|| Self::locate_uncached().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("locating the test binaries: {e}"))
    }

    fn locate_uncached() -> Result<Binaries> {
        let from_env: HashMap<String, String> = ALL_VARS
            .iter()
            .filter_map(|name| {
                let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
                Some((name.to_string(), value))
            })
            .collect();
        let mut vars = if from_env.len() == ALL_VARS.len() {
            HashMap::new()
        } else {
            let env_file = run_fetch_script()?;
            let text = std::fs::read_to_string(&env_file)
                .with_context(|| format!("reading {}", env_file.display()))?;
            parse_env(&text)
        };
        vars.extend(from_env);
        let path = |name: &str| -> Result<PathBuf> {
            let path = PathBuf::from(
                vars.get(name)
                    .ok_or_else(|| anyhow!("{name} is neither set nor in the fetched env file"))?,
            );
            if !path.is_file() {
                bail!(
                    "{name}={} does not exist; run {FETCH_SCRIPT}",
                    path.display()
                );
            }
            Ok(path)
        };
        Ok(Binaries {
            kube_apiserver: path(KUBE_APISERVER)?,
            etcd: path(ETCD)?,
            helm4: path(HELM4)?,
            helm3: path(HELM3)?,
            kubectl: path(KUBECTL)?,
        })
    }

    /// The `LOSTROMOS_*` variables naming these paths: set them on a child
    /// process (`Command::envs`) so its own [`Binaries::locate`] skips the
    /// fetch script.
    pub fn env_vars(&self) -> [(&'static str, &Path); 5] {
        [
            (KUBE_APISERVER, &self.kube_apiserver),
            (ETCD, &self.etcd),
            (HELM4, &self.helm4),
            (HELM3, &self.helm3),
            (KUBECTL, &self.kubectl),
        ]
    }

    /// The paths as `NAME=path` lines, the format of the fetch script's env file,
    /// so shell scripts can `source` them.
    pub fn to_env(&self) -> String {
        self.env_vars()
            .iter()
            .map(|(name, path)| format!("{name}={}\n", path.display()))
            .collect()
    }
}

/// Runs the fetch script and returns the env file it names on its last stdout line.
fn run_fetch_script() -> Result<PathBuf> {
    let script = Path::new(FETCH_SCRIPT);
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}); its stderr is above",
            script.display(),
            output.status
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .ok_or_else(|| anyhow!("{} printed no env file path", script.display()))?;
    Ok(PathBuf::from(last))
}

/// Parses `NAME=value` lines, skipping blanks and `#` comments.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_env_file_format() {
        let vars = parse_env("# c\nLOSTROMOS_ETCD=/a/etcd\n\nLOSTROMOS_HELM4 = /b/helm\n");
        assert_eq!(vars["LOSTROMOS_ETCD"], "/a/etcd");
        assert_eq!(vars["LOSTROMOS_HELM4"], "/b/helm");
        assert_eq!(vars.len(), 2);
    }

    #[test]
    fn to_env_round_trips() {
        let b = Binaries {
            kube_apiserver: "/k".into(),
            etcd: "/e".into(),
            helm4: "/h4".into(),
            helm3: "/h3".into(),
            kubectl: "/kc".into(),
        };
        let vars = parse_env(&b.to_env());
        assert_eq!(vars.len(), 5);
        assert_eq!(vars["LOSTROMOS_KUBE_APISERVER"], "/k");
        assert_eq!(vars["LOSTROMOS_KUBECTL"], "/kc");
    }
}
