//! One RTP leg: its socket, what SDP negotiated, its outgoing stream numbering, and the
//! per-leg machinery (DTMF receiver, in-band detector, prompt player, digit collector,
//! inactivity detector). The socket loop that owns it drives it; nothing here blocks.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_media_core::FRAME_SAMPLES;
use cc_media_core::collector::{CollectOutcome, DigitCollector};
use cc_media_core::dtmf::{DtmfReceiver, DtmfReceiverConfig};
use cc_media_core::g711::G711;
use cc_media_core::goertzel::{DetectorConfig, DtmfDetector};
use cc_media_core::inactivity::InactivityDetector;
use cc_media_core::player::{Frame, PlayEnd, PlayerEvent, PromptPlayer};
use cc_media_core::rtp::{RtpBuilder, RtpHeader};
use cc_media_core::stream::OutgoingStream;
use cc_sip::sdp::{self, Codec, LocalMedia, NegotiatedAudio, SessionDescription};

use crate::recorder::Recorder;
use crate::webrtc::{WebRtcLeg, WebRtcOutput};
use crate::{CollectEnd, DigitSource, EndpointId, MediaError, MediaEvent, Negotiated};

/// What a received datagram turned out to be, for the relay decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Audio in the negotiated codec.
    Audio(G711),
    /// An RFC 4733 telephone-event packet.
    Event,
    /// Nothing to forward (RTCP, comfort noise, an unexpected source, garbage).
    Drop,
}

/// How an endpoint reaches its peer.
#[derive(Debug)]
pub(crate) enum Net {
    /// Plain RTP on a socket and port of its own.
    Rtp { socket: UdpSocket, port: u16 },
    /// WebRTC through the loop's shared WebRTC socket; `out` holds what the leg produced
    /// until the loop sends it (datagrams) or relays it (audio).
    WebRtc {
        leg: Box<WebRtcLeg>,
        out: WebRtcOutput,
        /// Sequence numbers for the browser's audio when relayed as RTP.
        seq: u16,
    },
}

#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) id: EndpointId,
    pub(crate) label: String,
    pub(crate) net: Net,
    public_ip: IpAddr,
    session_id: u64,
    session_version: u64,
    /// Our last offer while its answer is outstanding.
    pending_offer: Option<SessionDescription>,
    pub(crate) negotiated: Option<Negotiated>,
    /// The address RTP actually comes from (symmetric RTP, RFC 4961): the first source
    /// after each SDP change; packets from anywhere else are dropped.
    latched: Option<SocketAddr>,
    pub(crate) out: OutgoingStream,
    dtmf: DtmfReceiver,
    inband: Option<DtmfDetector>,
    /// Set once the peer sends RFC 4733: from then on tones in the audio are its own echo
    /// of the same key, not a second digit.
    saw_rfc4733: bool,
    pub(crate) player: PromptPlayer,
    playback: Option<(u64, bool)>,
    collector: Option<(u64, DigitCollector)>,
    /// Whether the collection's first-digit timer waits for the prompt to end.
    collect_clock: CollectClock,
    inactivity: Option<InactivityDetector>,
    rtp_timeout: Option<Duration>,
    pub(crate) bridge: Option<EndpointId>,
    pub(crate) recorder: Option<Recorder>,
    pub(crate) packets_in: u64,
    pub(crate) packets_out: u64,
    /// Scratch for decoded audio of one packet.
    pcm: Vec<i16>,
}

pub(crate) struct EndpointInit {
    pub id: EndpointId,
    pub label: String,
    pub net: Net,
    pub public_ip: IpAddr,
    pub rtp_timeout: Option<Duration>,
}

impl Endpoint {
    pub(crate) fn new(init: EndpointInit, now: Instant) -> Endpoint {
        let inactivity = init
            .rtp_timeout
            .and_then(|t| InactivityDetector::new(t, now).ok())
            .map(|mut d| {
                // Armed when the first SDP says the peer will send.
                d.pause();
                d
            });
        Endpoint {
            id: init.id,
            label: init.label,
            net: init.net,
            public_ip: init.public_ip,
            session_id: u64::from(rand::random::<u32>()),
            session_version: 1,
            pending_offer: None,
            negotiated: None,
            latched: None,
            out: OutgoingStream::new(rand::random(), rand::random(), rand::random()),
            dtmf: DtmfReceiver::new(DtmfReceiverConfig::default()),
            inband: None,
            saw_rfc4733: false,
            player: PromptPlayer::new(),
            playback: None,
            collector: None,
            collect_clock: CollectClock::Running,
            inactivity,
            rtp_timeout: init.rtp_timeout,
            bridge: None,
            recorder: None,
            packets_in: 0,
            packets_out: 0,
            pcm: vec![0; 1024],
        }
    }

    /// The RTP socket and port; `None` for a WebRTC leg.
    pub(crate) fn rtp_socket(&self) -> Option<(&UdpSocket, u16)> {
        match &self.net {
            Net::Rtp { socket, port } => Some((socket, *port)),
            Net::WebRtc { .. } => None,
        }
    }

    pub(crate) fn webrtc(&mut self) -> Option<&mut WebRtcLeg> {
        match &mut self.net {
            Net::WebRtc { leg, .. } => Some(leg),
            Net::Rtp { .. } => None,
        }
    }

    fn local_media(&mut self) -> Result<LocalMedia, MediaError> {
        let Net::Rtp { port, .. } = self.net else {
            return Err(MediaError::State(format!(
                "{} is a WebRTC leg: its SDP is negotiated once, when it is created",
                self.id
            )));
        };
        let mut local = LocalMedia::new(self.public_ip, port, self.session_id);
        local.session_version = self.session_version;
        self.session_version += 1;
        Ok(local)
    }

    /// Our SDP offer; the answer comes through [`Endpoint::apply_remote`].
    pub(crate) fn make_offer(&mut self) -> Result<SessionDescription, MediaError> {
        let local = self.local_media()?;
        let offer = sdp::offer(&local)?;
        self.pending_offer = Some(offer.clone());
        Ok(offer)
    }

    /// Applies a remote SDP: the answer to our pending offer, or else a new offer, which
    /// returns our answer.
    pub(crate) fn apply_remote(
        &mut self,
        remote: &SessionDescription,
        now: Instant,
    ) -> Result<Option<SessionDescription>, MediaError> {
        if let Some(offer) = self.pending_offer.take() {
            let audio = sdp::read_answer(&offer, remote)?;
            self.set_negotiated(&audio, now);
            return Ok(None);
        }
        let local = self.local_media()?;
        let answer = sdp::answer(remote, &local)?;
        self.set_negotiated(&answer.audio, now);
        Ok(Some(answer.sdp))
    }

    /// Records what a WebRTC leg negotiated (its answer was made by str0m).
    pub(crate) fn set_webrtc_negotiated(&mut self, codec: G711, now: Instant) {
        self.negotiated = Some(Negotiated {
            codec: match codec {
                G711::Pcma => Codec::Pcma,
                G711::Pcmu => Codec::Pcmu,
            },
            payload_type: codec.payload_type(),
            telephone_event: None,
            remote: SocketAddr::from(([0, 0, 0, 0], 0)),
            direction: cc_sip::sdp::Direction::SendRecv,
        });
        if let Some(d) = self.inactivity.as_mut() {
            d.resume(now);
        }
    }

    fn set_negotiated(&mut self, audio: &NegotiatedAudio, now: Instant) {
        let changed_peer = self
            .negotiated
            .as_ref()
            .is_none_or(|n| n.remote != audio.remote);
        if changed_peer {
            self.latched = None;
            self.dtmf.reset();
        }
        // Holding and resuming (a direction change) restarts the outgoing numbering's
        // segment: packets not relayed meanwhile are not losses for the receiver.
        if self
            .negotiated
            .as_ref()
            .is_some_and(|n| n.direction != audio.direction)
        {
            self.out.mark_discontinuity();
        }
        self.negotiated = Some(Negotiated {
            codec: audio.codec,
            payload_type: audio.payload_type,
            telephone_event: audio.telephone_event,
            remote: audio.remote,
            direction: audio.direction,
        });
        if let Some(d) = self.inactivity.as_mut() {
            // On hold either way silence is expected, not a dead call: a phone that holds
            // with `a=sendonly` often sends nothing, although it says it would.
            if audio.direction == cc_sip::sdp::Direction::SendRecv {
                d.resume(now);
            } else {
                d.pause();
            }
        }
    }

    pub(crate) fn codec(&self) -> Option<G711> {
        self.negotiated.as_ref().map(|n| match n.codec {
            Codec::Pcma => G711::Pcma,
            _ => G711::Pcmu,
        })
    }

    /// Where to send RTP, if anywhere: the latched source, else the SDP address.
    fn destination(&self) -> Option<SocketAddr> {
        let n = self.negotiated.as_ref()?;
        if !n.direction.sends() {
            return None;
        }
        let to = self.latched.unwrap_or(n.remote);
        (!to.ip().is_unspecified() && to.port() != 0).then_some(to)
    }

    /// Classifies one received datagram and runs the receive-side machinery on it (DTMF,
    /// in-band detection, inactivity, recording of this leg).
    pub(crate) fn on_datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        events: &mut Vec<MediaEvent>,
    ) -> (Received, Option<RtpHeader>, usize) {
        let Some(n) = self.negotiated.as_ref() else {
            return (Received::Drop, None, 0);
        };
        match self.latched {
            Some(addr) if addr != from => return (Received::Drop, None, 0),
            Some(_) => {}
            None => {
                // Learn the source from the first packet, as Asterisk's strictrtp does: behind
                // NAT the SDP names a private address the packets never come from. Only a
                // first packet crossing between loopback and the network is refused. Once
                // latched, nobody else can inject audio into the stream.
                let crosses = from.ip().is_loopback() != n.remote.ip().is_loopback();
                if crosses && !n.remote.ip().is_unspecified() {
                    return (Received::Drop, None, 0);
                }
                self.latched = Some(from);
            }
        }
        if cc_media_core::rtcp::is_rtcp(data) {
            return (Received::Drop, None, 0);
        }
        let Ok(packet) = cc_media_core::rtp::RtpPacket::parse(data) else {
            return (Received::Drop, None, 0);
        };
        self.packets_in += 1;
        if let Some(d) = self.inactivity.as_mut() {
            d.handle_packet(now);
        }
        let header = packet.header;
        let (pt, te) = (n.payload_type, n.telephone_event);
        if te == Some(header.payload_type) {
            self.saw_rfc4733 = true;
            self.inband = None;
            if self
                .dtmf
                .handle_packet(header.timestamp, header.marker, packet.payload, now)
                .is_ok()
            {
                self.drain_rfc4733(now, events);
            }
            return (Received::Event, Some(header), packet.header_len);
        }
        if header.payload_type != pt {
            return (Received::Drop, None, 0);
        }
        let Some(codec) = self.codec() else {
            return (Received::Drop, None, 0);
        };
        self.on_audio(codec, Some(&header), packet.payload, now, events);
        (Received::Audio(codec), Some(header), packet.header_len)
    }

    /// Handles a datagram of this WebRTC leg; its audio frames wait in the leg's output
    /// for the loop to relay ([`Endpoint::take_webrtc_output`]).
    pub(crate) fn on_webrtc_datagram(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: Instant,
        events: &mut Vec<MediaEvent>,
    ) {
        let Net::WebRtc { leg, out, .. } = &mut self.net else {
            return;
        };
        leg.handle_datagram(from, data, now, out);
        self.after_webrtc(now, events);
    }

    /// str0m's timers, from the loop's tick.
    fn webrtc_tick(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        if let Net::WebRtc { leg, out, .. } = &mut self.net {
            leg.handle_timeout(now, out);
            self.after_webrtc(now, events);
        }
    }

    fn after_webrtc(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        let Net::WebRtc { out, .. } = &mut self.net else {
            return;
        };
        if let Some(connected) = out.ice.take() {
            events.push(MediaEvent::Ice {
                endpoint: self.id,
                connected,
            });
        }
        let frames = out.audio.len();
        if frames == 0 {
            return;
        }
        self.packets_in += frames as u64;
        if let Some(d) = self.inactivity.as_mut() {
            d.handle_packet(now);
        }
        if let (Some(codec), Net::WebRtc { out, .. }) = (self.codec(), &self.net) {
            let audio: Vec<Arc<[u8]>> = out.audio.iter().map(|(_, a)| a.clone()).collect();
            for a in audio {
                self.on_audio(codec, None, &a, now, events);
            }
        }
    }

    /// Takes only the datagrams a WebRTC leg produced (its received audio stays queued for
    /// [`Endpoint::take_webrtc_output`]).
    pub(crate) fn take_webrtc_transmits(&mut self) -> Option<Vec<(SocketAddr, Vec<u8>)>> {
        let Net::WebRtc { out, .. } = &mut self.net else {
            return None;
        };
        (!out.transmits.is_empty()).then(|| std::mem::take(&mut out.transmits))
    }

    /// Takes what a WebRTC leg produced: datagrams to send and audio frames to relay.
    pub(crate) fn take_webrtc_output(&mut self) -> Option<(WebRtcOutput, u16)> {
        let Net::WebRtc { out, seq, .. } = &mut self.net else {
            return None;
        };
        if out.transmits.is_empty() && out.audio.is_empty() {
            return None;
        }
        let n = out.audio.len() as u16;
        let first = *seq;
        *seq = seq.wrapping_add(n);
        Some((std::mem::take(out), first))
    }

    /// The receive side of audio in our codec: in-band DTMF and this leg's recording.
    fn on_audio(
        &mut self,
        codec: G711,
        header: Option<&RtpHeader>,
        payload: &[u8],
        now: Instant,
        events: &mut Vec<MediaEvent>,
    ) {
        if let (Some(rec), Some(header)) = (self.recorder.as_mut(), header) {
            rec.left_rtp(codec, header, payload, now);
        }
        let record_pcm = self.recorder.is_some() && header.is_none();
        if self.inband.is_some() || record_pcm {
            let len = payload.len().min(self.pcm.len());
            let decoded = codec.decode(&payload[..len], &mut self.pcm);
            let mut heard = [None; 4];
            if let Some(det) = self.inband.as_mut() {
                det.process(&self.pcm[..decoded]);
                // At most a digit or two fit in one packet's audio.
                for slot in heard.iter_mut() {
                    *slot = det.poll_digit();
                }
            }
            for d in heard.into_iter().flatten() {
                self.on_digit(d.digit.as_char(), 0, DigitSource::InBand, now, events);
            }
            if record_pcm && let Some(rec) = self.recorder.as_mut() {
                rec.push_left(&self.pcm[..decoded]);
            }
        }
    }

    /// Audio of the bridged peer, for this leg's recording (the right channel).
    pub(crate) fn record_peer_audio(
        &mut self,
        codec: G711,
        header: &RtpHeader,
        payload: &[u8],
        now: Instant,
    ) {
        if let Some(rec) = self.recorder.as_mut() {
            rec.right_rtp(codec, header, payload, now);
        }
    }

    fn drain_rfc4733(&mut self, now: Instant, events: &mut Vec<MediaEvent>) {
        while let Some(d) = self.dtmf.poll_digit() {
            let ms = u32::try_from(d.duration().as_millis()).unwrap_or(u32::MAX);
            self.on_digit(d.digit.as_char(), ms, DigitSource::Rfc4733, now, events);
        }
    }

    fn on_digit(
        &mut self,
        digit: char,
        duration_ms: u32,
        source: DigitSource,
        now: Instant,
        events: &mut Vec<MediaEvent>,
    ) {
        events.push(MediaEvent::Digit {
            endpoint: self.id,
            digit,
            duration_ms,
            source,
        });
        if let Some((_, true)) = self.playback {
            self.stop_play(events);
        }
        if let Some((id, c)) = self.collector.as_mut()
            && let Some(d) = cc_media_core::dtmf::Digit::from_char(digit)
            && let Ok(Some(outcome)) = c.handle_digit(d, now)
        {
            let id = *id;
            self.finish_collect(
                id,
                outcome_end(&outcome),
                outcome.digits().to_string(),
                events,
            );
        }
    }

    fn finish_collect(
        &mut self,
        id: u64,
        end: CollectEnd,
        digits: String,
        events: &mut Vec<MediaEvent>,
    ) {
        self.collector = None;
        self.collect_clock = CollectClock::Running;
        if !matches!(self.playback, Some((_, true))) {
            self.inband = None;
        }
        events.push(MediaEvent::CollectDone {
            endpoint: self.id,
            collection: id,
            digits,
            end,
        });
    }

    fn want_inband(&mut self) {
        if !self.saw_rfc4733 && self.inband.is_none() {
            self.inband = DtmfDetector::new(DetectorConfig::default()).ok();
        }
    }

    pub(crate) fn play(
        &mut self,
        playback: u64,
        list: cc_media_core::player::Playlist,
        barge_in: bool,
        events: &mut Vec<MediaEvent>,
    ) {
        self.player.play(list);
        self.drain_player(events);
        self.playback = Some((playback, barge_in));
        if barge_in {
            self.want_inband();
        }
    }

    pub(crate) fn stop_play(&mut self, events: &mut Vec<MediaEvent>) {
        self.player.stop();
        self.drain_player(events);
    }

    fn drain_player(&mut self, events: &mut Vec<MediaEvent>) {
        while let Some(e) = self.player.poll_event() {
            if let PlayerEvent::PlaylistDone { playlist, reason } = e {
                if self.collect_clock == CollectClock::AfterPrompt && !self.player.is_playing() {
                    self.collect_clock = CollectClock::PromptEnded;
                }
                if self.playback.is_some_and(|(id, _)| id == playlist.0) {
                    self.playback = None;
                    if self.collector.is_none() {
                        // A barge-in prompt was the only listener for tones: stop detecting
                        // (and reporting) them once it is over.
                        self.inband = None;
                    }
                }
                events.push(MediaEvent::PlayDone {
                    endpoint: self.id,
                    playback: playlist.0,
                    stopped: reason != PlayEnd::Completed,
                });
            }
        }
    }

    /// Starts a collection (cancelling the one running); with `after_prompt` its
    /// first-digit timer starts again when the prompt playing (or started next) ends, and
    /// does not run out while it plays.
    pub(crate) fn collect(
        &mut self,
        id: u64,
        collector: DigitCollector,
        after_prompt: bool,
        events: &mut Vec<MediaEvent>,
    ) {
        if let Some((old, c)) = self.collector.take() {
            let digits: String = c.digits().iter().map(|d| d.as_char()).collect();
            self.finish_collect(old, CollectEnd::Cancelled, digits, events);
        }
        self.collector = Some((id, collector));
        if after_prompt {
            self.collect_clock = CollectClock::AfterPrompt;
        }
        self.want_inband();
    }

    /// The 20 ms tick: the next prompt frame, timers of DTMF, collection and inactivity.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        scratch: &mut Vec<u8>,
        events: &mut Vec<MediaEvent>,
    ) {
        if self.player.is_playing() {
            if let Some(frame) = self.player.next_frame() {
                self.send_frame(&frame, now, scratch);
            }
            self.drain_player(events);
        }
        if self.dtmf.poll_timeout().is_some_and(|t| t <= now) {
            self.dtmf.handle_timeout(now);
            self.drain_rfc4733(now, events);
        }
        if self.collect_clock == CollectClock::PromptEnded {
            // Within a tick of the prompt's end.
            self.collect_clock = CollectClock::Running;
            if let Some((_, c)) = self.collector.as_mut() {
                c.restart_timer(now);
            }
        }
        let waiting = self.collect_clock == CollectClock::AfterPrompt && self.player.is_playing();
        if !waiting
            && let Some((id, c)) = self.collector.as_mut()
            && let Some(outcome) = c.handle_timeout(now)
        {
            let id = *id;
            self.finish_collect(
                id,
                outcome_end(&outcome),
                outcome.digits().to_string(),
                events,
            );
        }
        if let Some(d) = self.inactivity.as_mut()
            && d.poll_timeout().is_some_and(|t| t <= now)
            && d.handle_timeout(now).is_some()
        {
            let secs = self.rtp_timeout.map_or(0, |t| t.as_secs());
            tracing::info!(endpoint = %self.id, label = %self.label, secs, "no RTP received");
            events.push(MediaEvent::RtpTimeout {
                endpoint: self.id,
                silent_seconds: u32::try_from(secs).unwrap_or(u32::MAX),
            });
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.tick(now);
        }
        self.webrtc_tick(now, events);
    }

    /// Sends one locally generated 20 ms frame in the negotiated codec.
    fn send_frame(&mut self, frame: &Frame, now: Instant, scratch: &mut Vec<u8>) {
        let (Some(codec), Some(n)) = (self.codec(), self.negotiated.as_ref()) else {
            return;
        };
        let payload_type = n.payload_type;
        let mut payload = [0u8; FRAME_SAMPLES];
        codec.encode(frame, &mut payload);
        // What this leg hears goes to the right channel, prompts as much as its peer.
        if let Some(rec) = self.recorder.as_mut() {
            rec.push_right(frame);
        }
        if let Net::WebRtc { leg, out, .. } = &mut self.net {
            let header = self.out.next_frame(payload_type, FRAME_SAMPLES as u32, now);
            leg.write_audio(&payload, header.timestamp, now, out);
            return;
        }
        let Some(to) = self.destination() else {
            return;
        };
        let header = self.out.next_frame(payload_type, FRAME_SAMPLES as u32, now);
        scratch.clear();
        if RtpBuilder::new(header)
            .write_to_vec(&payload, scratch)
            .is_ok()
        {
            self.send(scratch, to);
        }
    }

    /// Forwards a packet received on the bridged peer: renumbers it into this leg's
    /// stream, transcodes when the two legs use different laws, and sends it.
    pub(crate) fn relay(
        &mut self,
        packet: &mut [u8],
        header_len: usize,
        incoming: &RtpHeader,
        kind: Received,
        now: Instant,
    ) {
        if let Net::WebRtc { .. } = self.net {
            self.relay_to_webrtc(packet, header_len, incoming, kind, now);
            return;
        }
        let (Some(to), Some(n)) = (self.destination(), self.negotiated.as_ref()) else {
            return;
        };
        let payload_type = match kind {
            Received::Audio(_) => n.payload_type,
            Received::Event => match n.telephone_event {
                Some(pt) => pt,
                None => return,
            },
            Received::Drop => return,
        };
        let Some(mut header) = self.out.relay(incoming, now) else {
            return;
        };
        header.payload_type = payload_type;
        if let (Received::Audio(from), Some(to_codec)) = (kind, self.codec())
            && from != to_codec
            && let Some(payload) = audio_payload(packet, header_len)
        {
            match to_codec {
                G711::Pcma => cc_media_core::g711::transcode_ulaw_to_alaw(payload),
                G711::Pcmu => cc_media_core::g711::transcode_alaw_to_ulaw(payload),
            }
        }
        if cc_media_core::rtp::rewrite_header(packet, &header).is_ok() {
            self.send(packet, to);
        }
    }

    /// Audio for a browser: str0m packetizes and encrypts it; telephone-events are not
    /// forwarded (the digit is reported by the leg that received it).
    fn relay_to_webrtc(
        &mut self,
        packet: &mut [u8],
        header_len: usize,
        incoming: &RtpHeader,
        kind: Received,
        now: Instant,
    ) {
        let (Received::Audio(from), Some(to_codec)) = (kind, self.codec()) else {
            return;
        };
        let Some(header) = self.out.relay(incoming, now) else {
            return;
        };
        let Some(payload) = audio_payload(packet, header_len) else {
            return;
        };
        if from != to_codec {
            match to_codec {
                G711::Pcma => cc_media_core::g711::transcode_ulaw_to_alaw(payload),
                G711::Pcmu => cc_media_core::g711::transcode_alaw_to_ulaw(payload),
            }
        }
        if let Net::WebRtc { leg, out, .. } = &mut self.net {
            leg.write_audio(payload, header.timestamp, now, out);
            self.packets_out += 1;
        }
    }

    fn send(&mut self, datagram: &[u8], to: SocketAddr) {
        let Net::Rtp { socket, .. } = &self.net else {
            return;
        };
        match socket.send_to(datagram, to) {
            Ok(_) => self.packets_out += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::trace!(endpoint = %self.id, error = %e, "RTP send failed"),
        }
    }

    pub(crate) fn is_playing(&self) -> bool {
        self.player.is_playing()
    }
}

/// The payload of an RTP packet without its padding (which must not be transcoded).
fn audio_payload(packet: &mut [u8], header_len: usize) -> Option<&mut [u8]> {
    let padded = packet.first().is_some_and(|b| b & 0x20 != 0);
    let padding = if padded {
        usize::from(packet.last().copied().unwrap_or(0))
    } else {
        0
    };
    let end = packet.len().checked_sub(padding)?;
    packet.get_mut(header_len..end)
}

/// When a collection's first-digit timer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CollectClock {
    /// From the collection's start (or the last digit).
    Running,
    /// From the end of the prompt: stopped while one plays.
    AfterPrompt,
    /// The prompt has just ended: the timer starts again at the next tick.
    PromptEnded,
}

fn outcome_end(o: &CollectOutcome) -> CollectEnd {
    match o {
        CollectOutcome::MaxDigits(_) => CollectEnd::MaxDigits,
        CollectOutcome::Terminator(_) => CollectEnd::Terminator,
        CollectOutcome::Timeout(_) => CollectEnd::Timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_not_part_of_the_audio_payload() {
        // V=2, P=1; 12-byte header, 4 bytes of audio, 3 bytes of padding (count 3).
        let mut packet = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 3];
        assert_eq!(audio_payload(&mut packet, 12).unwrap(), &[1, 2, 3, 4]);
        packet[0] = 0x80;
        assert_eq!(audio_payload(&mut packet, 12).unwrap().len(), 7);
        let mut lying = vec![0xA0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 200];
        assert!(
            audio_payload(&mut lying, 12).is_none(),
            "padding longer than the payload"
        );
    }
}
