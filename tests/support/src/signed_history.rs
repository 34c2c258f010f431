//! A signed evidence history in the backup stack's bucket, written by the operator binary and
//! read back as an auditor does: for the test binaries that run operator processes with history
//! flags (tests/history_operator.rs, tests/oscal.rs).

use crate::{S3Store, velero_cluster};
use baseline_operator::history::{Entry, SigningKey};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An operator process, killed when the test ends however it ends.
pub struct OperatorProcess(pub Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where one test's history lives (its own prefix in the bucket) and the key that signs it.
pub struct SignedHistory {
    pub s3: S3Store,
    pub prefix: String,
    pub key_file: PathBuf,
    pub public_key_file: PathBuf,
}

impl SignedHistory {
    /// A fresh signing key written into `dir`, and the prefix `<name>-<pid>`.
    pub fn new(s3: S3Store, name: &str, dir: &Path) -> Self {
        let key = SigningKey::generate().unwrap();
        let key_file = dir.join("ed25519.seed");
        let public_key_file = dir.join("ed25519.pub");
        std::fs::write(&key_file, key.seed_base64()).unwrap();
        std::fs::write(&public_key_file, key.public_key().to_base64()).unwrap();
        SignedHistory {
            s3,
            prefix: format!("{name}-{}", std::process::id()),
            key_file,
            public_key_file,
        }
    }

    /// `bin run` against the backup-stack cluster, leading by Lease `lease` in `default` as
    /// `identity`, serving health and metrics on `metrics_port`, and appending to this history
    /// (credentials in its environment, never on its command line). The caller adds its own
    /// intervals and spawns it.
    pub fn operator_command(
        &self,
        bin: &str,
        identity: &str,
        lease: &str,
        metrics_port: u16,
    ) -> Command {
        let (access, secret) = self.s3.credentials();
        let mut command = Command::new(bin);
        command
            .env("KUBECONFIG", &velero_cluster().kubeconfig)
            .env("RUST_LOG", "info")
            .env("BASELINE_HISTORY_S3_ACCESS_KEY_ID", access)
            .env("BASELINE_HISTORY_S3_SECRET_ACCESS_KEY", secret)
            .args(["run", "--lease-namespace", "default", "--lease-name", lease])
            .args(["--identity", identity])
            .arg(format!("--health-addr=127.0.0.1:{metrics_port}"))
            .arg(format!("--history-s3-endpoint={}", self.s3.endpoint))
            .arg(format!("--history-s3-bucket={}", self.s3.bucket))
            .arg(format!("--history-s3-prefix={}", self.prefix))
            .arg(format!("--history-s3-region={}", self.s3.region))
            .arg(format!(
                "--history-signing-key-file={}",
                self.key_file.display()
            ))
            .arg(format!(
                "--history-public-key={}",
                std::fs::read_to_string(&self.public_key_file).unwrap()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        command
    }

    /// `bin evidence <args>` against this history, as an auditor runs it (the S3 credentials
    /// in its environment, the public key given).
    pub fn evidence_command(&self, bin: &str, args: &[&str]) -> Command {
        let (access, secret) = self.s3.credentials();
        let mut command = Command::new(bin);
        command
            .arg("evidence")
            .args(args)
            .env("AWS_ACCESS_KEY_ID", access)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .arg(format!("--s3-endpoint={}", self.s3.endpoint))
            .arg(format!("--bucket={}", self.s3.bucket))
            .arg(format!("--prefix={}", self.prefix))
            .arg(format!("--region={}", self.s3.region))
            .arg(format!("--public-key={}", self.public_key_file.display()));
        command
    }

    /// Every entry stored so far, in order, read straight from the bucket.
    pub fn entries(&self) -> Vec<Entry> {
        let mut keys = self.s3.keys(&format!("{}/segments/", self.prefix));
        keys.sort();
        keys.iter()
            .flat_map(|key| {
                String::from_utf8(self.s3.object(key))
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str::<Entry>(l).expect("an entry"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Deployment `shop` in `namespace`, one replica of `image`. Recreate: with no kubelet no
/// new pod becomes Ready, so a rolling update would keep the old pod (and its image, rightly a
/// finding) forever.
pub fn shop_deployment(namespace: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {"labels": {"app": "shop"}},
                "spec": {"containers": [{"name": "shop", "image": image}]},
            },
        },
    }))
    .unwrap()
}
