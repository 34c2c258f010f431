//! The evidence history: an append-only, hash-chained and signed log of every control
//! transition and periodic checkpoint, kept outside etcd (S3-compatible object storage, or a
//! local directory for development), and the period report an auditor reads from it.
//!
//! - [`entry`]: what is recorded ([`Record`], [`Event`]) and the chained, signed [`Entry`].
//! - [`sign`]: the ed25519 signing key (from a Secret) and the public key auditors trust.
//! - [`chain`]: appending records to the chain and verifying it (pure).
//! - [`store`]: where segments live ([`Store::Local`], [`Store::S3`]), written only if absent.
//! - [`log`]: the writer the operator holds: opens, verifies, appends without ever forking.
//! - [`report`], [`markdown`], [`html`]: the period report (pure) and its renderings.
//! - [`attestation`], [`dsse`]: signed in-toto attestations over the report files.
//! - [`oscal`]: the period report as OSCAL Assessment Results (see [`crate::evidence::oscal`]).
//! - [`checkpoint`]: signed snapshots of the chain, so a reader starts near its period.
//! - [`period`]: reading one chain for a period (from a snapshot) or whole.
//! - [`fleet`]: many clusters' chains in one bucket (`clusters/<id>/`), one report.
//! - [`objects`]: the store operations those readers use, countable.
//! - [`cli`]: `baseline-operator evidence report|verify|keygen`.

pub mod attestation;
pub mod chain;
pub mod checkpoint;
pub mod cli;
pub mod dsse;
pub mod entry;
pub mod error;
pub mod fleet;
pub mod fleet_cli;
pub mod fleet_oscal;
pub mod fleet_render;
pub mod html;
pub mod latest;
pub mod log;
pub mod markdown;
pub mod objects;
pub mod oscal;
pub mod period;
pub mod report;
pub mod sign;
pub mod store;
pub mod store_local;
pub mod store_s3;
pub mod store_s3_inspect;
pub mod store_s3_list;

#[cfg(test)]
mod attestation_tests;
#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod cli_tests;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod latest_tests;
#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod oscal_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod sign_tests;
#[cfg(test)]
mod store_s3_tests;

pub use chain::{
    Anchor, BreakReason, Broken, RawSegment, Verified, append, append_in, verify, verify_after,
    verify_from,
};
pub use entry::{Entry, Event, ExemptionInForce, Observation, Record, ResourceRef, spec_hash};
pub use error::HistoryError;
pub use latest::Latest;
pub use log::Log;
pub use report::{PeriodReport, PeriodState, report};
pub use sign::{PublicKey, SigningKey};
pub use store::{Store, Written};
pub use store_local::LocalStore;
pub use store_s3::{LockMode, Retention, S3Config, S3Store, Secret};
pub use store_s3_inspect::{Attempt, ObjectRetention};
