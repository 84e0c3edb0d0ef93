//! The offline commands: `render`, `crd` and `version`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lostromos::config::cli::CrdArgs;
use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::crd::{self, ChartInput, NameRequest};
use lostromos::helm::chart;
use lostromos::helm::chart_files::ChartFiles;
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

/// How long `helm pull` of a chart reference may take.
const PULL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// `lostromos crd`: the CRD on stdout, what it cannot check on stderr.
pub async fn crd(args: CrdArgs) -> anyhow::Result<()> {
    // names first: a typo should not wait for a pull
    let names = crd::names::check(&NameRequest {
        group: &args.group,
        kind: &args.kind,
        version: &args.version,
        plural: args.plural.as_deref(),
        short_names: &args.short_names,
        categories: &args.categories,
    })?;
    let local = Path::new(&args.chart);
    // a pulled chart lives in the work folder until it has been read
    let mut _work = None;
    let path = if local.exists() {
        local.to_path_buf()
    } else if chart::looks_local(&args.chart) {
        anyhow::bail!(
            "--chart {}: no such file or directory; fix: give a chart directory, a .tgz, or a reference helm can pull (repo/name, oci://...)",
            args.chart
        );
    } else {
        let work = helm::work_dir()?;
        let runner = helm::offline_runner(&args.helm_binary, work.path());
        let pulled = chart::resolve(
            &runner,
            &args.chart,
            args.chart_version.as_deref(),
            work.path(),
            PULL_TIMEOUT,
        )
        .await?;
        _work = Some(work);
        PathBuf::from(pulled.path)
    };
    let files = ChartFiles::read(&path).with_context(|| format!("--chart {}", args.chart))?;
    let meta = files.meta();
    let input = ChartInput {
        reference: args.chart.clone(),
        name: meta.name,
        version: meta.version,
        schema: files.values_schema,
        values: files.values_yaml,
        subcharts: meta.subcharts,
    };
    let generated = crd::generate(
        &names,
        args.scope,
        args.values_layout.unwrap_or_default(),
        &input,
    )?;
    for n in &generated.notes {
        eprintln!("warning: {n}");
    }
    for w in &generated.warnings {
        eprintln!("warning: {w}");
    }
    if !generated.warnings.is_empty() {
        eprintln!(
            "lostromos crd: {} constraint(s) of the chart's schema are not checked by the API server (helm still checks them at install)",
            generated.warnings.len()
        );
    }
    print!("{}", generated.yaml);
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
