//! What the Velero server itself wrote to object storage about a backup or a restore, as
//! restore tests read it: the backup's resource list and the restore's results. Only the
//! Velero server can produce these (through its DownloadRequest API), so a Backup or Restore
//! object created or edited by hand cannot forge them. Parsed here, fetched by the
//! controller (`controller::velero_records`).

use std::collections::BTreeMap;
use std::sync::Arc;

/// A record Velero was asked for: found, or absent from the object store (Velero never
/// wrote it: the Backup or Restore was not run by this Velero).
#[derive(Clone, Debug, PartialEq)]
pub enum Record<T> {
    Found(T),
    Missing,
}

/// The objects a backup holds, from its `<backup>-resource-list.json.gz`: kind key (Velero
/// writes `group/version/Kind`, `v1/Kind` for the core group) to `namespace/name` entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupContents {
    pub resources: BTreeMap<String, Vec<String>>,
}

/// One backed-up object: its kind (without group or version) and name, in `namespace`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BackedUp {
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl BackupContents {
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let resources: BTreeMap<String, Vec<String>> =
            serde_json::from_slice(json).map_err(|e| format!("backup resource list: {e}"))?;
        Ok(Self { resources })
    }

    /// The namespaced objects of `namespace` the backup holds.
    pub fn objects_in(&self, namespace: &str) -> Vec<BackedUp> {
        let mut out = Vec::new();
        for (key, entries) in &self.resources {
            let (group_version, kind) = key.rsplit_once('/').unwrap_or(("", key));
            let group = match group_version.split_once('/') {
                Some((group, _version)) => group,
                // `v1`: the core group.
                None => "",
            };
            for entry in entries {
                if let Some((ns, name)) = entry.split_once('/')
                    && ns == namespace
                {
                    out.push(BackedUp {
                        group: group.to_string(),
                        kind: kind.to_string(),
                        name: name.to_string(),
                    });
                }
            }
        }
        out.sort();
        out
    }
}

/// The errors and warnings Velero recorded for a restore, from `restore-<name>-results.gz`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestoreOutcome {
    /// Every error, prefixed with where it happened (`velero`, `cluster` or the namespace).
    pub errors: Vec<String>,
    pub warnings: usize,
}

impl RestoreOutcome {
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize, Default)]
        struct Results {
            #[serde(default)]
            velero: Vec<String>,
            #[serde(default)]
            cluster: Vec<String>,
            #[serde(default)]
            namespaces: BTreeMap<String, Vec<String>>,
        }
        impl Results {
            fn flatten(self) -> Vec<String> {
                let scoped = |scope: &str, list: Vec<String>| {
                    list.into_iter()
                        .map(|m| format!("{scope}: {m}"))
                        .collect::<Vec<_>>()
                };
                let mut out = scoped("velero", self.velero);
                out.extend(scoped("cluster", self.cluster));
                for (ns, list) in self.namespaces {
                    out.extend(scoped(&ns, list));
                }
                out
            }
        }
        let mut all: BTreeMap<String, Results> =
            serde_json::from_slice(json).map_err(|e| format!("restore results: {e}"))?;
        let errors = all.remove("errors").unwrap_or_default().flatten();
        let warnings = all.remove("warnings").unwrap_or_default().flatten().len();
        Ok(Self { errors, warnings })
    }
}

/// Records fetched so far, by Backup and by Restore name. Velero never rewrites them, so a
/// fetched record stays true; the controller keeps them across reconciles.
#[derive(Clone, Debug, Default)]
pub struct VeleroRecords {
    pub backups: BTreeMap<String, Arc<Record<BackupContents>>>,
    pub restores: BTreeMap<String, Arc<Record<RestoreOutcome>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_entries_of_one_namespace() {
        let list = br#"{
            "apps/v1/Deployment": ["shop/web", "other/web"],
            "v1/ConfigMap": ["shop/settings", "shop/kube-root-ca.crt"],
            "v1/Namespace": ["shop"],
            "rbac.authorization.k8s.io/v1/RoleBinding": ["shop/readers"]
        }"#;
        let contents = BackupContents::parse(list).unwrap();
        let names: Vec<String> = contents
            .objects_in("shop")
            .into_iter()
            .map(|o| format!("{}/{} {}", o.group, o.kind, o.name))
            .collect();
        assert_eq!(
            names,
            [
                "/ConfigMap kube-root-ca.crt",
                "/ConfigMap settings",
                "apps/Deployment web",
                "rbac.authorization.k8s.io/RoleBinding readers",
            ]
        );
        assert!(BackupContents::parse(b"[1]").is_err());
    }

    #[test]
    fn restore_results_name_every_error_with_its_place() {
        let results = br#"{
            "warnings": {"namespaces": {"shop": ["already exists"]}},
            "errors": {"velero": ["boom"], "namespaces": {"shop": ["admission denied"]}}
        }"#;
        let outcome = RestoreOutcome::parse(results).unwrap();
        assert_eq!(outcome.errors, ["velero: boom", "shop: admission denied"]);
        assert_eq!(outcome.warnings, 1);
        assert_eq!(
            RestoreOutcome::parse(b"{}").unwrap(),
            RestoreOutcome::default()
        );
    }
}
