//! Injected faults, chosen deterministically from the API request counter so that a test run is
//! reproducible: `429=10x3` makes the last 3 of every 10 requests answer 429, `500=7` every 7th
//! answer 500, `drop=13` close the connection without an answer, `truncate=17` cut the body short,
//! `badjson=11` send a complete but unparsable page, `expire=20` expire every token, and
//! `slow=9:200ms` delay the answer.

use std::time::Duration;

use crate::time::parse_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Throttle,
    ServerError,
    Drop,
    Truncate,
    BadJson,
    Expire,
    Slow,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "429",
            FaultKind::ServerError => "500",
            FaultKind::Drop => "drop",
            FaultKind::Truncate => "truncate",
            FaultKind::BadJson => "badjson",
            FaultKind::Expire => "expire",
            FaultKind::Slow => "slow",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub kind: FaultKind,
    pub every: u64,
    pub burst: u64,
    pub delay: Duration,
}

/// The fault plan; empty means a well-behaved server.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub rules: Vec<Rule>,
    /// The Retry-After sent with 429 (seconds).
    pub retry_after: u64,
}

impl Faults {
    /// Parses `429=10x3,500=7,drop=13,truncate=17,badjson=11,expire=20,slow=9:200ms,retry_after=1`.
    pub fn parse(spec: &str) -> Result<Faults, String> {
        let mut f = Faults {
            rules: Vec::new(),
            retry_after: 1,
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("fault {item:?}: expected NAME=EVERY"))?;
            if name == "retry_after" {
                f.retry_after = value
                    .parse()
                    .map_err(|_| format!("fault {item:?}: bad seconds"))?;
                continue;
            }
            let kind = match name {
                "429" => FaultKind::Throttle,
                "500" => FaultKind::ServerError,
                "drop" => FaultKind::Drop,
                "truncate" => FaultKind::Truncate,
                "badjson" => FaultKind::BadJson,
                "expire" => FaultKind::Expire,
                "slow" => FaultKind::Slow,
                _ => return Err(format!("unknown fault {name:?}")),
            };
            let (counts, delay) = match value.split_once(':') {
                Some((c, d)) => (
                    c,
                    parse_duration(d).ok_or_else(|| format!("fault {item:?}: bad delay"))?,
                ),
                None => (value, Duration::from_millis(500)),
            };
            let (every, burst) = match counts.split_once('x') {
                Some((e, b)) => (e, b),
                None => (counts, "1"),
            };
            let every: u64 = every
                .parse()
                .map_err(|_| format!("fault {item:?}: bad count"))?;
            let burst: u64 = burst
                .parse()
                .map_err(|_| format!("fault {item:?}: bad burst"))?;
            if every == 0 || burst == 0 || burst >= every {
                return Err(format!("fault {item:?}: need 0 < burst < every"));
            }
            f.rules.push(Rule {
                kind,
                every,
                burst,
                delay,
            });
        }
        Ok(f)
    }

    /// The fault for API request number `n` (1-based), the first rule that fires.
    pub fn pick(&self, n: u64) -> Option<Rule> {
        self.rules
            .iter()
            .copied()
            .find(|r| (n - 1) % r.every >= r.every - r.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_pick() {
        let f = Faults::parse("429=10x3,500=7,slow=5:10ms").unwrap();
        let hits: Vec<u64> = (1..=10)
            .filter(|n| f.pick(*n).is_some_and(|r| r.kind == FaultKind::Throttle))
            .collect();
        assert_eq!(hits, vec![8, 9, 10]);
        assert_eq!(f.pick(7).unwrap().kind, FaultKind::ServerError);
        assert_eq!(f.pick(5).unwrap().delay, Duration::from_millis(10));
        assert!(Faults::parse("bogus=1").is_err());
    }
}
