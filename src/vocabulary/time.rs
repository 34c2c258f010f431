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

/// A measured duration as a reader sees it, never a rounded `0s`: on the operator's clock
/// `412ms` below a second and `3.207s` below a minute; on Velero's, which stamps whole
/// seconds, `<1s` when start and end fall in one second (then `human`).
pub fn human_measured(took: Duration, by: crate::api::backup_policy::MeasuredBy) -> String {
    use crate::api::backup_policy::MeasuredBy;
    match by {
        MeasuredBy::Velero if took < Duration::from_secs(1) => "<1s".into(),
        MeasuredBy::Velero => human(took),
        MeasuredBy::Operator if took < Duration::from_millis(1) => "<1ms".into(),
        MeasuredBy::Operator if took < Duration::from_secs(1) => {
            format!("{}ms", took.as_millis())
        }
        MeasuredBy::Operator if took < Duration::from_secs(60) => {
            format!("{}.{:03}s", took.as_secs(), took.subsec_millis())
        }
        MeasuredBy::Operator => human(took),
    }
}

/// Milliseconds, saturating, for status.
pub fn millis(took: Duration) -> i64 {
    i64::try_from(took.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::backup_policy::MeasuredBy::{Operator, Velero};

    #[test]
    fn measured_durations_never_read_zero() {
        let ms = Duration::from_millis;
        assert_eq!(human_measured(ms(412), Operator), "412ms");
        assert_eq!(human_measured(Duration::from_micros(300), Operator), "<1ms");
        assert_eq!(human_measured(ms(3207), Operator), "3.207s");
        assert_eq!(human_measured(ms(363_000), Operator), "6m3s");
        assert_eq!(human_measured(ms(0), Velero), "<1s");
        assert_eq!(human_measured(ms(2000), Velero), "2s");
        for took in [0, 1, 999, 1000, 59_999, 60_000] {
            for by in [Operator, Velero] {
                assert_ne!(human_measured(ms(took), by), "0s", "{took}ms {by:?}");
            }
        }
    }
}
