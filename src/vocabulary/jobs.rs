//! When a Job is finished: it makes no more pods from then on, so its template stands by no
//! pod created later (anyone who may create a pod can claim a finished Job as its controller).

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;

/// Conditions the Job controller sets once a Job is done or about to be (it creates no pod
/// after any of them).
const TERMINAL_CONDITIONS: [&str; 4] =
    ["Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"];

/// When a finished Job finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    At(Timestamp),
    /// Finished (its completions reached) with no time to say since when: it stands by no pod.
    Unknown,
}

/// Whether `job` is finished and since when: the earliest terminal condition (True), else its
/// completion time; a Job whose succeeded pods reached its completions is finished too.
/// `None` while it runs.
pub fn finished(job: &Job) -> Option<Finished> {
    let status = job.status.as_ref();
    let terminal: Vec<Option<Timestamp>> = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.status == "True" && TERMINAL_CONDITIONS.contains(&c.type_.as_str()))
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
        .collect();
    let completions_reached = job
        .spec
        .as_ref()
        .and_then(|s| s.completions)
        .zip(status.and_then(|s| s.succeeded))
        .is_some_and(|(wanted, succeeded)| succeeded >= wanted);
    let completion_time = status.and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
    if terminal.is_empty() && !completions_reached && completion_time.is_none() {
        return None;
    }
    let earliest = terminal
        .iter()
        .flatten()
        .copied()
        .chain(completion_time)
        .min();
    // A terminal condition without a time cannot be placed: stand by nothing.
    if terminal.iter().any(Option::is_none) {
        return Some(Finished::Unknown);
    }
    Some(earliest.map_or(Finished::Unknown, Finished::At))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(status: serde_json::Value, completions: Option<i32>) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "shop"},
            "spec": {"completions": completions, "template": {"spec": {"containers": []}}},
            "status": status,
        }))
        .unwrap()
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    #[test]
    fn a_running_job_is_not_finished() {
        assert_eq!(finished(&job(json!({"active": 1}), Some(1))), None);
        let suspended = json!({"conditions": [{"type": "Suspended", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        assert_eq!(finished(&job(suspended, None)), None);
        let not_yet = json!({"conditions": [{"type": "Failed", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        assert_eq!(finished(&job(not_yet, None)), None);
    }

    #[test]
    fn a_complete_or_failed_job_finished_at_its_earliest_terminal_condition() {
        let failed = json!({"conditions": [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"},
            {"type": "Failed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:06Z"},
        ]});
        assert_eq!(
            finished(&job(failed, None)),
            Some(Finished::At(at("2026-01-01T00:00:05Z")))
        );
        let complete = json!({"completionTime": "2026-01-01T00:01:00Z", "conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"},
        ]});
        assert_eq!(
            finished(&job(complete, Some(1))),
            Some(Finished::At(at("2026-01-01T00:01:00Z")))
        );
    }

    #[test]
    fn completions_reached_without_a_time_stand_by_nothing() {
        assert_eq!(
            finished(&job(json!({"succeeded": 3}), Some(3))),
            Some(Finished::Unknown)
        );
        assert_eq!(finished(&job(json!({"succeeded": 2}), Some(3))), None);
        let untimed = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        assert_eq!(finished(&job(untimed, None)), Some(Finished::Unknown));
    }
}
