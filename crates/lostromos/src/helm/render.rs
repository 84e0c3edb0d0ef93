//! `lostromos render`: the values and manifests a CR would get, offline
//! (the original's `check`).

use std::path::Path;

use serde_json::Value;

use crate::helm::argv::ValuesInput;
use crate::helm::{HelmArgs, HelmError, HelmRunner};
use crate::observe::cr::{CrObject, CrView};
use crate::plan::values::{self, ValuesError};
use crate::plan::{self, PlanSettings, Rejection};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("--cr {path}: cannot read it: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("--cr {path}: not a custom resource ({reason}); fix: give a YAML or JSON file with apiVersion, kind, metadata.name and spec")]
    Parse { path: String, reason: String },
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error(transparent)]
    Release(#[from] Rejection),
    #[error(transparent)]
    Helm(#[from] HelmError),
}

/// Reads a CR from a YAML or JSON file.
pub fn read_cr(path: &Path) -> Result<CrObject, RenderError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|cause| RenderError::Read {
        path: shown.clone(),
        cause,
    })?;
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| RenderError::Parse {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let obj: CrObject =
        serde_json::from_str(&value.to_string()).map_err(|e| RenderError::Parse {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if obj.metadata.name.as_deref().unwrap_or("").is_empty() {
        return Err(RenderError::Parse {
            path: shown,
            reason: "metadata.name is missing".into(),
        });
    }
    Ok(obj)
}

/// The values as helm gets them, and `helm template`'s output, as one YAML stream:
/// the values as a comment block, then the manifests.
pub async fn render(
    runner: &HelmRunner,
    helm: &HelmArgs,
    settings: &PlanSettings,
    obj: &CrObject,
) -> Result<String, RenderError> {
    let mut cr = CrView::from_object(obj);
    // A CR file without a namespace is rendered as if created in `default`.
    if cr.namespace.is_none() && settings.release_namespace.is_none() {
        cr.namespace = Some("default".into());
    }
    let values = values::build(&settings.values, &cr)?;
    let target = plan::release_ref(settings, &cr)?;
    let public = [
        cr.name.as_str(),
        cr.namespace.as_deref().unwrap_or_default(),
        &target.name,
        &target.namespace,
    ];
    let input = ValuesInput::new(&values, &public);
    let out = runner
        .run(
            &helm.template(&target.name, &target.namespace, input),
            helm.timeout,
        )
        .await?;
    // a Value always prints (its keys are strings); `{:#}` is the pretty form
    let pretty = format!("{values:#}");
    let mut text = format!(
        "# release {} in namespace {}\n# values:\n",
        target.name, target.namespace
    );
    for line in pretty.lines() {
        text.push_str("#   ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&out.stdout);
    Ok(text)
}
