//! sip:, sips: and tel: URIs (RFC 3261 19.1, RFC 3966), with %-escaping.
//!
//! Components are stored unescaped; printing escapes what the grammar requires, so
//! `parse(print(u)) == u` even when the original used unnecessary escapes.

use crate::Text;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::ParseError;
use crate::params::{Param, Params};
use crate::scan::Gather;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
}

/// A host: a domain name or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(Text),
    Ip(IpAddr),
}

impl Host {
    pub fn parse(s: &str) -> Option<Host> {
        let first = *s.as_bytes().first()?;
        if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| Host::Ip(IpAddr::V6(ip)));
        }
        if first.is_ascii_digit()
            && let Some(ip) = dotted_quad(s.as_bytes()).or_else(|| s.parse::<Ipv4Addr>().ok())
        {
            return Some(Host::Ip(IpAddr::V4(ip)));
        }
        let valid = s.len() <= 255
            && s.bytes().all(|b| DOMAIN[usize::from(b)])
            && first != b'.'
            && first != b'-';
        valid.then(|| Host::Domain(s.into()))
    }

    pub(crate) fn print(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Host::Domain(d) => out.push_str(d),
            Host::Ip(IpAddr::V4(ip)) => {
                let _ = write!(out, "{ip}");
            }
            Host::Ip(IpAddr::V6(ip)) => {
                let _ = write!(out, "[{ip}]");
            }
        }
    }

    /// Hosts compare case-insensitively (RFC 3261 19.1.4).
    pub fn eq_host(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::Ip(a), Host::Ip(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.print(&mut s);
        f.write_str(&s)
    }
}

/// The plain form of an IPv4 address, `d.d.d.d` with octets of one to three digits and no
/// leading zero. `None` for anything else, which the standard parser then decides.
fn dotted_quad(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut value = 0u32;
        while i - start < 3
            && let Some(&d) = s.get(i)
            && d.is_ascii_digit()
        {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || (len > 1 && s[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == s.len()).then(|| Ipv4Addr::from(octets))
}

/// A sip: or sips: URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub scheme: Scheme,
    pub user: Option<Text>,
    pub password: Option<Text>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// `?name=value&...` headers, unescaped.
    pub headers: Vec<(Text, Text)>,
}

/// A tel: URI (RFC 3966): a number and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    pub number: Text,
    pub params: Params,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Tel(TelUri),
    /// Any other absolute URI (`http:`, `urn:`, `isbn:` ...), kept verbatim. RFC 3261
    /// allows them in From, To and Contact; a Request-URI of such a scheme is refused (416).
    Other(OtherUri),
}

/// An absolute URI of a scheme this stack does not interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherUri {
    /// Lower-cased scheme.
    pub scheme: Text,
    /// Everything after the colon, as received.
    pub rest: Text,
}

impl SipUri {
    pub fn new(user: Option<&str>, host: Host, port: Option<u16>) -> Self {
        SipUri {
            scheme: Scheme::Sip,
            user: user.map(Text::from),
            password: None,
            host,
            port,
            params: Params::new(),
            headers: Vec::new(),
        }
    }

    /// The `transport` parameter, lower-cased.
    pub fn transport(&self) -> Option<String> {
        self.params
            .value("transport")
            .map(|t| t.to_ascii_lowercase())
    }
}

impl Uri {
    #[inline]
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        let colon = crate::scan::find_byte(b':', s.as_bytes())
            .ok_or_else(|| ParseError::uri(s, "no scheme"))?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        if scheme.eq_ignore_ascii_case("sip") {
            parse_sip(Scheme::Sip, rest, s).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            parse_sip(Scheme::Sips, rest, s).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            parse_tel(rest, s).map(Uri::Tel)
        } else {
            parse_other(scheme, rest, s).map(Uri::Other)
        }
    }

    /// Whether this is a sip:, sips: or tel: URI (the schemes a Request-URI may use here).
    pub fn is_supported_scheme(&self) -> bool {
        !matches!(self, Uri::Other(_))
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Tel(_) | Uri::Other(_) => None,
        }
    }

    /// The user part of a SIP URI or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip(u) => u.user.as_deref(),
            Uri::Tel(t) => Some(&t.number),
            Uri::Other(_) => None,
        }
    }

    pub(crate) fn print(&self, out: &mut String) {
        match self {
            Uri::Sip(u) => {
                out.push_str(match u.scheme {
                    Scheme::Sip => "sip:",
                    Scheme::Sips => "sips:",
                });
                if let Some(user) = &u.user {
                    escape_into(user, is_user_byte, out);
                    if let Some(pw) = &u.password {
                        out.push(':');
                        escape_into(pw, is_password_byte, out);
                    }
                    out.push('@');
                }
                u.host.print(out);
                if let Some(port) = u.port {
                    out.push(':');
                    out.push_str(itoa_u16(port).as_str());
                }
                print_uri_params(&u.params, out);
                for (i, (n, v)) in u.headers.iter().enumerate() {
                    out.push(if i == 0 { '?' } else { '&' });
                    escape_into(n, is_hnv_byte, out);
                    out.push('=');
                    escape_into(v, is_hnv_byte, out);
                }
            }
            Uri::Other(o) => {
                out.push_str(&o.scheme);
                out.push(':');
                out.push_str(&o.rest);
            }
            Uri::Tel(t) => {
                out.push_str("tel:");
                escape_into(&t.number, is_param_byte, out);
                print_uri_params(&t.params, out);
            }
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.print(&mut s);
        f.write_str(&s)
    }
}

fn itoa_u16(n: u16) -> String {
    n.to_string()
}

fn print_uri_params(params: &Params, out: &mut String) {
    for p in params.iter() {
        out.push(';');
        escape_into(&p.name, is_param_byte, out);
        if let Some(v) = &p.value {
            out.push('=');
            escape_into(v, is_param_byte, out);
        }
    }
}

fn parse_sip(scheme: Scheme, rest: &str, whole: &str) -> Result<SipUri, ParseError> {
    let err = |reason: &str| ParseError::uri(whole, reason);
    let (userinfo, hostpart) = match crate::scan::find_byte(b'@', rest.as_bytes()) {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match crate::scan::find_byte(b':', ui.as_bytes()) {
                Some(i) => (&ui[..i], Some(&ui[i + 1..])),
                None => (ui, None),
            };
            if u.is_empty() {
                return Err(err("empty user part before '@'"));
            }
            let not_allowed = || err("character not allowed in the user part (escape it)");
            let u_escaped = escapes(u, &USER).ok_or_else(not_allowed)?;
            let p_escaped = match p {
                Some(p) => escapes(p, &PASSWORD).ok_or_else(not_allowed)?,
                None => false,
            };
            let user = if u_escaped {
                unescape(u).ok_or_else(|| err("bad %-escape in user part"))?
            } else {
                u.into()
            };
            let password = match p {
                Some(p) if p_escaped => {
                    Some(unescape(p).ok_or_else(|| err("bad %-escape in password"))?)
                }
                Some(p) => Some(p.into()),
                None => None,
            };
            (Some(user), password)
        }
    };
    // host[:port] ends at ';' (params) or '?' (headers).
    let host_end = hostpart
        .bytes()
        .position(|b| b == b';' || b == b'?')
        .unwrap_or(hostpart.len());
    let hostport = &hostpart[..host_end];
    let (host_s, port) = split_host_port(hostport).ok_or_else(|| err("bad host or port"))?;
    let host = Host::parse(host_s).ok_or_else(|| err("bad host"))?;
    let tail = &hostpart[host_end..];
    let (param_s, header_s) = match crate::scan::find_byte(b'?', tail.as_bytes()) {
        Some(q) => (&tail[..q], Some(&tail[q + 1..])),
        None => (tail, None),
    };
    let params = parse_uri_params(param_s).ok_or_else(|| err("bad URI parameter"))?;
    let mut headers = Vec::new();
    if let Some(hs) = header_s {
        for pair in hs.split('&').filter(|p| !p.is_empty()) {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            let n = unescape(n).ok_or_else(|| err("bad %-escape in URI header"))?;
            let v = unescape(v).ok_or_else(|| err("bad %-escape in URI header"))?;
            headers.push((n, v));
        }
    }
    Ok(SipUri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// RFC 3986 scheme and an opaque part of URI characters (RFC 3261 absoluteURI).
fn parse_other(scheme: &str, rest: &str, whole: &str) -> Result<OtherUri, ParseError> {
    let valid_scheme = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !valid_scheme {
        return Err(ParseError::uri(
            whole,
            format!("{scheme:?} is not a URI scheme"),
        ));
    }
    let valid_rest = !rest.is_empty()
        && rest.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'<' | b'>' | b'"' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                )
        });
    if !valid_rest {
        return Err(ParseError::uri(whole, "characters not allowed in a URI"));
    }
    Ok(OtherUri {
        scheme: scheme.to_ascii_lowercase().into(),
        rest: rest.into(),
    })
}

fn parse_tel(rest: &str, whole: &str) -> Result<TelUri, ParseError> {
    let end = crate::scan::find_byte(b';', rest.as_bytes()).unwrap_or(rest.len());
    let number = unescape(&rest[..end]).ok_or_else(|| ParseError::uri(whole, "bad %-escape"))?;
    let valid = !number.is_empty()
        && number.bytes().all(|b| {
            b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
        });
    if !valid {
        return Err(ParseError::uri(
            whole,
            "tel number has characters outside digits and visual separators",
        ));
    }
    let params = parse_uri_params(&rest[end..])
        .ok_or_else(|| ParseError::uri(whole, "bad tel parameter"))?;
    Ok(TelUri { number, params })
}

/// Splits `host[:port]`, understanding `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.starts_with('[') {
        let close = crate::scan::find_byte(b']', s.as_bytes())?;
        let host = &s[..=close];
        let rest = &s[close + 1..];
        if rest.is_empty() {
            return Some((host, None));
        }
        let port = crate::scan::digits(rest.strip_prefix(':')?)?;
        return Some((host, Some(port)));
    }
    match s.bytes().rposition(|b| b == b':') {
        Some(i) => Some((&s[..i], Some(crate::scan::digits(&s[i + 1..])?))),
        None => Some((s, None)),
    }
}

/// `;name[=value]...` after a host or a tel number (`s` is empty or starts with ';').
fn parse_uri_params(s: &str) -> Option<Params> {
    let Some(first) = crate::scan::find_byte(b';', s.as_bytes()) else {
        return Some(Params::new());
    };
    let mut parts = Gather::<&str, 6>::new("");
    let mut rest = &s[first + 1..];
    loop {
        match crate::scan::find_byte(b';', rest.as_bytes()) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    parts
        .try_map(|part| {
            let (n, v) = match crate::scan::find_byte(b'=', part.as_bytes()) {
                Some(i) => (&part[..i], Some(unescape(&part[i + 1..]).ok_or(())?)),
                None => (part, None),
            };
            if n.is_empty() {
                return Err(());
            }
            Ok(Param {
                name: unescape(n).ok_or(())?,
                value: v,
            })
        })
        .ok()
        .map(Params)
}

fn unescape(s: &str) -> Option<Text> {
    if crate::scan::find_byte(b'%', s.as_bytes()).is_none() {
        return Some(s.into());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Text::from)
}

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Byte classes of URI components as tables: the parser asks about every byte.
const fn class_table(class: Class) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match class {
            Class::User => {
                is_unreserved(b)
                    || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
            }
            Class::Password => is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b','),
            Class::Param => {
                is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
            }
            Class::HeaderNameValue => {
                is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
            }
            Class::Domain => b.is_ascii_alphanumeric() || b == b'-' || b == b'.',
        };
        i += 1;
    }
    t
}

#[derive(Clone, Copy)]
enum Class {
    User,
    Password,
    Param,
    HeaderNameValue,
    Domain,
}

const USER: [bool; 256] = class_table(Class::User);
const PASSWORD: [bool; 256] = class_table(Class::Password);
const PARAM: [bool; 256] = class_table(Class::Param);
const HNV: [bool; 256] = class_table(Class::HeaderNameValue);
const DOMAIN: [bool; 256] = class_table(Class::Domain);

/// `Some(whether s holds a %-escape)` when every other byte is in `allowed`.
fn escapes(s: &str, allowed: &[bool; 256]) -> Option<bool> {
    let mut escaped = false;
    for &b in s.as_bytes() {
        if b == b'%' {
            escaped = true;
        } else if !allowed[usize::from(b)] {
            return None;
        }
    }
    Some(escaped)
}

fn is_user_byte(b: u8) -> bool {
    USER[usize::from(b)]
}

fn is_password_byte(b: u8) -> bool {
    PASSWORD[usize::from(b)]
}

fn is_param_byte(b: u8) -> bool {
    PARAM[usize::from(b)]
}

fn is_hnv_byte(b: u8) -> bool {
    HNV[usize::from(b)]
}

fn escape_into(s: &str, allowed: fn(u8) -> bool, out: &mut String) {
    if s.bytes().all(allowed) {
        out.push_str(s);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if allowed(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        Uri::parse(s).unwrap().to_string()
    }

    #[test]
    fn the_ipv4_fast_path_agrees_with_the_standard_parser() {
        for s in [
            "192.168.1.20",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4 ",
            "1234.1.1.1",
            "1.2.3.04",
            "9.9.9.9x",
            "1.2.3.",
        ] {
            let fast = dotted_quad(s.as_bytes());
            if fast.is_some() {
                assert_eq!(fast, s.parse::<Ipv4Addr>().ok(), "{s:?}");
            }
            let want = s
                .parse::<Ipv4Addr>()
                .ok()
                .map(|ip| Host::Ip(IpAddr::V4(ip)));
            if want.is_some() {
                assert_eq!(Host::parse(s), want, "{s:?}");
            }
        }
        assert!(Host::parse("1.2.3.4.5").is_some_and(|h| matches!(h, Host::Domain(_))));
    }

    #[test]
    fn parses_full_sip_uri() {
        let Uri::Sip(u) =
            Uri::parse("sips:alice:pw@Example.COM:5061;transport=TCP;lr?subject=hi%20there&x=y")
                .unwrap()
        else {
            panic!("not sip")
        };
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert!(u.host.eq_host(&Host::Domain("example.com".into())));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport().as_deref(), Some("tcp"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers[0], ("subject".into(), "hi there".into()));
    }

    #[test]
    fn escaped_user_with_at_sign_and_semicolon() {
        // RFC 4475 3.1.1.1 style: the user part contains an escaped '@' and a ';'.
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some("user;par=u@example.net"));
        assert_eq!(
            round("sip:user;par=u%40example.net@example.com"),
            "sip:user;par=u%40example.net@example.com"
        );
        // unnecessary escapes normalise
        assert_eq!(round("sip:%61lice@atlanta.com"), "sip:alice@atlanta.com");
    }

    #[test]
    fn ipv6_and_ports() {
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.to_string(), "sip:[2001:db8::10]:5070");
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:[::1").is_err());
    }

    #[test]
    fn tel_uri() {
        let u = Uri::parse("tel:+48-600-100-200;phone-context=example.com").unwrap();
        assert_eq!(u.user(), Some("+48-600-100-200"));
        assert_eq!(
            u.to_string(),
            "tel:+48-600-100-200;phone-context=example.com"
        );
        assert!(Uri::parse("tel:call-me").is_err());
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "",
            "alice@host",
            "1http://x",
            "http:",
            "http://a b",
            "sip:",
            "sip:@host",
            "sip:a@",
            "sip:a@b%zz",
            "sip:a@ho st",
            "sip:a@b;;x",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
