//! RFC 3264 offer/answer for one audio stream over plain RTP: building our offer, answering
//! a remote offer, and reading the answer to our offer.
//!
//! One audio stream is used per call; any other stream (video, a second audio, SRTP) is
//! rejected with port 0 so the m-line count and order stay those of the offer.

use std::net::{IpAddr, SocketAddr};

use super::{
    AddressType, Attribute, Codec, Connection, Direction, Media, MediaKind, Origin, Rtpmap,
    SdpError, SessionDescription, Timing,
};

/// The dynamic payload type we use for telephone-event in our own offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// Events we declare we can receive: DTMF 0-15 and flash (16), as most stacks do.
pub const TELEPHONE_EVENT_FMTP: &str = "0-16";
const TELEPHONE_EVENT: &str = "telephone-event";

/// What the local media endpoint can do, and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Preference order for our offers; in answers the offerer's order wins (RFC 3264 6.1).
    pub codecs: Vec<Codec>,
    pub telephone_event: bool,
    pub address: IpAddr,
    pub port: u16,
    pub session_id: u64,
    /// The caller increments it for every new SDP sent in the dialog (RFC 3264 8).
    pub session_version: u64,
    pub ptime: Option<u32>,
    /// What we are willing to do; e.g. `SendOnly` to put the remote party on hold.
    pub direction: Direction,
}

impl LocalMedia {
    /// G.711 (PCMU, then PCMA), telephone-event, 20 ms packets, sendrecv.
    pub fn new(address: IpAddr, port: u16, session_id: u64) -> Self {
        LocalMedia {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            address,
            port,
            session_id,
            session_version: session_id,
            ptime: Some(20),
            direction: Direction::SendRecv,
        }
    }
}

/// The audio stream both sides agreed on, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    /// Index of the audio m-line in the offer (and answer).
    pub media_index: usize,
    pub codec: Codec,
    /// The payload type to send the codec with.
    pub payload_type: u8,
    /// The payload type for RFC 4733 events, when both sides support them.
    pub telephone_event: Option<u8>,
    /// Where to send RTP. `0.0.0.0` on legacy hold, when `direction` does not send anyway.
    pub remote: SocketAddr,
    /// Whether we send and/or receive.
    pub direction: Direction,
    /// The packetization the remote side asked for, if any.
    pub remote_ptime: Option<u32>,
}

/// Our answer to an offer and what it means for the media endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub sdp: SessionDescription,
    pub audio: NegotiatedAudio,
}

/// Builds our offer: one audio stream with the local codecs in preference order.
pub fn offer(local: &LocalMedia) -> Result<SessionDescription, SdpError> {
    let mut codecs = Vec::new();
    for c in &local.codecs {
        if !codecs.contains(c) {
            codecs.push(*c);
        }
    }
    if codecs.is_empty() {
        return Err(SdpError::NoLocalCodec);
    }
    let mut formats: Vec<u8> = codecs.iter().map(|c| c.static_payload_type()).collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|c| Attribute::Rtpmap(c.rtpmap(c.static_payload_type())))
        .collect();
    if local.telephone_event {
        formats.push(TELEPHONE_EVENT_PT);
        attributes.extend(telephone_event_attributes(TELEPHONE_EVENT_PT));
    }
    attributes.extend(local.ptime.map(Attribute::Ptime));
    attributes.push(Attribute::Direction(local.direction));
    let media = audio_media(local.port, "RTP/AVP", &formats, attributes);
    Ok(session(
        local,
        vec![Timing {
            start: 0,
            stop: 0,
            repeats: Vec::new(),
        }],
        vec![media],
    ))
}

/// Answers a remote offer (RFC 3264 6). Errors mean no audio stream can be accepted: the
/// caller rejects the offer with 488 Not Acceptable Here.
pub fn answer(offer: &SessionDescription, local: &LocalMedia) -> Result<Answer, SdpError> {
    let mut accepted: Option<NegotiatedAudio> = None;
    let mut first_error = None;
    let mut media = Vec::with_capacity(offer.media.len());
    for (index, m) in offer.media.iter().enumerate() {
        let wanted = accepted.is_none() && m.kind == MediaKind::Audio && m.port != 0;
        if !wanted {
            media.push(rejected(m));
            continue;
        }
        match accept_audio(offer, index, m, local) {
            Ok((audio, answer_media)) => {
                media.push(answer_media);
                accepted = Some(audio);
            }
            Err(e) => {
                first_error.get_or_insert(e);
                media.push(rejected(m));
            }
        }
    }
    let Some(audio) = accepted else {
        return Err(first_error.unwrap_or(SdpError::NoAudio));
    };
    // The answer's t= must equal the offer's (RFC 3264 6).
    let sdp = session(local, offer.times.clone(), media);
    Ok(Answer { sdp, audio })
}

/// Reads the answer to `our_offer`: the codec to send, where, and in which direction.
pub fn read_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<NegotiatedAudio, SdpError> {
    if answer.media.len() != our_offer.media.len() {
        return Err(SdpError::AnswerMismatch(
            "m-line count differs from the offer",
        ));
    }
    let (index, offered) = our_offer
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.kind == MediaKind::Audio && m.port != 0)
        .ok_or(SdpError::NoAudio)?;
    let a = &answer.media[index];
    if a.kind != MediaKind::Audio {
        return Err(SdpError::AnswerMismatch(
            "m-line kind differs from the offer",
        ));
    }
    if a.port == 0 {
        return Err(SdpError::AudioRejected);
    }
    let offered_codecs: Vec<Codec> = offered
        .payload_types()
        .filter_map(|pt| offered.codec(pt))
        .collect();
    let (payload_type, codec) = a
        .payload_types()
        .find_map(|pt| {
            a.codec(pt)
                .filter(|c| offered_codecs.contains(c))
                .map(|c| (pt, c))
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let we_offered_events = telephone_event_pt(offered, codec.clock_rate()).is_some();
    let telephone_event = if we_offered_events {
        telephone_event_pt(a, codec.clock_rate())
    } else {
        None
    };
    let (ip, their_direction) = remote_side(answer, index, a)?;
    Ok(NegotiatedAudio {
        media_index: index,
        codec,
        payload_type,
        telephone_event,
        remote: SocketAddr::new(ip, a.port),
        direction: their_direction
            .reversed()
            .intersect(our_offer.direction_of(offered)),
        remote_ptime: a.ptime(),
    })
}

/// Accepts one offered audio stream, or says why it cannot be.
fn accept_audio(
    offer: &SessionDescription,
    index: usize,
    m: &Media,
    local: &LocalMedia,
) -> Result<(NegotiatedAudio, Media), SdpError> {
    if !m.is_rtp_avp() {
        return Err(SdpError::UnsupportedTransport(m.protocol.clone()));
    }
    let (ip, their_direction) = remote_side(offer, index, m)?;
    // The offerer's order wins: its first codec we support.
    let (payload_type, codec) = m
        .payload_types()
        .find_map(|pt| {
            m.codec(pt)
                .filter(|c| local.codecs.contains(c))
                .map(|c| (pt, c))
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let telephone_event = if local.telephone_event {
        telephone_event_pt(m, codec.clock_rate())
    } else {
        None
    };
    let direction = their_direction.reversed().intersect(local.direction);

    let mut formats = vec![payload_type];
    let mut attributes = vec![Attribute::Rtpmap(codec.rtpmap(payload_type))];
    if let Some(te) = telephone_event {
        formats.push(te);
        attributes.extend(telephone_event_attributes(te));
    }
    attributes.extend(local.ptime.map(Attribute::Ptime));
    attributes.push(Attribute::Direction(direction));
    let answer_media = audio_media(local.port, &m.protocol, &formats, attributes);
    let audio = NegotiatedAudio {
        media_index: index,
        codec,
        payload_type,
        telephone_event,
        remote: SocketAddr::new(ip, m.port),
        direction,
        remote_ptime: m.ptime(),
    };
    Ok((audio, answer_media))
}

/// The remote RTP address of a stream and its direction as its author meant it, with
/// `c=0.0.0.0` read as "do not send to me" (RFC 3264 8.4 legacy hold).
fn remote_side(
    sd: &SessionDescription,
    index: usize,
    m: &Media,
) -> Result<(IpAddr, Direction), SdpError> {
    let c = sd.connection_of(m).ok_or(SdpError::NoConnection(index))?;
    let ip = c
        .ip()
        .ok_or_else(|| SdpError::UnresolvedAddress(c.address.clone()))?;
    let mut direction = sd.direction_of(m);
    if c.is_legacy_hold() {
        direction = direction.intersect(Direction::SendOnly);
    }
    Ok((ip, direction))
}

/// The telephone-event payload type whose clock matches the codec's (RFC 4733 2.1).
fn telephone_event_pt(m: &Media, clock_rate: u32) -> Option<u8> {
    m.payload_types().find(|&pt| {
        m.rtpmap(pt).is_some_and(|r| {
            r.encoding.eq_ignore_ascii_case(TELEPHONE_EVENT) && r.clock_rate == clock_rate
        })
    })
}

fn telephone_event_attributes(pt: u8) -> [Attribute; 2] {
    [
        Attribute::Rtpmap(Rtpmap {
            payload_type: pt,
            encoding: TELEPHONE_EVENT.to_owned(),
            clock_rate: 8000,
            channels: None,
        }),
        Attribute::Fmtp {
            payload_type: pt,
            params: TELEPHONE_EVENT_FMTP.to_owned(),
        },
    ]
}

/// A rejected stream keeps its kind, transport and formats, with port 0 (RFC 3264 6).
fn rejected(m: &Media) -> Media {
    Media {
        kind: m.kind.clone(),
        port: 0,
        port_count: None,
        protocol: m.protocol.clone(),
        formats: m.formats.clone(),
        info: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    }
}

fn audio_media(port: u16, protocol: &str, formats: &[u8], attributes: Vec<Attribute>) -> Media {
    Media {
        kind: MediaKind::Audio,
        port,
        port_count: None,
        protocol: protocol.to_owned(),
        formats: formats.iter().map(u8::to_string).collect(),
        info: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes,
    }
}

fn session(local: &LocalMedia, times: Vec<Timing>, media: Vec<Media>) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "-".to_owned(),
            session_id: local.session_id.to_string(),
            session_version: local.session_version,
            address_type: AddressType::of(local.address),
            address: local.address.to_string(),
        },
        session_name: "-".to_owned(),
        info: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: Some(Connection::new(local.address)),
        bandwidths: Vec::new(),
        times,
        zone: None,
        key: None,
        attributes: Vec::new(),
        media,
    }
}

#[cfg(test)]
mod tests {
    use super::super::print::tests::{BARESIP, MEDIA_LEVEL_C, PJSIP, SIPP_UAC};
    use super::*;

    fn local() -> LocalMedia {
        LocalMedia::new(IpAddr::from([10, 1, 1, 1]), 30_000, 777)
    }

    fn offer_with(media: &str) -> SessionDescription {
        format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n{media}")
            .parse()
            .unwrap()
    }

    fn answered(media: &str, local: &LocalMedia) -> Result<Answer, SdpError> {
        answer(&offer_with(media), local)
    }

    #[test]
    fn sipp_offer_gets_pcmu_and_an_exact_answer() {
        let a = answer(&SIPP_UAC.parse().unwrap(), &local()).unwrap();
        assert_eq!(a.audio.codec, Codec::Pcmu);
        assert_eq!(a.audio.payload_type, 0);
        assert_eq!(a.audio.telephone_event, None);
        assert_eq!(a.audio.remote, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(a.audio.direction, Direction::SendRecv);
        assert_eq!(
            a.sdp.to_string(),
            "v=0\r\no=- 777 777 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn pcma_only() {
        let a = answered("m=audio 4000 RTP/AVP 8\r\n", &local()).unwrap();
        assert_eq!((a.audio.codec, a.audio.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn offerer_codec_order_wins() {
        let a = answered("m=audio 4000 RTP/AVP 8 0\r\n", &local()).unwrap();
        assert_eq!(a.audio.codec, Codec::Pcma);
        assert_eq!(a.sdp.media[0].formats, ["8"]);
        let a = answered("m=audio 4000 RTP/AVP 0 8\r\n", &local()).unwrap();
        assert_eq!(a.audio.codec, Codec::Pcmu);
        // A codec we do not list is skipped even if offered first.
        let mut only_pcma = local();
        only_pcma.codecs = vec![Codec::Pcma];
        let a = answered("m=audio 4000 RTP/AVP 0 8\r\n", &only_pcma).unwrap();
        assert_eq!(a.audio.codec, Codec::Pcma);
    }

    #[test]
    fn no_common_codec_is_an_error() {
        let err = answered(
            "m=audio 4000 RTP/AVP 18 3\r\na=rtpmap:18 G729/8000\r\n",
            &local(),
        );
        assert_eq!(err, Err(SdpError::NoCommonCodec));
        // PT 0 remapped by rtpmap to something else is not PCMU.
        let err = answered(
            "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 opus/48000/2\r\n",
            &local(),
        );
        assert_eq!(err, Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn dynamic_pcma_payload_type_is_mirrored() {
        let a = answered(
            "m=audio 4000 RTP/AVP 110\r\na=rtpmap:110 PCMA/8000\r\n",
            &local(),
        )
        .unwrap();
        assert_eq!((a.audio.codec, a.audio.payload_type), (Codec::Pcma, 110));
        assert_eq!(
            a.sdp.media[0].rtpmap(110).map(|r| r.encoding.as_str()),
            Some("PCMA")
        );
    }

    #[test]
    fn baresip_offer_telephone_event_mirrored() {
        let a = answer(&BARESIP.parse().unwrap(), &local()).unwrap();
        // Offer order: opus (unsupported), G722 (not in our list), PCMU.
        assert_eq!(a.audio.codec, Codec::Pcmu);
        assert_eq!(a.audio.telephone_event, Some(101));
        assert_eq!(a.audio.remote_ptime, Some(20));
        let m = &a.sdp.media[0];
        assert_eq!(m.formats, ["0", "101"]);
        assert_eq!(m.fmtp(101), Some(TELEPHONE_EVENT_FMTP));
        let mut wideband = local();
        wideband.codecs.insert(0, Codec::G722);
        assert_eq!(
            answer(&BARESIP.parse().unwrap(), &wideband)
                .unwrap()
                .audio
                .codec,
            Codec::G722
        );
    }

    #[test]
    fn pjsip_offer_picks_the_8khz_telephone_event() {
        let mut l = local();
        l.codecs = vec![Codec::Pcma, Codec::Pcmu];
        let a = answer(&PJSIP.parse().unwrap(), &l).unwrap();
        assert_eq!(a.audio.codec, Codec::Pcmu);
        assert_eq!(a.audio.telephone_event, Some(122));
        assert_eq!(a.audio.remote, "10.0.0.5:4000".parse().unwrap());
        l.telephone_event = false;
        let a = answer(&PJSIP.parse().unwrap(), &l).unwrap();
        assert_eq!(a.audio.telephone_event, None);
        assert_eq!(a.sdp.media[0].formats, ["0"]);
    }

    #[test]
    fn hold_directions() {
        let cases = [
            ("a=sendonly\r\n", "", Direction::RecvOnly),
            ("a=recvonly\r\n", "", Direction::SendOnly),
            ("a=inactive\r\n", "", Direction::Inactive),
            ("a=sendrecv\r\n", "", Direction::SendRecv),
            ("", "", Direction::SendRecv),
            ("", "c=IN IP4 0.0.0.0\r\n", Direction::RecvOnly),
            (
                "a=recvonly\r\n",
                "c=IN IP4 0.0.0.0\r\n",
                Direction::Inactive,
            ),
        ];
        for (attr, conn, want) in cases {
            let a = answered(&format!("m=audio 4000 RTP/AVP 0\r\n{conn}{attr}"), &local()).unwrap();
            assert_eq!(a.audio.direction, want, "{attr}{conn}");
            assert_eq!(a.sdp.media[0].direction(), Some(want));
        }
        // Session-level direction applies to streams without their own.
        let mut held = offer_with("m=audio 4000 RTP/AVP 0\r\n");
        held.attributes
            .push(Attribute::Direction(Direction::SendOnly));
        assert_eq!(
            answer(&held, &local()).unwrap().audio.direction,
            Direction::RecvOnly
        );
        // We can hold too: local sendonly against their sendrecv.
        let mut l = local();
        l.direction = Direction::SendOnly;
        assert_eq!(
            answered("m=audio 4000 RTP/AVP 0\r\n", &l)
                .unwrap()
                .audio
                .direction,
            Direction::SendOnly
        );
    }

    #[test]
    fn video_and_extra_streams_are_rejected_with_port_zero() {
        let a = answer(&MEDIA_LEVEL_C.parse().unwrap(), &local()).unwrap();
        assert_eq!(a.sdp.media.len(), 2);
        assert_eq!(a.audio.codec, Codec::Pcma);
        assert_eq!(a.audio.remote, "[2001:db8::1]:7078".parse().unwrap());
        assert_eq!(a.audio.telephone_event, Some(101));
        let video = &a.sdp.media[1];
        assert_eq!(
            (video.kind.clone(), video.port, video.formats.clone()),
            (MediaKind::Video, 0, vec!["96".into()])
        );
        assert!(a.sdp.to_string().ends_with("m=video 0 RTP/AVP 96\r\n"));

        // Video first, two audio streams: the first audio is taken, the second refused.
        let a = answered(
            "m=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n",
            &local(),
        )
        .unwrap();
        let ports: Vec<u16> = a.sdp.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, [0, 30_000, 0]);
        assert_eq!(a.audio.media_index, 1);
    }

    #[test]
    fn unacceptable_offers_explain_why() {
        assert_eq!(
            answered("m=video 5000 RTP/AVP 96\r\n", &local()),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            answered("m=audio 0 RTP/AVP 0\r\n", &local()),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            answered("m=audio 4000 RTP/SAVP 0\r\n", &local()),
            Err(SdpError::UnsupportedTransport("RTP/SAVP".into()))
        );
        let no_c: SessionDescription =
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
                .parse()
                .unwrap();
        assert_eq!(answer(&no_c, &local()), Err(SdpError::NoConnection(0)));
        assert_eq!(
            answered(
                "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 media.example.com\r\n",
                &local()
            ),
            Err(SdpError::UnresolvedAddress("media.example.com".into()))
        );
        // An SRTP stream is refused but a later plain one is taken.
        let a = answered(
            "m=audio 4000 RTP/SAVP 0\r\nm=audio 4002 RTP/AVP 8\r\n",
            &local(),
        )
        .unwrap();
        assert_eq!((a.audio.media_index, a.sdp.media[0].port), (1, 0));
    }

    #[test]
    fn our_offer_and_reading_the_answer() {
        let mut l = local();
        l.codecs = vec![Codec::Pcma, Codec::Pcmu, Codec::Pcma];
        let o = offer(&l).unwrap();
        assert_eq!(
            o.to_string(),
            "v=0\r\no=- 777 777 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let remote_answer: SessionDescription =
            "v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
             m=audio 8000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"
                .parse()
                .unwrap();
        let n = read_answer(&o, &remote_answer).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcmu, 0, Some(101))
        );
        assert_eq!(n.remote, "192.0.2.9:8000".parse().unwrap());
        assert_eq!(n.direction, Direction::SendOnly);

        // Both ends of this module agree with each other.
        let mut remote = LocalMedia::new(IpAddr::from([192, 0, 2, 50]), 40_000, 9);
        remote.codecs = vec![Codec::Pcmu];
        let ans = answer(&o, &remote).unwrap();
        let reparsed = SessionDescription::parse_bytes(&ans.sdp.to_bytes()).unwrap();
        let n = read_answer(&o, &reparsed).unwrap();
        assert_eq!(
            (n.codec, n.telephone_event, n.direction),
            (Codec::Pcmu, Some(101), Direction::SendRecv)
        );
        assert_eq!(n.remote, "192.0.2.50:40000".parse().unwrap());
        assert_eq!(ans.audio.remote, "10.1.1.1:30000".parse().unwrap());

        l.codecs.clear();
        assert_eq!(offer(&l), Err(SdpError::NoLocalCodec));
    }

    #[test]
    fn bad_answers_are_errors() {
        let o = offer(&local()).unwrap();
        let ans = |m: &str| -> SessionDescription {
            format!("v=0\r\no=- 5 5 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{m}")
                .parse()
                .unwrap()
        };
        assert_eq!(
            read_answer(&o, &ans("m=audio 0 RTP/AVP 0\r\n")),
            Err(SdpError::AudioRejected)
        );
        assert_eq!(
            read_answer(&o, &ans("m=audio 8000 RTP/AVP 9\r\n")),
            Err(SdpError::NoCommonCodec)
        );
        assert!(matches!(
            read_answer(&o, &ans("")),
            Err(SdpError::AnswerMismatch(_))
        ));
        assert!(matches!(
            read_answer(&o, &ans("m=video 8000 RTP/AVP 0\r\n")),
            Err(SdpError::AnswerMismatch(_))
        ));
        // Legacy hold in the answer: they do not want our media.
        let held = ans("m=audio 8000 RTP/AVP 8\r\nc=IN IP4 0.0.0.0\r\n");
        assert_eq!(
            read_answer(&o, &held).map(|n| n.direction),
            Ok(Direction::RecvOnly)
        );
    }
}
