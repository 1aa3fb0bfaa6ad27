//! Digit collection for menus and number entry: how many digits, which key ends the entry,
//! and how long to wait for the first and for each next digit.
//!
//! Digits come from either DTMF source (RFC 4733 or in-band); the collector only sees
//! [`Digit`]s and `now`, so IVR timing is tested on a virtual clock.

use std::fmt;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::dtmf::Digit;

/// Upper bound on `max_digits`: far above any phone number or PIN, and it bounds the one
/// allocation a collector makes.
pub const MAX_DIGITS: usize = 64;

/// What to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorConfig {
    /// Collection ends as soon as this many digits are in (1..=[`MAX_DIGITS`]).
    pub max_digits: usize,
    /// A key that ends the entry early; it is not part of the result.
    pub terminator: Option<Digit>,
    /// How long to wait for the first digit.
    pub first_digit_timeout: Duration,
    /// How long to wait for each further digit.
    pub inter_digit_timeout: Duration,
}

/// Misuse of a collector.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CollectorError {
    #[error("max_digits {0} is out of range, it must be 1 to 64")]
    MaxDigits(usize),
    #[error("digit {0} arrived after the collection finished")]
    Finished(Digit),
}

/// Collected digits, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Digits(Vec<Digit>);

impl Digits {
    pub fn as_slice(&self) -> &[Digit] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|d| write!(f, "{d}"))
    }
}

/// How a collection ended, with the digits collected (the terminator excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectOutcome {
    /// `max_digits` were entered.
    MaxDigits(Digits),
    /// The terminator key was pressed.
    Terminator(Digits),
    /// The first-digit or inter-digit timeout expired; the digits may be empty.
    Timeout(Digits),
}

impl CollectOutcome {
    pub fn digits(&self) -> &Digits {
        match self {
            CollectOutcome::MaxDigits(d)
            | CollectOutcome::Terminator(d)
            | CollectOutcome::Timeout(d) => d,
        }
    }

    pub fn into_digits(self) -> Digits {
        match self {
            CollectOutcome::MaxDigits(d)
            | CollectOutcome::Terminator(d)
            | CollectOutcome::Timeout(d) => d,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for a digit until `deadline` (`None`: too far away to represent).
    Collecting {
        digits: Vec<Digit>,
        deadline: Option<Instant>,
    },
    Finished,
}

/// Collects digits for one prompt or menu.
///
/// Contract: create it with [`new`](Self::new) when collection starts (the first-digit
/// timer starts then; call [`restart_timer`](Self::restart_timer) when the prompt that
/// invites the entry has finished playing, if the wait should count from there). Feed
/// digits with [`handle_digit`](Self::handle_digit), arm a timer at
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout).
/// The outcome is returned exactly once, by whichever of the two ends it. A digit fed
/// after that is handed back as [`CollectorError::Finished`] so it can go to the next
/// collector (type-ahead).
#[derive(Debug)]
pub struct DigitCollector {
    config: CollectorConfig,
    state: State,
}

impl DigitCollector {
    pub fn new(config: CollectorConfig, now: Instant) -> Result<Self, CollectorError> {
        if !(1..=MAX_DIGITS).contains(&config.max_digits) {
            return Err(CollectorError::MaxDigits(config.max_digits));
        }
        Ok(DigitCollector {
            config,
            state: State::Collecting {
                digits: Vec::with_capacity(config.max_digits),
                deadline: now.checked_add(config.first_digit_timeout),
            },
        })
    }

    /// Takes one digit; returns the outcome if this digit ends the collection.
    pub fn handle_digit(
        &mut self,
        digit: Digit,
        now: Instant,
    ) -> Result<Option<CollectOutcome>, CollectorError> {
        let State::Collecting { digits, deadline } = &mut self.state else {
            return Err(CollectorError::Finished(digit));
        };
        if self.config.terminator == Some(digit) {
            let digits = std::mem::take(digits);
            self.state = State::Finished;
            return Ok(Some(CollectOutcome::Terminator(Digits(digits))));
        }
        digits.push(digit);
        if digits.len() >= self.config.max_digits {
            let digits = std::mem::take(digits);
            self.state = State::Finished;
            return Ok(Some(CollectOutcome::MaxDigits(Digits(digits))));
        }
        *deadline = now.checked_add(self.config.inter_digit_timeout);
        Ok(None)
    }

    /// When the running timeout expires; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Collecting { deadline, .. } => *deadline,
            State::Finished => None,
        }
    }

    /// Ends the collection with [`CollectOutcome::Timeout`] if its deadline has passed.
    #[must_use]
    pub fn handle_timeout(&mut self, now: Instant) -> Option<CollectOutcome> {
        let State::Collecting { digits, deadline } = &mut self.state else {
            return None;
        };
        if deadline.is_none_or(|d| now < d) {
            return None;
        }
        let digits = std::mem::take(digits);
        self.state = State::Finished;
        Some(CollectOutcome::Timeout(Digits(digits)))
    }

    /// Restarts the running timer from `now`: the first-digit timeout if nothing was
    /// entered yet, the inter-digit timeout otherwise.
    pub fn restart_timer(&mut self, now: Instant) {
        if let State::Collecting { digits, deadline } = &mut self.state {
            let timeout = if digits.is_empty() {
                self.config.first_digit_timeout
            } else {
                self.config.inter_digit_timeout
            };
            *deadline = now.checked_add(timeout);
        }
    }

    /// Digits entered so far (empty once finished: the outcome owns them).
    pub fn digits(&self) -> &[Digit] {
        match &self.state {
            State::Collecting { digits, .. } => digits,
            State::Finished => &[],
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn config(max: usize, terminator: Option<Digit>) -> CollectorConfig {
        CollectorConfig {
            max_digits: max,
            terminator,
            first_digit_timeout: secs(5),
            inter_digit_timeout: secs(3),
        }
    }

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    /// Feeds `keys` one second apart and returns the outcome that ended the entry, if any.
    fn enter(c: &mut DigitCollector, t0: Instant, keys: &str) -> Option<CollectOutcome> {
        let mut out = None;
        for (i, k) in keys.chars().enumerate() {
            let r = c.handle_digit(d(k), t0 + secs(i as u64 + 1)).unwrap();
            assert!(out.is_none() || r.is_none());
            out = out.or(r);
        }
        out
    }

    #[test]
    fn ends_at_max_digits() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(4, Some(Digit::Hash)), t0).unwrap();
        assert_eq!(enter(&mut c, t0, "123"), None);
        assert_eq!(c.digits(), [d('1'), d('2'), d('3')]);
        let out = c.handle_digit(d('4'), t0 + secs(4)).unwrap().unwrap();
        assert_eq!(
            out,
            CollectOutcome::MaxDigits(Digits(vec![d('1'), d('2'), d('3'), d('4')]))
        );
        assert_eq!(out.digits().to_string(), "1234");
        assert!(c.is_finished());
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + secs(100)), None);
    }

    #[test]
    fn terminator_ends_early_and_is_not_included() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(10, Some(Digit::Hash)), t0).unwrap();
        let out = enter(&mut c, t0, "42#").unwrap();
        assert_eq!(
            out,
            CollectOutcome::Terminator(Digits(vec![d('4'), d('2')]))
        );
        // The terminator alone gives an empty entry.
        let mut c = DigitCollector::new(config(10, Some(Digit::Hash)), t0).unwrap();
        let out = enter(&mut c, t0, "#").unwrap();
        assert!(matches!(&out, CollectOutcome::Terminator(ds) if ds.is_empty()));
        // Without a terminator configured, '#' is an ordinary digit.
        let mut c = DigitCollector::new(config(2, None), t0).unwrap();
        assert_eq!(
            enter(&mut c, t0, "#*").unwrap().into_digits().to_string(),
            "#*"
        );
    }

    #[test]
    fn first_digit_timeout_gives_empty_result() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(4, None), t0).unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + secs(5)));
        assert_eq!(c.handle_timeout(t0 + secs(4)), None);
        let out = c.handle_timeout(t0 + secs(5)).unwrap();
        assert_eq!(out, CollectOutcome::Timeout(Digits::default()));
        assert_eq!(out.digits().len(), 0);
        assert_eq!(c.handle_timeout(t0 + secs(6)), None, "reported once");
    }

    #[test]
    fn inter_digit_timeout_keeps_what_was_entered() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(6, Some(Digit::Hash)), t0).unwrap();
        assert_eq!(enter(&mut c, t0, "98"), None);
        // The last digit came at t0+2 s: the deadline moved to t0+5 s.
        assert_eq!(c.poll_timeout(), Some(t0 + secs(5)));
        assert_eq!(c.handle_timeout(t0 + secs(4)), None);
        let out = c.handle_timeout(t0 + secs(5)).unwrap();
        assert_eq!(out.digits().to_string(), "98");
        assert!(matches!(out, CollectOutcome::Timeout(_)));
    }

    #[test]
    fn each_digit_re_arms_the_inter_digit_timer() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(6, None), t0).unwrap();
        let mut now = t0;
        for k in ['1', '2', '3', '4', '5'] {
            now += Duration::from_millis(2900);
            assert_eq!(c.handle_timeout(now), None);
            assert_eq!(c.handle_digit(d(k), now).unwrap(), None);
            assert_eq!(c.poll_timeout(), Some(now + secs(3)));
        }
        assert_eq!(c.digits().len(), 5);
    }

    #[test]
    fn restart_timer_counts_from_the_end_of_the_prompt() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(3, None), t0).unwrap();
        // The menu prompt plays for 8 s; the caller waits 5 s after it.
        c.restart_timer(t0 + secs(8));
        assert_eq!(c.handle_timeout(t0 + secs(12)), None);
        assert_eq!(c.poll_timeout(), Some(t0 + secs(13)));
        // After a digit, a restart uses the inter-digit timeout.
        c.handle_digit(d('1'), t0 + secs(9)).unwrap();
        c.restart_timer(t0 + secs(10));
        assert_eq!(c.poll_timeout(), Some(t0 + secs(13)));
    }

    #[test]
    fn digits_after_the_end_are_handed_back() {
        let t0 = Instant::now();
        let mut c = DigitCollector::new(config(1, None), t0).unwrap();
        assert!(c.handle_digit(d('5'), t0).unwrap().is_some());
        assert_eq!(
            c.handle_digit(d('6'), t0),
            Err(CollectorError::Finished(d('6')))
        );
        assert!(c.digits().is_empty());
        c.restart_timer(t0);
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn bad_config_and_huge_timeouts() {
        let t0 = Instant::now();
        for max in [0, MAX_DIGITS + 1, usize::MAX] {
            assert_eq!(
                DigitCollector::new(config(max, None), t0).unwrap_err(),
                CollectorError::MaxDigits(max)
            );
        }
        let forever = CollectorConfig {
            first_digit_timeout: Duration::MAX,
            inter_digit_timeout: Duration::MAX,
            ..config(2, None)
        };
        let mut c = DigitCollector::new(forever, t0).unwrap();
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.handle_timeout(t0 + secs(1_000_000)), None);
        c.handle_digit(d('1'), t0).unwrap();
        assert_eq!(c.poll_timeout(), None);
        let zero = CollectorConfig {
            first_digit_timeout: Duration::ZERO,
            ..config(2, None)
        };
        let mut c = DigitCollector::new(zero, t0).unwrap();
        assert!(c.handle_timeout(t0).is_some());
    }
}
