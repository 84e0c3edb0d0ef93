//! The offline commands: `render` and `version`.

use std::path::{Path, PathBuf};

use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::helm::render;
use lostromos::helm::HelmRunner;

use super::{helm, plan_settings};

/// `lostromos render`: the values and manifests a CR file would get.
pub async fn render(s: Settings, cr_file: &Path) -> anyhow::Result<()> {
    let work = helm::work_dir()?;
    let runner = helm::runner(&s, work.path(), 1);
    let version = helm::detect(&runner, &s.helm_binary).await?;
    let obj = render::read_cr(cr_file)?;
    let chart = helm::resolve_chart(&runner, &s, work.path()).await?;
    let out = render::render(
        &runner,
        &helm::args(&s, version.major, &chart),
        &plan_settings(&s, String::new()),
        &obj,
    )
    .await?;
    print!("{out}");
    Ok(())
}

/// `lostromos version`: this binary's version and helm's.
pub async fn version(helm_binary: PathBuf) -> anyhow::Result<()> {
    println!("lostromos {}", env!("CARGO_PKG_VERSION"));
    let runner = HelmRunner::new(
        helm_binary.clone(),
        vec![("NO_COLOR".into(), "1".into())],
        1,
        HELM_GRACE,
    );
    let v = helm::version_text(&runner, &helm_binary).await?;
    println!("helm {v}");
    Ok(())
}
