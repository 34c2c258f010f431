//! What the watches tell the controllers: a change somewhere in the cluster.

/// A change in a namespace, or cluster-wide (`None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub namespace: Option<String>,
}
