//! Everything that can go wrong reading or writing the history. No variant carries a secret:
//! S3 credentials and the signing seed never reach an error message.

use super::chain::Broken;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The stored chain does not verify: the first broken entry.
    #[error("the evidence chain is broken: {0}")]
    Broken(Broken),
    #[error("signing key: {0}")]
    Key(String),
    #[error("{operation} {path}: {source}")]
    Local {
        operation: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An S3 request failed: the operation, the object key and the server's answer (status and
    /// error code; never the request's credentials).
    #[error("S3 {operation} {key}: {detail}")]
    S3 {
        operation: &'static str,
        key: String,
        detail: String,
    },
    #[error("S3 configuration: {0}")]
    S3Config(String),
    /// Another writer kept taking the next sequence number; nothing was forked.
    #[error("gave up appending after {attempts} attempts: another writer kept appending first")]
    Contended { attempts: u32 },
    #[error("{0}")]
    Io(String),
}
