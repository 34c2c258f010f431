//! Where a pass spends its time, lap by lap, for the debug log: the figures that say which
//! step of a plan grows with the cluster (issue 26), read off a real run instead of guessed.

use std::fmt;
use std::time::{Duration, Instant};

/// Laps since it started, each named by the step that ended it.
pub struct Stopwatch {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    /// The step `name` ended now.
    pub fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

/// `step=12ms other=3ms`, in the order the steps ended.
impl fmt::Display for Stopwatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, took)) in self.laps.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={}ms", took.as_millis())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_are_shown_in_order_with_their_names() {
        let mut watch = Stopwatch::start();
        watch.lap("first");
        watch.lap("second");
        let shown = watch.to_string();
        assert!(shown.starts_with("first="), "{shown}");
        assert!(shown.contains("ms second="), "{shown}");
        assert!(shown.ends_with("ms"), "{shown}");
    }
}
