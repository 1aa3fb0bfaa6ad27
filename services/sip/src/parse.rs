//! Parsing a whole message from bytes: the start line, folded header lines, typed
//! headers and the body delimited by Content-Length.

use std::borrow::Cow;

use crate::error::{ParseError, truncate};
use crate::header::{Header, Kind};
use crate::message::{Headers, Message, Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// Finds the end of the header block: the index just past the empty line.
pub(crate) fn header_end(data: &[u8]) -> Option<usize> {
    scan_head(data, |_| {})
}

/// Finds the end of the header block, telling `on_line_end` where each line ends.
fn scan_head(data: &[u8], mut on_line_end: impl FnMut(usize)) -> Option<usize> {
    // Jump from line end to line end; an empty line (LF LF or LF CR LF) ends the headers.
    let mut from = 0;
    while let Some(off) = memchr::memchr(b'\n', &data[from..]) {
        let i = from + off;
        on_line_end(i);
        match data.get(i + 1) {
            Some(b'\n') => {
                on_line_end(i + 1);
                return Some(i + 2);
            }
            Some(b'\r') if data.get(i + 2) == Some(&b'\n') => {
                on_line_end(i + 2);
                return Some(i + 3);
            }
            None => return None,
            _ => from = i + 1,
        }
    }
    None
}

/// Where the first lines of a header block end, noted while looking for the block's end so
/// that splitting the lines does not search for them again.
struct LineEnds {
    at: [usize; 32],
    /// How many line ends were seen (the first 32 are in `at`).
    count: usize,
}

impl LineEnds {
    fn new() -> Self {
        LineEnds {
            at: [0; 32],
            count: 0,
        }
    }

    fn push(&mut self, i: usize) {
        if let Some(slot) = self.at.get_mut(self.count) {
            *slot = i;
        }
        self.count += 1;
    }

    fn known(&self) -> &[usize] {
        &self.at[..self.count.min(self.at.len())]
    }
}

/// Whether no header line can hold a control character: the whole block has none but
/// HTAB and line ends, and every CR ends a line. Then the per-line check is skipped.
fn head_is_clean(head: &[u8]) -> bool {
    let odd = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || b == 0x7f;
    // No early exit: a plain fold vectorises.
    !head.iter().fold(false, |seen, &b| seen | odd(b))
        && memchr::memchr_iter(b'\r', head).all(|i| head.get(i + 1) == Some(&b'\n'))
}

/// Number of leading CR/LF bytes (keep-alives and stray line ends before a message).
pub(crate) fn leading_crlf(data: &[u8]) -> usize {
    data.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Parses one message received as a datagram (or framed from a stream).
///
/// Content-Length is optional on a datagram: without it the body is the rest of the
/// datagram; with it, the body is cut to that length and a shorter datagram is an error.
pub fn parse_message(data: &[u8]) -> Result<Message, ParseError> {
    let data = &data[leading_crlf(data)..];
    if data.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut ends = LineEnds::new();
    let end = scan_head(data, |i| ends.push(i)).ok_or(ParseError::Unterminated)?;
    let head = std::str::from_utf8(&data[..end]).map_err(|_| ParseError::NotUtf8)?;
    let clean = head_is_clean(head.as_bytes());
    let rest = &data[end..];

    let mut lines = Lines {
        head,
        pos: 0,
        ends: ends.known(),
        line: 0,
    };
    // The start line is one physical line: a following line that starts with whitespace
    // is a malformed header, not a continuation of the start line.
    let start_line = lines.physical().ok_or(ParseError::Empty)?;
    let start = parse_start_line(start_line)?;
    // One header per line between the start line and the empty line is right for nearly
    // every message (comma lists add a few, folded lines take a few away).
    let mut headers = Vec::with_capacity(ends.count.saturating_sub(2));
    // The logical lines of `Lines`, without a `Cow` per line: a folded line is joined in
    // one reused buffer.
    let mut folded = String::new();
    while let Some(first) = lines.physical() {
        if first.is_empty() {
            continue;
        }
        let line = if lines.next_is_continuation() {
            lines.join_continuations(first, &mut folded);
            folded.as_str()
        } else {
            first
        };
        let (name, value) = split_header_line(line, clean)?;
        Header::parse_into(name, value, &mut headers)?;
    }
    let headers = Headers(headers);
    let content_length = check_counts(&headers)?;
    let body = match content_length {
        Some(n) if n > rest.len() => {
            return Err(ParseError::BodyTruncated {
                declared: n,
                available: rest.len(),
            });
        }
        Some(n) => rest[..n].to_vec(),
        None => rest.to_vec(),
    };
    match start {
        StartLine::Response { status, reason } => Ok(Message::Response(Response {
            status,
            reason: reason.to_owned(),
            headers,
            body,
        })),
        StartLine::Request { method, uri } => {
            if let Some(cseq) = headers.cseq()
                && cseq.method != method
            {
                return Err(ParseError::CseqMismatch {
                    cseq: cseq.method.to_string(),
                    method: method.to_string(),
                });
            }
            Ok(Message::Request(Request {
                method,
                uri,
                headers,
                body,
            }))
        }
    }
}

enum StartLine<'a> {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: &'a str },
}

/// `Method SP Request-URI SP SIP-Version` or `SIP-Version SP Status-Code SP Reason-Phrase`,
/// with exactly single spaces where the grammar has SP.
fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(ParseError::StartLine(
            "control character in the start line".into(),
        ));
    }
    if line.strip_prefix_ci("SIP/").is_some() {
        let (version, rest) = line.split_once(' ').ok_or_else(|| start_err(line))?;
        check_version(version)?;
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status = (code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
            .then(|| code.parse::<u16>().ok())
            .flatten()
            .filter(|c| (100..700).contains(c))
            .ok_or_else(|| {
                ParseError::StartLine(format!(
                    "status code {:?} is not three digits 100-699",
                    truncate(code, 10)
                ))
            })?;
        return Ok(StartLine::Response {
            status,
            reason: reason.trim_matches([' ', '\t']),
        });
    }
    // Exactly two spaces: method, URI and version.
    let space = |s: &str| crate::scan::find_byte(b' ', s.as_bytes());
    let parts = space(line).and_then(|i| {
        let rest = &line[i + 1..];
        let j = space(rest)?;
        let version = &rest[j + 1..];
        space(version)
            .is_none()
            .then(|| (&line[..i], &rest[..j], version))
    });
    let Some((method, uri, version)) = parts else {
        return Err(ParseError::StartLine(format!(
            "expected \"METHOD URI SIP/2.0\" with single spaces, got {:?}",
            truncate(line, 60)
        )));
    };
    check_version(version)?;
    let method = Method::parse(method).ok_or_else(|| start_err(line))?;
    if uri.is_empty() || uri.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::StartLine(
            "Request-URI contains whitespace".into(),
        ));
    }
    let uri = Uri::parse(uri)?;
    if !uri.is_supported_scheme() {
        return Err(ParseError::UnsupportedScheme(truncate(
            &uri.to_string(),
            60,
        )));
    }
    if let Uri::Sip(u) = &uri
        && !u.headers.is_empty()
    {
        return Err(ParseError::uri(
            uri.to_string().as_str(),
            "a Request-URI carries no headers",
        ));
    }
    Ok(StartLine::Request { method, uri })
}

/// Checks the header counts in one pass: headers that may appear once only (RFC 3261
/// 7.3.1: two Content-Lengths in particular are how request smuggling starts), then the
/// mandatory ones. Returns the Content-Length.
fn check_counts(h: &Headers) -> Result<Option<usize>, ParseError> {
    let mut seen = [0u8; 7];
    let mut via = false;
    let mut content_length = None;
    for header in h.iter() {
        let i = match header {
            Header::Via(_) => {
                via = true;
                continue;
            }
            Header::From(_) => 0,
            Header::To(_) => 1,
            Header::CallId(_) => 2,
            Header::CSeq(_) => 3,
            Header::MaxForwards(_) => 4,
            Header::ContentLength(n) => {
                content_length = Some(*n);
                5
            }
            Header::ContentType(_) => 6,
            _ => continue,
        };
        seen[i] += 1;
        if seen[i] > 1 {
            return Err(ParseError::header(
                header_name(header),
                "appears more than once",
            ));
        }
    }
    let mandatory = [
        (via, "Via"),
        (seen[0] > 0, "From"),
        (seen[1] > 0, "To"),
        (seen[2] > 0, "Call-ID"),
        (seen[3] > 0, "CSeq"),
    ];
    match mandatory.into_iter().find(|(present, _)| !present) {
        Some((_, name)) => Err(ParseError::Missing(name)),
        None => Ok(content_length),
    }
}

fn header_name(h: &Header) -> &'static str {
    match h {
        Header::From(_) => "From",
        Header::To(_) => "To",
        Header::CallId(_) => "Call-ID",
        Header::CSeq(_) => "CSeq",
        Header::MaxForwards(_) => "Max-Forwards",
        Header::ContentLength(_) => "Content-Length",
        _ => "Content-Type",
    }
}

fn start_err(line: &str) -> ParseError {
    ParseError::StartLine(truncate(line, 60))
}

fn check_version(v: &str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        Ok(())
    } else {
        Err(ParseError::Version(truncate(v, 20)))
    }
}

trait StripCi {
    fn strip_prefix_ci(&self, p: &str) -> Option<&str>;
}

impl StripCi for str {
    fn strip_prefix_ci(&self, p: &str) -> Option<&str> {
        let head = self.get(..p.len())?;
        head.eq_ignore_ascii_case(p).then(|| &self[p.len()..])
    }
}

/// Yields logical header lines: CRLF (or bare LF) separated, continuation lines that
/// start with whitespace joined to the previous line with one space (RFC 3261 7.3.1).
fn unfold(head: &str) -> Lines<'_> {
    Lines {
        head,
        pos: 0,
        ends: &[],
        line: 0,
    }
}

/// Logical header lines of a header block (see [`unfold`]).
struct Lines<'a> {
    head: &'a str,
    pos: usize,
    /// Where the first physical lines end, when already known.
    ends: &'a [usize],
    /// How many physical lines were taken.
    line: usize,
}

impl<'a> Lines<'a> {
    /// The next physical line without its line end, or `None` at the end.
    #[inline]
    pub(crate) fn physical(&mut self) -> Option<&'a str> {
        let bytes = self.head.as_bytes();
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        let end = match self.ends.get(self.line) {
            Some(&end) => end,
            None => {
                crate::scan::find_byte(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i)
            }
        };
        self.line += 1;
        self.pos = end + 1;
        let line = &self.head[start..end];
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    fn next_is_continuation(&self) -> bool {
        matches!(self.head.as_bytes().get(self.pos), Some(b' ' | b'\t'))
    }

    /// Writes `first` and the continuation lines after it into `out`, each joined with
    /// one space.
    fn join_continuations(&mut self, first: &str, out: &mut String) {
        out.clear();
        out.push_str(first);
        while self.next_is_continuation() {
            let Some(next) = self.physical() else { break };
            out.push(' ');
            out.push_str(next.trim_start());
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Cow<'a, str>;

    fn next(&mut self) -> Option<Cow<'a, str>> {
        loop {
            let first = self.physical()?;
            if first.is_empty() {
                // Either the terminating empty line or stray blank lines: skip.
                continue;
            }
            if !self.next_is_continuation() {
                return Some(Cow::Borrowed(first));
            }
            let mut line = String::new();
            self.join_continuations(first, &mut line);
            return Some(Cow::Owned(line));
        }
    }
}

/// Splits `Name: value`. `clean` says the whole header block is known to hold no control
/// character (see [`head_is_clean`]), which spares the per-line check.
#[inline]
fn split_header_line(line: &str, clean: bool) -> Result<(&str, &str), ParseError> {
    // Fast path: a token, optional LWS, a colon. The same split as the full check whenever
    // that succeeds (neither a token nor LWS holds a colon), in one pass over the name.
    let bytes = line.as_bytes();
    let name_len = bytes
        .iter()
        .position(|&b| !crate::scan::is_token_byte(b))
        .unwrap_or(bytes.len());
    let mut colon = name_len;
    while matches!(bytes.get(colon), Some(b' ' | b'\t')) {
        colon += 1;
    }
    if clean && name_len > 0 && bytes.get(colon) == Some(&b':') {
        return Ok((&line[..name_len], crate::scan::trim_lws(&line[colon + 1..])));
    }
    split_header_line_checked(line, clean)
}

/// [`split_header_line`] for lines the fast path does not take: checks every byte and
/// names what is wrong.
#[cold]
fn split_header_line_checked(line: &str, clean: bool) -> Result<(&str, &str), ParseError> {
    let colon = crate::scan::find_byte(b':', line.as_bytes())
        .ok_or_else(|| ParseError::HeaderLine(truncate(line, 40)))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let name = name.trim_end_matches([' ', '\t']);
    if name.is_empty() || !name.bytes().all(crate::scan::is_token_byte) {
        return Err(ParseError::HeaderLine(truncate(line, 40)));
    }
    // A bare CR or NUL inside a value would be echoed into responses: a header injection.
    // Only a quoted-pair (backslash first) may carry a control character, never CR or LF.
    let bytes = value.as_bytes();
    let is_control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    // Fast path first: almost every line has no control byte at all.
    // (No early exit in the first scan: a plain fold vectorises.)
    let bad = !clean
        && bytes.iter().fold(false, |seen, &b| seen | is_control(b))
        && bytes.iter().enumerate().any(|(i, &b)| {
            is_control(b) && (b == b'\r' || b == b'\n' || i == 0 || bytes[i - 1] != b'\\')
        });
    if bad {
        let reason = "contains a control character";
        return Err(match Kind::of(name) {
            Some(kind) => ParseError::header(kind.name(), reason),
            None => ParseError::header_named(name, reason),
        });
    }
    Ok((name, crate::scan::trim_lws(value)))
}

/// Builds a 400-class response straight from raw bytes that failed to parse, copying the
/// Via, From, To, Call-ID and CSeq headers (RFC 3261 8.2.6). Returns `None` when the bytes
/// are not a request (responses and ACKs are never answered) or when one of those headers
/// is missing or itself malformed: a response the client cannot match to its request is
/// useless, so the message can only be dropped. Whatever is returned parses as a response.
pub fn error_response_from_raw(data: &[u8], status: u16, detail: &str) -> Option<Vec<u8>> {
    let data = &data[leading_crlf(data)..];
    let end = header_end(data).unwrap_or(data.len().min(64 * 1024));
    let head = String::from_utf8_lossy(&data[..end]);
    let mut lines = unfold(&head);
    let start = lines.next()?;
    // A response starts with "SIP/2.0", which is not a method token ('/').
    let method = start.split(' ').next()?;
    if method.is_empty()
        || method.eq_ignore_ascii_case("ACK")
        || !method.bytes().all(crate::scan::is_token_byte)
    {
        return None;
    }
    let mut copied = Vec::with_capacity(8);
    for line in lines {
        let Ok((name, value)) = split_header_line(&line, false) else {
            continue;
        };
        if matches!(
            Kind::of(name),
            Some(Kind::Via | Kind::From | Kind::To | Kind::CallId | Kind::CSeq)
        ) {
            Header::parse_into(name, value, &mut copied).ok()?;
        }
    }
    let mut response = Response::new(status);
    response.headers = Headers(copied);
    let h = &response.headers;
    if h.top_via().is_none() || h.from().is_none() || h.call_id().is_none() || h.cseq().is_none() {
        return None;
    }
    // RFC 3261 8.2.6.2: a response that is not 100 carries a To tag. No dialog can come of
    // a rejection, so a fixed tag is enough.
    let to = response.headers.to_mut()?;
    if to.tag().is_none() {
        to.params.set("tag", Some("ccd-rejected"));
    }
    response.reason = format!("{} ({detail})", crate::message::reason_phrase(status))
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    let bytes = response.to_bytes();
    parse_message(&bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                           From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn long_header_blocks_and_folded_lines_split_like_short_ones() {
        // More lines than the line ends noted while finding the end of the block.
        let mut raw = MINIMAL.to_owned();
        for i in 0..40 {
            raw.push_str(&format!("X-{i}: v{i}\r\n"));
        }
        raw.push_str("Subject: a\r\n  folded\r\n\r\n");
        let m = parse_message(raw.as_bytes()).unwrap();
        for i in 0..40 {
            assert_eq!(
                m.headers().other(&format!("X-{i}")),
                Some(format!("v{i}").as_str())
            );
        }
        assert_eq!(m.headers().other("Subject"), Some("a folded"));
        assert_eq!(
            parse_message(raw.replace("\r\n", "\n").as_bytes()).unwrap(),
            m
        );
    }

    #[test]
    fn control_characters_are_refused_wherever_they_are() {
        // The check of the whole block only lets clean blocks skip the per-line check.
        for bad in ["X-A: a\rb", "X-A: a\0b", "X-A: \x7f", "Subject: a\r\n \x01"] {
            let raw = format!("{MINIMAL}{bad}\r\n\r\n");
            let err = parse_message(raw.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("control character"),
                "{bad:?}: {err}"
            );
        }
        let quoted_pair = format!("{MINIMAL}X-A: \"a\\\x01\"\r\n\r\n");
        assert!(parse_message(quoted_pair.as_bytes()).is_ok());
    }

    #[test]
    fn a_serialized_response_parses_back_to_itself() {
        let raw = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
                    To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let Message::Response(r) = parse_message(raw.as_bytes()).unwrap() else {
            panic!("not a response")
        };
        assert_eq!((r.status, r.reason.as_str()), (180, "Ringing"));
        assert_eq!(parse_message(&r.to_bytes()).unwrap(), Message::Response(r));
        assert!(matches!(
            parse_message(raw.replace("SIP/2.0 180", "SIP/3.0 180").as_bytes()),
            Err(ParseError::Version(_))
        ));
    }

    const BAD_MF: &str = "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
                          To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: x\r\n\r\n";

    fn rejected(raw: &[u8]) -> Option<Response> {
        let bytes = error_response_from_raw(raw, 400, "why")?;
        match parse_message(&bytes) {
            Ok(Message::Response(r)) => Some(r),
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn rejection_copies_the_five_headers_and_tags_to() {
        assert!(parse_message(BAD_MF.as_bytes()).is_err());
        let r = rejected(BAD_MF.as_bytes()).unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.reason, "Bad Request (why)");
        assert_eq!(r.headers.call_id(), Some("c"));
        assert_eq!(r.headers.to().unwrap().tag(), Some("ccd-rejected"));
    }

    #[test]
    fn rejection_keeps_folded_header_lines() {
        let folded = BAD_MF.replace("Call-ID: c", "Call-ID:\r\n c");
        assert_eq!(
            rejected(folded.as_bytes()).unwrap().headers.call_id(),
            Some("c")
        );
    }

    #[test]
    fn rejection_is_dropped_when_a_copied_header_is_itself_broken() {
        assert!(
            rejected(
                BAD_MF
                    .replace("SIP/2.0/UDP h;", "SIP/2.0/UDP h h;")
                    .as_bytes()
            )
            .is_none()
        );
        assert!(rejected(BAD_MF.replace("CSeq: 1", "CSeq: one").as_bytes()).is_none());
        assert!(rejected(BAD_MF.replace("Call-ID: c\r\n", "").as_bytes()).is_none());
    }

    #[test]
    fn rejection_never_answers_responses_acks_or_non_utf8_start_lines() {
        assert!(
            rejected(
                BAD_MF
                    .replace("OPTIONS sip:a SIP/2.0", "SIP/2.0 200 OK")
                    .as_bytes()
            )
            .is_none()
        );
        assert!(rejected(BAD_MF.replace("OPTIONS", "ACK").as_bytes()).is_none());
        let mut raw = b"\xff\xfe\xfd\xfc".to_vec();
        raw.extend_from_slice(BAD_MF.as_bytes());
        assert!(rejected(&raw).is_none());
    }
}
