//! Keys and certificates for one cluster, made with the `openssl` CLI.
//!
//! The apiserver can self-sign a serving certificate, but which IP SANs it
//! puts in depends on its advertise address; rustls (kube-rs) verifies SANs
//! strictly. So we make our own CA and a serving certificate for 127.0.0.1
//! and localhost, valid for every client.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Files created by [`generate`], all inside its directory.
pub(crate) struct Pki {
    /// The CA that signed the serving certificate; goes into kubeconfigs.
    pub(crate) ca_cert: PathBuf,
    pub(crate) serving_cert: PathBuf,
    pub(crate) serving_key: PathBuf,
    /// Signs service-account tokens.
    pub(crate) service_account_key: PathBuf,
    /// Verifies service-account tokens (the apiserver does not read a public
    /// key out of a PKCS#8 private key file).
    pub(crate) service_account_pub: PathBuf,
}

const EC_P256: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

/// Creates a CA, a serving certificate for 127.0.0.1/localhost signed by it,
/// and a service-account key pair, in `dir`. EC P-256 keys: fast to generate.
pub(crate) fn generate(dir: &Path) -> Result<Pki> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let pki = Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("serving.crt"),
        serving_key: dir.join("serving.key"),
        service_account_key: dir.join("sa.key"),
        service_account_pub: dir.join("sa.pub"),
    };
    let ca_key = dir.join("ca.key");
    openssl(
        Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "3650"])
            .args(EC_P256)
            .args(["-subj", "/CN=lostromos-testenv-ca"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&pki.ca_cert),
    )?;
    openssl(
        Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "3650"])
            .arg("-CA")
            .arg(&pki.ca_cert)
            .arg("-CAkey")
            .arg(&ca_key)
            .args(EC_P256)
            .args(["-subj", "/CN=kube-apiserver"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "keyUsage=critical,digitalSignature"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&pki.serving_key)
            .arg("-out")
            .arg(&pki.serving_cert),
    )?;
    openssl(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC"])
            .args(["-pkeyopt", "ec_paramgen_curve:P-256"])
            .arg("-out")
            .arg(&pki.service_account_key),
    )?;
    openssl(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&pki.service_account_key)
            .arg("-out")
            .arg(&pki.service_account_pub),
    )?;
    Ok(pki)
}

fn openssl(command: &mut Command) -> Result<()> {
    let output = command
        .output()
        .context("running openssl (is the openssl CLI installed?)")?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
