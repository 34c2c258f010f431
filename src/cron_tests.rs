//! Agreement with Velero's dialect (robfig/cron v3 `ParseStandard`): what it accepts, what it
//! rejects, and when it runs. Each verdict below is robfig/cron's.

use super::*;

const HOUR_SECS: u64 = 3600;
const DAY_SECS: u64 = 24 * HOUR_SECS;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn gap(expr: &str) -> Option<Duration> {
    parse(expr)
        .unwrap_or_else(|e| panic!("{e}"))
        .longest_gap(at("2026-01-01T00:00:00Z"))
}

#[test]
fn accepts_what_robfig_standard_parser_accepts() {
    for expr in [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0 * * MON-FRI",
        "0 0 * * mon,wed,fri",
        "0 0 1 JAN *",
        "0 0 1 jan-mar *",
        "0 0 ? * *",
        "? ? ? ? ?",
        "5/10 * * * *",
        "0 0 * * 0",
        "0 0 1,,15 * *",
        "+5 * * * *",
        "0 0 1 * */1",
        "0  0   *  * *",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
        "@every 6h",
        "@every 1h30m",
        "@every 500ms",
        "CRON_TZ=Europe/Berlin 0 2 * * *",
        "TZ=UTC @hourly",
    ] {
        assert!(parse(expr).is_ok(), "{expr}: {:?}", parse(expr).err());
    }
}

#[test]
fn rejects_what_robfig_standard_parser_rejects() {
    for expr in [
        "",
        "0 0 * * 7",
        "0 0 L * *",
        "0 0 15W * *",
        "0 0 * * 1#2",
        "0 0 * * 5L",
        "0 0 0 * * *",
        "0 0 * *",
        "0 0 * * * 2026",
        "@reboot",
        "@DAILY",
        "@every",
        "@every 1d",
        "@every six hours",
        "0 0 * * MON-SUN",
        "*/0 * * * *",
        "60 * * * *",
        "0 24 * * *",
        "0 0 0 * *",
        "0 0 32 * *",
        "0 0 * 13 *",
        "0 0 * 0 *",
        "1-2-3 * * * *",
        "1/2/3 * * * *",
        "-5 * * * *",
        "/5 * * * *",
        "5-1 * * * *",
        "0 0 1 FOO *",
        ", * * * *",
        "CRON_TZ= 0 0 * * *",
        "CRON_TZ=UTC",
    ] {
        assert!(parse(expr).is_err(), "{expr} parsed");
    }
}

#[test]
fn rejection_names_the_field() {
    let error = parse("0 0 * * 7").unwrap_err().to_string();
    assert!(error.contains("day of week"), "{error}");
    assert!(error.contains("0-6"), "{error}");
}

#[test]
fn the_longest_gap_between_runs() {
    let hours = |h: u64| Some(Duration::from_secs(h * HOUR_SECS));
    let days = |d: u64| Some(Duration::from_secs(d * DAY_SECS));
    assert_eq!(gap("0 2 * * *"), hours(24));
    assert_eq!(gap("*/15 * * * *"), Some(Duration::from_secs(15 * 60)));
    assert_eq!(gap("0 0,12 * * *"), hours(12));
    assert_eq!(gap("0 1,2 * * *"), hours(23));
    assert_eq!(gap("0 0 * * 1"), days(7));
    assert_eq!(gap("0 0 * * MON-FRI"), days(3));
    // Day 1 of each month: the longest month.
    assert_eq!(gap("0 0 1 * *"), days(31));
    // Day 31 is skipped in short months.
    assert_eq!(gap("0 0 31 * *"), days(61));
    assert_eq!(gap("0 0 1 1 *"), days(366));
    assert_eq!(gap("0 0 29 2 *"), days(4 * 365 + 1));
    assert_eq!(gap("5/20 * * * *"), Some(Duration::from_secs(20 * 60)));
    assert_eq!(gap("@daily"), hours(24));
    assert_eq!(gap("@weekly"), days(7));
    assert_eq!(gap("@every 6h"), hours(6));
    assert_eq!(gap("@every 90m"), Some(Duration::from_secs(90 * 60)));
    assert_eq!(gap("@every 500ms"), Some(Duration::from_secs(1)));
}

#[test]
fn day_of_month_and_day_of_week_follow_robfig() {
    let days = |d: u64| Some(Duration::from_secs(d * DAY_SECS));
    // Both restricted: either matches (the 1st, or any Monday).
    assert!(gap("0 0 1 * 1").unwrap() <= Duration::from_secs(7 * DAY_SECS));
    // A star (`*`, `?` or `*/1`) leaves the other field alone in charge.
    assert_eq!(gap("0 0 1 * *"), days(31));
    assert_eq!(gap("0 0 1 * ?"), days(31));
    assert_eq!(gap("0 0 1 * */1"), days(31));
    // `*/2` is a restriction, not a star: days 1, 3, ... or Sunday, Tuesday, ...
    assert!(gap("0 0 1 * */2").unwrap() <= Duration::from_secs(2 * DAY_SECS));
}

#[test]
fn a_schedule_that_never_runs_has_no_next_run() {
    for expr in ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"] {
        let schedule = parse(expr).unwrap();
        assert_eq!(
            schedule.next_after(at("2026-01-01T00:00:00Z")),
            None,
            "{expr}"
        );
        assert_eq!(
            schedule.longest_gap(at("2026-01-01T00:00:00Z")),
            None,
            "{expr}"
        );
    }
}

#[test]
fn next_run() {
    let schedule = parse("30 2 * * *").unwrap();
    assert_eq!(
        schedule.next_after(at("2026-03-01T02:30:00Z")),
        Some(at("2026-03-02T02:30:00Z"))
    );
    assert_eq!(
        parse("0 0 29 2 *")
            .unwrap()
            .next_after(at("2026-01-01T00:00:00Z")),
        Some(at("2028-02-29T00:00:00Z"))
    );
}
