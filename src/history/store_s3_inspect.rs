//! What an auditor or a test asks a bucket beyond the log's own operations: an object's
//! Object Lock retention and versions, and the writes an attacker would try (overwrite,
//! delete). The [`super::log::Log`] never calls these; the tests that play the attacker do,
//! against the real server.

use super::error::HistoryError;
use super::store_s3::{S3Store, failure, s3_error, xml_values};
use bytes::Bytes;

/// An object's Object Lock retention, as the server reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRetention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// RFC 3339.
    pub retain_until: String,
}

impl S3Store {
    /// The retention of `key` (GetObjectRetention); None when it has none.
    pub async fn retention(&self, key: &str) -> Result<Option<ObjectRetention>, HistoryError> {
        let query = [("retention".to_string(), String::new())];
        let answer = self
            .send("GET", Some(key), &query, &[], Bytes::new())
            .await
            .map_err(|detail| s3_error("reading the retention of", key, detail))?;
        if answer.status == 404 || answer.status == 400 {
            return Ok(None);
        }
        if answer.status != 200 {
            return Err(s3_error("reading the retention of", key, failure(&answer)));
        }
        let body = String::from_utf8_lossy(&answer.body);
        let mode = xml_values(&body, "Mode").into_iter().next();
        let until = xml_values(&body, "RetainUntilDate").into_iter().next();
        Ok(mode
            .zip(until)
            .map(|(mode, retain_until)| ObjectRetention { mode, retain_until }))
    }

    /// The version ids of `key`, newest first (ListObjectVersions).
    pub async fn versions(&self, key: &str) -> Result<Vec<String>, HistoryError> {
        let query = [
            ("versions".to_string(), String::new()),
            ("prefix".to_string(), key.to_string()),
        ];
        let answer = self
            .send("GET", None, &query, &[], Bytes::new())
            .await
            .map_err(|detail| s3_error("listing the versions of", key, detail))?;
        if answer.status != 200 {
            return Err(s3_error("listing the versions of", key, failure(&answer)));
        }
        let body = String::from_utf8_lossy(&answer.body);
        Ok(body
            .split("<Version>")
            .skip(1)
            .filter(|v| xml_values(v, "Key").first().map(String::as_str) == Some(key))
            .filter_map(|v| xml_values(v, "VersionId").into_iter().next())
            .collect())
    }

    /// An unconditional PUT (replaces the object, or adds a version): what a forger does.
    /// Returns the HTTP status.
    pub async fn overwrite(&self, key: &str, text: &str) -> Result<u16, HistoryError> {
        let answer = self
            .send(
                "PUT",
                Some(key),
                &[],
                &[],
                Bytes::copy_from_slice(text.as_bytes()),
            )
            .await
            .map_err(|detail| s3_error("overwriting", key, detail))?;
        Ok(answer.status)
    }

    /// DELETE of `key` (of one version of it when given). Returns the HTTP status (204:
    /// deleted; 403 with Object Lock: refused) and the server's error, if any.
    pub async fn delete(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<(u16, String), HistoryError> {
        let query: Vec<(String, String)> = version
            .map(|v| vec![("versionId".to_string(), v.to_string())])
            .unwrap_or_default();
        let answer = self
            .send("DELETE", Some(key), &query, &[], Bytes::new())
            .await
            .map_err(|detail| s3_error("deleting", key, detail))?;
        Ok((answer.status, failure(&answer)))
    }
}
