//! Cron schedules in Velero's dialect, computed by the `croner` crate.
//!
//! Velero reads `Schedule.spec.schedule` with robfig/cron v3's standard parser: exactly five
//! fields (minute, hour, day of month, month, day of week), month and weekday names, `?` for
//! "any", `N/step` meaning `N-max/step`, the descriptors `@yearly`, `@annually`, `@monthly`,
//! `@weekly`, `@daily`, `@midnight`, `@hourly` and `@every <Go duration>`, and an optional
//! `CRON_TZ=`/`TZ=` prefix. It rejects what other cron dialects add (`L`, `W`, `#`, weekday
//! `7`, a seconds or year field). `croner` understands a superset, so [`parse`] first holds an
//! expression to robfig's rules and rewrites robfig's shorthands into plain ranges, then lets
//! `croner` compute occurrences; the day-of-month/day-of-week rule (either field when both
//! are restricted) is the same in both.
//!
//! Occurrences are computed in UTC: a `CRON_TZ` zone is accepted but shifts runs by at most
//! the zone's daylight-saving step, which no interval check here depends on.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};
use std::time::Duration;

/// robfig/cron gives up looking for the next run after five years; a schedule with no run in
/// that time never runs in Velero.
const HORIZON_YEARS: i16 = 5;
/// The longest gap is measured over four years and a day after the first run, so that a
/// schedule for 29 February shows its real gap.
const GAP_WINDOW_DAYS: i64 = 4 * 365 + 2;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{expr}` is not a schedule Velero accepts: {why}")]
pub struct InvalidCron {
    pub expr: String,
    pub why: String,
}

/// A parsed schedule.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expr: String,
    timing: Timing,
}

#[derive(Clone, Debug)]
enum Timing {
    /// `@every`: a run every interval after the schedule starts.
    Every(Duration),
    Calendar(Box<Cron>),
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

impl CronSchedule {
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first run after `at`, or None when there is none within robfig/cron's horizon.
    pub fn next_after(&self, at: Timestamp) -> Option<Timestamp> {
        match &self.timing {
            Timing::Every(every) => at.checked_add(*every).ok(),
            Timing::Calendar(cron) => {
                let from = at.to_zoned(TimeZone::UTC);
                let limit = from.checked_add(HORIZON_YEARS.years()).ok()?;
                let next = cron.find_next_occurrence(&from, false).ok()?;
                (next <= limit).then(|| next.timestamp())
            }
        }
    }

    /// The longest time between two consecutive runs after `from`; None when the schedule
    /// never runs (see [`CronSchedule::next_after`]).
    pub fn longest_gap(&self, from: Timestamp) -> Option<Duration> {
        let cron = match &self.timing {
            Timing::Every(every) => return Some(*every),
            Timing::Calendar(cron) => cron,
        };
        self.next_after(from)?;
        let next = |at: &Zoned| cron.find_next_occurrence(at, false).ok();
        let first = next(&from.to_zoned(TimeZone::UTC))?;
        // Hours and minutes do not depend on the day, so every day the schedule runs it runs
        // at the same times: read them on the first day, then step from day to day.
        let day_start = first.start_of_day().ok()?;
        let day_end = day_start.tomorrow().ok()?.start_of_day().ok()?;
        let mut times = vec![first.clone()];
        let mut after_first_day = loop {
            let following = next(times.last()?)?;
            if following >= day_end {
                break following;
            }
            times.push(following);
        };
        let gap = |a: &Zoned, b: &Zoned| a.duration_until(b);
        let mut longest = times
            .windows(2)
            .map(|w| gap(&w[0], &w[1]))
            .max()
            .unwrap_or_default();
        let last_offset = gap(&day_start, times.last()?);
        let mut last_run = times.last()?.clone();
        let window_end = first.checked_add(GAP_WINDOW_DAYS.days()).ok()?;
        loop {
            longest = longest.max(gap(&last_run, &after_first_day));
            if after_first_day > window_end {
                break;
            }
            last_run = after_first_day
                .start_of_day()
                .ok()?
                .checked_add(last_offset)
                .ok()?;
            after_first_day = next(&last_run)?;
        }
        Duration::try_from(longest).ok()
    }
}

/// Reads `expr` as Velero (robfig/cron v3's standard parser) does.
pub fn parse(expr: &str) -> Result<CronSchedule, InvalidCron> {
    let invalid = |why: String| InvalidCron {
        expr: expr.to_string(),
        why,
    };
    let body = strip_time_zone(expr).map_err(invalid)?;
    let timing = if let Some(descriptor) = body.strip_prefix('@') {
        descriptor_timing(descriptor).map_err(invalid)?
    } else {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(invalid(format!(
                "expected exactly 5 fields, found {}",
                fields.len()
            )));
        };
        let normalised = [
            field(minute, &MINUTE),
            field(hour, &HOUR),
            field(day, &DAY),
            field(month, &MONTH),
            field(weekday, &WEEKDAY),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
        calendar(&normalised.join(" ")).map_err(invalid)?
    };
    Ok(CronSchedule {
        expr: expr.to_string(),
        timing,
    })
}

fn calendar(pattern: &str) -> Result<Timing, String> {
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser.parse(pattern).map_err(|e| e.to_string())?;
    Ok(Timing::Calendar(Box::new(cron)))
}

/// robfig/cron: `TZ=<zone> ` or `CRON_TZ=<zone> ` before the schedule.
fn strip_time_zone(expr: &str) -> Result<&str, String> {
    if expr.is_empty() {
        return Err("empty schedule".into());
    }
    if !(expr.starts_with("TZ=") || expr.starts_with("CRON_TZ=")) {
        return Ok(expr);
    }
    let Some((zone, rest)) = expr.split_once(' ') else {
        return Err("a time zone prefix needs a schedule after it".into());
    };
    if zone.split_once('=').is_none_or(|(_, name)| name.is_empty()) {
        return Err("empty time zone".into());
    }
    Ok(rest.trim())
}

fn descriptor_timing(descriptor: &str) -> Result<Timing, String> {
    let pattern = match descriptor {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        other => {
            let Some(text) = other.strip_prefix("every ") else {
                return Err(format!("unrecognised descriptor `@{other}`"));
            };
            return every(text).map(Timing::Every);
        }
    };
    calendar(pattern)
}

/// `@every <Go duration>`: robfig/cron rounds the interval down to whole seconds, and runs
/// anything shorter than a second (zero and negative included) every second. kube's duration
/// type reads Go's duration syntax.
fn every(text: &str) -> Result<Duration, String> {
    let parsed: kube::core::Duration = text
        .parse()
        .map_err(|_| format!("`{text}` is not a Go duration"))?;
    let seconds = if parsed.is_negative() {
        0
    } else {
        Duration::from(parsed).as_secs()
    };
    Ok(Duration::from_secs(seconds.max(1)))
}

struct Bounds {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Bounds = Bounds {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
/// Names are matched case-insensitively; index + `min` is the value.
const MONTH: Bounds = Bounds {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAY: Bounds = Bounds {
    name: "day of week",
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// One field held to robfig/cron's rules and rewritten in the plain `A-B/S` form both
/// parsers read alike. A field with a whole-range `*` or `?` (step 1) becomes `*`, which
/// is also what makes the day-of-month/day-of-week rule treat it as unrestricted.
fn field(text: &str, bounds: &Bounds) -> Result<String, String> {
    let mut out = Vec::new();
    // Go's strings.FieldsFunc: empty list items are dropped.
    for part in text.split(',').filter(|p| !p.is_empty()) {
        match range(part, bounds)? {
            None => return Ok("*".into()),
            Some(range) => out.push(range),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "the {} field `{text}` selects nothing",
            bounds.name
        ));
    }
    Ok(out.join(","))
}

/// `None` for a whole-range star.
fn range(part: &str, bounds: &Bounds) -> Result<Option<String>, String> {
    let bad = |why: &str| format!("the {} field `{part}` {why}", bounds.name);
    let steps: Vec<&str> = part.split('/').collect();
    let (span, step) = match steps.as_slice() {
        [span] => (*span, None),
        [span, step] => {
            let step: u32 = number(step).ok_or_else(|| bad("has a step that is not a number"))?;
            if step == 0 {
                return Err(bad("has a step of zero"));
            }
            (*span, Some(step))
        }
        _ => return Err(bad("has more than one `/`")),
    };
    let ends: Vec<&str> = span.split('-').collect();
    let (start, end) = if ends[0] == "*" || ends[0] == "?" {
        if step.is_none_or(|s| s == 1) {
            return Ok(None);
        }
        (bounds.min, bounds.max)
    } else {
        let value =
            |text: &str| value(text, bounds).ok_or_else(|| bad("is not a number or a name"));
        let start = value(ends[0])?;
        match ends.as_slice() {
            [_] if step.is_some() => (start, bounds.max),
            [_] => (start, start),
            [_, end] => (start, value(end)?),
            _ => return Err(bad("has more than one `-`")),
        }
    };
    if start < bounds.min || end > bounds.max {
        return Err(bad(&format!("is outside {}-{}", bounds.min, bounds.max)));
    }
    if start > end {
        return Err(bad("starts after it ends"));
    }
    Ok(Some(match step {
        Some(step) => format!("{start}-{end}/{step}"),
        None if start == end => start.to_string(),
        None => format!("{start}-{end}"),
    }))
}

fn value(text: &str, bounds: &Bounds) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    match bounds.names.iter().position(|n| *n == lower) {
        Some(index) => Some(bounds.min + u32::try_from(index).ok()?),
        None => number(text),
    }
}

/// Go's `strconv.Atoi` on a non-negative number: digits with an optional `+`.
fn number(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
