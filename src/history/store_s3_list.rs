//! Listing one level of a bucket's prefix (ListObjectsV2 with `delimiter=/`): the cluster ids
//! under `<prefix>/clusters/` of a fleet, the snapshots of one chain. Kept beside the log's own
//! operations, through the same S3 client.

use super::error::HistoryError;
use super::store_s3::{S3Store, failure, s3_error};

impl S3Store {
    /// The names directly under `<prefix>/<sub>/`: objects by name, "folders" by name without
    /// their trailing `/`, sorted.
    pub async fn names_under(&self, sub: &str) -> Result<Vec<String>, HistoryError> {
        let prefix = self.key(&format!("{}/", sub.trim_matches('/')));
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(&prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("listing", &prefix, failure(&e)))?;
            let objects = page.contents().iter().filter_map(|o| o.key());
            let folders = page.common_prefixes().iter().filter_map(|p| p.prefix());
            for key in objects.chain(folders) {
                if let Some(name) = key.strip_prefix(&prefix) {
                    let name = name.trim_end_matches('/');
                    if !name.is_empty() && !name.contains('/') {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}
