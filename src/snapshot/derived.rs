//! What every namespace's evaluation derives from the cluster-scoped part of a snapshot (the
//! environments, a Namespace by name, the namespaces a selector picks), computed once and
//! shared by the namespace views the engine lends that part to, instead of once per
//! namespace: a settle over many namespaces then costs their objects, not namespaces times
//! the cluster (issue 26).
//!
//! Opt-in per snapshot ([`Derived::shared`]): only a snapshot nobody changes afterwards may
//! keep answers, so a clone, a default and every snapshot not asked for start without
//! (answers are computed on each call, as before). The engine asks for it on the base of one
//! settle, which lives for that settle only.

use crate::evaluate::open_ports::Environments;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Default)]
struct Answers {
    environments: OnceLock<Arc<Environments>>,
    /// Namespace name -> its index in `Snapshot::namespaces`.
    namespace_index: OnceLock<HashMap<String, usize>>,
    /// A selector (as JSON) -> the names of the namespaces it picks, sorted.
    selected: Mutex<HashMap<String, Arc<Vec<String>>>>,
}

/// Shared answers, when the snapshot keeps them.
#[derive(Default)]
pub struct Derived {
    answers: Option<Arc<Answers>>,
    /// The environments, when whoever made the snapshot already knows them (the incremental
    /// engine keeps them up to date per Namespace event): no snapshot of it computes them.
    environments: Option<Arc<Environments>>,
}

impl Derived {
    /// Keeps answers: for a snapshot that does not change while it is read.
    pub fn shared() -> Self {
        Self {
            answers: Some(Arc::default()),
            environments: None,
        }
    }

    /// [`Self::shared`], the environments given.
    pub fn shared_with(environments: Arc<Environments>) -> Self {
        Self {
            environments: Some(environments),
            ..Self::shared()
        }
    }

    /// No answers kept, the environments given: for a snapshot that may still change, but
    /// never in what the environments read (see `engine::Partition`).
    pub fn knowing(environments: Arc<Environments>) -> Self {
        Self {
            answers: None,
            environments: Some(environments),
        }
    }

    pub(crate) fn environments(&self, compute: impl FnOnce() -> Environments) -> Arc<Environments> {
        if let Some(known) = &self.environments {
            return known.clone();
        }
        match &self.answers {
            Some(answers) => answers
                .environments
                .get_or_init(|| Arc::new(compute()))
                .clone(),
            None => Arc::new(compute()),
        }
    }

    /// The index of the Namespace called `name`, when answers are kept (`None` otherwise: the
    /// caller scans).
    pub(crate) fn namespace_index(
        &self,
        name: &str,
        build: impl FnOnce() -> HashMap<String, usize>,
    ) -> Option<Option<usize>> {
        let answers = self.answers.as_ref()?;
        Some(
            answers
                .namespace_index
                .get_or_init(build)
                .get(name)
                .copied(),
        )
    }

    pub(crate) fn selected(
        &self,
        selector: &LabelSelector,
        compute: impl FnOnce() -> Vec<String>,
    ) -> Arc<Vec<String>> {
        let Some(answers) = &self.answers else {
            return Arc::new(compute());
        };
        let key = serde_json::to_string(selector).unwrap_or_default();
        let mut selected = answers
            .selected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        selected
            .entry(key)
            .or_insert_with(|| Arc::new(compute()))
            .clone()
    }
}

/// A copy may be changed: it starts without answers.
impl Clone for Derived {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Derived")
            .field("shared", &self.answers.is_some())
            .finish()
    }
}
