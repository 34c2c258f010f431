//! Fetches what the Velero server recorded about a backup and a restore, through Velero's own
//! DownloadRequest API: the operator asks for a record, Velero answers with a short-lived
//! presigned link into its object store, the operator reads the gzipped file behind it.
//!
//! Only Velero's server can have written those files, so this is what a restore test is
//! verified against: a Restore object whose status someone wrote by hand has no results in
//! the object store, and its test fails. Needs: create/get/delete DownloadRequests in
//! Velero's namespace, and a network path from the operator to the object store.

use super::{Context, Error};
use crate::vocabulary::velero_records::{BackupContents, Record, RestoreOutcome};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::json;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

/// How long Velero gets to answer a DownloadRequest (it usually takes well under a second).
/// The reconcile waits this long, so it stays short: an unanswered request is asked again at
/// the next resync.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(250);
/// Records are small JSON files; anything bigger is not what Velero writes.
const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Makes sure Velero's records of `backup` and `restore` are in `ctx`'s cache. A record that
/// is not in the object store is cached as [`Record::Missing`]; a failure to ask is an error
/// (retried with backoff), never a verdict.
pub async fn fetch(ctx: &Context, backup: &str, restore: &str) -> Result<(), Error> {
    let known = ctx.reads.velero_records();
    if !known.backups.contains_key(backup) {
        let record = match download(ctx, "BackupResourceList", backup).await? {
            None => Record::Missing,
            Some(bytes) => {
                Record::Found(BackupContents::parse(&bytes).map_err(Error::VeleroRecord)?)
            }
        };
        ctx.reads.remember_backup(backup, Arc::new(record));
    }
    if !known.restores.contains_key(restore) {
        let record = match download(ctx, "RestoreResults", restore).await? {
            None => Record::Missing,
            Some(bytes) => {
                Record::Found(RestoreOutcome::parse(&bytes).map_err(Error::VeleroRecord)?)
            }
        };
        ctx.reads.remember_restore(restore, Arc::new(record));
    }
    Ok(())
}

fn download_requests(ctx: &Context) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(crate::velero::GROUP, "v1", "DownloadRequest");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "downloadrequests");
    Api::namespaced_with(ctx.client.clone(), &ctx.reads.velero_namespace, &resource)
}

/// Velero's record `kind` of object `name`, un-gzipped; None when the object store has none.
async fn download(ctx: &Context, kind: &str, name: &str) -> Result<Option<Vec<u8>>, Error> {
    let api = download_requests(ctx);
    let request_name = request_name(kind, name);
    let mut request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "velero.io/v1",
        "kind": "DownloadRequest",
        "metadata": {
            "name": request_name,
            "labels": {"app.kubernetes.io/managed-by": "baseline-operator"},
        },
        "spec": {"target": {"kind": kind, "name": name}},
    }))
    .map_err(|e| Error::VeleroRecord(e.to_string()))?;
    request.metadata.namespace = Some(ctx.reads.velero_namespace.clone());
    let failed = |verb: &str, e: kube::Error| {
        Error::VeleroRecord(format!("{verb} DownloadRequest {request_name}: {e}"))
    };
    // An unanswered request from an earlier attempt is waited on again, not made anew: while
    // Velero does not answer, retries read and never write.
    let existing = api
        .get_opt(&request_name)
        .await
        .map_err(|e| failed("read", e))?;
    if existing.is_none() {
        match api.create(&PostParams::default(), &request).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(failed("create", e)),
        }
    }
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    let url = loop {
        let current = api
            .get(&request_name)
            .await
            .map_err(|e| failed("read", e))?;
        let status = current.data.get("status");
        let phase = status.and_then(|s| s.get("phase")).and_then(|p| p.as_str());
        let url = status
            .and_then(|s| s.get("downloadURL"))
            .and_then(|u| u.as_str());
        if let (Some("Processed"), Some(url)) = (phase, url) {
            break url.to_string();
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::VeleroRecord(format!(
                "Velero did not answer DownloadRequest {request_name} for {kind} {name} within {}s",
                ANSWER_WITHIN.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    };
    // The link is single-use for us and expires anyway; a leftover request is harmless.
    let _ = api.delete(&request_name, &DeleteParams::default()).await;
    let body = get(&url)
        .await
        .map_err(|e| Error::VeleroRecord(format!("{kind} of {name}: {e}")))?;
    let Some(gzipped) = body else {
        return Ok(None);
    };
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .take(MAX_RECORD_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| Error::VeleroRecord(format!("{kind} of {name} is not gzip: {e}")))?;
    Ok(Some(json))
}

/// DownloadRequest names are unique per record, so parallel reconciles share one.
fn request_name(kind: &str, name: &str) -> String {
    let mut full = format!("baseline-{}-{name}", kind.to_ascii_lowercase());
    // Velero names its objects within 63 characters; this only guards the API's limit.
    full.truncate(253);
    full
}

/// One GET of a presigned link. The link's query string is a credential for a few minutes:
/// errors never include it, only the host.
///
/// A plain HTTP client, not the S3 client the history uses (`aws-sdk-s3`): the link is already
/// signed by Velero (and may point at any object store its plugin speaks to, not only S3), so
/// there is nothing to sign, no bucket or key to name, and no credentials to hold. An S3 client
/// would have to take the URL apart and could only send it as it is. hyper-util with rustls and
/// ring is the stack kube already builds on, so this costs no dependency.
async fn get(url: &str) -> Result<Option<Bytes>, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| "Velero's download link is not a URL".to_string())?;
    let host = uri.host().unwrap_or_default().to_string();
    let client = http_client()?;
    let request = hyper::Request::get(uri)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(ANSWER_WITHIN, client.request(request))
        .await
        .map_err(|_| format!("object store at {host} did not answer"))?
        .map_err(|e| format!("object store at {host}: {e}"))?;
    let status = response.status();
    // S3 answers a missing key with 404 (NoSuchKey); MinIO and others do the same.
    if status == hyper::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(format!("object store at {host} answered {status}"));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("object store at {host}: {e}"))?;
    Ok(Some(body.to_bytes()))
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

/// HTTPS with the machine's trusted roots (an object store on plain HTTP, as in a test
/// cluster, works too).
fn http_client() -> Result<HttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
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
