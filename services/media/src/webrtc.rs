//! A WebRTC leg (a browser agent) on top of str0m, kept free of sockets: datagrams and
//! `now` go in, datagrams to send, received audio frames and state changes come out. The
//! socket loop owns the one UDP port all WebRTC legs share and demultiplexes with
//! [`WebRtcLeg::accepts`].
//!
//! We are ICE-lite (the browser does the checks; we answer from a public address) and
//! offer only PCMU and PCMA, so a browser agent bridges to a SIP caller without
//! transcoding. str0m's default codec set is Opus-only; G.711 is enabled explicitly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use cc_media_core::g711::G711;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::MediaError;

/// What a WebRTC leg produced while handling an input.
#[derive(Debug, Default)]
pub(crate) struct WebRtcOutput {
    /// Datagrams to send from the shared WebRTC socket.
    pub transmits: Vec<(SocketAddr, Vec<u8>)>,
    /// Audio received from the browser: (RTP timestamp at 8 kHz, G.711 payload).
    pub audio: Vec<(u32, Arc<[u8]>)>,
    /// ICE connected (true) or lost (false), when it changes.
    pub ice: Option<bool>,
}

#[derive(Debug)]
pub(crate) struct WebRtcLeg {
    rtc: Rtc,
    local: SocketAddr,
    audio: Option<(Mid, Pt, G711)>,
    connected: bool,
    /// Our offer awaiting the browser's answer, and the mid of its audio stream.
    pending: Option<(SdpPendingOffer, Mid)>,
}

fn sdp_error(e: impl std::fmt::Display) -> MediaError {
    MediaError::InvalidArgument(format!("WebRTC SDP: {e}"))
}

/// The mids of the audio m-lines of an SDP, in order.
fn audio_mids(sdp: &str) -> Vec<&str> {
    let mut mids = Vec::new();
    let mut in_audio = false;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            in_audio = m.starts_with("audio ");
        } else if in_audio && let Some(mid) = line.strip_prefix("a=mid:") {
            mids.push(mid.trim());
        }
    }
    mids
}

/// Whether an SDP body describes a WebRTC session (DTLS-SRTP with ICE), not plain RTP.
pub(crate) fn is_webrtc_sdp(sdp: &str) -> bool {
    sdp.contains("UDP/TLS/RTP/SAVP")
}

impl WebRtcLeg {
    /// Answers a browser's offer. `local` is the shared WebRTC socket's public address.
    pub(crate) fn answer(
        offer: &str,
        local: SocketAddr,
        now: Instant,
    ) -> Result<(WebRtcLeg, String), MediaError> {
        let offer = SdpOffer::from_sdp_string(offer).map_err(sdp_error)?;
        let mut leg = WebRtcLeg::new(local, now)?;
        let answer = leg.rtc.sdp_api().accept_offer(offer).map_err(sdp_error)?;
        let answer = answer.to_sdp_string();
        for mid in audio_mids(&answer) {
            if leg.audio.is_none() {
                leg.use_audio(Mid::from(mid));
            }
        }
        if leg.audio.is_none() {
            return Err(MediaError::Sdp(cc_sip::sdp::SdpError::NoCommonCodec));
        }
        Ok((leg, answer))
    }

    /// Makes our offer to a browser (an agent we call): one sendrecv audio stream, PCMU
    /// and PCMA. The browser's answer comes through [`WebRtcLeg::accept_answer`].
    pub(crate) fn offer(
        local: SocketAddr,
        now: Instant,
    ) -> Result<(WebRtcLeg, String), MediaError> {
        let mut leg = WebRtcLeg::new(local, now)?;
        let mut api = leg.rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| MediaError::State("str0m made no offer".into()))?;
        leg.pending = Some((pending, mid));
        Ok((leg, offer.to_sdp_string()))
    }

    /// Applies the browser's answer to our offer.
    pub(crate) fn accept_answer(&mut self, answer: &str) -> Result<(), MediaError> {
        let Some((pending, mid)) = self.pending.take() else {
            return Err(MediaError::State(
                "this WebRTC leg has no offer waiting for an answer; re-negotiation is not supported"
                    .into(),
            ));
        };
        let answer = SdpAnswer::from_sdp_string(answer).map_err(sdp_error)?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(sdp_error)?;
        self.use_audio(mid);
        if self.audio.is_none() {
            return Err(MediaError::Sdp(cc_sip::sdp::SdpError::NoCommonCodec));
        }
        Ok(())
    }

    fn new(local: SocketAddr, now: Instant) -> Result<WebRtcLeg, MediaError> {
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .build(now);
        let candidate = Candidate::host(local, Protocol::Udp).map_err(sdp_error)?;
        rtc.add_local_candidate(candidate);
        Ok(WebRtcLeg {
            rtc,
            local,
            audio: None,
            connected: false,
            pending: None,
        })
    }

    /// Takes `mid` as our audio stream when it negotiated PCMU or PCMA: its mid, the
    /// payload type to send, and the codec.
    fn use_audio(&mut self, mid: Mid) {
        let Some(writer) = self.rtc.writer(mid) else {
            return;
        };
        let found = writer.payload_params().find_map(|p| {
            let codec = match p.spec().codec {
                Codec::PCMU => G711::Pcmu,
                Codec::PCMA => G711::Pcma,
                _ => return None,
            };
            Some((p.pt(), codec))
        });
        if let Some((pt, codec)) = found {
            self.audio = Some((mid, pt, codec));
        }
    }

    pub(crate) fn codec(&self) -> Option<G711> {
        self.audio.map(|(_, _, c)| c)
    }

    #[cfg(test)]
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether a datagram that arrived on the shared socket belongs to this leg.
    pub(crate) fn accepts(&self, from: SocketAddr, data: &[u8], now: Instant) -> bool {
        let Ok(contents) = data.try_into() else {
            return false;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.local,
                contents,
            },
        );
        self.rtc.accepts(&input)
    }

    pub(crate) fn handle_datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        now: Instant,
        out: &mut WebRtcOutput,
    ) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.local,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(error = %e, "WebRTC input refused");
        }
        self.drain(out);
    }

    /// Drives str0m's timers (ICE consent, DTLS retransmission, RTCP).
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut WebRtcOutput) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(error = %e, "WebRTC timeout handling failed");
        }
        self.drain(out);
    }

    /// Sends one G.711 frame (in the leg's codec) with its RTP timestamp at 8 kHz.
    pub(crate) fn write_audio(
        &mut self,
        payload: &[u8],
        rtp_time: u32,
        now: Instant,
        out: &mut WebRtcOutput,
    ) {
        let Some((mid, pt, _)) = self.audio else {
            return;
        };
        if !self.connected {
            return;
        }
        if let Some(writer) = self.rtc.writer(mid) {
            let time = MediaTime::new(u64::from(rtp_time), Frequency::EIGHT_KHZ);
            if let Err(e) = writer.write(pt, now, time, payload.to_vec()) {
                tracing::debug!(error = %e, "WebRTC write failed");
            }
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut WebRtcOutput) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(_)) => return,
                Ok(Output::Transmit(t)) => out.transmits.push((t.destination, t.contents.to_vec())),
                Ok(Output::Event(e)) => self.on_event(e, out),
                Err(e) => {
                    tracing::debug!(error = %e, "WebRTC session failed");
                    if self.connected {
                        self.connected = false;
                        out.ice = Some(false);
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, e: Event, out: &mut WebRtcOutput) {
        match e {
            // Connected means DTLS is up too; a lost ICE connection is the end of it.
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) if self.connected => {
                self.connected = false;
                out.ice = Some(false);
            }
            Event::Connected if !self.connected => {
                self.connected = true;
                out.ice = Some(true);
            }
            Event::MediaAdded(added) if self.audio.is_none() && added.kind == MediaKind::Audio => {
                self.use_audio(added.mid);
            }
            Event::MediaData(data) if self.audio.is_some_and(|(_, pt, _)| pt == data.pt) => {
                let ts = data.time.rebase(Frequency::EIGHT_KHZ).numer() as u32;
                out.audio.push((ts, data.data));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use str0m::change::SdpAnswer;
    use str0m::media::Direction;

    use super::*;

    /// A browser stand-in: a full (not lite) str0m peer offering PCMU audio.
    struct Browser {
        rtc: Rtc,
        addr: SocketAddr,
        mid: Mid,
        received: Vec<Arc<[u8]>>,
        connected: bool,
    }

    impl Browser {
        fn offer(now: Instant) -> (Browser, String, str0m::change::SdpPendingOffer) {
            let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
            let mut rtc = RtcConfig::new()
                .clear_codecs()
                .enable_pcmu(true, false)
                .build(now);
            rtc.add_local_candidate(Candidate::host(addr, Protocol::Udp).unwrap());
            let mut api = rtc.sdp_api();
            let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
            let (offer, pending) = api.apply().unwrap();
            let browser = Browser {
                rtc,
                addr,
                mid,
                received: Vec::new(),
                connected: false,
            };
            (browser, offer.to_sdp_string(), pending)
        }

        /// Runs the browser until it wants a timer; returns its datagrams.
        fn poll(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
            let mut sent = Vec::new();
            loop {
                match self.rtc.poll_output().unwrap() {
                    Output::Timeout(_) => return sent,
                    Output::Transmit(t) => sent.push((t.destination, t.contents.to_vec())),
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::MediaData(d)) => self.received.push(d.data),
                    Output::Event(_) => {}
                }
            }
        }

        fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source: from,
                    destination: self.addr,
                    contents: data.try_into().unwrap(),
                },
            );
            self.rtc.handle_input(input).unwrap();
        }
    }

    /// Shuttles datagrams between the two for `steps` of 10 ms of virtual time.
    fn run(
        browser: &mut Browser,
        leg: &mut WebRtcLeg,
        server: SocketAddr,
        now: &mut Instant,
        steps: usize,
        out: &mut WebRtcOutput,
    ) {
        for _ in 0..steps {
            browser.rtc.handle_input(Input::Timeout(*now)).unwrap();
            for (to, data) in browser.poll() {
                assert_eq!(to, server);
                assert!(leg.accepts(browser.addr, &data, *now));
                leg.handle_datagram(browser.addr, &data, *now, out);
            }
            leg.handle_timeout(*now, out);
            for (to, data) in out.transmits.drain(..) {
                assert_eq!(to, browser.addr);
                browser.receive(server, &data, *now);
            }
            *now += Duration::from_millis(10);
        }
    }

    #[test]
    fn a_browser_connects_with_pcmu_and_audio_flows_both_ways() {
        let mut now = Instant::now();
        let server: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let (mut browser, offer, pending) = Browser::offer(now);
        let (mut leg, answer) = WebRtcLeg::answer(&offer, server, now).unwrap();
        assert!(answer.contains("a=ice-lite"), "{answer}");
        assert!(answer.contains("PCMU/8000"), "{answer}");
        assert_eq!(leg.codec(), Some(G711::Pcmu));
        browser
            .rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();

        let mut out = WebRtcOutput::default();
        run(&mut browser, &mut leg, server, &mut now, 300, &mut out);
        assert!(
            browser.connected && leg.is_connected(),
            "ICE and DTLS come up"
        );
        assert_eq!(out.ice, Some(true));

        // Server -> browser.
        for i in 0..5u32 {
            leg.write_audio(&[0x11; 160], 160 * i, now, &mut out);
            run(&mut browser, &mut leg, server, &mut now, 2, &mut out);
        }
        assert!(
            browser.received.iter().any(|d| d[..] == [0x11; 160]),
            "browser got our audio"
        );

        // Browser -> server.
        let pt = browser
            .rtc
            .writer(browser.mid)
            .unwrap()
            .payload_params()
            .next()
            .unwrap()
            .pt();
        for i in 0..5u64 {
            let w = browser.rtc.writer(browser.mid).unwrap();
            w.write(
                pt,
                now,
                MediaTime::new(160 * i, Frequency::EIGHT_KHZ),
                vec![0x22; 160],
            )
            .unwrap();
            run(&mut browser, &mut leg, server, &mut now, 2, &mut out);
        }
        assert!(
            out.audio.iter().any(|(_, d)| d[..] == [0x22; 160]),
            "we got the browser's audio"
        );
    }

    #[test]
    fn we_offer_a_browser_audio_and_its_answer_connects() {
        let mut now = Instant::now();
        let server: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let (mut leg, offer) = WebRtcLeg::offer(server, now).unwrap();
        assert!(
            offer.contains("PCMU/8000") && offer.contains("PCMA/8000"),
            "{offer}"
        );
        assert!(
            leg.accept_answer("v=0").is_err(),
            "a broken answer is refused, not applied"
        );
        let (mut leg, offer) = WebRtcLeg::offer(server, now).unwrap();
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut rtc = RtcConfig::new()
            .clear_codecs()
            .enable_pcma(true, false)
            .build(now);
        rtc.add_local_candidate(Candidate::host(addr, Protocol::Udp).unwrap());
        let answer = rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap()
            .to_sdp_string();
        leg.accept_answer(&answer).unwrap();
        assert_eq!(leg.codec(), Some(G711::Pcma), "the browser chose PCMA");
        assert!(leg.accept_answer(&answer).is_err(), "one answer per offer");
        let mut browser = Browser {
            rtc,
            addr,
            mid: Mid::from("0"),
            received: Vec::new(),
            connected: false,
        };
        let mut out = WebRtcOutput::default();
        run(&mut browser, &mut leg, server, &mut now, 300, &mut out);
        assert!(browser.connected && leg.is_connected());
    }

    #[test]
    fn an_offer_without_g711_is_refused_and_plain_sdp_is_not_webrtc() {
        let now = Instant::now();
        let mut rtc = RtcConfig::new().build(now); // Opus only
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, _) = api.apply().unwrap();
        let offer = offer.to_sdp_string();
        assert!(is_webrtc_sdp(&offer));
        let server: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert!(WebRtcLeg::answer(&offer, server, now).is_err());
        assert!(!is_webrtc_sdp("v=0\r\nm=audio 4000 RTP/AVP 0\r\n"));
    }
}
