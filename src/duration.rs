//! Go-style durations (`24h`, `90m`, `1h30m`) as the CRDs and CEL's `duration()` read them.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a duration such as 24h, 90m or 1h30m")]
pub struct InvalidDuration(pub String);

/// Parses hours, minutes and seconds in that order, each optional but at least one present.
pub fn parse(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_string());
    let mut seconds: u64 = 0;
    let mut digits = String::new();
    let mut last_unit = 0u8;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let (rank, factor) = match ch {
            'h' => (1, 3600),
            'm' => (2, 60),
            's' => (3, 1),
            _ => return Err(invalid()),
        };
        if digits.is_empty() || rank <= last_unit {
            return Err(invalid());
        }
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        seconds = seconds
            .checked_add(value.checked_mul(factor).ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        digits.clear();
        last_unit = rank;
    }
    if !digits.is_empty() || last_unit == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(seconds))
}

/// Formats a duration the way Velero and Go print it (`720h0m0s`).
pub fn to_go(duration: Duration) -> String {
    let total = duration.as_secs();
    format!("{}h{}m{}s", total / 3600, (total % 3600) / 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_in_order() {
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("90m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse("1h0m5s").unwrap(), Duration::from_secs(3_605));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "h", "24", "30m1h", "1d", "-1h", "1hh"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_format_round_trips() {
        assert_eq!(to_go(Duration::from_secs(2_592_000)), "720h0m0s");
        assert_eq!(
            parse(&to_go(Duration::from_secs(5_405))).unwrap().as_secs(),
            5_405
        );
    }
}
