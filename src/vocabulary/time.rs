//! Durations between instants, and how messages print them.

use crate::api::backup_policy::RestoreTestResult;
use jiff::Timestamp;
use std::time::Duration;

pub fn later(at: Timestamp, by: Duration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

/// `to - from`, zero when `to` is earlier (clock skew must not produce negative ages).
pub fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

/// `30h`, `1h30m`, `45s`: Go-style, zero units dropped, for messages.
pub fn human(duration: Duration) -> String {
    let total = duration.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    for (value, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// Ages are shown to the minute; seconds would only make messages churn between evaluations.
pub fn human_age(age: Duration) -> String {
    if age < Duration::from_secs(60) {
        return human(age);
    }
    human(Duration::from_secs(age.as_secs() / 60 * 60))
}

/// When a recorded test ended (its start when it never recorded an end).
pub fn finished_at(result: &RestoreTestResult) -> Timestamp {
    result.completed.as_ref().unwrap_or(&result.started).0
}
