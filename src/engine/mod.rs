//! The incremental engine (pure: no client): the cluster partitioned by namespace, global
//! indexes for the controls that read across namespaces, what each watch event dirties, and
//! per (resource, namespace) kept outcomes folded into the same Evaluation a from-scratch
//! evaluation returns, so that a namespace's change costs that namespace, not the cluster.
//!
//! The from-scratch evaluation (`evaluate::*::evaluate` on a whole [`crate::snapshot::Snapshot`])
//! is the oracle: `engine::tests` checks, for arbitrary clusters and event sequences, that the
//! engine's evaluation of every resource equals it.

pub mod backups;
pub mod baseline_tally;
pub mod crossing;
pub mod environment_moves;
pub mod events;
pub mod incremental;
pub mod indexes;
pub mod ingress_shapes;
pub mod mentions;
pub mod object;
pub mod partition;
pub mod peers;
pub mod per_namespace;

pub use events::{ChangedKeys, Dirty, ResourceKey, ResourceKind};
pub use incremental::{Counters, Engine};
pub use object::{Event, Kind, Object, ObjectKey};

#[cfg(test)]
mod tests;
