//! Kubeconfig files for the local cluster.

use base64::Engine as _;

/// Name of the cluster entry in every kubeconfig written here.
pub(crate) const CLUSTER_NAME: &str = "lostromos-testenv";

/// A token identity; its user and context are both named `name`.
pub(crate) struct Identity<'a> {
    pub(crate) name: &'a str,
    pub(crate) token: &'a str,
}

/// A kubeconfig with one cluster, one user+context per identity, and
/// `current` as the current context. The CA is embedded (not a path) so a copy
/// of the file works anywhere. Every value is double-quoted: tokens are hex,
/// the rest are URLs, base64 and fixed names, none of which need escaping.
pub(crate) fn render(
    server: &str,
    ca_pem: &[u8],
    identities: &[Identity],
    current: &str,
) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut out = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: \"{CLUSTER_NAME}\"\n  cluster:\n    \
         server: \"{server}\"\n    certificate-authority-data: \"{ca}\"\nusers:\n"
    );
    for id in identities {
        out += &format!(
            "- name: \"{}\"\n  user:\n    token: \"{}\"\n",
            id.name, id.token
        );
    }
    out += "contexts:\n";
    for id in identities {
        out += &format!(
            "- name: \"{0}\"\n  context:\n    cluster: \"{CLUSTER_NAME}\"\n    user: \"{0}\"\n    \
             namespace: default\n",
            id.name
        );
    }
    out += &format!("current-context: \"{current}\"\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_context_per_identity() {
        let text = render(
            "https://127.0.0.1:1234",
            b"PEM",
            &[
                Identity {
                    name: "admin",
                    token: "t1",
                },
                Identity {
                    name: "tester",
                    token: "t2",
                },
            ],
            "tester",
        );
        assert!(text.contains("server: \"https://127.0.0.1:1234\""));
        assert!(text.contains("certificate-authority-data: \"UEVN\""));
        assert!(text.contains("token: \"t2\""));
        assert!(text.contains("    user: \"admin\""));
        assert!(text.ends_with("current-context: \"tester\"\n"));
    }
}
