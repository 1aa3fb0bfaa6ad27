//! Call recording: a bridged call into one stereo WAV, the recorded leg on the left and its
//! peer on the right, plus a JSON file of metadata beside it.
//!
//! RTP audio goes through a small reorder buffer per channel first (a recording must not
//! play packets in arrival order); a lost packet becomes silence of its length. The socket
//! loop queues the decoded audio per channel and, on each 20 ms tick, moves one frame of
//! each side into an interleaved buffer (silence for a side that sent nothing, so
//! the channels stay aligned in time). Full buffers go to one writer thread per engine:
//! file I/O never stalls a socket loop. A recorder marks its file [`Unfinished`] as it
//! starts; the writer clears the mark once the final header is written, and says so to
//! whoever stopped the recording, so a recording can be played back as soon as
//! StopRecording returns and never before.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use std::time::Instant;

use cc_media_core::FRAME_SAMPLES;
use cc_media_core::g711::G711;
use cc_media_core::reorder::{
    DEFAULT_DEPTH, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_WAIT, Popped, ReorderBuffer,
};
use cc_media_core::rtp::RtpHeader;
use cc_media_core::wav::{StereoWavWriter, WAV_HEADER_LEN};
use tokio::sync::{broadcast, oneshot};

use crate::recordings::Unfinished;
use crate::{EndpointId, MediaEvent};

/// Frames a side may run ahead of the other before its oldest audio is dropped (jitter
/// allowance; beyond it the sender's clock is drifting).
const MAX_QUEUED_FRAMES: usize = 10;
/// Interleaved bytes gathered before a hand-off to the writer: one second of audio.
const FLUSH_BYTES: usize = 8000 * 4;

#[derive(Debug)]
struct Side {
    frames: VecDeque<[i16; FRAME_SAMPLES]>,
    partial: Vec<i16>,
    order: ReorderBuffer,
    /// Samples per packet of this side's RTP, for the silence that replaces a lost one.
    packet_samples: usize,
    /// The law of the last RTP packet pushed (the two sides may differ).
    codec: G711,
    decoded: Vec<i16>,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            frames: VecDeque::new(),
            partial: Vec::new(),
            order: ReorderBuffer::new(DEFAULT_DEPTH, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_WAIT),
            packet_samples: FRAME_SAMPLES,
            codec: G711::Pcmu,
            decoded: vec![0; DEFAULT_MAX_PAYLOAD],
        }
    }
}

/// Appends samples to a side's frame queue, 160 at a time; a side running more than
/// [`MAX_QUEUED_FRAMES`] ahead of the file loses its oldest audio, not memory.
fn queue(frames: &mut VecDeque<[i16; FRAME_SAMPLES]>, partial: &mut Vec<i16>, mut samples: &[i16]) {
    while !samples.is_empty() {
        let take = (FRAME_SAMPLES - partial.len()).min(samples.len());
        partial.extend_from_slice(&samples[..take]);
        samples = &samples[take..];
        if partial.len() == FRAME_SAMPLES {
            let mut frame = [0i16; FRAME_SAMPLES];
            frame.copy_from_slice(partial);
            partial.clear();
            if frames.len() == MAX_QUEUED_FRAMES {
                frames.pop_front();
            }
            frames.push_back(frame);
        }
    }
}

/// Longest run of silence a gap may add (a second): a sequence jump is not minutes of audio.
const MAX_GAP_SAMPLES: usize = 8000;

impl Side {
    /// One RTP packet of audio, through the reorder buffer.
    fn push_rtp(&mut self, codec: G711, header: &RtpHeader, payload: &[u8], now: Instant) {
        if !payload.is_empty() {
            self.packet_samples = payload.len().min(DEFAULT_MAX_PAYLOAD);
        }
        self.codec = codec;
        let _ = self.order.push(header, payload, now);
        self.drain(now);
    }

    /// Releases what the reorder buffer can give: packets in order, gaps as silence.
    fn drain(&mut self, now: Instant) {
        let codec = self.codec;
        loop {
            match self.order.pop(now) {
                None => return,
                Some(Popped::Packet { payload, .. }) => {
                    let n = codec.decode(payload, &mut self.decoded);
                    queue(&mut self.frames, &mut self.partial, &self.decoded[..n]);
                }
                Some(Popped::Gap { count, .. }) => {
                    let mut left = (usize::from(count) * self.packet_samples).min(MAX_GAP_SAMPLES);
                    const SILENCE: [i16; FRAME_SAMPLES] = [0; FRAME_SAMPLES];
                    while left > 0 {
                        let n = left.min(FRAME_SAMPLES);
                        queue(&mut self.frames, &mut self.partial, &SILENCE[..n]);
                        left -= n;
                    }
                }
            }
        }
    }

    fn push(&mut self, samples: &[i16]) {
        queue(&mut self.frames, &mut self.partial, samples);
    }

    fn pop(&mut self) -> [i16; FRAME_SAMPLES] {
        self.frames.pop_front().unwrap_or([0; FRAME_SAMPLES])
    }
}

/// The per-endpoint half of a recording, owned by the socket loop. Dropped without
/// [`finish`](Self::finish) (an endpoint lost while moving between loops), it still closes
/// its file.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) path: PathBuf,
    left: Side,
    right: Side,
    wav: StereoWavWriter,
    buf: Vec<u8>,
    frames: u64,
    writer: mpsc::Sender<WriterCommand>,
    id: u64,
    /// The writer has not been told to close the file yet.
    open: bool,
}

impl Recorder {
    pub(crate) fn new(
        id: u64,
        endpoint: EndpointId,
        path: PathBuf,
        metadata: BTreeMap<String, String>,
        writer: Writer,
    ) -> Recorder {
        let wav = StereoWavWriter::new();
        // Before the file exists: no Play can catch it half-written.
        writer.unfinished.begin(&path);
        let writer = writer.commands;
        // An empty but valid header first: a crash leaves a playable (if short) file.
        let header = wav.header().map(|h| h.to_vec()).unwrap_or_default();
        let _ = writer.send(WriterCommand::Open {
            id,
            endpoint,
            path: path.clone(),
            header,
            metadata,
        });
        Recorder {
            path,
            left: Side::default(),
            right: Side::default(),
            wav,
            buf: Vec::with_capacity(FLUSH_BYTES + 1024),
            frames: 0,
            writer,
            id,
            open: true,
        }
    }

    /// Audio the recorded leg sent us (the left channel), as RTP.
    pub(crate) fn left_rtp(
        &mut self,
        codec: G711,
        header: &RtpHeader,
        payload: &[u8],
        now: Instant,
    ) {
        self.left.push_rtp(codec, header, payload, now);
    }

    /// Audio its peer sent (the right channel), as RTP.
    pub(crate) fn right_rtp(
        &mut self,
        codec: G711,
        header: &RtpHeader,
        payload: &[u8],
        now: Instant,
    ) {
        self.right.push_rtp(codec, header, payload, now);
    }

    /// Audio already in order (WebRTC frames, which str0m reorders): the left channel.
    pub(crate) fn push_left(&mut self, samples: &[i16]) {
        self.left.push(samples);
    }

    /// Audio already in order for the right channel (prompts played to the recorded leg).
    pub(crate) fn push_right(&mut self, samples: &[i16]) {
        self.right.push(samples);
    }

    /// One 20 ms step: gaps whose wait is over are released, then one frame per side goes
    /// into the file.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.left.drain(now);
        self.right.drain(now);
        let (l, r) = (self.left.pop(), self.right.pop());
        self.wav.write_frames(&l, &r, &mut self.buf);
        self.frames += 1;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            let data = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_BYTES + 1024));
            let _ = self.writer.send(WriterCommand::Data { id: self.id, data });
        }
    }

    pub(crate) fn seconds(&self) -> f64 {
        self.frames as f64 * 0.02
    }

    /// Ends the recording: the writer patches the header with the final sizes, then
    /// signals `closed` (when given) as the file is complete.
    pub(crate) fn finish(mut self, closed: Option<oneshot::Sender<()>>) -> (PathBuf, f64) {
        let seconds = self.close(closed);
        (self.path.clone(), seconds)
    }

    fn close(&mut self, closed: Option<oneshot::Sender<()>>) -> f64 {
        self.open = false;
        self.flush();
        let header = self.wav.header().map(|h| h.to_vec()).unwrap_or_default();
        let seconds = self.seconds();
        let _ = self.writer.send(WriterCommand::Close {
            id: self.id,
            header,
            seconds,
            closed,
        });
        seconds
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.open {
            self.close(None);
        }
    }
}

#[derive(Debug)]
pub(crate) enum WriterCommand {
    Open {
        id: u64,
        endpoint: EndpointId,
        path: PathBuf,
        header: Vec<u8>,
        metadata: BTreeMap<String, String>,
    },
    Data {
        id: u64,
        data: Vec<u8>,
    },
    Close {
        id: u64,
        header: Vec<u8>,
        seconds: f64,
        /// Signalled once the file is complete (header, metadata).
        closed: Option<oneshot::Sender<()>>,
    },
}

struct OpenFile {
    endpoint: EndpointId,
    path: PathBuf,
    file: Option<File>,
    metadata: BTreeMap<String, String>,
}

/// The way to the writer thread, cloned into every socket loop: its commands, and the
/// recordings under way (a [`Recorder`] marks its file, the writer clears the mark).
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    commands: mpsc::Sender<WriterCommand>,
    unfinished: Unfinished,
}

/// Starts the writer thread; it ends when every [`Writer`] (and recorder) is dropped. It
/// clears a recording from `unfinished` once its file is complete.
pub(crate) fn spawn_writer(
    events: broadcast::Sender<MediaEvent>,
    unfinished: Unfinished,
) -> std::io::Result<Writer> {
    let (tx, rx) = mpsc::channel::<WriterCommand>();
    let writer = Writer {
        commands: tx,
        unfinished: unfinished.clone(),
    };
    std::thread::Builder::new()
        .name("media-recorder".into())
        .spawn(move || {
            let mut open: BTreeMap<u64, OpenFile> = BTreeMap::new();
            for cmd in rx {
                match cmd {
                    WriterCommand::Open {
                        id,
                        endpoint,
                        path,
                        header,
                        metadata,
                    } => {
                        let file = File::create(&path)
                            .and_then(|mut f| f.write_all(&header).map(|()| f))
                            .map_err(|e| {
                                tracing::error!(path = %path.display(), error = %e, "cannot create recording")
                            })
                            .ok();
                        open.insert(
                            id,
                            OpenFile {
                                endpoint,
                                path,
                                file,
                                metadata,
                            },
                        );
                    }
                    WriterCommand::Data { id, data } => {
                        if let Some(OpenFile {
                            file: Some(f),
                            path,
                            ..
                        }) = open.get_mut(&id)
                            && let Err(e) = f.write_all(&data)
                        {
                            tracing::error!(path = %path.display(), error = %e, "recording write failed");
                        }
                    }
                    WriterCommand::Close {
                        id,
                        header,
                        seconds,
                        closed,
                    } => {
                        let Some(rec) = open.remove(&id) else { continue };
                        if let Some(mut f) = rec.file {
                            let patched = header.len() == WAV_HEADER_LEN
                                && f.seek(SeekFrom::Start(0)).is_ok()
                                && f.write_all(&header).is_ok()
                                && f.sync_all().is_ok();
                            if !patched {
                                tracing::error!(path = %rec.path.display(), "cannot finish recording header");
                            }
                        }
                        write_metadata(&rec.path, rec.endpoint, seconds, rec.metadata);
                        unfinished.end(&rec.path);
                        if let Some(closed) = closed {
                            let _ = closed.send(());
                        }
                        let _ = events.send(MediaEvent::RecordingDone {
                            endpoint: rec.endpoint,
                            path: rec.path,
                            seconds,
                        });
                    }
                }
            }
        })?;
    Ok(writer)
}

fn write_metadata(
    path: &std::path::Path,
    endpoint: EndpointId,
    seconds: f64,
    mut metadata: BTreeMap<String, String>,
) {
    metadata.insert("endpoint".into(), endpoint.to_string());
    metadata.insert("seconds".into(), format!("{seconds:.2}"));
    metadata.insert(
        "channels".into(),
        "left: recorded leg, right: its peer".into(),
    );
    let json_path = path.with_extension("json");
    let json = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
    if let Err(e) = std::fs::write(&json_path, json) {
        tracing::error!(path = %json_path.display(), error = %e, "cannot write recording metadata");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_stay_aligned_and_a_silent_side_is_padded() {
        let (tx, rx) = mpsc::channel();
        let unfinished = Unfinished::default();
        let writer = Writer {
            commands: tx,
            unfinished: unfinished.clone(),
        };
        let mut rec = Recorder::new(
            1,
            EndpointId(1),
            "/tmp/x.wav".into(),
            BTreeMap::new(),
            writer,
        );
        assert!(unfinished.contains(std::path::Path::new("/tmp/x.wav")));
        rec.push_left(&[1000; 80]);
        rec.push_left(&[1000; 80]);
        let now = Instant::now();
        rec.tick(now);
        rec.tick(now);
        let (_, seconds) = rec.finish(None);
        assert!((seconds - 0.04).abs() < 1e-9);
        let cmds: Vec<_> = rx.try_iter().collect();
        let data: Vec<u8> = cmds
            .iter()
            .filter_map(|c| match c {
                WriterCommand::Data { data, .. } => Some(data.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        // Two frames of 160 stereo samples, 4 bytes each.
        assert_eq!(data.len(), 2 * 160 * 4);
        let sample = |i: usize| i16::from_le_bytes([data[i], data[i + 1]]);
        assert_eq!(
            (sample(0), sample(2)),
            (1000, 0),
            "left has audio, right silence"
        );
        assert_eq!(
            (sample(640), sample(642)),
            (0, 0),
            "second tick: nothing queued"
        );
        assert!(matches!(cmds.last(), Some(WriterCommand::Close { .. })));
    }

    fn header(sequence: u16) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence,
            timestamp: u32::from(sequence) * 160,
            ssrc: 7,
        }
    }

    #[test]
    fn reordered_rtp_is_recorded_in_sequence_and_a_loss_becomes_silence() {
        let mut side = Side::default();
        let now = Instant::now();
        // Packets 1, 3, 2 arrive; 4 is lost; 5 and 6 arrive late enough to release the gap.
        let code = |v: i16| cc_media_core::g711::linear_to_ulaw(v);
        for seq in [1u16, 3, 2] {
            side.push_rtp(
                G711::Pcmu,
                &header(seq),
                &[code(seq as i16 * 1000); 160],
                now,
            );
        }
        for seq in [5u16, 6, 7] {
            side.push_rtp(
                G711::Pcmu,
                &header(seq),
                &[code(seq as i16 * 1000); 160],
                now,
            );
        }
        let firsts: Vec<i16> = (0..6).map(|_| side.pop()[0]).collect();
        let level = |v: i16| cc_media_core::g711::ulaw_to_linear(code(v));
        assert_eq!(
            firsts,
            vec![
                level(1000),
                level(2000),
                level(3000),
                0,
                level(5000),
                level(6000)
            ]
        );
    }

    #[test]
    fn a_side_running_ahead_loses_its_oldest_audio_not_memory() {
        let mut side = Side::default();
        for i in 0..(MAX_QUEUED_FRAMES as i16 + 5) {
            side.push(&[i; FRAME_SAMPLES]);
        }
        assert_eq!(side.frames.len(), MAX_QUEUED_FRAMES);
        assert_eq!(side.pop()[0], 5);
    }
}
