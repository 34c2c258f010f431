//! Which exemptions are live, which waive a violation, and which are about to run out.

use super::objects::{Notice, ObjectRef};
use super::selection::selects;
use crate::api::Exemption;
use crate::catalog::ControlId;
use jiff::{Timestamp, ToSpan};

/// Exemptions expiring sooner than this raise a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// When an exemption stops waiving: the end of the named day (UTC), or the exact instant.
pub fn expiry(exemption: &Exemption) -> Option<Timestamp> {
    if let Ok(instant) = exemption.expires.parse::<Timestamp>() {
        return Some(instant);
    }
    let date: jiff::civil::Date = exemption.expires.parse().ok()?;
    let next_day = date.checked_add(1.day()).ok()?;
    next_day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

pub struct Live<'a> {
    live: Vec<&'a Exemption>,
    pub notices: Vec<Notice>,
}

impl<'a> Live<'a> {
    pub fn new(exemptions: &'a [Exemption], now: Timestamp) -> Self {
        let mut live = Vec::new();
        let mut notices = Vec::new();
        let warn_after = now
            .checked_add((EXPIRY_WARNING_DAYS * 24).hours())
            .unwrap_or(now);
        for exemption in exemptions {
            let ids = ids(exemption);
            match expiry(exemption) {
                Some(until) if until <= now => notices.push(Notice {
                    reason: crate::conditions::Reason::ExemptionExpired.as_str(),
                    message: format!(
                        "exemption of {ids} (approved by {}) expired {}; it no longer waives findings",
                        exemption.approved_by, exemption.expires
                    ),
                }),
                Some(until) => {
                    if until <= warn_after {
                        notices.push(Notice {
                            reason: crate::conditions::Reason::ExemptionExpiring.as_str(),
                            message: format!(
                                "exemption of {ids} (approved by {}) expires {}",
                                exemption.approved_by, exemption.expires
                            ),
                        });
                    }
                    live.push(exemption);
                }
                None => notices.push(Notice {
                    reason: crate::conditions::Reason::ExemptionInvalid.as_str(),
                    message: format!("exemption of {ids} has unreadable expiry {}", exemption.expires),
                }),
            }
        }
        Self { live, notices }
    }

    /// The first live exemption that waives `control` for `object`.
    pub fn waiver(&self, control: ControlId, object: &ObjectRef) -> Option<&'a Exemption> {
        self.live
            .iter()
            .copied()
            .find(|e| covers(e, control, object))
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a Exemption> + '_ {
        self.live.iter().copied()
    }
}

fn ids(exemption: &Exemption) -> String {
    exemption
        .controls
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `exemption` waives `control` for `object`.
///
/// **How an exemption's `selector` matches** (the same rule is rendered into the admission
/// policies' `matchConditions` by `desired::admission::exemption_condition`, so that status and
/// the API server agree): an object that carries pods (Deployment, ReplicaSet, StatefulSet,
/// DaemonSet, Job, CronJob) is matched by the labels of its pod template **only**, a Pod by its
/// own labels (they are its pod labels), any other object by its own labels. The ReplicaSets,
/// Jobs and Pods that kube-controller-manager makes carry the template's labels, so the whole
/// chain Deployment -> ReplicaSet -> Pod (CronJob -> Job -> Pod) is exempted or none of it: a
/// status that says "exempt" for a workload whose Pods admission refuses would be evidence of
/// something that never runs. A label on a workload's own metadata alone exempts nothing;
/// [`missed_by_template`] finds such selectors, and status names the workloads they miss.
///
/// Labels are written by whoever writes the object: a tenant who may create Pods in a covered
/// namespace can label a bare Pod and have it exempted. That is no more than creating a
/// Deployment with a labelled template already gives them (the Pods it makes are
/// indistinguishable; ownerReferences are writable too), so the rule is not a boundary against
/// the namespace's writers: scope an exemption with `namespaces` to the namespaces whose
/// writers the approver trusts with it.
pub fn covers(exemption: &Exemption, control: ControlId, object: &ObjectRef) -> bool {
    if !exemption.controls.contains(&control) {
        return false;
    }
    if !exemption.namespaces.is_empty() {
        let Some(ns) = object.scope_namespace() else {
            return false;
        };
        if !exemption.namespaces.iter().any(|n| n == ns) {
            return false;
        }
    }
    match &exemption.selector {
        Some(selector) => selects(selector, matched_labels(object)),
        None => true,
    }
}

/// The labels an exemption's selector is matched against: a pod carrier's pod labels (its
/// template's, or a Pod's own), any other object's own labels.
fn matched_labels(object: &ObjectRef) -> &std::collections::BTreeMap<String, String> {
    object.pod_labels.as_ref().unwrap_or(&object.labels)
}

/// Whether `exemption` names `control` and the namespace of `object`, a workload with a pod
/// template, and its selector matches the workload's own labels but not its template's: a
/// misconfigured exemption, which exempts neither the workload nor the Pods it makes.
pub fn missed_by_template(exemption: &Exemption, control: ControlId, object: &ObjectRef) -> bool {
    let Some(selector) = &exemption.selector else {
        return false;
    };
    let Some(pod_labels) = &object.pod_labels else {
        return false;
    };
    let in_namespaces = exemption.namespaces.is_empty()
        || object
            .scope_namespace()
            .is_some_and(|ns| exemption.namespaces.iter().any(|n| n == ns));
    exemption.controls.contains(&control)
        && object.kind != "Pod"
        && in_namespaces
        && selects(selector, &object.labels)
        && !selects(selector, pod_labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn exemption(expires: &str) -> Exemption {
        Exemption {
            controls: vec![ControlId::TrustedImages],
            namespaces: vec!["shop".into()],
            selector: None,
            reason: "vendor image".into(),
            approved_by: "ciso".into(),
            ticket: None,
            expires: expires.into(),
        }
    }

    fn pod(ns: &str) -> ObjectRef {
        ObjectRef {
            kind: "Pod".into(),
            namespace: Some(ns.into()),
            name: "p".into(),
            labels: Default::default(),
            pod_labels: None,
        }
    }

    #[test]
    fn date_expiry_lasts_through_the_day() {
        let e = exemption("2026-03-01");
        let end = expiry(&e).unwrap();
        assert_eq!(end, "2026-03-02T00:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn live_exemption_waives_only_its_scope() {
        let list = [exemption("2030-01-01")];
        let live = Live::new(&list, "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(
            live.waiver(ControlId::TrustedImages, &pod("shop"))
                .is_some()
        );
        assert!(
            live.waiver(ControlId::TrustedImages, &pod("other"))
                .is_none()
        );
        assert!(
            live.waiver(ControlId::LeastPrivilege, &pod("shop"))
                .is_none()
        );
        assert!(live.notices.is_empty());
    }

    #[test]
    fn expired_exemption_stops_waiving_and_says_so() {
        let list = [exemption("2026-01-01")];
        let live = Live::new(&list, "2026-01-05T00:00:00Z".parse().unwrap());
        assert!(
            live.waiver(ControlId::TrustedImages, &pod("shop"))
                .is_none()
        );
        assert_eq!(live.notices[0].reason, "ExemptionExpired");
    }

    #[test]
    fn soon_expiring_exemption_waives_and_warns() {
        let list = [exemption("2026-01-10")];
        let live = Live::new(&list, "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(
            live.waiver(ControlId::TrustedImages, &pod("shop"))
                .is_some()
        );
        assert_eq!(live.notices[0].reason, "ExemptionExpiring");
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selected_by(selector: serde_json::Value) -> Exemption {
        Exemption {
            namespaces: vec![],
            selector: Some(serde_json::from_value(selector).unwrap()),
            ..exemption("2030-01-01")
        }
    }

    fn workload(kind: &str, own: &[(&str, &str)], template: &[(&str, &str)]) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            pod_labels: Some(labels(template).into()),
            labels: labels(own).into(),
            ..pod("shop")
        }
    }

    #[test]
    fn selector_matches_pod_carriers_by_their_pod_labels_and_others_by_their_own() {
        let e = selected_by(serde_json::json!({"matchLabels": {"exempt": "yes"}}));
        let c = ControlId::TrustedImages;
        let yes = [("exempt", "yes")];
        assert!(covers(&e, c, &workload("Deployment", &[], &yes)));
        // Only on the Deployment's metadata: its ReplicaSet and Pods would not carry it, so
        // neither is the Deployment exempted, and the selector is reported as missing it.
        assert!(!covers(&e, c, &workload("Deployment", &yes, &[])));
        assert!(missed_by_template(
            &e,
            c,
            &workload("Deployment", &yes, &[])
        ));
        assert!(!missed_by_template(
            &e,
            c,
            &workload("Deployment", &yes, &yes)
        ));
        assert!(!missed_by_template(
            &e,
            ControlId::LeastPrivilege,
            &workload("Deployment", &yes, &[])
        ));
        for kind in ["ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"] {
            assert!(covers(&e, c, &workload(kind, &[], &yes)), "{kind}");
            assert!(!covers(&e, c, &workload(kind, &yes, &[])), "{kind}");
        }
        // A Pod's own labels are its pod labels.
        assert!(covers(&e, c, &workload("Pod", &yes, &yes)));
        assert!(!covers(
            &e,
            c,
            &workload("Deployment", &[("exempt", "no")], &[])
        ));
        let mut ingress = workload("Ingress", &[], &[]);
        ingress.pod_labels = None;
        assert!(!covers(&e, c, &ingress));
        ingress.labels = labels(&yes).into();
        assert!(covers(&e, c, &ingress));
    }

    #[test]
    fn invalid_selector_covers_nothing() {
        for selector in [
            serde_json::json!({"matchExpressions": [{"key": "exempt", "operator": "NotIn"}]}),
            serde_json::json!({"matchExpressions": [{"key": "exempt", "operator": "Bogus"}]}),
        ] {
            let e = selected_by(selector.clone());
            let object = workload("Pod", &[], &[]);
            assert!(!covers(&e, ControlId::TrustedImages, &object), "{selector}");
        }
    }
}
