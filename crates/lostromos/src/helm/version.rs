//! Which helm we drive: detected once at start-up.

use super::argv::Major;

/// Oldest helm 3 with `--labels` and `uninstall --ignore-not-found`.
const MIN_V3_MINOR: u64 = 13;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmVersion {
    pub major: Major,
    pub text: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("could not read a helm version from {0:?}; fix: point --helm-binary at a helm 3.13+ or helm 4 binary")]
    Unparsable(String),
    #[error("helm {0} is too old: lostromos needs helm 3.13 or newer (for --labels); fix: upgrade helm or point --helm-binary at a newer one")]
    TooOld(String),
    #[error("helm {0} is not supported: lostromos drives helm 3.13+ and helm 4; fix: point --helm-binary at one of those")]
    Unsupported(String),
}

/// Parses `helm version --template '{{.Version}}'` output such as `v3.17.3`.
pub fn parse(output: &str) -> Result<HelmVersion, VersionError> {
    let text = output.trim().to_owned();
    let core = text.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or("");
    let nums: Vec<u64> = core
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| VersionError::Unparsable(text.clone()))?;
    let (major, minor) = match nums.as_slice() {
        [ma, mi, ..] => (*ma, *mi),
        _ => return Err(VersionError::Unparsable(text)),
    };
    let major = match major {
        3 if minor < MIN_V3_MINOR => return Err(VersionError::TooOld(text)),
        3 => Major::V3,
        4 => Major::V4,
        _ => return Err(VersionError::Unsupported(text)),
    };
    Ok(HelmVersion { major, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_majors() {
        assert_eq!(parse("v4.1.4").unwrap().major, Major::V4);
        assert_eq!(parse("v3.17.3\n").unwrap().major, Major::V3);
        assert_eq!(parse("v3.13.0").unwrap().major, Major::V3);
        assert_eq!(parse("v4.0.0-rc.1").unwrap().major, Major::V4);
        assert_eq!(parse("v3.17.3").unwrap().text, "v3.17.3");
    }

    #[test]
    fn rejects_old_and_unknown() {
        assert!(matches!(parse("v3.12.3"), Err(VersionError::TooOld(_))));
        assert!(matches!(
            parse("v2.17.0"),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(parse("v5.0.0"), Err(VersionError::Unsupported(_))));
        assert!(matches!(parse("garbage"), Err(VersionError::Unparsable(_))));
        assert!(matches!(parse(""), Err(VersionError::Unparsable(_))));
        assert!(parse("v3.12.3").unwrap_err().to_string().contains("fix:"));
    }
}
