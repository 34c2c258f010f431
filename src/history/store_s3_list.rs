//! Listing one level of a bucket's prefix (ListObjectsV2 with `delimiter=/`): the cluster ids
//! under `<prefix>/clusters/` of a fleet, the snapshots of one chain. Kept beside the log's own
//! four operations so the S3 transport can be replaced behind the same calls.

use super::error::HistoryError;
use super::store_s3::{S3Store, failure, s3_error, xml_values};
use bytes::Bytes;

impl S3Store {
    /// The names directly under `<prefix>/<sub>/`: objects by name, "folders" by name without
    /// their trailing `/`, sorted.
    pub async fn names_under(&self, sub: &str) -> Result<Vec<String>, HistoryError> {
        let prefix = self.key(&format!("{}/", sub.trim_matches('/')));
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), prefix.clone()),
                ("delimiter".to_string(), "/".to_string()),
            ];
            if let Some(token) = &token {
                query.push(("continuation-token".into(), token.clone()));
            }
            let answer = self.send("GET", None, &query, &[], Bytes::new()).await;
            let answer = answer.map_err(|detail| s3_error("listing", &prefix, detail))?;
            if answer.status != 200 {
                return Err(s3_error("listing", &prefix, failure(&answer)));
            }
            let body = String::from_utf8_lossy(&answer.body);
            // `<Prefix>` is both the answer's echo of the request and each CommonPrefix.
            let found = xml_values(&body, "Key")
                .into_iter()
                .chain(xml_values(&body, "Prefix"));
            for key in found {
                if let Some(name) = key.strip_prefix(&prefix) {
                    let name = name.trim_end_matches('/');
                    if !name.is_empty() && !name.contains('/') {
                        names.push(name.to_string());
                    }
                }
            }
            token = match xml_values(&body, "IsTruncated").first().map(String::as_str) {
                Some("true") => xml_values(&body, "NextContinuationToken")
                    .into_iter()
                    .next(),
                _ => None,
            };
            if token.is_none() {
                names.sort();
                names.dedup();
                return Ok(names);
            }
        }
    }
}
