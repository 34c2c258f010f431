//! Which exemptions are live, which waive a violation, and which are about to run out.

use super::{Notice, ObjectRef, selects};
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
                    reason: "ExemptionExpired",
                    message: format!(
                        "exemption of {ids} (approved by {}) expired {}; it no longer waives findings",
                        exemption.approved_by, exemption.expires
                    ),
                }),
                Some(until) => {
                    if until <= warn_after {
                        notices.push(Notice {
                            reason: "ExemptionExpiring",
                            message: format!(
                                "exemption of {ids} (approved by {}) expires {}",
                                exemption.approved_by, exemption.expires
                            ),
                        });
                    }
                    live.push(exemption);
                }
                None => notices.push(Notice {
                    reason: "ExemptionInvalid",
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
        Some(selector) => selects(selector, &object.labels),
        None => true,
    }
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
            labels: BTreeMap::new(),
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
}
