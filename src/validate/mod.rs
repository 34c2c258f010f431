//! One validation step per kind: the CR spec in, a typed value (or the fields at fault) out.
//!
//! The CRD rejects what its schema and CEL rules can express; the rest only the operator can
//! judge (a cron schedule that parses but never runs, a label selector with an unknown
//! operator). Both the controller and `audit` call these functions, so a spec the operator
//! marks `Invalid` is one `audit` rejects, with the same field and message, and the CRD's
//! rules are checked here once more so offline input the API server would refuse is refused.

pub mod backup_policy;
pub mod environment_isolation;
pub mod security_baseline;

pub use backup_policy::{RestoreTest, RetentionBounds, ValidBackupPolicy};

use crate::api::{Exemption, PortSpec};
use crate::catalog::{ControlId, ControlKind};
use crate::vocabulary::selection::CheckedSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Selector;
use std::time::Duration;

/// A field of a spec that breaks a rule, as `spec.retention.min` and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Every problem of one spec, in field order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSpec(pub Vec<Invalid>);

impl std::fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<String> = self.0.iter().map(Invalid::to_string).collect();
        f.write_str(&all.join("; "))
    }
}

/// Collects problems while a kind's validator walks its spec.
#[derive(Default)]
pub(crate) struct Problems(Vec<Invalid>);

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(invalid(field, message));
    }

    /// Itself when nothing was found, every problem otherwise.
    pub(crate) fn finish(self) -> Result<Self, InvalidSpec> {
        if self.0.is_empty() {
            Ok(self)
        } else {
            Err(InvalidSpec(self.0))
        }
    }

    /// A Go duration as the CRD's pattern and CEL's `duration()` read it (`24h`, `90m`,
    /// `1h30m`): hours, minutes and seconds in that order, each 1-6 digits.
    pub(crate) fn duration(&mut self, text: &str, field: &str) -> Option<Duration> {
        match parse_duration(text) {
            Some(duration) => Some(duration),
            None => {
                self.push(
                    field,
                    format!("`{text}` is not a duration such as 24h, 90m or 1h30m"),
                );
                None
            }
        }
    }

    pub(crate) fn positive_duration(&mut self, text: &str, field: &str) -> Option<Duration> {
        let duration = self.duration(text, field)?;
        if duration.is_zero() {
            self.push(field, "must be greater than zero");
            return None;
        }
        Some(duration)
    }

    /// A label selector compiled as the operator matches it; one kube cannot compile would
    /// otherwise select nothing, silently.
    pub(crate) fn selector(
        &mut self,
        selector: &LabelSelector,
        field: &str,
    ) -> Option<CheckedSelector> {
        match Selector::try_from(selector.clone()) {
            Ok(compiled) => Some(CheckedSelector {
                written: selector.clone(),
                compiled,
            }),
            Err(error) => {
                self.push(field, format!("not a valid label selector: {}", error.0));
                None
            }
        }
    }

    pub(crate) fn ports(&mut self, ports: &[PortSpec], field: &str) {
        for (i, p) in ports.iter().enumerate() {
            if !(1..=65535).contains(&p.port) {
                self.push(format!("{field}[{i}].port"), "must be 1..65535");
            }
        }
    }

    pub(crate) fn exemptions(&mut self, exemptions: &[Exemption], kind: ControlKind) {
        for (i, e) in exemptions.iter().enumerate() {
            let at = |field: &str| format!("spec.exemptions[{i}].{field}");
            if e.controls.is_empty() {
                self.push(at("controls"), "name at least one control");
            }
            for (j, id) in e.controls.iter().enumerate() {
                if id.kind() != kind {
                    let own: Vec<&str> = kind.controls().map(ControlId::as_str).collect();
                    self.push(
                        format!("spec.exemptions[{i}].controls[{j}]"),
                        format!(
                            "exemptions of a {} may only name its controls ({}), not `{id}`",
                            kind.as_str(),
                            own.join(", ")
                        ),
                    );
                }
            }
            if let Some(selector) = &e.selector {
                self.selector(selector, &at("selector"));
            }
            if e.reason.trim().is_empty() {
                self.push(at("reason"), "must not be empty");
            }
            if e.approved_by.trim().is_empty() {
                self.push(at("approvedBy"), "must not be empty");
            }
            if crate::evaluate::exemptions::expiry(e).is_none() {
                self.push(
                    at("expires"),
                    format!(
                        "`{}` must be YYYY-MM-DD or an RFC 3339 UTC instant",
                        e.expires
                    ),
                );
            }
        }
    }
}

/// The CRD's duration pattern (`^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$`, at least two
/// characters), read with kube's Go-compatible duration type, which CEL's `duration()` agrees
/// with.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let shape = text.len() >= 2
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"hms".contains(&b))
        && text.split(['h', 'm', 's']).all(|digits| digits.len() <= 6)
        && units_in_order(text);
    if !shape {
        return None;
    }
    let parsed: kube::core::Duration = text.parse().ok()?;
    (!parsed.is_negative()).then(|| parsed.into())
}

/// `h` before `m` before `s`, each at most once and each after digits (`1h30m`, not `30m1h`,
/// `1hh` or `h`), as the CRD's pattern wants; Go itself would take any order.
fn units_in_order(text: &str) -> bool {
    let mut rank = 0;
    let mut digits = false;
    for b in text.bytes() {
        let unit = match b {
            b'h' => 1,
            b'm' => 2,
            b's' => 3,
            _ => {
                digits = true;
                continue;
            }
        };
        if !digits || unit <= rank {
            return false;
        }
        rank = unit;
        digits = false;
    }
    !digits
}

/// Formats a duration the way Velero and Go print it (`720h0m0s`).
pub fn go_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    format!("{}h{}m{}s", total / 3600, (total % 3600) / 60, total % 60)
}

pub(crate) fn is_cidr(text: &str) -> bool {
    let Some((ip, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

pub(crate) fn is_dns_label(text: &str) -> bool {
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
