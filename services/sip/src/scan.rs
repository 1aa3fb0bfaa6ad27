//! A small cursor over header values: tokens, quoted strings, separators and LWS.
//! Kept private; typed headers use it to parse their grammar.

/// Parses a non-empty run of ASCII digits (Rust's `parse` would also take a leading '+');
/// `None` when it does not fit in `T`.
pub(crate) fn digits<T: TryFrom<u64>>(s: &str) -> Option<T> {
    if s.is_empty() {
        return None;
    }
    let mut n = 0u64;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    T::try_from(n).ok()
}

/// `str::trim` (Unicode whitespace), without decoding characters when both ends are
/// visible ASCII, as they nearly always are.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x80);
    if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// Trims SP and HTAB only: Unicode spaces are content in SIP, not linear whitespace.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let lws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !lws(c)).map_or(start, |i| i + 1);
    // Both ends are at ASCII bytes, hence char boundaries.
    &s[start..end]
}

/// The first index of `needle`. SIP fields are short: below a few dozen bytes a plain loop
/// beats memchr's dispatch, above it memchr's vector search wins.
#[inline]
pub(crate) fn find_byte(needle: u8, haystack: &[u8]) -> Option<usize> {
    if haystack.len() < 48 {
        haystack.iter().position(|&b| b == needle)
    } else {
        memchr::memchr(needle, haystack)
    }
}

/// RFC 3261 `token` characters, as a table: the parser asks this for every byte of
/// every header name and parameter.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        b += 1;
    }
    t
};

#[inline]
pub(crate) const fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Short list items (slices of the input) gathered on the stack, so that the parsed list
/// can be allocated at exactly its length. SIP lists (parameters, Allow, Supported) are
/// short: a `Vec` grown by pushes would keep room for four or more entries in every
/// parsed message, and counting the separators first would scan the value twice.
#[derive(Debug)]
pub(crate) struct Gather<T: Copy, const N: usize> {
    buf: [T; N],
    len: usize,
    /// Items beyond the first `N`, rare.
    spill: Vec<T>,
}

impl<T: Copy, const N: usize> Gather<T, N> {
    #[inline]
    pub(crate) fn new(fill: T) -> Self {
        Gather {
            buf: [fill; N],
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, item: T) {
        match self.buf.get_mut(self.len) {
            Some(slot) => *slot = item,
            None => self.spill.push(item),
        }
        self.len += 1;
    }

    /// Maps the items, in order, into a `Vec` of exactly their number; stops at the first
    /// error.
    pub(crate) fn try_map<U, E>(&self, mut f: impl FnMut(T) -> Result<U, E>) -> Result<Vec<U>, E> {
        let mut out = Vec::with_capacity(self.len);
        for &item in &self.buf[..self.len.min(N)] {
            out.push(f(item)?);
        }
        for &item in &self.spill {
            out.push(f(item)?);
        }
        Ok(out)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    #[inline]
    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after optional whitespace) and returns whether it was there.
    #[inline]
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
    #[inline]
    pub(crate) fn token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        self.take_while(is_token_byte)
    }

    #[inline]
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Option<&'a str> {
        let start = self.pos;
        let rest = &self.s.as_bytes()[start..];
        let n = rest.iter().position(|&b| !f(b)).unwrap_or(rest.len());
        self.pos = start + n;
        (n > 0).then(|| &self.s[start..self.pos])
    }

    /// Everything up to (not including) the first byte in `stops`, possibly empty.
    #[inline]
    pub(crate) fn take_until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        let rest = &self.s.as_bytes()[start..];
        let len = match stops {
            [one] => crate::scan::find_byte(*one, rest),
            _ => rest.iter().position(|b| stops.contains(b)),
        };
        self.pos = len.map_or(self.s.len(), |n| start + n);
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
pub(crate) fn unquote(s: &str) -> crate::Text {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.into();
    };
    if find_byte(b'\\', inner.as_bytes()).is_none() {
        return inner.into();
    }
    let mut out = crate::Text::with_capacity(inner.len());
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

/// Splits a header value at top-level commas (not inside quotes or angle brackets),
/// yielding the non-empty parts trimmed of LWS. An iterator: most values have one part
/// and must not cost an allocation.
pub(crate) fn split_commas(value: &str) -> SplitCommas<'_> {
    SplitCommas { rest: Some(value) }
}

#[derive(Debug, Clone)]
pub(crate) struct SplitCommas<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for SplitCommas<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let value = self.rest?;
            let bytes = value.as_bytes();
            let mut end = None;
            if crate::scan::find_byte(b',', bytes).is_some() {
                let (mut in_quotes, mut in_angle) = (false, false);
                let mut i = 0;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if in_quotes => i += 1,
                        b'"' => in_quotes = !in_quotes,
                        b'<' if !in_quotes => in_angle = true,
                        b'>' if !in_quotes => in_angle = false,
                        b',' if !in_quotes && !in_angle => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            let part = match end {
                Some(i) => {
                    self.rest = Some(&value[i + 1..]);
                    &value[..i]
                }
                None => {
                    self.rest = None;
                    value
                }
            };
            let part = trim_lws(part);
            if !part.is_empty() {
                return Some(part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_commas_respects_quotes_and_brackets() {
        let v = r#""Doe, John" <sip:a@b;x=1,2>, <sip:c@d> ,sip:e@f"#;
        assert_eq!(
            split_commas(v).collect::<Vec<_>>(),
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

    #[test]
    fn gather_keeps_order_past_its_stack_room() {
        let mut g = Gather::<usize, 2>::new(0);
        for i in 0..5 {
            g.push(i);
        }
        let v = g.try_map(|i| Ok::<_, ()>(i * 10)).unwrap();
        assert_eq!(
            (v, Gather::<u8, 2>::new(0).try_map(Ok::<_, ()>)),
            (vec![0, 10, 20, 30, 40], Ok(vec![]))
        );
        assert_eq!(g.try_map(|i| if i == 3 { Err(i) } else { Ok(i) }), Err(3));
    }

    #[test]
    fn trim_is_str_trim() {
        for s in [
            "",
            " ",
            "a",
            " a\t",
            "\u{a0}a",
            "a\u{2003}",
            "\u{85}",
            "é",
            "<sip:a@b>",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }
}
