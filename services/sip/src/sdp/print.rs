//! The SDP printer: CRLF line endings and the RFC 4566 line order, whatever order was parsed.

use std::fmt::{self, Write};

use super::{Attribute, Bandwidth, Connection, Media, SessionDescription};

impl SessionDescription {
    /// The SDP as a message body.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} {}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.address_type.as_str(),
            o.address
        )?;
        write!(f, "s={}\r\n", self.session_name)?;
        opt(f, 'i', &self.info)?;
        opt(f, 'u', &self.uri)?;
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            connection(f, c)?;
        }
        bandwidths(f, &self.bandwidths)?;
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        opt(f, 'z', &self.zone)?;
        opt(f, 'k', &self.key)?;
        attributes(f, &self.attributes)?;
        for m in &self.media {
            media(f, m)?;
        }
        Ok(())
    }
}

fn opt(f: &mut fmt::Formatter<'_>, kind: char, v: &Option<String>) -> fmt::Result {
    match v {
        Some(v) => write!(f, "{kind}={v}\r\n"),
        None => Ok(()),
    }
}

fn connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c=IN {} {}\r\n", c.address_type.as_str(), c.address)
}

fn bandwidths(f: &mut fmt::Formatter<'_>, bs: &[Bandwidth]) -> fmt::Result {
    for b in bs {
        write!(f, "b={}:{}\r\n", b.kind, b.value)?;
    }
    Ok(())
}

fn media(f: &mut fmt::Formatter<'_>, m: &Media) -> fmt::Result {
    write!(f, "m={} {}", m.kind.as_str(), m.port)?;
    if let Some(n) = m.port_count {
        write!(f, "/{n}")?;
    }
    write!(f, " {}", m.protocol)?;
    for fmt in &m.formats {
        write!(f, " {fmt}")?;
    }
    f.write_str("\r\n")?;
    opt(f, 'i', &m.info)?;
    for c in &m.connections {
        connection(f, c)?;
    }
    bandwidths(f, &m.bandwidths)?;
    opt(f, 'k', &m.key)?;
    attributes(f, &m.attributes)
}

fn attributes(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for a in attrs {
        f.write_str("a=")?;
        match a {
            Attribute::Rtpmap(r) => {
                write!(
                    f,
                    "rtpmap:{} {}/{}",
                    r.payload_type, r.encoding, r.clock_rate
                )?;
                if let Some(ch) = r.channels {
                    write!(f, "/{ch}")?;
                }
            }
            Attribute::Fmtp {
                payload_type,
                params,
            } if params.is_empty() => write!(f, "fmtp:{payload_type}")?,
            Attribute::Fmtp {
                payload_type,
                params,
            } => write!(f, "fmtp:{payload_type} {params}")?,
            Attribute::Ptime(p) => write!(f, "ptime:{p}")?,
            Attribute::MaxPtime(p) => write!(f, "maxptime:{p}")?,
            Attribute::Direction(d) => f.write_str(d.as_str())?,
            Attribute::Other { name, value: None } => f.write_str(name)?,
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}")?,
        }
        f.write_char('\r')?;
        f.write_char('\n')?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Codec, Direction, MediaKind, SessionDescription};

    pub const SIPP_UAC: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

    pub const BARESIP: &str = "v=0\r\n\
o=- 1815849415 3298129592 IN IP4 192.168.1.33\r\n\
s=-\r\n\
c=IN IP4 192.168.1.33\r\n\
t=0 0\r\n\
a=tool:baresip 3.16.0\r\n\
m=audio 11146 RTP/AVP 96 9 0 8 101\r\n\
b=AS:128\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=ssrc:1213459405 cname:2a3f0c7f-3b5d-4a1f-9d5b-3f6bd1f2c1d4\r\n\
a=rtcp-rsize\r\n\
a=ptime:20\r\n";

    /// pjsua: many codecs, three telephone-event clock rates, c= only at media level.
    pub const PJSIP: &str = "v=0\r\n\
o=- 3899371022 3899371022 IN IP4 10.0.0.5\r\n\
s=pjmedia\r\n\
b=AS:84\r\n\
t=0 0\r\n\
a=X-nat:0\r\n\
m=audio 4000 RTP/AVP 96 97 98 99 3 0 8 9 120 121 122\r\n\
c=IN IP4 10.0.0.5\r\n\
b=AS:64\r\n\
b=TIAS:64000\r\n\
a=rtcp:4001 IN IP4 10.0.0.5\r\n\
a=sendrecv\r\n\
a=rtpmap:96 speex/16000\r\n\
a=rtpmap:97 speex/8000\r\n\
a=rtpmap:98 speex/32000\r\n\
a=rtpmap:99 iLBC/8000\r\n\
a=fmtp:99 mode=30\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:120 telephone-event/16000\r\n\
a=fmtp:120 0-16\r\n\
a=rtpmap:121 telephone-event/32000\r\n\
a=fmtp:121 0-16\r\n\
a=rtpmap:122 telephone-event/8000\r\n\
a=fmtp:122 0-16\r\n\
a=ssrc:1849346433 cname:5d0a5f0e1a2b3c4d\r\n";

    /// Audio and video, each with its own c= and no session-level c=.
    pub const MEDIA_LEVEL_C: &str = "v=0\r\n\
o=alice 2890844526 2890844527 IN IP6 2001:db8::1\r\n\
s=Talk\r\n\
i=A call\r\n\
u=http://www.example.com/seminars/sdp.pdf\r\n\
e=alice@example.com\r\n\
p=+1 617 555-6011\r\n\
t=0 0\r\n\
r=604800 3600 0 90000\r\n\
m=audio 7078 RTP/AVP 8 101\r\n\
c=IN IP6 2001:db8::1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-11,16\r\n\
m=video 9078 RTP/AVP 96\r\n\
i=camera\r\n\
c=IN IP4 192.0.2.10\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42801F\r\n\
a=recvonly\r\n";

    #[test]
    fn real_world_offers_round_trip_exactly() {
        for sdp in [SIPP_UAC, BARESIP, PJSIP, MEDIA_LEVEL_C] {
            let parsed: SessionDescription = sdp.parse().unwrap();
            assert_eq!(parsed.to_string(), sdp);
            let lf: SessionDescription = sdp.replace("\r\n", "\n").parse().unwrap();
            assert_eq!(lf, parsed);
        }
    }

    #[test]
    fn real_world_offers_read_as_expected() {
        let pj: SessionDescription = PJSIP.parse().unwrap();
        assert_eq!(pj.connection, None);
        let m = &pj.media[0];
        assert_eq!(
            pj.connection_of(m).map(|c| c.address.as_str()),
            Some("10.0.0.5")
        );
        assert_eq!(m.payload_types().count(), 11);
        assert_eq!(m.codec(0), Some(Codec::Pcmu));
        assert_eq!(m.codec(97), None);
        assert_eq!(m.fmtp(99), Some("mode=30"));
        assert_eq!(m.bandwidths[1].value, 64_000);

        let c: SessionDescription = MEDIA_LEVEL_C.parse().unwrap();
        assert_eq!(c.times[0].repeats, ["604800 3600 0 90000"]);
        assert_eq!(c.media[1].kind, MediaKind::Video);
        assert_eq!(c.direction_of(&c.media[0]), Direction::SendRecv);
        assert_eq!(c.direction_of(&c.media[1]), Direction::RecvOnly);
        assert_eq!(
            c.connection_of(&c.media[0]).and_then(|c| c.ip()),
            "2001:db8::1".parse().ok()
        );
        // Static PT 8 without an rtpmap is still PCMA.
        assert_eq!(c.media[0].codec(8), Some(Codec::Pcma));
    }

    #[test]
    fn out_of_order_lines_print_in_rfc_order() {
        let messy = "v=0\no=- 1 2 IN IP4 h\nt=0 0\ns=-\nc=IN IP4 10.0.0.1\nm=audio 1 RTP/AVP 0\na=sendonly\nc=IN IP4 10.0.0.2\n";
        let sd: SessionDescription = messy.parse().unwrap();
        assert_eq!(
            sd.to_string(),
            "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\na=sendonly\r\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics_and_printing_is_stable(s in "(([a-z]=[ -~]{0,30})|.{0,20})(\r?\n(([vosctmab]=[ -~]{0,30})|.{0,10})){0,12}") {
            if let Ok(sd) = s.parse::<SessionDescription>() {
                let again: SessionDescription = sd.to_string().parse().unwrap();
                proptest::prop_assert_eq!(again, sd);
            }
        }

        #[test]
        fn mutated_real_offers_never_panic(idx in 0usize..4, at in 0usize..2000, b in proptest::num::u8::ANY) {
            let src = [SIPP_UAC, BARESIP, PJSIP, MEDIA_LEVEL_C][idx];
            let mut bytes = src.as_bytes().to_vec();
            let at = at % bytes.len();
            bytes[at] = b;
            if let Ok(sd) = SessionDescription::parse_bytes(&bytes) {
                let again = SessionDescription::parse_bytes(&sd.to_bytes()).unwrap();
                proptest::prop_assert_eq!(again, sd);
            }
        }
    }
}
