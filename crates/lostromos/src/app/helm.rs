//! Setting up helm for this process: a private working folder, helm's
//! environment, the runner, the detected major, and the chart.

use std::ffi::OsString;
use std::path::Path;

use anyhow::Context as _;

use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::helm::chart::{self, Chart};
use lostromos::helm::{argv, version as helm_version, HelmArgs, HelmRunner, Major};

/// A private working folder (0700): values files, pulled charts, helm's homes.
pub fn work_dir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("lostromos-")
        .tempdir()
        .context("creating a private temp folder")?;
    // values files live here: nobody else may list or read them
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .context("making the temp folder private")?;
    Ok(dir)
}

/// The environment every helm process gets.
fn env(s: &Settings, work: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("NO_COLOR".into(), "1".into()),
        ("HELM_COLOR".into(), "never".into()),
    ];
    // helm writes caches under the working folder when it has no home
    for (var, sub) in [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ] {
        if std::env::var_os(var).is_none() {
            env.push((var.into(), work.join("helm").join(sub).into()));
        }
    }
    if let Some(k) = &s.kubeconfig {
        env.push(("KUBECONFIG".into(), k.clone().into()));
    }
    env
}

/// The runner for every helm process of this Lostrómos.
pub fn runner(s: &Settings, work: &Path, concurrency: usize) -> HelmRunner {
    HelmRunner::new(s.helm_binary.clone(), env(s, work), concurrency, HELM_GRACE)
}

/// `helm version` of `runner`'s binary.
pub async fn version_text(runner: &HelmRunner, binary: &Path) -> anyhow::Result<String> {
    let out = runner
        .run(&argv::version(), std::time::Duration::from_secs(30))
        .await
        .with_context(|| {
            format!(
                "running {} version; fix: install helm 3.13+ or 4, or set --helm-binary",
                binary.display()
            )
        })?;
    Ok(out.stdout.trim().to_owned())
}

/// Which helm we drive.
pub async fn detect(
    runner: &HelmRunner,
    binary: &Path,
) -> anyhow::Result<helm_version::HelmVersion> {
    Ok(helm_version::parse(&version_text(runner, binary).await?)?)
}

/// The configured chart, checked and digested (pulled first when remote).
pub async fn resolve_chart(
    runner: &HelmRunner,
    s: &Settings,
    work: &Path,
) -> Result<Chart, chart::ChartError> {
    chart::resolve(
        runner,
        &s.chart,
        s.chart_version.as_deref(),
        work,
        s.timeout,
    )
    .await
}

/// The options every helm call of this process shares.
pub fn args(s: &Settings, major: Major, chart: &Chart) -> HelmArgs {
    let pulled = chart.path != s.chart;
    HelmArgs {
        major,
        chart: chart.path.clone(),
        // a pulled chart is already the requested version
        chart_version: if pulled {
            None
        } else {
            s.chart_version.clone()
        },
        timeout: s.timeout,
        wait: s.wait,
        history_max: s.history_max,
    }
}
