use super::*;

fn api(code: u16) -> kube::Error {
    let mut status = kube::core::Status::failure("refused", "Refused");
    status.code = code;
    kube::Error::Api(status.boxed())
}

#[test]
fn waits_double_up_to_a_ceiling() {
    let transient: Vec<u64> = (1..=8)
        .map(|n| delay(Persistence::Transient, n).as_secs())
        .collect();
    assert_eq!(transient, [1, 2, 4, 8, 16, 32, 60, 60]);
    let permanent: Vec<u64> = (1..=7)
        .map(|n| delay(Persistence::Permanent, n).as_secs())
        .collect();
    assert_eq!(permanent, [15, 30, 60, 120, 240, 480, 600]);
    assert_eq!(delay(Persistence::Permanent, u32::MAX), PERMANENT_MAX);
}

#[test]
fn a_permanent_refusal_always_waits_longer_than_a_transient_one() {
    for attempt in 1..=20 {
        assert!(
            delay(Persistence::Permanent, attempt) > delay(Persistence::Transient, attempt),
            "attempt {attempt}"
        );
    }
}

#[test]
fn server_answers_are_sorted_by_whether_they_clear_by_themselves() {
    for code in [400, 403, 404, 422] {
        assert_eq!(persistence_of(&api(code)), Persistence::Permanent, "{code}");
    }
    for code in [409, 429, 500, 503, 504] {
        assert_eq!(persistence_of(&api(code)), Persistence::Transient, "{code}");
    }
}

#[test]
fn counts_are_per_resource_and_reset_by_success() {
    let failures = Failures::default();
    assert_eq!(failures.record("SecurityBaseline/a"), 1);
    assert_eq!(failures.record("SecurityBaseline/a"), 2);
    assert_eq!(failures.record("SecurityBaseline/b"), 1);
    failures.reset("SecurityBaseline/a");
    assert_eq!(failures.record("SecurityBaseline/a"), 1);
}
