//! Which chart a CR gets: the configured one, or (only when the operator allows
//! it) one the CR names in an annotation, as the original's `chart:` annotation.

use crate::observe::cr::CrView;
use crate::plan::Rejection;

/// What the operator allows CRs to choose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartPolicy {
    /// Annotation through which a CR names its chart; `None`: CRs cannot choose.
    pub annotation: Option<String>,
    /// Chart references a CR may name must start with one of these.
    pub allowed: Vec<String>,
}

/// A chart named by a CR: `<reference>[:<version>]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChartRequest {
    pub reference: String,
    pub version: Option<String>,
}

/// Parses `repo/name:1.2.3`, `oci://host/app:1.2.3`, `/charts/app` and the like.
pub fn parse(value: &str) -> ChartRequest {
    let value = value.trim();
    match value.rsplit_once(':') {
        // a colon that belongs to a scheme (`oci://`) or a port is not a version
        Some((reference, version))
            if !version.is_empty() && !version.contains('/') && !reference.ends_with(':') =>
        {
            ChartRequest {
                reference: reference.to_owned(),
                version: Some(version.to_owned()),
            }
        }
        _ => ChartRequest {
            reference: value.to_owned(),
            version: None,
        },
    }
}

/// The chart the CR asks for, `None` for the configured one.
pub fn requested(policy: &ChartPolicy, cr: &CrView) -> Result<Option<ChartRequest>, Rejection> {
    let Some(key) = &policy.annotation else {
        return Ok(None);
    };
    let Some(value) = cr.annotations.get(key).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let request = parse(value);
    let traversal = request.reference.split('/').any(|part| part == "..");
    if traversal
        || !policy
            .allowed
            .iter()
            .any(|prefix| request.reference.starts_with(prefix.as_str()))
    {
        return Err(Rejection::ChartNotAllowed {
            chart: value.clone(),
            allowed: policy.allowed.clone(),
        });
    }
    Ok(Some(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr_with(annotation: Option<&str>) -> CrView {
        let mut cr = CrView {
            name: "n".into(),
            ..Default::default()
        };
        if let Some(v) = annotation {
            cr.annotations.insert("chart".into(), v.into());
        }
        cr
    }

    fn policy() -> ChartPolicy {
        ChartPolicy {
            annotation: Some("chart".into()),
            allowed: vec!["podinfo/".into(), "/charts/".into()],
        }
    }

    #[test]
    fn parses_references_and_versions() {
        assert_eq!(
            parse("podinfo/podinfo:6.14.1"),
            ChartRequest {
                reference: "podinfo/podinfo".into(),
                version: Some("6.14.1".into())
            }
        );
        assert_eq!(
            parse("oci://ghcr.io/x/app:1.0.0"),
            ChartRequest {
                reference: "oci://ghcr.io/x/app".into(),
                version: Some("1.0.0".into())
            }
        );
        assert_eq!(
            parse("oci://ghcr.io/x/app"),
            ChartRequest {
                reference: "oci://ghcr.io/x/app".into(),
                version: None
            }
        );
        assert_eq!(
            parse("/charts/app"),
            ChartRequest {
                reference: "/charts/app".into(),
                version: None
            }
        );
    }

    #[test]
    fn off_unless_the_operator_allows_it() {
        let off = ChartPolicy::default();
        assert_eq!(
            requested(&off, &cr_with(Some("podinfo/podinfo:6.14.1"))),
            Ok(None)
        );
        assert_eq!(requested(&policy(), &cr_with(None)), Ok(None));
    }

    #[test]
    fn allowed_prefixes_only() {
        assert_eq!(
            requested(&policy(), &cr_with(Some("podinfo/podinfo:6.14.1")))
                .unwrap()
                .unwrap()
                .reference,
            "podinfo/podinfo"
        );
        assert!(matches!(
            requested(&policy(), &cr_with(Some("evil/chart"))),
            Err(Rejection::ChartNotAllowed { .. })
        ));
        assert!(matches!(
            requested(&policy(), &cr_with(Some("/charts/../etc"))),
            Err(Rejection::ChartNotAllowed { .. })
        ));
        let err = requested(&policy(), &cr_with(Some("evil/chart"))).unwrap_err();
        assert!(err.to_string().contains("fix:"));
    }
}
