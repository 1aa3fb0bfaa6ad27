//! The caller's window: when a callback may be dialled.
//!
//! A window is a set of UTC spans `[start, end)` plus the caller's IANA time zone (for
//! display: the spans are instants). A request has one span; a merged callback has the union
//! of its requests' spans (see [`Window::union`] for why the union, not the intersection or
//! the hull).

use serde::{Deserialize, Serialize};

use super::error::CallbackError;
use super::time::Timestamp;

/// How many disjoint spans a window keeps; merging more joins the two closest.
pub const MAX_SPANS: usize = 8;

/// One span `[start, end)` of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// The first instant of the span.
    pub start: Timestamp,
    /// The first instant after the span.
    pub end: Timestamp,
}

/// When a callback may be dialled: sorted, disjoint, non-adjacent spans, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowRepr")]
pub struct Window {
    spans: Vec<Span>,
    tz: String,
}

/// The stored shape, checked on the way in.
#[derive(Deserialize)]
struct WindowRepr {
    spans: Vec<Span>,
    tz: String,
}

impl TryFrom<WindowRepr> for Window {
    type Error = CallbackError;

    fn try_from(repr: WindowRepr) -> Result<Self, Self::Error> {
        check_tz(&repr.tz)?;
        if repr.spans.is_empty() || repr.spans.len() > MAX_SPANS {
            return Err(CallbackError::InvalidWindow(format!(
                "{} spans (1 to {MAX_SPANS})",
                repr.spans.len()
            )));
        }
        let ordered = repr.spans.iter().all(|s| s.start < s.end)
            && repr.spans.windows(2).all(|w| w[0].end < w[1].start);
        if !ordered {
            return Err(CallbackError::InvalidWindow(
                "spans must be non-empty, sorted and apart".into(),
            ));
        }
        Ok(Self {
            spans: repr.spans,
            tz: repr.tz,
        })
    }
}

fn check_tz(tz: &str) -> Result<(), CallbackError> {
    tz.parse::<chrono_tz::Tz>()
        .map(|_| ())
        .map_err(|_| CallbackError::InvalidTimeZone(tz.chars().take(64).collect()))
}

impl Window {
    /// `[earliest, latest)` for a caller in time zone `tz` (an IANA name such as
    /// `Europe/Berlin`).
    pub fn new(earliest: Timestamp, latest: Timestamp, tz: &str) -> Result<Self, CallbackError> {
        check_tz(tz)?;
        if earliest >= latest {
            return Err(CallbackError::InvalidWindow(format!(
                "earliest {earliest} is not before latest {latest}"
            )));
        }
        Ok(Self {
            spans: vec![Span {
                start: earliest,
                end: latest,
            }],
            tz: tz.to_owned(),
        })
    }

    /// The first instant of the window.
    pub fn earliest(&self) -> Timestamp {
        self.spans
            .first()
            .map_or(Timestamp::from_unix_ms(0), |s| s.start)
    }

    /// The first instant after the window.
    pub fn latest(&self) -> Timestamp {
        self.spans
            .last()
            .map_or(Timestamp::from_unix_ms(0), |s| s.end)
    }

    /// The spans, in order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The caller's time zone (IANA name), for showing the window in the caller's clock.
    pub fn tz(&self) -> &str {
        &self.tz
    }

    /// Whether `t` is inside the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.spans.iter().any(|s| s.start <= t && t < s.end)
    }

    /// The first instant at or after `t` inside the window and the end of its span; `None`
    /// when the window is over by `t`.
    pub fn at_or_after(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let i = self.spans.partition_point(|s| s.end <= t);
        self.spans.get(i).map(|s| (s.start.max(t), s.end))
    }

    /// Adds `other`'s spans (the time zone stays this window's).
    ///
    /// Why the union: each request promised the caller a call inside its window. The
    /// intersection of two windows can be empty and would break both promises; their hull
    /// (earliest start to latest end) would allow calling in the gap between them, when the
    /// caller said neither. The union keeps every promise and calls only when the caller
    /// said it was convenient. More than [`MAX_SPANS`] disjoint spans (a caller asking again
    /// and again) join the two closest into their hull.
    pub fn union(&mut self, other: &Window) {
        self.spans.extend_from_slice(&other.spans);
        self.spans.sort_unstable_by_key(|s| (s.start, s.end));
        let mut joined: Vec<Span> = Vec::with_capacity(self.spans.len());
        for span in self.spans.drain(..) {
            match joined.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => joined.push(span),
            }
        }
        while joined.len() > MAX_SPANS {
            let closest = (0..joined.len() - 1).min_by_key(|&i| {
                joined[i + 1]
                    .start
                    .unix_ms()
                    .saturating_sub(joined[i].end.unix_ms())
            });
            let Some(i) = closest else { break };
            let next = joined.remove(i + 1);
            joined[i].end = next.end;
        }
        self.spans = joined;
    }
}
