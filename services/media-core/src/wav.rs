//! RIFF/WAVE in memory: reading prompts (8 kHz mono 16-bit PCM only, because that is what
//! the media path plays without resampling), writing two-channel call recordings, and
//! reading a recording's left channel back for playback (announced transfer).
//!
//! Prompts are uploaded by people with whatever tool they had at hand, so the reader skips
//! chunks it does not know (LIST, fact, cue...), honours odd-size padding, and when it
//! refuses a file it says exactly what is wrong and what it needs instead.

use std::fmt;

use thiserror::Error;

use crate::SAMPLE_RATE;

/// A RIFF chunk id, printed with non-ASCII bytes escaped so hostile files log safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FourCc(pub [u8; 4]);

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

/// What a file is read as. Prompts and recordings accept different channel counts, and a
/// refusal names the rule the file broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavRole {
    /// A prompt: mono only.
    Prompt,
    /// A call recording played back: stereo (its left channel is played) or mono.
    Recording,
}

impl WavRole {
    fn accepts(self, channels: u16) -> bool {
        match self {
            WavRole::Prompt => channels == 1,
            WavRole::Recording => matches!(channels, 1 | 2),
        }
    }

    fn channels_wanted(self) -> &'static str {
        match self {
            WavRole::Prompt => "mono",
            WavRole::Recording => "mono or stereo",
        }
    }
}

impl fmt::Display for WavRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WavRole::Prompt => "prompts",
            WavRole::Recording => "recordings played back",
        })
    }
}

fn layout_name(channels: u16) -> &'static str {
    match channels {
        1 => "mono",
        2 => "stereo",
        _ => "audio of that many channels",
    }
}

/// Why a WAV file was refused, or a recording could not be written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WavError {
    #[error("not a WAV file: it does not start with a RIFF header")]
    NotRiff,
    #[error("RIFF file of form type {0}, not WAVE")]
    NotWave(FourCc),
    #[error("WAV file has no {0} chunk")]
    MissingChunk(&'static str),
    #[error("{chunk} chunk declares {declared} bytes but only {available} are present")]
    Truncated {
        chunk: FourCc,
        declared: u32,
        available: usize,
    },
    #[error("fmt chunk of {0} bytes, at least 16 are needed")]
    FmtTooShort(u32),
    #[error("format tag {tag} ({name}), {role} must be PCM (format 1)")]
    Format {
        tag: u16,
        name: &'static str,
        role: WavRole,
    },
    #[error("{channels} channels, {role} must be {}", .role.channels_wanted())]
    Channels { channels: u16, role: WavRole },
    #[error("sample rate {rate} Hz, {role} must be 8000 Hz")]
    SampleRate { rate: u32, role: WavRole },
    #[error("{bits} bits per sample, {role} must be 16-bit")]
    BitsPerSample { bits: u16, role: WavRole },
    #[error("block align {align}, 16-bit {} needs {}", layout_name(*.channels), u32::from(*.channels) * 2)]
    BlockAlign { align: u16, channels: u16 },
    #[error("data chunk of {len} bytes is not a whole number of {frame}-byte sample frames")]
    PartialFrame { len: u32, frame: u16 },
    #[error("{0} bytes of audio exceed the 4 GiB limit of a WAV file")]
    TooLong(u64),
}

const FORMAT_PCM: u16 = 1;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// KSDATAFORMAT_SUBTYPE_PCM without its first two bytes (which carry the format code).
const PCM_GUID_TAIL: [u8; 14] = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71];

fn format_name(tag: u16) -> &'static str {
    match tag {
        1 => "PCM",
        2 => "MS ADPCM",
        3 => "IEEE float",
        6 => "A-law",
        7 => "mu-law",
        0x11 => "IMA ADPCM",
        0x31 => "GSM 6.10",
        0x55 => "MP3",
        FORMAT_EXTENSIBLE => "extensible",
        _ => "unknown",
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn fourcc_at(b: &[u8], at: usize) -> Option<FourCc> {
    let s = b.get(at..at + 4)?;
    Some(FourCc([s[0], s[1], s[2], s[3]]))
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The first data chunk: the bytes present, and the size its header declares (more than
/// that when the file was cut short, or only its start was read).
struct Data<'a> {
    bytes: &'a [u8],
    declared: u32,
}

impl Data<'_> {
    fn is_whole(&self) -> bool {
        u64::try_from(self.bytes.len()).is_ok_and(|n| n == u64::from(self.declared))
    }

    fn truncated(&self) -> WavError {
        WavError::Truncated {
            chunk: FourCc(*b"data"),
            declared: self.declared,
            available: self.bytes.len(),
        }
    }
}

/// The first fmt chunk and the first data chunk of a RIFF/WAVE file. A cut-off fmt chunk
/// is an error; a cut-off data chunk is returned as far as present (the readers decide).
fn chunks(file: &[u8]) -> Result<(Option<&[u8]>, Option<Data<'_>>), WavError> {
    if fourcc_at(file, 0) != Some(FourCc(*b"RIFF")) {
        return Err(WavError::NotRiff);
    }
    let form = fourcc_at(file, 8).ok_or(WavError::NotRiff)?;
    if form != FourCc(*b"WAVE") {
        return Err(WavError::NotWave(form));
    }
    // Writers that stream often leave the RIFF size at 0 or 0xFFFFFFFF; trust it only when
    // it fits the bytes we actually have.
    let declared_end = u32_at(file, 4)
        .and_then(|size| usize::try_from(size).ok())
        .and_then(|size| size.checked_add(8))
        .filter(|end| (12..=file.len()).contains(end));
    let end = declared_end.unwrap_or(file.len());
    let body = file.get(..end).unwrap_or(file);

    let mut fmt = None;
    let mut data = None;
    let mut at = 12;
    while let (Some(id), Some(size)) = (fourcc_at(body, at), u32_at(body, at + 4)) {
        let start = at + 8;
        let rest = body.get(start..).unwrap_or_default();
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        if len > rest.len() {
            if id == FourCc(*b"fmt ") {
                return Err(WavError::Truncated {
                    chunk: id,
                    declared: size,
                    available: rest.len(),
                });
            }
            if id == FourCc(*b"data") && data.is_none() {
                data = Some(Data {
                    bytes: rest,
                    declared: size,
                });
            }
            // Nothing after a cut-off chunk is present.
            break;
        }
        let content = rest.get(..len).unwrap_or_default();
        if id == FourCc(*b"fmt ") && fmt.is_none() {
            fmt = Some(content);
        } else if id == FourCc(*b"data") && data.is_none() {
            data = Some(Data {
                bytes: content,
                declared: size,
            });
        }
        // Chunks are padded to an even size; a missing final pad byte is tolerated.
        at = start + len + (len & 1);
    }
    Ok((fmt, data))
}

/// Refuses audio that ends in the middle of a sample frame.
fn whole_frames(bytes: &[u8], frame: usize) -> Result<(), WavError> {
    if !bytes.len().is_multiple_of(frame) {
        return Err(WavError::PartialFrame {
            len: len_u32(bytes.len()),
            frame: u16::try_from(frame).unwrap_or(u16::MAX),
        });
    }
    Ok(())
}

/// Reads a prompt: a RIFF/WAVE file of 8 kHz mono 16-bit PCM, returned as samples.
pub fn parse_prompt(file: &[u8]) -> Result<Vec<i16>, WavError> {
    let (fmt, data) = chunks(file)?;
    if let Some(d) = data.as_ref().filter(|d| !d.is_whole()) {
        return Err(d.truncated());
    }
    check_format(fmt.ok_or(WavError::MissingChunk("fmt"))?, WavRole::Prompt)?;
    let data = data.ok_or(WavError::MissingChunk("data"))?;
    whole_frames(data.bytes, 2)?;
    Ok(data
        .bytes
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]))
        .collect())
}

/// Bytes a recording may have before its audio (its fmt chunk and any LIST or other
/// chunk) for [`recording_read_len`]: [`StereoWavWriter`] puts 36 there, other tools a few
/// hundred at most.
pub const RECORDING_HEADER_ALLOWANCE: usize = 64 * 1024;

/// How many bytes from the start of a recording [`parse_recording`] needs to return
/// `max_samples` samples of it: reading that much (or the whole file when shorter) bounds
/// the memory a huge file can take.
pub fn recording_read_len(max_samples: usize) -> usize {
    RECORDING_HEADER_ALLOWANCE.saturating_add(max_samples.saturating_mul(4))
}

/// Reads a call recording back for playback, as 8 kHz mono samples: the left channel of a
/// stereo file (the recorded leg, as [`StereoWavWriter`] writes it); a mono file is taken
/// as it is. At most `max_samples` are returned: a longer recording is cut there.
///
/// `file` may be only the start of the file (see [`recording_read_len`]): a data chunk cut
/// short is accepted when what is present already holds `max_samples` frames, and refused
/// as [`WavError::Truncated`] when the audio stops before both its declared end and the
/// cap. Otherwise the format rules are those of prompts (16-bit PCM at 8 kHz), with the
/// refusal naming recordings.
pub fn parse_recording(file: &[u8], max_samples: usize) -> Result<Vec<i16>, WavError> {
    let (fmt, data) = chunks(file)?;
    let channels = check_format(
        fmt.ok_or(WavError::MissingChunk("fmt"))?,
        WavRole::Recording,
    )?;
    let data = data.ok_or(WavError::MissingChunk("data"))?;
    let frame = usize::from(channels) * 2;
    let capped = max_samples.saturating_mul(frame);
    let audio = match data.bytes.get(..capped) {
        Some(head) => head,
        None if !data.is_whole() => return Err(data.truncated()),
        None => {
            whole_frames(data.bytes, frame)?;
            data.bytes
        }
    };
    // The first sample of each frame is the left channel (or the only one).
    Ok(audio
        .chunks_exact(frame)
        .map(|f| i16::from_le_bytes([f[0], f[1]]))
        .collect())
}

/// Checks a fmt chunk describes 8 kHz 16-bit PCM with the channels `role` takes, and
/// returns the channel count. WAVE_FORMAT_EXTENSIBLE with the PCM sub-format is the same
/// thing in a longer header (some tools always write it).
fn check_format(fmt: &[u8], role: WavRole) -> Result<u16, WavError> {
    let too_short = || WavError::FmtTooShort(len_u32(fmt.len()));
    let mut tag = u16_at(fmt, 0).ok_or_else(too_short)?;
    let channels = u16_at(fmt, 2).ok_or_else(too_short)?;
    let rate = u32_at(fmt, 4).ok_or_else(too_short)?;
    let align = u16_at(fmt, 12).ok_or_else(too_short)?;
    let bits = u16_at(fmt, 14).ok_or_else(too_short)?;
    if tag == FORMAT_EXTENSIBLE
        && let (Some(sub), Some(tail)) = (u16_at(fmt, 24), fmt.get(26..40))
        && tail == PCM_GUID_TAIL
    {
        tag = sub;
    }
    if tag != FORMAT_PCM {
        return Err(WavError::Format {
            tag,
            name: format_name(tag),
            role,
        });
    }
    if !role.accepts(channels) {
        return Err(WavError::Channels { channels, role });
    }
    if rate != SAMPLE_RATE {
        return Err(WavError::SampleRate { rate, role });
    }
    if bits != 16 {
        return Err(WavError::BitsPerSample { bits, role });
    }
    if u32::from(align) != u32::from(channels) * 2 {
        return Err(WavError::BlockAlign { align, channels });
    }
    Ok(channels)
}

/// Length of the canonical 44-byte header the writers produce.
pub const WAV_HEADER_LEN: usize = 44;

/// The canonical header for 16-bit PCM at 8 kHz with `data_len` bytes of samples.
fn header(channels: u16, data_len: u64) -> Result<[u8; WAV_HEADER_LEN], WavError> {
    let data = u32::try_from(data_len)
        .ok()
        .filter(|d| d.checked_add(36).is_some())
        .ok_or(WavError::TooLong(data_len))?;
    let block_align = channels * 2;
    let mut h = [0u8; WAV_HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(data + 36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    Ok(h)
}

/// A whole mono prompt file (for tools and tests that produce prompts).
pub fn encode_prompt(samples: &[i16]) -> Result<Vec<u8>, WavError> {
    let h = header(1, samples.len() as u64 * 2)?;
    let mut out = Vec::with_capacity(WAV_HEADER_LEN + samples.len() * 2);
    out.extend_from_slice(&h);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Ok(out)
}

/// Encodes a two-channel recording (caller left, agent right) at 8 kHz, 16-bit.
///
/// Contract: write [`header`](Self::header) first (its sizes say "empty"), append the
/// bytes of [`write_frames`](Self::write_frames) as audio arrives, and when the recording
/// ends write `header()` again over the first [`WAV_HEADER_LEN`] bytes: it then carries the
/// final sizes. A file whose recorder died before that still has a valid header, only an
/// empty one; its data can be recovered by patching the sizes.
#[derive(Debug, Clone, Default)]
pub struct StereoWavWriter {
    data_bytes: u64,
}

impl StereoWavWriter {
    pub fn new() -> Self {
        StereoWavWriter::default()
    }

    /// The header for the audio written so far; fails once it no longer fits a WAV file
    /// (about 37 hours), which the recorder should treat as "start a new file".
    pub fn header(&self) -> Result<[u8; WAV_HEADER_LEN], WavError> {
        header(2, self.data_bytes)
    }

    /// Bytes of audio written so far.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Interleaves one stretch of audio into `out`; the shorter side is padded with
    /// silence so the channels stay aligned. Appends only: no allocation once `out` has
    /// the capacity.
    pub fn write_frames(&mut self, left: &[i16], right: &[i16], out: &mut Vec<u8>) {
        let n = left.len().max(right.len());
        out.reserve(n * 4);
        for i in 0..n {
            let l = left.get(i).copied().unwrap_or(0);
            let r = right.get(i).copied().unwrap_or(0);
            out.extend_from_slice(&l.to_le_bytes());
            out.extend_from_slice(&r.to_le_bytes());
        }
        self.data_bytes = self.data_bytes.saturating_add(n as u64 * 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file assembled from raw chunks, as odd tools write them.
    fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for (id, content) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(content.len() as u32).to_le_bytes());
            body.extend_from_slice(content);
            if content.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    fn fmt_chunk(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    const SAMPLES: [i16; 5] = [0, 1, -1, i16::MAX, i16::MIN];

    #[test]
    fn reads_a_plain_prompt() {
        let file = riff(&[
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"data", pcm_bytes(&SAMPLES)),
        ]);
        assert_eq!(parse_prompt(&file).unwrap(), SAMPLES);
        assert_eq!(
            parse_prompt(&encode_prompt(&SAMPLES).unwrap()).unwrap(),
            SAMPLES
        );
        assert_eq!(parse_prompt(&encode_prompt(&[]).unwrap()).unwrap(), []);
    }

    #[test]
    fn skips_unknown_and_odd_sized_chunks() {
        let file = riff(&[
            (b"LIST", b"INFOISFT\x03\x00\x00\x00abc".to_vec()),
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"fact", vec![5, 0, 0, 0, 9]),
            (b"data", pcm_bytes(&SAMPLES)),
            (b"cue ", vec![1, 2, 3]),
        ]);
        assert_eq!(parse_prompt(&file).unwrap(), SAMPLES);
        // A last odd chunk without its pad byte is tolerated.
        let mut cut = file.clone();
        cut.pop();
        assert_eq!(parse_prompt(&cut).unwrap(), SAMPLES);
    }

    #[test]
    fn tolerates_wrong_riff_size() {
        let mut file = riff(&[
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"data", pcm_bytes(&SAMPLES)),
        ]);
        for size in [0u32, u32::MAX, 10_000] {
            file[4..8].copy_from_slice(&size.to_le_bytes());
            assert_eq!(parse_prompt(&file).unwrap(), SAMPLES, "RIFF size {size}");
        }
        // A RIFF size shorter than the file hides trailing garbage.
        let mut tail = riff(&[
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"data", pcm_bytes(&SAMPLES)),
        ]);
        tail.extend_from_slice(b"data\xff\xff\xff\xffjunk");
        assert_eq!(parse_prompt(&tail).unwrap(), SAMPLES);
    }

    #[test]
    fn accepts_extensible_pcm_but_not_extensible_float() {
        let mut ext = fmt_chunk(FORMAT_EXTENSIBLE, 1, 8000, 16);
        ext.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        ext.extend_from_slice(&16u16.to_le_bytes()); // valid bits
        ext.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        let mut float = ext.clone();
        ext.extend_from_slice(&1u16.to_le_bytes());
        ext.extend_from_slice(&PCM_GUID_TAIL);
        float.extend_from_slice(&3u16.to_le_bytes());
        float.extend_from_slice(&PCM_GUID_TAIL);
        let data = pcm_bytes(&SAMPLES);
        assert_eq!(
            parse_prompt(&riff(&[(b"fmt ", ext), (b"data", data.clone())])).unwrap(),
            SAMPLES
        );
        assert_eq!(
            parse_prompt(&riff(&[(b"fmt ", float), (b"data", data)])),
            Err(WavError::Format {
                tag: 3,
                name: "IEEE float",
                role: WavRole::Prompt,
            })
        );
    }

    #[test]
    fn refuses_other_formats_with_a_clear_reason() {
        let data = pcm_bytes(&SAMPLES);
        let cases = [
            (
                fmt_chunk(1, 1, 16000, 16),
                "sample rate 16000 Hz, prompts must be 8000 Hz",
            ),
            (
                fmt_chunk(1, 2, 8000, 16),
                "2 channels, prompts must be mono",
            ),
            (
                fmt_chunk(1, 1, 8000, 8),
                "8 bits per sample, prompts must be 16-bit",
            ),
            (
                fmt_chunk(7, 1, 8000, 8),
                "format tag 7 (mu-law), prompts must be PCM (format 1)",
            ),
            (
                fmt_chunk(3, 1, 8000, 32),
                "format tag 3 (IEEE float), prompts must be PCM (format 1)",
            ),
            (
                fmt_chunk(0x1234, 1, 8000, 16),
                "format tag 4660 (unknown), prompts must be PCM (format 1)",
            ),
            (
                fmt_chunk(1, 1, 8000, 16)[..14].to_vec(),
                "fmt chunk of 14 bytes, at least 16 are needed",
            ),
        ];
        for (fmt, message) in cases {
            let err = parse_prompt(&riff(&[(b"fmt ", fmt), (b"data", data.clone())])).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        let mut bad_align = fmt_chunk(1, 1, 8000, 16);
        bad_align[12] = 4;
        let err = parse_prompt(&riff(&[(b"fmt ", bad_align), (b"data", data)])).unwrap_err();
        assert_eq!(
            err,
            WavError::BlockAlign {
                align: 4,
                channels: 1
            }
        );
        assert_eq!(err.to_string(), "block align 4, 16-bit mono needs 2");
    }

    #[test]
    fn refuses_broken_files() {
        assert_eq!(parse_prompt(b""), Err(WavError::NotRiff));
        assert_eq!(parse_prompt(b"RIFF\0\0\0\0"), Err(WavError::NotRiff));
        assert_eq!(parse_prompt(b"ID3\x04 mp3 file..."), Err(WavError::NotRiff));
        let avi = b"RIFF\x04\0\0\0AVI ";
        assert_eq!(
            parse_prompt(avi).unwrap_err().to_string(),
            "RIFF file of form type AVI , not WAVE"
        );
        let no_data = riff(&[(b"fmt ", fmt_chunk(1, 1, 8000, 16))]);
        assert_eq!(parse_prompt(&no_data), Err(WavError::MissingChunk("data")));
        let no_fmt = riff(&[(b"data", pcm_bytes(&SAMPLES))]);
        assert_eq!(parse_prompt(&no_fmt), Err(WavError::MissingChunk("fmt")));
        let odd = riff(&[
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"data", vec![1, 2, 3]),
        ]);
        assert_eq!(
            parse_prompt(&odd).unwrap_err().to_string(),
            "data chunk of 3 bytes is not a whole number of 2-byte sample frames"
        );
        let mut cut = riff(&[
            (b"fmt ", fmt_chunk(1, 1, 8000, 16)),
            (b"data", pcm_bytes(&SAMPLES)),
        ]);
        cut.truncate(cut.len() - 3);
        assert_eq!(
            parse_prompt(&cut),
            Err(WavError::Truncated {
                chunk: FourCc(*b"data"),
                declared: 10,
                available: 7
            })
        );
        let hostile = WavError::NotWave(FourCc([0xFF, b'\n', b'a', 0]));
        assert_eq!(
            hostile.to_string(),
            "RIFF file of form type \\xff\\na\\x00, not WAVE"
        );
    }

    #[test]
    fn stereo_writer_round_trip() {
        let mut w = StereoWavWriter::new();
        let mut file = w.header().unwrap().to_vec();
        assert_eq!(u32_at(&file, 40), Some(0));
        w.write_frames(&[1, 2, 3], &[-1, -2, -3], &mut file);
        w.write_frames(&[4, 5], &[-4], &mut file);
        assert_eq!(w.data_bytes(), 20);
        let final_header = w.header().unwrap();
        file[..WAV_HEADER_LEN].copy_from_slice(&final_header);
        assert_eq!(&file[0..4], b"RIFF");
        assert_eq!(u32_at(&file, 4), Some(36 + 20));
        assert_eq!(u16_at(&file, 22), Some(2));
        assert_eq!(u32_at(&file, 24), Some(8000));
        assert_eq!(u32_at(&file, 28), Some(32000));
        assert_eq!(u16_at(&file, 32), Some(4));
        assert_eq!(u16_at(&file, 34), Some(16));
        assert_eq!(u32_at(&file, 40), Some(20));
        let samples: Vec<i16> = file[WAV_HEADER_LEN..]
            .chunks_exact(2)
            .map(|s| i16::from_le_bytes([s[0], s[1]]))
            .collect();
        assert_eq!(samples, [1, -1, 2, -2, 3, -3, 4, -4, 5, 0]);
        // The prompt reader names the one thing it cannot take.
        assert_eq!(
            parse_prompt(&file),
            Err(WavError::Channels {
                channels: 2,
                role: WavRole::Prompt
            })
        );
    }

    #[test]
    fn stereo_writer_refuses_sizes_beyond_4_gib() {
        let w = StereoWavWriter {
            data_bytes: u64::from(u32::MAX - 36),
        };
        assert!(w.header().is_ok());
        let w = StereoWavWriter {
            data_bytes: u64::from(u32::MAX - 35),
        };
        assert_eq!(w.header(), Err(WavError::TooLong(u64::from(u32::MAX - 35))));
    }

    /// A finished recording as the recorder writes it: `left` against `right`.
    fn recording(left: &[i16], right: &[i16]) -> Vec<u8> {
        let mut w = StereoWavWriter::new();
        let mut file = w.header().unwrap().to_vec();
        w.write_frames(left, right, &mut file);
        let final_header = w.header().unwrap();
        file[..WAV_HEADER_LEN].copy_from_slice(&final_header);
        file
    }

    fn interleaved(left: &[i16], right: &[i16]) -> Vec<u8> {
        left.iter()
            .zip(right)
            .flat_map(|(l, r)| [l.to_le_bytes(), r.to_le_bytes()])
            .flatten()
            .collect()
    }

    const RIGHT: [i16; 5] = [-7, 7, -7, 7, -7];

    #[test]
    fn a_recording_plays_back_as_its_left_channel() {
        let file = recording(&SAMPLES, &RIGHT);
        assert_eq!(parse_recording(&file, 1000).unwrap(), SAMPLES);
        // Another tool's stereo file, with chunks the recorder does not write.
        let file = riff(&[
            (b"LIST", b"INFOISFT\x03\x00\x00\x00abc".to_vec()),
            (b"fmt ", fmt_chunk(1, 2, 8000, 16)),
            (b"data", interleaved(&SAMPLES, &RIGHT)),
        ]);
        assert_eq!(parse_recording(&file, 1000).unwrap(), SAMPLES);
        // Stopped at once: an empty recording is empty audio, not an error.
        assert_eq!(parse_recording(&recording(&[], &[]), 1000).unwrap(), []);
    }

    #[test]
    fn a_mono_recording_is_taken_as_it_is() {
        let file = encode_prompt(&SAMPLES).unwrap();
        assert_eq!(parse_recording(&file, 1000).unwrap(), SAMPLES);
        assert_eq!(parse_recording(&file, 2).unwrap(), SAMPLES[..2]);
    }

    #[test]
    fn a_recording_longer_than_the_cap_is_cut_there() {
        let file = recording(&SAMPLES, &RIGHT);
        assert_eq!(parse_recording(&file, 3).unwrap(), SAMPLES[..3]);
        assert_eq!(parse_recording(&file, 0).unwrap(), []);
        // Only the start of a long file was read: enough for the cap is enough.
        let left: Vec<i16> = (0..4000).collect();
        let long = recording(&left, &vec![1; 4000]);
        let prefix = &long[..WAV_HEADER_LEN + 100 * 4];
        assert_eq!(parse_recording(prefix, 100).unwrap(), left[..100]);
        assert!(recording_read_len(100) >= WAV_HEADER_LEN + 100 * 4);
        // But not when the cap reaches past what was read.
        assert_eq!(
            parse_recording(prefix, 101),
            Err(WavError::Truncated {
                chunk: FourCc(*b"data"),
                declared: 16_000,
                available: 400
            })
        );
    }

    #[test]
    fn a_truncated_recording_is_refused() {
        let mut cut = recording(&SAMPLES, &RIGHT);
        cut.truncate(cut.len() - 6);
        let err = parse_recording(&cut, 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data chunk declares 20 bytes but only 14 are present"
        );
        // Audio ending in the middle of a stereo frame.
        let partial = riff(&[
            (b"fmt ", fmt_chunk(1, 2, 8000, 16)),
            (b"data", vec![1, 0, 2, 0, 3, 0]),
        ]);
        assert_eq!(
            parse_recording(&partial, 1000).unwrap_err().to_string(),
            "data chunk of 6 bytes is not a whole number of 4-byte sample frames"
        );
        // Cut inside the header: no audio at all.
        assert_eq!(
            parse_recording(&cut[..30], 1000),
            Err(WavError::Truncated {
                chunk: FourCc(*b"fmt "),
                declared: 16,
                available: 10
            })
        );
        assert_eq!(parse_recording(&cut[..10], 1000), Err(WavError::NotRiff));
    }

    #[test]
    fn a_recording_of_another_format_is_refused_with_a_clear_reason() {
        let data = interleaved(&SAMPLES, &RIGHT);
        let cases = [
            (
                fmt_chunk(1, 2, 16000, 16),
                "sample rate 16000 Hz, recordings played back must be 8000 Hz",
            ),
            (
                fmt_chunk(1, 2, 44100, 16),
                "sample rate 44100 Hz, recordings played back must be 8000 Hz",
            ),
            (
                fmt_chunk(1, 3, 8000, 16),
                "3 channels, recordings played back must be mono or stereo",
            ),
            (
                fmt_chunk(1, 2, 8000, 8),
                "8 bits per sample, recordings played back must be 16-bit",
            ),
            (
                fmt_chunk(7, 2, 8000, 8),
                "format tag 7 (mu-law), recordings played back must be PCM (format 1)",
            ),
            (
                fmt_chunk(1, 1, 8000, 16)[..14].to_vec(),
                "fmt chunk of 14 bytes, at least 16 are needed",
            ),
        ];
        for (fmt, message) in cases {
            let file = riff(&[(b"fmt ", fmt), (b"data", data.clone())]);
            let err = parse_recording(&file, 1000).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        let mut bad_align = fmt_chunk(1, 2, 8000, 16);
        bad_align[12] = 2;
        let file = riff(&[(b"fmt ", bad_align), (b"data", data)]);
        assert_eq!(
            parse_recording(&file, 1000).unwrap_err().to_string(),
            "block align 2, 16-bit stereo needs 4"
        );
        assert_eq!(parse_recording(b"", 1000), Err(WavError::NotRiff));
        let no_data = riff(&[(b"fmt ", fmt_chunk(1, 2, 8000, 16))]);
        assert_eq!(
            parse_recording(&no_data, 1000),
            Err(WavError::MissingChunk("data"))
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = parse_prompt(&bytes);
            let mut file = b"RIFF\0\0\0\0WAVE".to_vec();
            file.extend_from_slice(&bytes);
            let _ = parse_prompt(&file);
            let _ = parse_recording(&bytes, 100);
            let _ = parse_recording(&file, 100);
        }
    }
}
