//! Pod Security Admission labels for `workload-hardening`, on every selected namespace that no
//! live exemption of the control covers as a whole.

use super::network_policy::describe_selector;
use crate::api::security_baseline::PodSecuritySpec;
use crate::catalog::ControlId;
use crate::vocabulary::exemptions::Live;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The labels a selected namespace carries in Enforce mode: enforce, warn and audit at the
/// baseline's level and version.
pub fn labels(spec: &PodSecuritySpec) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for mode in ["enforce", "warn", "audit"] {
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            spec.level.as_str().to_string(),
        );
        labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            spec.version().to_string(),
        );
    }
    labels
}

/// The Pod Security labels per namespace, and what status must say about exemptions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Labelled {
    /// Per namespace, its labels: the same set for every namespace, shared rather than copied
    /// per namespace (every evidence pass lists every selected namespace).
    pub labels: BTreeMap<String, Arc<BTreeMap<String, String>>>,
    /// Lines for the control's condition: namespaces left unlabelled by an exemption, and
    /// exemptions Pod Security Admission cannot follow.
    pub notes: Vec<String>,
}

/// Labels for the selected `namespaces`. A live exemption of `workload-hardening` without a
/// selector waives every workload of the namespaces it names (all selected ones when it names
/// none), so those namespaces get no labels at all and admission agrees with status; the labels
/// come back when it expires. An exemption with a selector waives only the objects it selects,
/// which Pod Security Admission (namespace-wide) cannot tell apart: the labels stay, and a
/// note says that admission still enforces the level for them.
pub fn namespace_labels(spec: &PodSecuritySpec, live: &Live, namespaces: &[String]) -> Labelled {
    let wanted = Arc::new(labels(spec));
    let scoped = |names: &[String], ns: &str| names.is_empty() || names.iter().any(|n| n == ns);
    let mut out = Labelled::default();
    let mut unlabelled: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for ns in namespaces {
        let whole = live.iter().find(|e| {
            e.controls.contains(&ControlId::WorkloadHardening)
                && e.selector.is_none()
                && scoped(&e.namespaces, ns)
        });
        match whole {
            Some(e) => unlabelled
                .entry(format!("approved by {} until {}", e.approved_by, e.expires))
                .or_default()
                .push(ns),
            None => {
                out.labels.insert(ns.clone(), wanted.clone());
            }
        }
    }
    for (exemption, names) in unlabelled {
        out.notes.push(format!(
            "namespace(s) {} carry no Pod Security labels: an exemption of workload-hardening {exemption} covers them as a whole",
            names.join(", ")
        ));
    }
    let level = format!("{}:{}", spec.level.as_str(), spec.version());
    for e in live.iter() {
        let Some(selector) = &e.selector else {
            continue;
        };
        if !e.controls.contains(&ControlId::WorkloadHardening) {
            continue;
        }
        let enforced: Vec<&str> = out
            .labels
            .keys()
            .filter(|ns| scoped(&e.namespaces, ns))
            .map(String::as_str)
            .collect();
        if enforced.is_empty() {
            continue;
        }
        out.notes.push(format!(
            "exemption of workload-hardening approved by {} selects objects by label ({}); Pod Security Admission is namespace-wide, so admission still enforces {level} for their pods in namespace(s) {}; status counts their findings as exempted",
            e.approved_by,
            describe_selector(selector),
            enforced.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Exemption;
    use crate::api::security_baseline::PodSecurityLevel;
    use jiff::Timestamp;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn spec() -> PodSecuritySpec {
        PodSecuritySpec {
            level: PodSecurityLevel::Restricted,
            version: None,
        }
    }

    fn exemption(namespaces: &[&str], selector: Option<(&str, &str)>) -> Exemption {
        Exemption {
            controls: vec![ControlId::WorkloadHardening],
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            selector: selector.map(|(k, v)| LabelSelector {
                match_labels: Some(BTreeMap::from([(k.to_string(), v.to_string())])),
                ..Default::default()
            }),
            reason: "vendor agent needs hostPath".into(),
            approved_by: "ciso".into(),
            ticket: None,
            expires: "2026-06-30".into(),
        }
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn a_namespace_exempted_as_a_whole_gets_no_labels_until_expiry() {
        let namespaces = vec!["legacy".to_string(), "shop".to_string()];
        let exemptions = [exemption(&["legacy"], None)];
        let live = Live::new(&exemptions, at("2026-03-01T00:00:00Z"));
        let out = namespace_labels(&spec(), &live, &namespaces);
        assert_eq!(out.labels.keys().collect::<Vec<_>>(), ["shop"]);
        assert_eq!(
            out.labels["shop"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        assert_eq!(out.notes.len(), 1);
        assert!(out.notes[0].starts_with("namespace(s) legacy carry no Pod Security labels"));

        let expired = Live::new(&exemptions, at("2026-07-01T00:00:00Z"));
        let out = namespace_labels(&spec(), &expired, &namespaces);
        assert_eq!(out.labels.len(), 2, "the labels come back when it expires");
        assert!(out.notes.is_empty());
    }

    #[test]
    fn an_exemption_of_some_pods_keeps_the_labels_and_says_why() {
        let namespaces = vec!["shop".to_string()];
        let exemptions = [exemption(&[], Some(("app", "agent")))];
        let live = Live::new(&exemptions, at("2026-03-01T00:00:00Z"));
        let out = namespace_labels(&spec(), &live, &namespaces);
        assert_eq!(out.labels.len(), 1);
        assert_eq!(out.notes.len(), 1);
        let note = &out.notes[0];
        assert!(note.contains("app=agent"), "{note}");
        assert!(
            note.contains("Pod Security Admission is namespace-wide, so admission still enforces restricted:latest"),
            "{note}"
        );
        assert!(note.contains("namespace(s) shop"), "{note}");
    }
}
