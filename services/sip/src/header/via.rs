//! Via (RFC 3261 20.42) with received/rport (RFC 3581).

use std::fmt;

use crate::error::ParseError;
use crate::params::Params;
use crate::scan::Cursor;
use crate::uri::Host;

/// The transport named in a Via's sent-protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(String),
}

impl Transport {
    pub fn parse(s: &str) -> Transport {
        let b = s.as_bytes();
        let is = |name: &[u8]| b.eq_ignore_ascii_case(name);
        match b.len() {
            3 if is(b"UDP") => Transport::Udp,
            3 if is(b"TCP") => Transport::Tcp,
            3 if is(b"TLS") => Transport::Tls,
            4 if is(b"SCTP") => Transport::Sctp,
            2 if is(b"WS") => Transport::Ws,
            3 if is(b"WSS") => Transport::Wss,
            _ => Transport::Other(s.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }

    /// Reliable transports do not retransmit (RFC 3261 17.1.1.2: timers A, E, G are not
    /// used and timers D, I, J, K are zero).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// One Via entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

/// RFC 3261 magic cookie that marks a branch as unique per transaction.
pub const BRANCH_MAGIC: &str = "z9hG4bK";

impl Via {
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via {
            transport,
            host,
            port,
            params,
        }
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// `Some(None)`: the client asked for rport (RFC 3581) without a value yet.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    pub fn parse(s: &str) -> Result<Via, ParseError> {
        let err = |r: &str| ParseError::header("Via", r);
        // Nearly every Via starts "SIP/2.0/": what the token-by-token path below accepts
        // there, in one comparison.
        let mut c = match s.as_bytes().get(..8) {
            Some(p) if p[..3].eq_ignore_ascii_case(b"SIP") && &p[3..] == b"/2.0/" => {
                Cursor::new(&s[8..])
            }
            _ => Self::sent_protocol(s)?,
        };
        let transport = Transport::parse(c.token().ok_or_else(|| err("missing transport"))?);
        c.skip_ws();
        // sent-by = host [ COLON port ], and LWS may surround the colon.
        let hostport = c.take_until(b";");
        let (host, port) =
            split_sent_by(hostport).ok_or_else(|| err("bad sent-by host or port"))?;
        let params = Params::parse(&mut c).map_err(|r| ParseError::header("Via", r))?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(err("unexpected text after parameters"));
        }
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    /// `SIP / 2.0 /` token by token, with LWS allowed around the slashes; the cursor is
    /// left before the transport.
    fn sent_protocol(s: &str) -> Result<Cursor<'_>, ParseError> {
        let err = |r: &str| ParseError::header("Via", r);
        let mut c = Cursor::new(s);
        let proto = c.token().ok_or_else(|| err("missing protocol name"))?;
        if !c.eat(b'/') {
            return Err(err("expected '/' after protocol name"));
        }
        let version = c.token().ok_or_else(|| err("missing protocol version"))?;
        if !proto.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(err("sent-protocol is not SIP/2.0"));
        }
        if !c.eat(b'/') {
            return Err(err("expected '/' before transport"));
        }
        Ok(c)
    }

    pub(crate) fn print(&self, out: &mut String) {
        out.push_str("SIP/2.0/");
        out.push_str(self.transport.as_str());
        out.push(' ');
        self.host.print(out);
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        self.params.print(out);
    }
}

fn split_sent_by(s: &str) -> Option<(Host, Option<u16>)> {
    let s = crate::scan::trim_lws(s);
    let (h, p) = if s.starts_with('[') {
        let close = crate::scan::find_byte(b']', s.as_bytes())?;
        let rest = crate::scan::trim_lws(&s[close + 1..]);
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(crate::scan::digits(crate::scan::trim_lws(p))?),
            None if rest.is_empty() => None,
            None => return None,
        };
        (&s[..=close], port)
    } else {
        match crate::scan::find_byte(b':', s.as_bytes()).map(|i| (&s[..i], &s[i + 1..])) {
            Some((h, p)) => (
                crate::scan::trim_lws(h),
                Some(crate::scan::digits(crate::scan::trim_lws(p))?),
            ),
            None => (s, None),
        }
    };
    Some((Host::parse(h)?, p))
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.print(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_via_with_rport_and_odd_whitespace() {
        let v =
            Via::parse("SIP / 2.0 / UDP 192.0.2.1:5060 ;branch=z9hG4bK776asdhds ; rport").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport"
        );
    }

    #[test]
    fn ipv6_sent_by_and_received() {
        let v = Via::parse(
            "SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKx;received=2001:db8::9;rport=5070",
        )
        .unwrap();
        assert_eq!(v.rport(), Some(Some(5070)));
        assert_eq!(v.received(), Some("2001:db8::9"));
        assert!(v.transport.is_reliable());
    }

    #[test]
    fn rejects_bad_via() {
        for bad in [
            "SIP/3.0/UDP h",
            "SIP/2.0 h",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP h:port",
            "SIP/2.0/UDP h;=x",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }
}
