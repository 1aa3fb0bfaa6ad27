//! A small cursor over header values: tokens, quoted strings, separators and LWS.
//! Kept private; typed headers use it to parse their grammar.

/// Parses a non-empty run of ASCII digits (Rust's `parse` would also take a leading '+').
pub(crate) fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Trims SP and HTAB only: Unicode spaces are content in SIP, not linear whitespace.
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !lws(c)).map_or(start, |i| i + 1);
    // Both ends are at ASCII bytes, hence char boundaries.
    &s[start..end]
}

pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after optional whitespace) and returns whether it was there.
    pub(crate) fn eat(&mut self, c: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            self.pos = save;
            false
        }
    }

    /// A non-empty token (RFC 3261 25.1), after optional whitespace.
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        self.take_while(is_token_byte)
    }

    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.s[start..self.pos])
    }

    /// Everything up to (not including) the first byte in `stops`, possibly empty.
    pub(crate) fn take_until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| !stops.contains(&b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A quoted string including its quotes, as written. `None` if unterminated.
    pub(crate) fn quoted_raw(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let bytes = self.s.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos;
        let mut i = self.pos + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.pos = i + 1;
                    return Some(&self.s[start..self.pos]);
                }
                _ => i += 1,
            }
        }
        None
    }
}

/// Removes the quotes and backslash escapes of a quoted string; returns the input
/// unchanged when it is not quoted.
pub(crate) fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes `s` as a quoted-string, escaping `"`, `\` and control characters (RFC 3261
/// quoted-pair). CR and LF cannot be escaped and are dropped.
pub(crate) fn quote_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '\r' || c == '\n' {
            continue;
        }
        if c == '"' || c == '\\' || c.is_ascii_control() {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Splits a header value at top-level commas (not inside quotes or angle brackets).
pub(crate) fn split_commas(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    if !bytes.contains(&b',') {
        let v = trim_lws(value);
        return if v.is_empty() { Vec::new() } else { vec![v] };
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => {
                parts.push(trim_lws(&value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(trim_lws(&value[start..]));
    parts.retain(|p| !p.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_commas_respects_quotes_and_brackets() {
        let v = r#""Doe, John" <sip:a@b;x=1,2>, <sip:c@d> ,sip:e@f"#;
        assert_eq!(
            split_commas(v),
            vec![r#""Doe, John" <sip:a@b;x=1,2>"#, "<sip:c@d>", "sip:e@f"]
        );
    }

    #[test]
    fn quoted_strings_round_trip() {
        let mut out = String::new();
        quote_into(r#"a "b" \c"#, &mut out);
        assert_eq!(unquote(&out), r#"a "b" \c"#);
        let mut c = Cursor::new(r#" "x\"y" rest"#);
        assert_eq!(c.quoted_raw(), Some(r#""x\"y""#));
        assert_eq!(c.rest(), " rest");
        assert_eq!(Cursor::new("\"open").quoted_raw(), None);
    }
}
