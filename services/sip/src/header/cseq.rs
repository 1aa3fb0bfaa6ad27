//! CSeq (RFC 3261 20.16).

use crate::error::ParseError;
use crate::method::Method;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let Some((n, m)) = two_words(s) else {
            return Err(ParseError::header("CSeq", "expected a number and a method"));
        };
        // RFC 3261 8.1.1.5: the sequence number is a 32-bit unsigned integer below 2**31.
        let seq: u32 = crate::scan::digits(n)
            .filter(|n: &u32| *n < 1 << 31)
            .ok_or_else(|| {
                ParseError::header(
                    "CSeq",
                    format!("sequence number {n:?} is not an integer below 2^31"),
                )
            })?;
        let method =
            Method::parse(m).ok_or_else(|| ParseError::header("CSeq", "bad method token"))?;
        Ok(CSeq { seq, method })
    }

    pub(crate) fn print(&self, out: &mut String) {
        out.push_str(&self.seq.to_string());
        out.push(' ');
        out.push_str(self.method.as_str());
    }
}

/// The two words of `s` when it has exactly two (separated as by
/// `split_ascii_whitespace`).
fn two_words(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let word = |from: usize| {
        let start = from + b[from..].iter().position(|c| !c.is_ascii_whitespace())?;
        let end = b[start..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(b.len(), |n| start + n);
        Some((start, end))
    };
    let (a, b_end) = word(0)?;
    let (c, d) = word(b_end)?;
    word(d).is_none().then(|| (&s[a..b_end], &s[c..d]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_round_trip_and_limits() {
        let c = CSeq::parse(" 4711   INVITE ").unwrap();
        assert_eq!(c.seq, 4711);
        let mut s = String::new();
        c.print(&mut s);
        assert_eq!(s, "4711 INVITE");
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INVITE extra").is_err());
    }
}
