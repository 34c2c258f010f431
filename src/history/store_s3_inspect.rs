//! What an auditor or a test asks a bucket beyond the log's own operations: an object's
//! Object Lock retention and versions, and the writes an attacker would try (overwrite,
//! delete). The [`super::log::Log`] never calls these; the tests that play the attacker do,
//! against the real server.

use super::error::HistoryError;
use super::store_s3::{Failed, S3Store, failure, s3_error, status};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTimeFormat};

/// An object's Object Lock retention, as the server reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRetention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// RFC 3339.
    pub retain_until: String,
}

/// What the server did with a write an attacker tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The server accepted it (2xx).
    Done,
    /// The server refused it: its HTTP status and error (Object Lock: AWS answers 403
    /// AccessDenied, MinIO 400 "Object is WORM protected").
    Refused { status: u16, detail: String },
}

impl S3Store {
    /// The retention of `key` (GetObjectRetention); None when it has none.
    pub async fn retention(&self, key: &str) -> Result<Option<ObjectRetention>, HistoryError> {
        let operation = "reading the retention of";
        let answer = self
            .client()
            .get_object_retention()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) if matches!(status(&e), Some(400 | 404)) => return Ok(None),
            Err(e) => return Err(s3_error(operation, key, failure(&e))),
        };
        let Some(retention) = answer.retention() else {
            return Ok(None);
        };
        let (Some(mode), Some(until)) = (retention.mode(), retention.retain_until_date()) else {
            return Ok(None);
        };
        let retain_until = until
            .fmt(DateTimeFormat::DateTime)
            .map_err(|e| s3_error(operation, key, e.to_string()))?;
        Ok(Some(ObjectRetention {
            mode: mode.as_str().to_string(),
            retain_until,
        }))
    }

    /// The version ids of `key`, newest first (ListObjectVersions).
    pub async fn versions(&self, key: &str) -> Result<Vec<String>, HistoryError> {
        let answer = self
            .client()
            .list_object_versions()
            .bucket(self.bucket())
            .prefix(key)
            .send()
            .await
            .map_err(|e| s3_error("listing the versions of", key, failure(&e)))?;
        Ok(answer
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect())
    }

    /// An unconditional PUT (replaces the object, or adds a version): what a forger does.
    pub async fn overwrite(&self, key: &str, text: &str) -> Result<Attempt, HistoryError> {
        let answer = self
            .client()
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await;
        attempt("overwriting", key, answer)
    }

    /// DELETE of `key` (of one version of it when given).
    pub async fn delete(&self, key: &str, version: Option<&str>) -> Result<Attempt, HistoryError> {
        let answer = self
            .client()
            .delete_object()
            .bucket(self.bucket())
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await;
        attempt("deleting", key, answer)
    }
}

/// A server's refusal is an answer ([`Attempt::Refused`]); no answer at all is an error.
fn attempt<T, E>(
    operation: &'static str,
    key: &str,
    answer: Result<T, Failed<E>>,
) -> Result<Attempt, HistoryError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match answer {
        Ok(_) => Ok(Attempt::Done),
        Err(e) => match status(&e) {
            Some(status) => Ok(Attempt::Refused {
                status,
                detail: failure(&e),
            }),
            None => Err(s3_error(operation, key, failure(&e))),
        },
    }
}
