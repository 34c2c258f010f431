//! Segments in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW...), path-style, through the
//! AWS SDK's S3 client (`aws-sdk-s3`, SigV4, over its hyper 1 client with rustls and ring).
//!
//! A segment is PUT with `If-None-Match: *`: the server refuses (412) when the key exists, so
//! a second writer never replaces entry N. When the bucket has Object Lock enabled
//! (`GetObjectLockConfiguration`), every segment is PUT with a retention (`x-amz-object-lock-
//! mode` and `-retain-until-date`, from [`Retention`]), so not even the bucket's owner can
//! delete or overwrite it before then (COMPLIANCE) or only with a special permission
//! (GOVERNANCE).
//!
//! Why this crate: `object_store` (0.14, `aws` feature) does conditional create
//! (`PutMode::Create`) but has no Object Lock headers on a PUT, no `GetObjectLockConfiguration`,
//! `GetObjectRetention` or `ListObjectVersions`, and its `aws` feature builds aws-lc-rs. The
//! SDK has every request this store and its inspection need, and builds without aws-lc-rs
//! (default features off, `rustls-ring`). Its cost, measured on this repository (2 cores):
//! see README "Layout".
//!
//! Credentials never appear in Debug output, errors or logs.

use super::error::HistoryError;
use super::store::Written;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, timeout::TimeoutConfig};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockEnabled, ObjectLockMode};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How long one request (all its attempts) may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A secret string (the S3 secret key): its Debug and Display never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Object Lock mode for segments in a bucket that has Object Lock enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LockMode {
    /// Nobody, not even the root account, can delete or shorten it before it expires.
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can delete it.
    Governance,
}

/// How long each segment is locked, when the bucket has Object Lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    pub days: u32,
}

impl Default for Retention {
    /// 400 days: a twelve-month audit period plus the time to audit it.
    fn default() -> Self {
        Retention {
            mode: LockMode::Compliance,
            days: 400,
        }
    }
}

/// Where the log is in S3. Its Debug output shows neither key.
#[derive(Clone)]
pub struct S3Config {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`: scheme, host, port.
    pub endpoint: String,
    pub bucket: String,
    /// Key prefix (no leading or trailing `/` needed); segments go to `<prefix>/segments/`.
    pub prefix: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
    pub retention: Retention,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct S3Store {
    config: Arc<S3Config>,
    client: Client,
    /// Whether the bucket has Object Lock, asked once.
    lock: Arc<tokio::sync::OnceCell<bool>>,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.describe())
            .finish()
    }
}

/// A failed request as the SDK reports it.
pub(super) type Failed<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

impl S3Store {
    pub fn new(config: S3Config) -> Result<Self, HistoryError> {
        let uri: hyper::Uri = config
            .endpoint
            .parse()
            .map_err(|e| HistoryError::S3Config(format!("endpoint {}: {e}", config.endpoint)))?;
        if uri.authority().is_none() {
            return Err(HistoryError::S3Config(format!(
                "endpoint {} has no host",
                config.endpoint
            )));
        }
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(HistoryError::S3Config(format!(
                "endpoint {} must start with https:// or http://",
                config.endpoint
            )));
        }
        if config.bucket.is_empty() || config.region.is_empty() || config.access_key.is_empty() {
            return Err(HistoryError::S3Config(
                "bucket, region and access key are required".into(),
            ));
        }
        // HTTPS with the machine's trusted roots (the SDK's default trust store), or plain
        // HTTP (a test store on loopback).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let credentials = Credentials::new(
            &config.access_key,
            config.secret_key.expose(),
            None,
            None,
            "baseline-operator",
        );
        let sdk_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(config.endpoint.trim_end_matches('/'))
            .region(Region::new(config.region.clone()))
            .force_path_style(true)
            .credentials_provider(credentials)
            .http_client(http)
            // Retries (the SDK's standard: transient errors, three attempts) are safe for the
            // conditional PUT: an attempt that landed makes the next one answer 412, and
            // `Log::append` recognises its own segment.
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(ANSWER_WITHIN)
                    .build(),
            )
            .build();
        Ok(S3Store {
            config: Arc::new(config),
            client: Client::from_conf(sdk_config),
            lock: Arc::default(),
        })
    }

    pub fn config(&self) -> &S3Config {
        &self.config
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn bucket(&self) -> &str {
        &self.config.bucket
    }

    /// `s3://bucket/prefix at endpoint`.
    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.config.bucket,
            self.prefix(),
            self.config.endpoint
        )
    }

    fn prefix(&self) -> &str {
        self.config.prefix.trim_matches('/')
    }

    /// The object key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        match self.prefix() {
            "" => name.to_string(),
            prefix => format!("{prefix}/{name}"),
        }
    }

    /// Every object key under `<prefix>/segments/` after `after` (ListObjectsV2 with
    /// `start-after`, following continuation tokens).
    pub async fn segment_keys(&self, after: Option<&str>) -> Result<Vec<String>, HistoryError> {
        let prefix = self.key("segments/");
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket())
            .prefix(&prefix)
            .set_start_after(after.map(str::to_string))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_error("listing", &prefix, failure(&e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    pub async fn read(&self, key: &str) -> Result<String, HistoryError> {
        let object = self
            .client
            .get_object()
            .bucket(self.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| s3_error("reading", key, failure(&e)))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| s3_error("reading", key, DisplayErrorContext(&e).to_string()))?;
        String::from_utf8(body.to_vec())
            .map_err(|_| s3_error("reading", key, "the object is not UTF-8".into()))
    }

    /// PUT `text` at `key` with `If-None-Match: *`, locked when the bucket has Object Lock.
    pub async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        let mut put = self
            .client
            .put_object()
            .bucket(self.bucket())
            .key(key)
            .if_none_match("*")
            .content_type("application/x-ndjson")
            // Object Lock uploads need an integrity checksum (Content-MD5 or x-amz-checksum-*).
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(text.as_bytes().to_vec()));
        let locked = *self.lock.get_or_try_init(|| self.object_lock()).await?;
        if locked {
            let retention = self.config.retention;
            let until = Timestamp::now()
                .checked_add(SignedDuration::from_hours(24 * i64::from(retention.days)))
                .map_err(|e| HistoryError::S3Config(format!("retention: {e}")))?;
            put = put
                .object_lock_mode(retention.mode.sdk())
                .object_lock_retain_until_date(DateTime::from_secs(until.as_second()));
        }
        match put.send().await {
            Ok(_) => Ok(Written::Written),
            // 412: the key exists. 409 (ConditionalRequestConflict): another conditional
            // write of the same key is in flight; either way this writer must re-read.
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(Written::Taken),
            Err(e) => Err(s3_error("writing", key, failure(&e))),
        }
    }

    /// Whether the bucket has Object Lock enabled (GetObjectLockConfiguration).
    pub async fn object_lock(&self) -> Result<bool, HistoryError> {
        let operation = "reading the Object Lock configuration of bucket";
        let answer = self
            .client
            .get_object_lock_configuration()
            .bucket(self.bucket())
            .send()
            .await;
        match answer {
            Ok(answer) => Ok(answer
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled)),
            Err(e) if status(&e) == Some(404) => Ok(false),
            // Without this answer the writer cannot know whether to lock: it says so rather
            // than write segments that may lack the retention the bucket is meant to give.
            Err(e) if status(&e).is_some() => Err(s3_error(
                operation,
                self.bucket(),
                format!(
                    "{} (the credentials need s3:GetBucketObjectLockConfiguration)",
                    failure(&e)
                ),
            )),
            Err(e) => Err(s3_error(operation, self.bucket(), failure(&e))),
        }
    }
}

impl LockMode {
    fn sdk(self) -> ObjectLockMode {
        match self {
            LockMode::Compliance => ObjectLockMode::Compliance,
            LockMode::Governance => ObjectLockMode::Governance,
        }
    }
}

/// The HTTP status of a failed request, when the server answered.
pub(super) fn status<E>(error: &Failed<E>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

/// The status and S3 error code of a failed request, or what kept it from an answer (neither
/// names a credential).
pub(super) fn failure<E>(error: &Failed<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (status(error), error.code(), error.message()) {
        (Some(status), Some(code), Some(message)) => format!("HTTP {status}: {code}: {message}"),
        (Some(status), Some(code), None) => format!("HTTP {status}: {code}"),
        (Some(status), None, _) => format!("HTTP {status}"),
        (None, ..) => DisplayErrorContext(error).to_string(),
    }
}

pub(super) fn s3_error(operation: &'static str, key: &str, detail: String) -> HistoryError {
    HistoryError::S3 {
        operation,
        key: key.to_string(),
        detail,
    }
}
