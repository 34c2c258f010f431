//! Segments in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW...), path-style, each request
//! signed with AWS Signature Version 4 (hand-written on sha2/hmac, over the HTTP and TLS stack
//! kube already uses).
//!
//! A segment is PUT with `If-None-Match: *`: the server refuses (412) when the key exists, so
//! a second writer never replaces entry N. When the bucket has Object Lock enabled
//! (`GetObjectLockConfiguration`), every segment is PUT with a retention (`x-amz-object-lock-
//! mode` and `-retain-until-date`, from [`Retention`]), so not even the bucket's owner can
//! delete or overwrite it before then (COMPLIANCE) or only with a special permission
//! (GOVERNANCE).
//!
//! Credentials never appear in Debug output, errors or logs.

use super::error::HistoryError;
use super::store::Written;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

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

impl LockMode {
    fn header(self) -> &'static str {
        match self {
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        }
    }
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
    authority: String,
    client: HttpClient,
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

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A response: status and body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl S3Store {
    pub fn new(config: S3Config) -> Result<Self, HistoryError> {
        let uri: hyper::Uri = config
            .endpoint
            .parse()
            .map_err(|e| HistoryError::S3Config(format!("endpoint {}: {e}", config.endpoint)))?;
        let authority = uri
            .authority()
            .ok_or_else(|| {
                HistoryError::S3Config(format!("endpoint {} has no host", config.endpoint))
            })?
            .to_string();
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
        Ok(S3Store {
            config: Arc::new(config),
            authority,
            client: http_client()?,
            lock: Arc::default(),
        })
    }

    pub fn config(&self) -> &S3Config {
        &self.config
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
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), prefix.clone()),
            ];
            if let Some(after) = after {
                query.push(("start-after".into(), after.to_string()));
            }
            if let Some(token) = &token {
                query.push(("continuation-token".into(), token.clone()));
            }
            let answer = self.send("GET", None, &query, &[], Bytes::new()).await;
            let answer = answer.map_err(|detail| s3_error("listing", &prefix, detail))?;
            if answer.status != 200 {
                return Err(s3_error("listing", &prefix, failure(&answer)));
            }
            let body = String::from_utf8_lossy(&answer.body);
            keys.extend(xml_values(&body, "Key"));
            token = match xml_values(&body, "IsTruncated").first().map(String::as_str) {
                Some("true") => xml_values(&body, "NextContinuationToken")
                    .into_iter()
                    .next(),
                _ => None,
            };
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    pub async fn read(&self, key: &str) -> Result<String, HistoryError> {
        let answer = self
            .send("GET", Some(key), &[], &[], Bytes::new())
            .await
            .map_err(|detail| s3_error("reading", key, detail))?;
        if answer.status != 200 {
            return Err(s3_error("reading", key, failure(&answer)));
        }
        String::from_utf8(answer.body.to_vec())
            .map_err(|_| s3_error("reading", key, "the object is not UTF-8".into()))
    }

    /// PUT `text` at `key` with `If-None-Match: *`, locked when the bucket has Object Lock.
    pub async fn create(&self, key: &str, text: &str) -> Result<Written, HistoryError> {
        let body = Bytes::copy_from_slice(text.as_bytes());
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body));
        let mut headers = vec![
            ("if-none-match".to_string(), "*".to_string()),
            (
                "content-type".to_string(),
                "application/x-ndjson".to_string(),
            ),
            // Object Lock uploads need an integrity checksum (Content-MD5 or x-amz-checksum-*).
            ("x-amz-checksum-sha256".to_string(), checksum),
        ];
        let locked = *self.lock.get_or_try_init(|| self.object_lock()).await?;
        if locked {
            let retention = self.config.retention;
            let until = Timestamp::now()
                .checked_add(SignedDuration::from_hours(24 * i64::from(retention.days)))
                .map_err(|e| HistoryError::S3Config(format!("retention: {e}")))?;
            headers.push((
                "x-amz-object-lock-mode".to_string(),
                retention.mode.header().to_string(),
            ));
            headers.push((
                "x-amz-object-lock-retain-until-date".to_string(),
                until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ));
        }
        let answer = self
            .send("PUT", Some(key), &[], &headers, body)
            .await
            .map_err(|detail| s3_error("writing", key, detail))?;
        match answer.status {
            200 | 201 => Ok(Written::Written),
            // 412: the key exists. 409 (ConditionalRequestConflict): another conditional
            // write of the same key is in flight; either way this writer must re-read.
            412 | 409 => Ok(Written::Taken),
            _ => Err(s3_error("writing", key, failure(&answer))),
        }
    }

    /// Whether the bucket has Object Lock enabled (GetObjectLockConfiguration).
    pub async fn object_lock(&self) -> Result<bool, HistoryError> {
        let query = [("object-lock".to_string(), String::new())];
        let answer = self
            .send("GET", None, &query, &[], Bytes::new())
            .await
            .map_err(|detail| {
                s3_error(
                    "reading the Object Lock configuration of bucket",
                    &self.config.bucket,
                    detail,
                )
            })?;
        match answer.status {
            200 => Ok(
                xml_values(&String::from_utf8_lossy(&answer.body), "ObjectLockEnabled")
                    .iter()
                    .any(|v| v == "Enabled"),
            ),
            404 => Ok(false),
            // Without this answer the writer cannot know whether to lock: it says so rather
            // than write segments that may lack the retention the bucket is meant to give.
            _ => Err(s3_error(
                "reading the Object Lock configuration of bucket",
                &self.config.bucket,
                format!(
                    "{} (the credentials need s3:GetBucketObjectLockConfiguration)",
                    failure(&answer)
                ),
            )),
        }
    }

    /// One signed request to the bucket (`key`: an object in it; None: the bucket itself).
    pub(super) async fn send(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut path = format!("/{}", uri_encode(&self.config.bucket, false));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&uri_encode(key, true));
        }
        let mut query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        query.sort();
        let query_text = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let now = Timestamp::now();
        let signed = sign_v4(&SigningInput {
            method,
            path: &path,
            query: &query_text,
            host: &self.authority,
            headers,
            payload_hash: &hex::encode(Sha256::digest(&body)),
            region: &self.config.region,
            access_key: &self.config.access_key,
            secret_key: self.config.secret_key.expose(),
            now,
        });
        let endpoint = self.config.endpoint.trim_end_matches('/');
        let uri = if query_text.is_empty() {
            format!("{endpoint}{path}")
        } else {
            format!("{endpoint}{path}?{query_text}")
        };
        let mut request = hyper::Request::builder().method(method).uri(uri);
        for (name, value) in &signed {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.client.request(request),
        )
        .await
        .map_err(|_| format!("no answer from {} within 30s", self.config.endpoint))?
        .map_err(|e| format!("{}: {e}", self.config.endpoint))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// The status and S3 error code of a failed request (the body of an S3 error names no
/// credential).
pub(super) fn failure(answer: &Answer) -> String {
    let body = String::from_utf8_lossy(&answer.body);
    let code = xml_values(&body, "Code").into_iter().next();
    let message = xml_values(&body, "Message").into_iter().next();
    match (code, message) {
        (Some(code), Some(message)) => format!("HTTP {}: {code}: {message}", answer.status),
        (Some(code), None) => format!("HTTP {}: {code}", answer.status),
        _ => format!("HTTP {}", answer.status),
    }
}

pub(super) fn s3_error(operation: &'static str, key: &str, detail: String) -> HistoryError {
    HistoryError::S3 {
        operation,
        key: key.to_string(),
        detail,
    }
}

/// What SigV4 signs.
pub(crate) struct SigningInput<'a> {
    pub method: &'a str,
    /// The URI-encoded path.
    pub path: &'a str,
    /// The canonical (sorted, encoded) query string.
    pub query: &'a str,
    pub host: &'a str,
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub now: Timestamp,
}

/// The headers of a SigV4-signed request: the given ones plus host, x-amz-date,
/// x-amz-content-sha256 and Authorization (all signed).
pub(crate) fn sign_v4(input: &SigningInput) -> Vec<(String, String)> {
    let amz_date = input.now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let date = &amz_date[..8];
    let mut headers: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    headers.push(("host".into(), input.host.to_string()));
    headers.push(("x-amz-date".into(), amz_date.clone()));
    headers.push((
        "x-amz-content-sha256".into(),
        input.payload_hash.to_string(),
    ));
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        input.path,
        input.query,
        canonical_headers,
        signed_headers,
        input.payload_hash
    );
    let scope = format!("{date}/{}/s3/aws4_request", input.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", input.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [input.region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    headers.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            input.access_key
        ),
    ));
    headers
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4's URI encoding: everything but `A-Za-z0-9-_.~` percent-encoded (and `/` kept in
/// object keys).
pub(crate) fn uri_encode(value: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The text of every `<tag>...</tag>` in an S3 XML answer, entities decoded.
pub(super) fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value))
        .map(|value| {
            value
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&#34;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// HTTPS with the machine's trusted roots, or plain HTTP (a test store on loopback).
fn http_client() -> Result<HttpClient, HistoryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HistoryError::S3Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}
