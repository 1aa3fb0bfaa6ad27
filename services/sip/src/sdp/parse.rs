//! The SDP parser. Lenient where real stacks differ harmlessly (CRLF or bare LF, blank lines,
//! line order inside a section, trailing spaces on attributes); strict on the fields that
//! negotiation reads, so a bad offer fails with the line that is wrong.

use super::{
    AddressType, Attribute, Bandwidth, Connection, Direction, Media, MediaKind, Origin, Rtpmap,
    SdpError, SessionDescription, Timing,
};
use crate::error::truncate;
use crate::scan::is_token_byte;

impl SessionDescription {
    /// Parses an SDP body, e.g. a SIP message's body.
    pub fn parse_bytes(body: &[u8]) -> Result<SessionDescription, SdpError> {
        std::str::from_utf8(body)
            .map_err(|_| SdpError::NotUtf8)?
            .parse()
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        parse(s)
    }
}

/// One `x=value` line with its 1-based number, for error messages.
struct Line<'a> {
    number: usize,
    raw: &'a str,
    kind: u8,
    value: &'a str,
}

impl Line<'_> {
    fn err(&self, reason: &'static str) -> SdpError {
        SdpError::Line {
            number: self.number,
            line: truncate(self.raw, 80),
            reason,
        }
    }
}

fn lines(s: &str) -> impl Iterator<Item = Result<Line<'_>, SdpError>> {
    s.split('\n')
        .enumerate()
        .map(|(i, raw)| (i + 1, raw.strip_suffix('\r').unwrap_or(raw)))
        .filter(|(_, raw)| !raw.trim().is_empty())
        .map(|(number, raw)| {
            let b = raw.as_bytes();
            match (b.first(), b.get(1)) {
                (Some(&kind), Some(b'=')) if kind.is_ascii_lowercase() => Ok(Line {
                    number,
                    raw,
                    kind,
                    value: &raw[2..],
                }),
                _ => Err(SdpError::Line {
                    number,
                    line: truncate(raw, 80),
                    reason: "expected <type>=<value>",
                }),
            }
        })
}

fn parse(s: &str) -> Result<SessionDescription, SdpError> {
    let mut it = lines(s);
    let first = it.next().ok_or(SdpError::Missing('v'))??;
    if first.kind != b'v' {
        return Err(first.err("the first line must be v=0"));
    }
    if first.value.trim() != "0" {
        return Err(first.err("unsupported SDP version"));
    }
    let mut origin = None;
    let mut session_name = None;
    let mut sd = SessionDescription {
        origin: Origin {
            username: String::new(),
            session_id: String::new(),
            session_version: 0,
            address_type: AddressType::Ip4,
            address: String::new(),
        },
        session_name: String::new(),
        info: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: None,
        bandwidths: Vec::new(),
        times: Vec::new(),
        zone: None,
        key: None,
        attributes: Vec::new(),
        media: Vec::new(),
    };
    for line in it {
        let line = line?;
        let v = line.value;
        if let Some(m) = sd.media.last_mut() {
            match line.kind {
                b'm' => sd.media.push(media(&line)?),
                b'i' => set_once(&mut m.info, v, &line)?,
                b'c' => m.connections.push(connection(&line)?),
                b'b' => m.bandwidths.push(bandwidth(&line)?),
                b'k' => set_once(&mut m.key, v, &line)?,
                b'a' => m.attributes.push(attribute(&line)?),
                b'v' | b'o' | b's' | b'u' | b'e' | b'p' | b't' | b'r' | b'z' => {
                    return Err(line.err("line type not allowed in a media section"));
                }
                _ => return Err(line.err("unknown line type")),
            }
            continue;
        }
        match line.kind {
            b'o' if origin.is_some() => return Err(line.err("duplicate o= line")),
            b'o' => origin = Some(parse_origin(&line)?),
            b's' if session_name.is_some() => return Err(line.err("duplicate s= line")),
            b's' => session_name = Some(v.to_owned()),
            b'i' => set_once(&mut sd.info, v, &line)?,
            b'u' => set_once(&mut sd.uri, v, &line)?,
            b'e' => sd.emails.push(v.to_owned()),
            b'p' => sd.phones.push(v.to_owned()),
            b'c' if sd.connection.is_some() => return Err(line.err("duplicate c= line")),
            b'c' => sd.connection = Some(connection(&line)?),
            b'b' => sd.bandwidths.push(bandwidth(&line)?),
            b't' => sd.times.push(timing(&line)?),
            b'r' => match sd.times.last_mut() {
                Some(t) => t.repeats.push(v.to_owned()),
                None => return Err(line.err("r= line before any t= line")),
            },
            b'z' => set_once(&mut sd.zone, v, &line)?,
            b'k' => set_once(&mut sd.key, v, &line)?,
            b'a' => sd.attributes.push(attribute(&line)?),
            b'm' => sd.media.push(media(&line)?),
            b'v' => return Err(line.err("duplicate v= line")),
            _ => return Err(line.err("unknown line type")),
        }
    }
    sd.origin = origin.ok_or(SdpError::Missing('o'))?;
    sd.session_name = session_name.ok_or(SdpError::Missing('s'))?;
    if sd.times.is_empty() {
        return Err(SdpError::Missing('t'));
    }
    Ok(sd)
}

fn set_once(slot: &mut Option<String>, v: &str, line: &Line<'_>) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(line.err("duplicate line"));
    }
    *slot = Some(v.to_owned());
    Ok(())
}

fn address_type(s: &str, line: &Line<'_>) -> Result<AddressType, SdpError> {
    match s {
        "IP4" => Ok(AddressType::Ip4),
        "IP6" => Ok(AddressType::Ip6),
        _ => Err(line.err("address type must be IP4 or IP6")),
    }
}

fn parse_origin(line: &Line<'_>) -> Result<Origin, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [username, id, version, net, addr_type, address] = f[..] else {
        return Err(line.err("o= needs 6 fields"));
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(line.err("session id must be digits"));
    }
    let session_version = version
        .parse()
        .map_err(|_| line.err("invalid session version"))?;
    if net != "IN" {
        return Err(line.err("network type must be IN"));
    }
    Ok(Origin {
        username: username.to_owned(),
        session_id: id.to_owned(),
        session_version,
        address_type: address_type(addr_type, line)?,
        address: address.to_owned(),
    })
}

fn connection(line: &Line<'_>) -> Result<Connection, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [net, addr_type, address] = f[..] else {
        return Err(line.err("c= needs 3 fields"));
    };
    if net != "IN" {
        return Err(line.err("network type must be IN"));
    }
    Ok(Connection {
        address_type: address_type(addr_type, line)?,
        address: address.to_owned(),
    })
}

fn bandwidth(line: &Line<'_>) -> Result<Bandwidth, SdpError> {
    let (kind, value) = line
        .value
        .split_once(':')
        .ok_or_else(|| line.err("b= needs <type>:<value>"))?;
    if kind.is_empty() || !kind.bytes().all(is_token_byte) {
        return Err(line.err("invalid bandwidth type"));
    }
    let value = value
        .trim()
        .parse()
        .map_err(|_| line.err("invalid bandwidth value"))?;
    Ok(Bandwidth {
        kind: kind.to_owned(),
        value,
    })
}

fn timing(line: &Line<'_>) -> Result<Timing, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [start, stop] = f[..] else {
        return Err(line.err("t= needs start and stop times"));
    };
    let start = start.parse().map_err(|_| line.err("invalid start time"))?;
    let stop = stop.parse().map_err(|_| line.err("invalid stop time"))?;
    Ok(Timing {
        start,
        stop,
        repeats: Vec::new(),
    })
}

fn media(line: &Line<'_>) -> Result<Media, SdpError> {
    let mut f = line.value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(protocol)) = (f.next(), f.next(), f.next()) else {
        return Err(line.err("m= needs <media> <port> <proto> <fmt>..."));
    };
    if !kind.bytes().all(is_token_byte) {
        return Err(line.err("invalid media type"));
    }
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (
            p,
            Some(n.parse().map_err(|_| line.err("invalid port count"))?),
        ),
        None => (port, None),
    };
    let port = port.parse().map_err(|_| line.err("invalid port"))?;
    let formats: Vec<String> = f.map(str::to_owned).collect();
    if formats.is_empty() {
        return Err(line.err("m= line lists no format"));
    }
    Ok(Media {
        kind: MediaKind::parse(kind),
        port,
        port_count,
        protocol: protocol.to_owned(),
        formats,
        info: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    })
}

fn attribute(line: &Line<'_>) -> Result<Attribute, SdpError> {
    let v = line.value.trim_end();
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val)),
        None => (v, None),
    };
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(line.err("invalid attribute name"));
    }
    let other = || Attribute::Other {
        name: name.to_owned(),
        value: value.map(str::to_owned),
    };
    Ok(match (name, value) {
        ("rtpmap", Some(val)) => Attribute::Rtpmap(rtpmap(val, line)?),
        ("rtpmap", None) => return Err(line.err("rtpmap without a value")),
        ("fmtp", Some(val)) => {
            let (fmt, params) = val.split_once(' ').unwrap_or((val, ""));
            match fmt.parse() {
                Ok(payload_type) => Attribute::Fmtp {
                    payload_type,
                    params: params.trim_start().to_owned(),
                },
                Err(_) => other(),
            }
        }
        ("ptime", val) => Attribute::Ptime(number(val, line, "invalid ptime")?),
        ("maxptime", val) => Attribute::MaxPtime(number(val, line, "invalid maxptime")?),
        (_, None) => match Direction::parse(name) {
            Some(d) => Attribute::Direction(d),
            None => other(),
        },
        _ => other(),
    })
}

fn number(v: Option<&str>, line: &Line<'_>, reason: &'static str) -> Result<u32, SdpError> {
    v.and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| line.err(reason))
}

fn rtpmap(v: &str, line: &Line<'_>) -> Result<Rtpmap, SdpError> {
    let (pt, rest) = v
        .split_once(' ')
        .ok_or_else(|| line.err("rtpmap needs <pt> <encoding>/<rate>"))?;
    let payload_type: u8 = pt
        .parse()
        .map_err(|_| line.err("invalid rtpmap payload type"))?;
    if payload_type > 127 {
        return Err(line.err("rtpmap payload type above 127"));
    }
    let mut parts = rest.trim().split('/');
    let encoding = parts
        .next()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| line.err("rtpmap without encoding name"))?;
    let clock_rate = parts
        .next()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .ok_or_else(|| line.err("rtpmap without a valid clock rate"))?;
    let channels = match parts.next() {
        Some(c) => Some(
            c.parse()
                .map_err(|_| line.err("invalid rtpmap channel count"))?,
        ),
        None => None,
    };
    if parts.next().is_some() {
        return Err(line.err("too many rtpmap fields"));
    }
    Ok(Rtpmap {
        payload_type,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n";

    fn line_error(sdp: &str) -> (usize, &'static str) {
        match SessionDescription::parse_bytes(sdp.as_bytes()) {
            Err(SdpError::Line { number, reason, .. }) => (number, reason),
            other => panic!("expected a line error for {sdp:?}, got {other:?}"),
        }
    }

    #[test]
    fn malformed_lines_are_named() {
        let with = |extra: &str| format!("{HEAD}{extra}\r\n");
        assert_eq!(
            line_error(&with("m=audio abc RTP/AVP 0")),
            (6, "invalid port")
        );
        assert_eq!(
            line_error(&with("m=audio 70000 RTP/AVP 0")),
            (6, "invalid port")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP")),
            (6, "m= line lists no format")
        );
        assert_eq!(
            line_error(&with("m=audio 4000")),
            (6, "m= needs <media> <port> <proto> <fmt>...")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU")),
            (7, "rtpmap without a valid clock rate")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\na=rtpmap:300 PCMU/8000")),
            (7, "invalid rtpmap payload type")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\na=rtpmap:0")),
            (7, "rtpmap needs <pt> <encoding>/<rate>")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\na=ptime:twenty")),
            (7, "invalid ptime")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\nt=0 0")),
            (7, "line type not allowed in a media section")
        );
        assert_eq!(
            line_error(&with("m=audio 4000 RTP/AVP 0\r\nc=IN IP4")),
            (7, "c= needs 3 fields")
        );
        assert_eq!(line_error(&with("garbage")), (6, "expected <type>=<value>"));
        assert_eq!(line_error(&with("x=1")), (6, "unknown line type"));
        assert_eq!(line_error(&with("b=AS")), (6, "b= needs <type>:<value>"));
        assert_eq!(line_error(&with("a=:x")), (6, "invalid attribute name"));
        assert_eq!(
            line_error(&with("c=IN IP4 10.0.0.2")),
            (6, "duplicate c= line")
        );
        assert_eq!(line_error("v=1\r\n"), (1, "unsupported SDP version"));
        assert_eq!(
            line_error("o=- 1 1 IN IP4 h\r\nv=0\r\n"),
            (1, "the first line must be v=0")
        );
        assert_eq!(
            line_error("v=0\r\no=- x 1 IN IP4 h\r\n"),
            (2, "session id must be digits")
        );
        assert_eq!(
            line_error("v=0\r\no=- 1 1 IN IP5 h\r\n"),
            (2, "address type must be IP4 or IP6")
        );
        assert_eq!(
            line_error("v=0\r\no=- 1 1 IN IP4\r\n"),
            (2, "o= needs 6 fields")
        );
        assert_eq!(
            line_error("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=now 0\r\n"),
            (4, "invalid start time")
        );
    }

    #[test]
    fn mandatory_lines() {
        let parse = |s: &str| s.parse::<SessionDescription>();
        assert_eq!(parse(""), Err(SdpError::Missing('v')));
        assert_eq!(
            parse("v=0\r\ns=-\r\nt=0 0\r\n"),
            Err(SdpError::Missing('o'))
        );
        assert_eq!(
            parse("v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n"),
            Err(SdpError::Missing('s'))
        );
        assert_eq!(
            parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"),
            Err(SdpError::Missing('t'))
        );
        assert_eq!(
            SessionDescription::parse_bytes(b"v=0\r\n\xff\r\n"),
            Err(SdpError::NotUtf8)
        );
    }

    #[test]
    fn crlf_bare_lf_and_blank_lines_parse_the_same() {
        let crlf = format!(
            "{HEAD}m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        );
        let lf = crlf.replace("\r\n", "\n");
        let mixed = format!("{}\r\n", crlf.replace("t=0 0\r\n", "t=0 0\n\n"));
        let a: SessionDescription = crlf.parse().unwrap();
        assert_eq!(lf.parse::<SessionDescription>().unwrap(), a);
        assert_eq!(mixed.parse::<SessionDescription>().unwrap(), a);
        // No trailing newline at all.
        assert_eq!(crlf.trim_end().parse::<SessionDescription>().unwrap(), a);
        let m = &a.media[0];
        assert_eq!(m.fmtp(101), Some("0-15"));
        assert_eq!(
            m.rtpmap(101).map(|r| r.encoding.as_str()),
            Some("telephone-event")
        );
        assert_eq!(m.codec(0), Some(super::super::Codec::Pcmu));
    }

    #[test]
    fn attributes_typed_and_verbatim() {
        let sdp = format!(
            "{HEAD}a=recvonly\r\nm=audio 4000/2 RTP/AVP 0 96\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1; stereo=1\r\n\
             a=ptime:20 \r\na=maxptime:40\r\na=sendonly\r\na=rtcp:4001 IN IP4 10.0.0.1\r\na=rtcp-mux\r\na=fmtp:t38 x\r\n"
        );
        let sd: SessionDescription = sdp.parse().unwrap();
        let m = &sd.media[0];
        assert_eq!(m.port_count, Some(2));
        assert_eq!(m.rtpmap(96).and_then(|r| r.channels), Some(2));
        assert_eq!(m.fmtp(96), Some("useinbandfec=1; stereo=1"));
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.direction(), Some(Direction::SendOnly));
        assert_eq!(sd.direction_of(m), Direction::SendOnly);
        assert_eq!(
            m.other_attribute("rtcp"),
            Some(Some("4001 IN IP4 10.0.0.1"))
        );
        assert_eq!(m.other_attribute("rtcp-mux"), Some(None));
        assert_eq!(m.other_attribute("fmtp"), Some(Some("t38 x")));
        assert!(
            sd.attributes
                .contains(&Attribute::Direction(Direction::RecvOnly))
        );
    }
}
