//! Typed SIP headers. Each value is parsed when the message is parsed; headers this
//! crate does not know are kept verbatim as [`Header::Other`].
//!
//! List-valued headers that carry addresses (Via, Contact, Route, Record-Route) are split
//! at top-level commas into one [`Header`] per value, which is what transaction and proxy
//! logic manipulates. Token lists (Allow, Supported, Require) stay one header each.

mod auth;
mod cseq;
mod media_type;
mod name_addr;
mod reason;
mod via;

pub use auth::{Auth, AuthParam};
pub use cseq::CSeq;
pub use media_type::MediaType;
pub use name_addr::{Contact, NameAddr};
pub use reason::Reason;
pub use via::{BRANCH_MAGIC, Transport, Via};

use crate::Text;
use crate::error::ParseError;
use crate::method::Method;
use crate::scan::{Gather, split_commas};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    Via(Via),
    From(NameAddr),
    To(NameAddr),
    CallId(Text),
    CSeq(CSeq),
    Contact(Contact),
    MaxForwards(u32),
    Route(NameAddr),
    RecordRoute(NameAddr),
    ContentType(MediaType),
    ContentLength(usize),
    Expires(u32),
    Allow(Vec<Method>),
    Supported(Vec<Text>),
    Require(Vec<Text>),
    Authorization(Auth),
    WwwAuthenticate(Auth),
    ProxyAuthenticate(Auth),
    ProxyAuthorization(Auth),
    Reason(Reason),
    ReferTo(NameAddr),
    UserAgent(Text),
    /// Any other header, name and value as received.
    Other {
        name: Text,
        value: Text,
    },
}

/// Which typed header a name (full or compact form, any case) denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    Route,
    RecordRoute,
    ContentType,
    ContentLength,
    Expires,
    Allow,
    Supported,
    Require,
    Authorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    ProxyAuthorization,
    Reason,
    ReferTo,
    UserAgent,
}

impl Kind {
    pub(crate) fn of(name: &str) -> Option<Kind> {
        let bytes = name.as_bytes();
        let first = bytes.first()?.to_ascii_lowercase();
        if bytes.len() == 1 {
            return Some(match first {
                b'v' => Kind::Via,
                b'f' => Kind::From,
                b't' => Kind::To,
                b'i' => Kind::CallId,
                b'm' => Kind::Contact,
                b'l' => Kind::ContentLength,
                b'c' => Kind::ContentType,
                b'k' => Kind::Supported,
                b'r' => Kind::ReferTo,
                _ => return None,
            });
        }
        // Length and first letter leave one candidate (two for Call-ID and Contact); a
        // comparison of known length confirms it, exact first since senders nearly always
        // use the canonical spelling.
        let is = |canonical: &str| is_named(bytes, canonical);
        Some(match (bytes.len(), first) {
            (2, b't') if is("To") => Kind::To,
            (3, b'v') if is("Via") => Kind::Via,
            (4, b'f') if is("From") => Kind::From,
            (4, b'c') if is("CSeq") => Kind::CSeq,
            (5, b'r') if is("Route") => Kind::Route,
            (5, b'a') if is("Allow") => Kind::Allow,
            (6, b'r') if is("Reason") => Kind::Reason,
            (7, b'c') if is("Call-ID") => Kind::CallId,
            (7, b'c') if is("Contact") => Kind::Contact,
            (7, b'e') if is("Expires") => Kind::Expires,
            (7, b'r') if is("Require") => Kind::Require,
            (8, b'r') if is("Refer-To") => Kind::ReferTo,
            (9, b's') if is("Supported") => Kind::Supported,
            (10, b'u') if is("User-Agent") => Kind::UserAgent,
            (12, b'm') if is("Max-Forwards") => Kind::MaxForwards,
            (12, b'r') if is("Record-Route") => Kind::RecordRoute,
            (12, b'c') if is("Content-Type") => Kind::ContentType,
            (13, b'a') if is("Authorization") => Kind::Authorization,
            (14, b'c') if is("Content-Length") => Kind::ContentLength,
            (16, b'w') if is("WWW-Authenticate") => Kind::WwwAuthenticate,
            (18, b'p') if is("Proxy-Authenticate") => Kind::ProxyAuthenticate,
            (19, b'p') if is("Proxy-Authorization") => Kind::ProxyAuthorization,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Via => "Via",
            Kind::From => "From",
            Kind::To => "To",
            Kind::CallId => "Call-ID",
            Kind::CSeq => "CSeq",
            Kind::Contact => "Contact",
            Kind::MaxForwards => "Max-Forwards",
            Kind::Route => "Route",
            Kind::RecordRoute => "Record-Route",
            Kind::ContentType => "Content-Type",
            Kind::ContentLength => "Content-Length",
            Kind::Expires => "Expires",
            Kind::Allow => "Allow",
            Kind::Supported => "Supported",
            Kind::Require => "Require",
            Kind::Authorization => "Authorization",
            Kind::WwwAuthenticate => "WWW-Authenticate",
            Kind::ProxyAuthenticate => "Proxy-Authenticate",
            Kind::ProxyAuthorization => "Proxy-Authorization",
            Kind::Reason => "Reason",
            Kind::ReferTo => "Refer-To",
            Kind::UserAgent => "User-Agent",
        }
    }
}

/// Whether a header name is `canonical` in any case. Inlined at each call so that the
/// comparison has a constant length and needs no call to memcmp.
#[inline(always)]
fn is_named(name: &[u8], canonical: &str) -> bool {
    name == canonical.as_bytes() || name.eq_ignore_ascii_case(canonical.as_bytes())
}

fn parse_u32(s: &str, header: &'static str) -> Result<u32, ParseError> {
    let s = crate::scan::trim_lws(s);
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::header(
            header,
            format!(
                "{:?} is not a non-negative integer",
                crate::error::truncate(s, 20)
            ),
        ));
    }
    // At most ten digits: the sum fits in a u64.
    let n = s.bytes().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    u32::try_from(n).map_err(|_| ParseError::header(header, "value does not fit in 32 bits"))
}

/// The comma-separated parts of a token list (Allow, Supported, Require), trimmed of LWS,
/// empty ones skipped. Tokens hold no quotes or angle brackets, so a plain split is exact;
/// a part with a quote fails the token check of its caller.
fn token_list<'a>(s: &'a str, mut each: impl FnMut(&'a str)) {
    let b = s.as_bytes();
    let lws = |c: u8| c == b' ' || c == b'\t';
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && lws(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b',' {
            i += 1;
        }
        let mut end = i;
        while end > start && lws(b[end - 1]) {
            end -= 1;
        }
        if end > start {
            // Both ends are next to ASCII bytes (or the ends of `s`): char boundaries.
            each(&s[start..end]);
        }
        i += 1;
    }
}

fn parse_tokens(s: &str, header: &'static str) -> Result<Vec<Text>, ParseError> {
    let mut tokens = Gather::<&str, 8>::new("");
    token_list(s, |t| tokens.push(t));
    tokens.try_map(|t| {
        if t.bytes().all(crate::scan::is_token_byte) {
            Ok(t.into())
        } else {
            Err(ParseError::header(header, format!("{t:?} is not a token")))
        }
    })
}

fn parse_methods(s: &str, header: &'static str) -> Result<Vec<Method>, ParseError> {
    let mut names = Gather::<&str, 16>::new("");
    token_list(s, |m| names.push(m));
    names.try_map(|m| {
        Method::parse(m).ok_or_else(|| ParseError::header(header, format!("{m:?} is not a method")))
    })
}

impl Header {
    /// Parses one header line's value, pushing one or more typed headers.
    pub(crate) fn parse_into(
        name: &str,
        value: &str,
        out: &mut Vec<Header>,
    ) -> Result<(), ParseError> {
        let Some(kind) = Kind::of(name) else {
            out.push(Header::Other {
                name: name.into(),
                value: value.into(),
            });
            return Ok(());
        };
        let h = kind.name();
        match kind {
            Kind::Via => {
                for v in split_commas(value) {
                    out.push(Header::Via(Via::parse(v)?));
                }
                if crate::scan::trim_lws(value).is_empty() {
                    return Err(ParseError::header(h, "empty value"));
                }
            }
            Kind::Contact => {
                let mut parts = split_commas(value).peekable();
                if parts.peek().is_none() {
                    return Err(ParseError::header(h, "empty value"));
                }
                for v in parts {
                    out.push(Header::Contact(Contact::parse(v)?));
                }
            }
            Kind::Route | Kind::RecordRoute => {
                for v in split_commas(value) {
                    let a = NameAddr::parse(v, h)?;
                    out.push(if kind == Kind::Route {
                        Header::Route(a)
                    } else {
                        Header::RecordRoute(a)
                    });
                }
            }
            Kind::From => out.push(Header::From(NameAddr::parse(value, h)?)),
            Kind::To => out.push(Header::To(NameAddr::parse(value, h)?)),
            Kind::ReferTo => out.push(Header::ReferTo(NameAddr::parse(value, h)?)),
            Kind::CallId => {
                let v = crate::scan::trim_lws(value);
                // word [ "@" word ]: printable ASCII without spaces.
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ParseError::header(h, "must be one word of printable ASCII"));
                }
                out.push(Header::CallId(v.into()));
            }
            Kind::CSeq => out.push(Header::CSeq(CSeq::parse(value)?)),
            Kind::MaxForwards => {
                let n = parse_u32(value, h)?;
                if n > 255 {
                    return Err(ParseError::header(h, "must be at most 255"));
                }
                out.push(Header::MaxForwards(n));
            }
            Kind::ContentType => out.push(Header::ContentType(MediaType::parse(value)?)),
            Kind::ContentLength => out.push(Header::ContentLength(parse_u32(value, h)? as usize)),
            Kind::Expires => out.push(Header::Expires(parse_u32(value, h)?)),
            Kind::Allow => out.push(Header::Allow(parse_methods(value, h)?)),
            Kind::Supported => out.push(Header::Supported(parse_tokens(value, h)?)),
            Kind::Require => out.push(Header::Require(parse_tokens(value, h)?)),
            Kind::Authorization => out.push(Header::Authorization(Auth::parse(value, h)?)),
            Kind::WwwAuthenticate => out.push(Header::WwwAuthenticate(Auth::parse(value, h)?)),
            Kind::ProxyAuthenticate => out.push(Header::ProxyAuthenticate(Auth::parse(value, h)?)),
            Kind::ProxyAuthorization => {
                out.push(Header::ProxyAuthorization(Auth::parse(value, h)?))
            }
            Kind::Reason => out.push(Header::Reason(Reason::parse(value)?)),
            Kind::UserAgent => out.push(Header::UserAgent(crate::scan::trim_lws(value).into())),
        }
        Ok(())
    }

    /// The canonical (long form) name.
    pub fn name(&self) -> &str {
        match self {
            Header::Via(_) => "Via",
            Header::From(_) => "From",
            Header::To(_) => "To",
            Header::CallId(_) => "Call-ID",
            Header::CSeq(_) => "CSeq",
            Header::Contact(_) => "Contact",
            Header::MaxForwards(_) => "Max-Forwards",
            Header::Route(_) => "Route",
            Header::RecordRoute(_) => "Record-Route",
            Header::ContentType(_) => "Content-Type",
            Header::ContentLength(_) => "Content-Length",
            Header::Expires(_) => "Expires",
            Header::Allow(_) => "Allow",
            Header::Supported(_) => "Supported",
            Header::Require(_) => "Require",
            Header::Authorization(_) => "Authorization",
            Header::WwwAuthenticate(_) => "WWW-Authenticate",
            Header::ProxyAuthenticate(_) => "Proxy-Authenticate",
            Header::ProxyAuthorization(_) => "Proxy-Authorization",
            Header::Reason(_) => "Reason",
            Header::ReferTo(_) => "Refer-To",
            Header::UserAgent(_) => "User-Agent",
            Header::Other { name, .. } => name,
        }
    }

    /// Prints `Name: value` (without CRLF).
    pub(crate) fn print(&self, out: &mut String) {
        out.push_str(self.name());
        out.push_str(": ");
        match self {
            Header::Via(v) => v.print(out),
            Header::From(a)
            | Header::To(a)
            | Header::Route(a)
            | Header::RecordRoute(a)
            | Header::ReferTo(a) => a.print(out),
            Header::Contact(c) => c.print(out),
            Header::CallId(s) | Header::UserAgent(s) => out.push_str(s),
            Header::CSeq(c) => c.print(out),
            Header::MaxForwards(n) | Header::Expires(n) => out.push_str(&n.to_string()),
            Header::ContentLength(n) => out.push_str(&n.to_string()),
            Header::ContentType(m) => m.print(out),
            Header::Allow(ms) => join(ms.iter().map(Method::as_str), out),
            Header::Supported(ts) | Header::Require(ts) => join(ts.iter().map(Text::as_str), out),
            Header::Authorization(a)
            | Header::WwwAuthenticate(a)
            | Header::ProxyAuthenticate(a)
            | Header::ProxyAuthorization(a) => a.print(out),
            Header::Reason(r) => r.print(out),
            Header::Other { value, .. } => out.push_str(value),
        }
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>, out: &mut String) {
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_finds_its_kind_in_any_case() {
        let kinds = [
            Kind::Via,
            Kind::From,
            Kind::To,
            Kind::CallId,
            Kind::CSeq,
            Kind::Contact,
            Kind::MaxForwards,
            Kind::Route,
            Kind::RecordRoute,
            Kind::ContentType,
            Kind::ContentLength,
            Kind::Expires,
            Kind::Allow,
            Kind::Supported,
            Kind::Require,
            Kind::Authorization,
            Kind::WwwAuthenticate,
            Kind::ProxyAuthenticate,
            Kind::ProxyAuthorization,
            Kind::Reason,
            Kind::ReferTo,
            Kind::UserAgent,
        ];
        for kind in kinds {
            let name = kind.name();
            for spelling in [name.to_owned(), name.to_lowercase(), name.to_uppercase()] {
                assert_eq!(Kind::of(&spelling), Some(kind), "{spelling}");
            }
        }
        assert_eq!(Kind::of("i"), Some(Kind::CallId));
        assert_eq!(Kind::of("M"), Some(Kind::Contact));
        for other in [
            "",
            "x",
            "Vias",
            "Call-IE",
            "Contacts",
            "Subject",
            "CSeq-",
            "Max-Forward",
        ] {
            assert_eq!(Kind::of(other), None, "{other}");
        }
    }

    #[test]
    fn token_lists_split_like_split_and_trim() {
        for s in [
            "",
            ",",
            " a ,b,, c\t",
            "INVITE, ACK",
            "a",
            " , a , ",
            "\u{a0}a, b",
        ] {
            let mut got = Vec::new();
            token_list(s, |t| got.push(t));
            let want: Vec<&str> = s
                .split(',')
                .map(crate::scan::trim_lws)
                .filter(|t| !t.is_empty())
                .collect();
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn lists_longer_than_the_stack_room_keep_order_and_exact_size() {
        let names = ["INVITE", "ACK", "BYE"].repeat(7).join(", ");
        let methods = parse_methods(&names, "Allow").unwrap();
        assert_eq!((methods.len(), methods.capacity()), (21, 21));
        assert_eq!(methods[20], Method::Bye);
        assert!(parse_methods("INVITE, \"ACK\"", "Allow").is_err());
        let tokens = parse_tokens("a, b, c", "Supported").unwrap();
        assert_eq!((tokens.len(), tokens.capacity()), (3, 3));
    }
}
