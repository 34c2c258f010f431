//! Never weaken what was already there: the Pod Security labels a baseline writes on a
//! namespace that already carries some, and what it puts back when it leaves.
//!
//! For each mode (`enforce`, `warn`, `audit`) the level and version found on the namespace
//! before the operator wrote there (its *prior*) are kept when they are at least as strict as
//! the baseline's ([`at_least_as_strict`]: level first, then the version applying more checks,
//! then the older); otherwise the baseline's are written. The priors of all six keys
//! (`None`: absent) are recorded in an annotation beside the marker label, in the same write,
//! so that they survive a restart and a handover to another baseline. When the baseline leaves
//! (deleted, Audit mode, the namespace deselected or exempted as a whole), exactly the priors
//! are put back: a key that was absent is removed, a key that was there gets its value back.
//!
//! The record is trusted only on a namespace that carries the marker (a record on a namespace
//! no baseline labels is anyone's writing, and is replaced by what the namespace really
//! carries). Changing it is refused by admission to everyone but the operator (see
//! [`record_guard`]), so a tenant who may edit namespaces cannot make the operator "restore"
//! a weaker label. A marked namespace without a record (labelled by an older release) has
//! priors unknown: treated as absent, as that release removed them.

use super::admission::{
    Rule, cel_string, outside_excluded, policy_and_binding, resource_rule, variable,
};
use super::{DesiredObject, Owner};
use crate::catalog::ControlId;
use crate::evaluate::pod_security::{Level, PsaVersion, at_least_as_strict};
use crate::snapshot::Snapshot;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// The Pod Security modes, each with a level and a version label.
pub const MODES: [&str; 3] = ["enforce", "warn", "audit"];

fn level_key(mode: &str) -> String {
    format!("pod-security.kubernetes.io/{mode}")
}

fn version_key(mode: &str) -> String {
    format!("pod-security.kubernetes.io/{mode}-version")
}

/// What a namespace carried before the operator wrote its labels, key by key (`None`: absent).
pub type Record = BTreeMap<String, Option<String>>;

/// The annotation, beside a kind's marker label, with the [`Record`] as JSON.
pub fn record_annotation(marker: &str) -> String {
    format!("{marker}-prior")
}

pub fn render_record(record: &Record) -> String {
    serde_json::to_string(record).unwrap_or_default()
}

/// The trusted record of a namespace with `labels` and `annotations`: present only when it
/// carries `marker` (module docs).
pub fn trusted_record(
    marker: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Option<Record> {
    labels.get(marker).filter(|uid| !uid.is_empty())?;
    let parsed = annotations
        .get(&record_annotation(marker))
        .and_then(|json| serde_json::from_str::<Record>(json).ok());
    Some(parsed.unwrap_or_else(|| {
        MODES
            .iter()
            .flat_map(|m| [level_key(m), version_key(m)])
            .map(|k| (k, None))
            .collect()
    }))
}

/// What [`take_over`] reads of a namespace with `labels` and `annotations`: per Pod Security
/// key, its prior value, from the trusted record when there is one (see [`trusted_record`]),
/// else the current label. `take_over(wanted, &no labels, Some(&priors(..)))` is
/// `take_over(wanted, labels, trusted_record(..).as_ref())`: a projection a plan can keep per
/// Namespace version instead of parsing every namespace's record each time.
pub fn priors(
    marker: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Record {
    trusted_record(marker, labels, annotations).unwrap_or_else(|| {
        MODES
            .iter()
            .flat_map(|m| [level_key(m), version_key(m)])
            .map(|k| {
                let value = labels.get(&k).cloned();
                (k, value)
            })
            .collect()
    })
}

/// The labels to put back when the operator leaves a namespace: every recorded prior that was
/// there. (Keys recorded as absent are removed by the write that drops the operator's own.)
pub fn restored(record: &Record) -> BTreeMap<String, String> {
    record
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

/// What the operator writes on one namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Takeover {
    /// The Pod Security labels to write: per mode the baseline's, or the prior where stricter.
    pub labels: BTreeMap<String, String>,
    /// The priors of every Pod Security key, to record.
    pub record: Record,
    /// Modes whose stricter prior is kept, as `mode=level:version`.
    pub kept: Vec<String>,
}

fn parse(level: Option<&str>, version: Option<&str>) -> Option<(Level, PsaVersion)> {
    let level = match level? {
        "privileged" => Level::Privileged,
        "baseline" => Level::Baseline,
        "restricted" => Level::Restricted,
        _ => return None,
    };
    // An absent version is the API server's default, `latest`; an invalid one keeps nothing.
    let version = match version {
        None => PsaVersion::Latest,
        Some(v) => PsaVersion::parse(v)?,
    };
    Some((level, version))
}

/// Whether a mode's prior pair is kept over the wanted one (at least as strict), and, when it
/// is and differs from what is wanted, how the kept list shows it (`mode=level:version`).
fn keeps(
    mode: &str,
    want: (Option<&String>, Option<&String>),
    prior: (Option<&str>, Option<&str>),
) -> (bool, Option<String>) {
    let wanted_pair = parse(want.0.map(String::as_str), want.1.map(String::as_str));
    let prior_pair = parse(prior.0, prior.1);
    let keep = match (prior_pair, wanted_pair) {
        (Some(p), Some(w)) => at_least_as_strict(p, w),
        _ => false,
    };
    if !keep {
        return (false, None);
    }
    let shown_level = prior.0.unwrap_or_default();
    let shown_version = prior.1.unwrap_or("latest");
    let same = want.0.map(String::as_str) == Some(shown_level)
        && want.1.map(String::as_str) == Some(shown_version);
    (
        true,
        (!same).then(|| format!("{mode}={shown_level}:{shown_version}")),
    )
}

/// The labels for a namespace with `current` labels and its `recorded` priors (if trusted),
/// where the baseline wants `wanted` (level and version labels of every mode).
pub fn take_over(
    wanted: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    recorded: Option<&Record>,
) -> Takeover {
    let mut out = Takeover::default();
    let prior = |key: &str| match recorded {
        Some(record) => record.get(key).cloned().unwrap_or_default(),
        None => current.get(key).cloned(),
    };
    for mode in MODES {
        let (level, version) = (level_key(mode), version_key(mode));
        let (prior_level, prior_version) = (prior(&level), prior(&version));
        out.record.insert(level.clone(), prior_level.clone());
        out.record.insert(version.clone(), prior_version.clone());
        let want = (wanted.get(&level), wanted.get(&version));
        let (keep, shown) = keeps(
            mode,
            want,
            (prior_level.as_deref(), prior_version.as_deref()),
        );
        out.kept.extend(shown);
        if keep {
            out.labels.extend(prior_level.map(|v| (level, v)));
            out.labels.extend(prior_version.map(|v| (version, v)));
        } else {
            out.labels.extend(want.0.map(|v| (level, v.clone())));
            out.labels.extend(want.1.map(|v| (version, v.clone())));
        }
    }
    out
}

/// `take_over(wanted, &no labels, Some(recorded)).kept` without the labels and the record: what
/// a plan notes for the namespaces it does not write (every other selected namespace, on each
/// evidence pass), without copying each one's priors.
pub fn kept_priors(wanted: &BTreeMap<String, String>, recorded: &Record) -> Vec<String> {
    let prior = |key: &str| recorded.get(key).and_then(|v| v.as_deref());
    MODES
        .iter()
        .filter_map(|mode| {
            let (level, version) = (level_key(mode), version_key(mode));
            let want = (wanted.get(&level), wanted.get(&version));
            keeps(mode, want, (prior(&level), prior(&version))).1
        })
        .collect()
}

/// An admission policy that lets no one but the operator (`operator_username`) set, change or
/// remove the marker label or the record of priors of an existing namespace (any outside the
/// excluded ones),
/// so that the record the operator restores from is its own. Without the operator's user name
/// (the API server did not say who it is) there is nothing to allow, and no policy.
pub fn record_guard(
    owner: &Owner,
    marker: &str,
    snapshot: &Snapshot,
    operator_username: Option<&str>,
) -> Vec<DesiredObject> {
    let Some(username) = operator_username else {
        return Vec::new();
    };
    let marker_key = cel_string(marker);
    let record_key = cel_string(&record_annotation(marker));
    let changed = |map: &str, key: &str| {
        let old = format!("variables.old{}", capitalized(map));
        let new = format!("variables.{map}");
        format!(
            "(({key} in {new}) != ({key} in {old}) || ({key} in {new} && {key} in {old} && {new}[{key}] != {old}[{key}]))"
        )
    };
    let rule = Rule {
        control: ControlId::WorkloadHardening,
        // Not CREATE: whoever creates a namespace chooses what it carries before any
        // baseline came, and a restore (Velero's) must be able to bring a namespace back
        // with its record.
        resources: vec![resource_rule(&[""], &["v1"], &["namespaces"], &["UPDATE"])],
        variables: vec![
            variable(
                "labels",
                "has(object.metadata.labels) ? object.metadata.labels : {}",
            ),
            variable(
                "oldLabels",
                "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}",
            ),
            variable(
                "annotations",
                "has(object.metadata.annotations) ? object.metadata.annotations : {}",
            ),
            variable(
                "oldAnnotations",
                "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}",
            ),
        ],
        validations: vec![(
            format!(
                "request.userInfo.username == {} || !({} || {})",
                cel_string(username),
                changed("labels", &marker_key),
                changed("annotations", &record_key),
            ),
            format!(
                "only baseline-operator may set or change {marker} and {}: they record the Pod Security labels a namespace carried before the operator came, which it puts back when it leaves",
                record_annotation(marker)
            ),
        )],
    };
    let everywhere = outside_excluded(&LabelSelector::default(), snapshot);
    policy_and_binding(owner, rule, &everywhere, &[])
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "pod_security_takeover_tests.rs"]
mod tests;
