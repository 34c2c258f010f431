//! The registry of the operator's own kinds. A kind is its API type (`src/api/<kind>.rs`), its
//! reconciler (`src/controller/<kind>.rs`, implementing `controller::reconciler::Reconciled`)
//! and one line here: the snapshot's `CustomResources`, the stores that watch the kinds for
//! rules that read each other, and the controllers that run are generated from this list by
//! passing a macro to it (as `snapshot::watched_kinds` does for the kinds the controls read).

macro_rules! custom_kinds {
    ($with:ident) => {
        $with! {
            security_baselines: crate::api::SecurityBaseline,
            backup_policies: crate::api::BackupPolicy,
            environment_isolations: crate::api::EnvironmentIsolation,
        }
    };
}
pub(crate) use custom_kinds;

/// Whether `kind` (as the API names it) is one of this operator's custom kinds.
pub fn is_custom(kind: &str) -> bool {
    macro_rules! any_of {
        ($($field:ident: $ty:ty,)*) => {
            false $(|| kind == <$ty as kube::Resource>::kind(&()))*
        };
    }
    custom_kinds!(any_of)
}
