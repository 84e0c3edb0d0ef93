//! One table of names for what a reconcile does: the name in logs and metrics,
//! the Event action, the condition reason while it runs and the Event reason
//! once it succeeded, and the original Lostrómos's change counter.

use crate::plan::{Action, Recovery};
use crate::serve::metrics::Change;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Ignore,
    AddFinalizer,
    Install,
    Upgrade,
    Skip,
    RecoverRollback,
    RecoverUninstall,
    Wait,
    Uninstall,
    ReleaseFinalizer,
    /// Removing the finalizer of the operator a release was taken over from.
    ReleaseAdoptedFinalizer,
    Reject,
    /// Fetching a chart a CR chose by annotation.
    Pull,
    /// Re-applying a release whose objects drifted, with the same inputs.
    Correct,
}

impl Operation {
    /// For logs and metric labels: `install`, `recover-rollback`, ...
    pub fn label(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::AddFinalizer => "add-finalizer",
            Self::Install => "install",
            Self::Upgrade => "upgrade",
            Self::Skip => "skip",
            Self::RecoverRollback => "recover-rollback",
            Self::RecoverUninstall => "recover-uninstall",
            Self::Wait => "wait",
            Self::Uninstall => "uninstall",
            Self::ReleaseFinalizer => "release-finalizer",
            Self::ReleaseAdoptedFinalizer => "adopt",
            Self::Reject => "reject",
            Self::Pull => "pull",
            Self::Correct => "correct",
        }
    }

    /// The Event's `action`: `Install`, `Recover`, ...
    pub fn verb(self) -> &'static str {
        match self {
            Self::Ignore => "Ignore",
            Self::AddFinalizer => "AddFinalizer",
            Self::Install => "Install",
            Self::Upgrade => "Upgrade",
            Self::Skip => "Skip",
            Self::RecoverRollback | Self::RecoverUninstall => "Recover",
            Self::Wait => "Wait",
            Self::Uninstall => "Uninstall",
            Self::ReleaseFinalizer => "ReleaseFinalizer",
            Self::ReleaseAdoptedFinalizer => "Adopt",
            Self::Reject => "Reject",
            Self::Pull => "Pull",
            Self::Correct => "Correct",
        }
    }

    /// The condition reason while it runs: `Installing`, `Recovering`, ...
    pub fn progressive(self) -> &'static str {
        match self {
            Self::Install => "Installing",
            Self::Upgrade => "Upgrading",
            Self::RecoverRollback | Self::RecoverUninstall => "Recovering",
            Self::Wait => "Waiting",
            Self::Uninstall => "Uninstalling",
            Self::Pull => "Pulling",
            Self::Correct => "Correcting",
            Self::AddFinalizer => "AddingFinalizer",
            Self::ReleaseFinalizer => "ReleasingFinalizer",
            Self::ReleaseAdoptedFinalizer => "Adopting",
            Self::Ignore | Self::Skip | Self::Reject => "Progressing",
        }
    }

    /// The Event reason once it succeeded: `Installed`, `Uninstalled`, ...
    pub fn past(self) -> &'static str {
        match self {
            Self::Install => "Installed",
            Self::Upgrade => "Upgraded",
            Self::RecoverRollback | Self::RecoverUninstall => "Recovered",
            Self::Uninstall => "Uninstalled",
            Self::Pull => "Pulled",
            Self::Correct => "DriftCorrected",
            Self::AddFinalizer => "FinalizerAdded",
            Self::ReleaseFinalizer => "FinalizerReleased",
            Self::ReleaseAdoptedFinalizer => "Adopted",
            Self::Skip => "UpToDate",
            Self::Wait => "Waited",
            Self::Ignore => "Ignored",
            Self::Reject => "Rejected",
        }
    }

    /// The log line for a decision that runs nothing.
    pub fn quiet_decision(self) -> &'static str {
        match self {
            Self::Skip => "up to date, nothing to do",
            Self::Wait => "waiting for the release to settle",
            Self::Ignore => "not managed, nothing to do",
            _ => "decided",
        }
    }

    /// The expected result of a CR's own change: its status says it, so its
    /// Normal Event is published only with `--routine-events` (one API write
    /// less per install).
    pub fn routine(self) -> bool {
        matches!(self, Self::Install | Self::Upgrade | Self::Uninstall)
    }

    /// The original's `releases_{create,update,delete}` counter it moves.
    pub fn change(self) -> Option<Change> {
        match self {
            Self::Install => Some(Change::Create),
            Self::Upgrade => Some(Change::Update),
            Self::Uninstall => Some(Change::Delete),
            _ => None,
        }
    }
}

impl From<&Action> for Operation {
    fn from(a: &Action) -> Self {
        match a {
            Action::Ignore => Self::Ignore,
            Action::AddFinalizer => Self::AddFinalizer,
            Action::Install(_) => Self::Install,
            Action::Upgrade(_) => Self::Upgrade,
            Action::Skip(_) => Self::Skip,
            Action::Recover(Recovery::Rollback { .. }) => Self::RecoverRollback,
            Action::Recover(Recovery::UninstallFirstInstall) => Self::RecoverUninstall,
            Action::Wait { .. } => Self::Wait,
            Action::Uninstall => Self::Uninstall,
            Action::ReleaseFinalizer => Self::ReleaseFinalizer,
            Action::ReleaseAdoptedFinalizer => Self::ReleaseAdoptedFinalizer,
            Action::Reject(_) => Self::Reject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Operation; 13] = [
        Operation::Ignore,
        Operation::AddFinalizer,
        Operation::Install,
        Operation::Upgrade,
        Operation::Skip,
        Operation::RecoverRollback,
        Operation::RecoverUninstall,
        Operation::Wait,
        Operation::Uninstall,
        Operation::ReleaseFinalizer,
        Operation::Reject,
        Operation::Pull,
        Operation::Correct,
    ];

    #[test]
    fn labels_are_distinct_and_kebab_case() {
        let labels: std::collections::HashSet<_> = ALL.iter().map(|o| o.label()).collect();
        assert_eq!(labels.len(), ALL.len());
        assert!(labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }

    #[test]
    fn reasons_are_valid_condition_reasons() {
        // metav1.Condition's reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
        for o in ALL {
            for r in [o.verb(), o.progressive(), o.past()] {
                assert!(r.starts_with(|c: char| c.is_ascii_alphabetic()), "{r}");
                assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
            }
        }
    }

    #[test]
    fn only_helm_changes_count_as_the_originals_changes() {
        assert_eq!(Operation::Install.change(), Some(Change::Create));
        assert_eq!(Operation::Upgrade.change(), Some(Change::Update));
        assert_eq!(Operation::Uninstall.change(), Some(Change::Delete));
        assert_eq!(Operation::RecoverRollback.change(), None);
    }
}
