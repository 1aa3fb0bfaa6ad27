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
use crate::scan::split_commas;

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
        let eq = |s: &str| name.eq_ignore_ascii_case(s);
        Some(match name.len() {
            1 => match name.as_bytes()[0].to_ascii_lowercase() {
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
            },
            2 if eq("To") => Kind::To,
            3 if eq("Via") => Kind::Via,
            4 if eq("From") => Kind::From,
            4 if eq("CSeq") => Kind::CSeq,
            5 if eq("Route") => Kind::Route,
            5 if eq("Allow") => Kind::Allow,
            6 if eq("Reason") => Kind::Reason,
            7 if eq("Call-ID") => Kind::CallId,
            7 if eq("Contact") => Kind::Contact,
            7 if eq("Expires") => Kind::Expires,
            7 if eq("Require") => Kind::Require,
            8 if eq("Refer-To") => Kind::ReferTo,
            9 if eq("Supported") => Kind::Supported,
            10 if eq("User-Agent") => Kind::UserAgent,
            12 if eq("Max-Forwards") => Kind::MaxForwards,
            12 if eq("Record-Route") => Kind::RecordRoute,
            12 if eq("Content-Type") => Kind::ContentType,
            13 if eq("Authorization") => Kind::Authorization,
            14 if eq("Content-Length") => Kind::ContentLength,
            16 if eq("WWW-Authenticate") => Kind::WwwAuthenticate,
            18 if eq("Proxy-Authenticate") => Kind::ProxyAuthenticate,
            19 if eq("Proxy-Authorization") => Kind::ProxyAuthorization,
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
    s.parse()
        .map_err(|_| ParseError::header(header, "value does not fit in 32 bits"))
}

/// The comma-separated parts of a token list (Allow, Supported, Require). Tokens hold no
/// quotes or angle brackets, so a plain split is exact; a part with a quote fails the
/// token check of its caller.
fn token_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',')
        .map(crate::scan::trim_lws)
        .filter(|t| !t.is_empty())
}

fn parse_tokens(s: &str, header: &'static str) -> Result<Vec<Text>, ParseError> {
    token_list(s)
        .map(|t| {
            if t.bytes().all(crate::scan::is_token_byte) {
                Ok(t.into())
            } else {
                Err(ParseError::header(header, format!("{t:?} is not a token")))
            }
        })
        .collect()
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
        let header = match kind {
            Kind::Via => {
                for v in split_commas(value) {
                    out.push(Header::Via(Via::parse(v)?));
                }
                if crate::scan::trim_lws(value).is_empty() {
                    return Err(ParseError::header(h, "empty value"));
                }
                return Ok(());
            }
            Kind::Contact => {
                let mut parts = split_commas(value).peekable();
                if parts.peek().is_none() {
                    return Err(ParseError::header(h, "empty value"));
                }
                for v in parts {
                    out.push(Header::Contact(Contact::parse(v)?));
                }
                return Ok(());
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
                return Ok(());
            }
            Kind::From => Header::From(NameAddr::parse(value, h)?),
            Kind::To => Header::To(NameAddr::parse(value, h)?),
            Kind::ReferTo => Header::ReferTo(NameAddr::parse(value, h)?),
            Kind::CallId => {
                let v = crate::scan::trim_lws(value);
                // word [ "@" word ]: printable ASCII without spaces.
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ParseError::header(h, "must be one word of printable ASCII"));
                }
                Header::CallId(v.into())
            }
            Kind::CSeq => Header::CSeq(CSeq::parse(value)?),
            Kind::MaxForwards => {
                let n = parse_u32(value, h)?;
                if n > 255 {
                    return Err(ParseError::header(h, "must be at most 255"));
                }
                Header::MaxForwards(n)
            }
            Kind::ContentType => Header::ContentType(MediaType::parse(value)?),
            Kind::ContentLength => Header::ContentLength(parse_u32(value, h)? as usize),
            Kind::Expires => Header::Expires(parse_u32(value, h)?),
            Kind::Allow => Header::Allow(
                token_list(value)
                    .map(|m| {
                        Method::parse(m)
                            .ok_or_else(|| ParseError::header(h, format!("{m:?} is not a method")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Supported => Header::Supported(parse_tokens(value, h)?),
            Kind::Require => Header::Require(parse_tokens(value, h)?),
            Kind::Authorization => Header::Authorization(Auth::parse(value, h)?),
            Kind::WwwAuthenticate => Header::WwwAuthenticate(Auth::parse(value, h)?),
            Kind::ProxyAuthenticate => Header::ProxyAuthenticate(Auth::parse(value, h)?),
            Kind::ProxyAuthorization => Header::ProxyAuthorization(Auth::parse(value, h)?),
            Kind::Reason => Header::Reason(Reason::parse(value)?),
            Kind::UserAgent => Header::UserAgent(crate::scan::trim_lws(value).into()),
        };
        out.push(header);
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
