//! Taking over releases another operator made, so a team moves to Lostrómos
//! with no reinstall: the CR keeps its release (and the release its objects),
//! gets Lostrómos's finalizer, and only then loses the other operator's.

/// Operators whose releases Lostrómos can take over (`--adopt-from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdoptFrom {
    /// Operator SDK's helm-operator: CRs carrying its finalizer, whose release
    /// is named after the CR in the CR's namespace.
    HelmOperator,
}

/// helm-operator's finalizer, and the one its older versions put on CRs.
pub const HELM_OPERATOR_FINALIZERS: &[&str] = &[
    "helm.sdk.operatorframework.io/uninstall-release",
    "uninstall-helm-release",
];

impl AdoptFrom {
    /// The finalizers that mark a CR as the other operator's.
    pub fn finalizers(self) -> &'static [&'static str] {
        match self {
            Self::HelmOperator => HELM_OPERATOR_FINALIZERS,
        }
    }

    /// How messages name the operator.
    pub fn name(self) -> &'static str {
        match self {
            Self::HelmOperator => "helm-operator",
        }
    }
}
