//! G.711 mu-law (PCMU) and A-law (PCMA) companding of 16-bit linear PCM, and direct
//! PCMU <-> PCMA transcoding.
//!
//! The arithmetic is the widely used Sun Microsystems `g711.c` (ITU-T G.711 with the 1994
//! corrections), so our bytes match what Asterisk, FreeSWITCH, sox and most phones produce.
//! Decoding and transcoding are 256-entry tables computed at compile time; encoding uses the
//! segment algorithm with `leading_zeros` instead of Sun's linear table search, which is
//! branch-light and needs no 16-64 KB table (the exhaustive tests prove it is bit-identical).

/// RTP payload type of PCMU (RFC 3551).
pub const PT_PCMU: u8 = 0;
/// RTP payload type of PCMA (RFC 3551).
pub const PT_PCMA: u8 = 8;

const BIAS: i32 = 0x84;
const CLIP: i32 = 8159;

/// The segment of a magnitude whose segment 0 ends at `(1 << base_bits) - 1`; 8 means the
/// value is past the last segment. Equivalent to Sun's `search()` over `seg_uend`/`seg_aend`.
const fn segment(magnitude: i32, base_bits: u32) -> u32 {
    let bits = 32 - (magnitude as u32).leading_zeros();
    bits.saturating_sub(base_bits)
}

/// Encodes one sample as mu-law.
pub const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7f
    } else {
        0xff
    };
    if v > CLIP {
        v = CLIP;
    }
    v += BIAS >> 2;
    let seg = segment(v, 6);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let code = (seg << 4) as i32 | ((v >> (seg + 1)) & 0xf);
    (code as u8) ^ mask
}

/// Encodes one sample as A-law.
pub const fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = (sample as i32) >> 3;
    let mask = if v >= 0 {
        0xd5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, 5);
    if seg >= 8 {
        return 0x7f ^ mask;
    }
    let shift = if seg < 2 { 1 } else { seg };
    let code = (seg << 4) as i32 | ((v >> shift) & 0xf);
    (code as u8) ^ mask
}

const fn ulaw_decode_calc(code: u8) -> i16 {
    let u = !code;
    let t = ((((u & 0x0f) as i32) << 3) + BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

const fn alaw_decode_calc(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    t += if seg == 0 { 8 } else { 0x108 };
    if seg > 1 {
        t <<= seg - 1;
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// Linear value of every mu-law code.
pub const ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_calc(i as u8);
        i += 1;
    }
    t
};

/// Linear value of every A-law code.
pub const ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_calc(i as u8);
        i += 1;
    }
    t
};

/// PCMU code -> nearest PCMA code, through the linear value (as Asterisk's `codec_a_mu`).
pub const ULAW_TO_ALAW: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_alaw(ULAW_DECODE[i]);
        i += 1;
    }
    t
};

/// PCMA code -> nearest PCMU code, through the linear value.
pub const ALAW_TO_ULAW: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = linear_to_ulaw(ALAW_DECODE[i]);
        i += 1;
    }
    t
};

/// Decodes one mu-law code.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decodes one A-law code.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Transcodes one PCMU byte to PCMA.
#[inline]
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[usize::from(code)]
}

/// Transcodes one PCMA byte to PCMU.
#[inline]
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[usize::from(code)]
}

/// Encodes `min(pcm.len(), out.len())` samples as mu-law; returns how many were written.
pub fn encode_ulaw(pcm: &[i16], out: &mut [u8]) -> usize {
    map_into(pcm, out, |&s| linear_to_ulaw(s))
}

/// Encodes `min(pcm.len(), out.len())` samples as A-law; returns how many were written.
pub fn encode_alaw(pcm: &[i16], out: &mut [u8]) -> usize {
    map_into(pcm, out, |&s| linear_to_alaw(s))
}

/// Decodes `min(codes.len(), out.len())` mu-law codes; returns how many were written.
pub fn decode_ulaw(codes: &[u8], out: &mut [i16]) -> usize {
    map_into(codes, out, |&c| ulaw_to_linear(c))
}

/// Decodes `min(codes.len(), out.len())` A-law codes; returns how many were written.
pub fn decode_alaw(codes: &[u8], out: &mut [i16]) -> usize {
    map_into(codes, out, |&c| alaw_to_linear(c))
}

/// Rewrites a PCMU payload as PCMA in place (relay between legs that chose different laws).
pub fn transcode_ulaw_to_alaw(payload: &mut [u8]) {
    payload.iter_mut().for_each(|b| *b = ulaw_to_alaw(*b));
}

/// Rewrites a PCMA payload as PCMU in place.
pub fn transcode_alaw_to_ulaw(payload: &mut [u8]) {
    payload.iter_mut().for_each(|b| *b = alaw_to_ulaw(*b));
}

fn map_into<A, B>(src: &[A], dst: &mut [B], f: impl Fn(&A) -> B) -> usize {
    let n = src.len().min(dst.len());
    dst.iter_mut().zip(src).for_each(|(d, s)| *d = f(s));
    n
}

/// The two G.711 laws, for code that picks one per leg from the negotiated payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G711 {
    /// mu-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl G711 {
    pub const fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => PT_PCMU,
            G711::Pcma => PT_PCMA,
        }
    }

    /// The law of a static payload type, `None` for anything else.
    pub const fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            PT_PCMU => Some(G711::Pcmu),
            PT_PCMA => Some(G711::Pcma),
            _ => None,
        }
    }

    /// The code for a zero sample, used to fill gaps with silence.
    pub const fn silence(self) -> u8 {
        match self {
            G711::Pcmu => linear_to_ulaw(0),
            G711::Pcma => linear_to_alaw(0),
        }
    }

    /// Encodes as many samples as fit; returns the count.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            G711::Pcmu => encode_ulaw(pcm, out),
            G711::Pcma => encode_alaw(pcm, out),
        }
    }

    /// Decodes as many codes as fit; returns the count.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            G711::Pcmu => decode_ulaw(codes, out),
            G711::Pcma => decode_alaw(codes, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A literal port of Sun's encoders, table search included, as the oracle.
    fn search(val: i32, table: &[i32; 8]) -> i32 {
        table
            .iter()
            .position(|&end| val <= end)
            .map_or(8, |i| i as i32)
    }
    fn sun_linear2ulaw(pcm: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
        let mut v = i32::from(pcm) >> 2;
        let mask = if v < 0 {
            v = -v;
            0x7f
        } else {
            0xff
        };
        v = v.min(CLIP) + (BIAS >> 2);
        let seg = search(v, &SEG_UEND);
        if seg >= 8 {
            return 0x7f ^ mask;
        }
        (((seg << 4) | ((v >> (seg + 1)) & 0xf)) as u8) ^ mask
    }
    fn sun_linear2alaw(pcm: i16) -> u8 {
        const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut v = i32::from(pcm) >> 3;
        let mask = if v >= 0 {
            0xd5
        } else {
            v = -v - 1;
            0x55
        };
        let seg = search(v, &SEG_AEND);
        if seg >= 8 {
            return 0x7f ^ mask;
        }
        let q = if seg < 2 {
            (v >> 1) & 0xf
        } else {
            (v >> seg) & 0xf
        };
        (((seg << 4) | q) as u8) ^ mask
    }

    /// Distance between neighbouring decoded values in the code's segment.
    fn ulaw_step(code: u8) -> i32 {
        8 << ((!code & 0x70) >> 4)
    }
    fn alaw_step(code: u8) -> i32 {
        let seg = ((code ^ 0x55) & 0x70) >> 4;
        if seg == 0 { 16 } else { 16 << (seg - 1) }
    }

    #[test]
    fn known_reference_points() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0x2a), -32256);
        assert_eq!(alaw_to_linear(0xaa), 32256);
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_alaw(0), 0xd5);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xaa);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2a);
        assert_eq!(G711::Pcmu.silence(), 0xff);
        assert_eq!(G711::Pcma.silence(), 0xd5);
    }

    #[test]
    fn encoders_match_sun_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), sun_linear2ulaw(s), "ulaw {s}");
            assert_eq!(linear_to_alaw(s), sun_linear2alaw(s), "alaw {s}");
        }
    }

    #[test]
    fn decode_then_encode_is_identity() {
        for c in 0..=255u8 {
            let expect = if c == 0x7f { 0xff } else { c };
            assert_eq!(linear_to_ulaw(ulaw_to_linear(c)), expect, "ulaw {c:#04x}");
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#04x}");
        }
    }

    #[test]
    fn decode_is_monotonic_within_each_sign() {
        // mu-law: 0x00..=0x7f rise from -32124 to 0; 0x80..=0xff fall from 32124 to 0.
        for c in 0..0x7fu8 {
            assert!(ulaw_to_linear(c) < ulaw_to_linear(c + 1), "ulaw {c:#04x}");
            assert!(ulaw_to_linear(c | 0x80) > ulaw_to_linear((c + 1) | 0x80));
        }
        // A-law is monotonic in the code with the even bits inverted back (code ^ 0x55).
        for a in 0..0x7fu8 {
            assert!(
                alaw_to_linear(a ^ 0x55) > alaw_to_linear((a + 1) ^ 0x55),
                "alaw {a:#04x}"
            );
            let (p, q) = ((a | 0x80) ^ 0x55, ((a + 1) | 0x80) ^ 0x55);
            assert!(alaw_to_linear(p) < alaw_to_linear(q));
        }
        assert!(ulaw_to_linear(0x7f) >= 0 && ulaw_to_linear(0x00) < 0);
        assert!(alaw_to_linear(0x55) < 0 && alaw_to_linear(0xd5) > 0);
    }

    #[test]
    fn every_sample_round_trips_within_one_step() {
        for s in i16::MIN..=i16::MAX {
            let u = linear_to_ulaw(s);
            let a = linear_to_alaw(s);
            let du = (i32::from(ulaw_to_linear(u)) - i32::from(s)).abs();
            let da = (i32::from(alaw_to_linear(a)) - i32::from(s)).abs();
            assert!(du <= ulaw_step(u), "ulaw {s}: err {du}");
            assert!(da <= alaw_step(a), "alaw {s}: err {da}");
        }
    }

    #[test]
    fn transcoding_tables_keep_the_level() {
        for c in 0..=255u8 {
            let lin = i32::from(ulaw_to_linear(c));
            let a = ulaw_to_alaw(c);
            assert!(
                (i32::from(alaw_to_linear(a)) - lin).abs() <= alaw_step(a),
                "u->a {c:#04x}"
            );
            let lin = i32::from(alaw_to_linear(c));
            let u = alaw_to_ulaw(c);
            assert!(
                (i32::from(ulaw_to_linear(u)) - lin).abs() <= ulaw_step(u),
                "a->u {c:#04x}"
            );
        }
        assert_eq!(ulaw_to_alaw(0xff), 0xd5, "silence stays silence");
        // A-law has no zero code; its smallest level (8) maps to the same level in mu-law.
        assert_eq!(ulaw_to_linear(alaw_to_ulaw(0xd5)), 8);
        let mut buf = [0xff, 0x00, 0x80];
        transcode_ulaw_to_alaw(&mut buf);
        assert_eq!(buf, [0xd5, ULAW_TO_ALAW[0], ULAW_TO_ALAW[0x80]]);
        transcode_alaw_to_ulaw(&mut buf);
        assert_eq!(buf, [0xfe, 0x00, 0x80], "the extremes survive a round trip");
    }

    #[test]
    fn slice_helpers_stop_at_the_shorter_side() {
        let pcm = [0i16, 1000, -1000, i16::MAX];
        let mut codes = [0u8; 3];
        assert_eq!(encode_ulaw(&pcm, &mut codes), 3);
        assert_eq!(codes, [0xff, linear_to_ulaw(1000), linear_to_ulaw(-1000)]);
        let mut back = [7i16; 5];
        assert_eq!(decode_ulaw(&codes, &mut back), 3);
        assert_eq!(back[3..], [7, 7]);
        assert_eq!(G711::Pcma.encode(&pcm, &mut codes), 3);
        assert_eq!(G711::Pcma.decode(&codes, &mut back), 3);
        assert_eq!(back[0], 8);
        assert_eq!(encode_alaw(&[], &mut codes), 0);
        assert_eq!(decode_alaw(&codes, &mut []), 0);
        assert_eq!(G711::from_payload_type(8), Some(G711::Pcma));
        assert_eq!(G711::from_payload_type(0).map(G711::payload_type), Some(0));
        assert_eq!(G711::from_payload_type(18), None);
    }

    proptest! {
        #[test]
        fn encode_decode_properties(code in any::<u8>(), s in any::<i16>()) {
            let ulaw_back = if code == 0x7f { 0xff } else { code };
            prop_assert_eq!(linear_to_ulaw(ulaw_to_linear(code)), ulaw_back);
            prop_assert_eq!(linear_to_alaw(alaw_to_linear(code)), code);
            let u = linear_to_ulaw(s);
            prop_assert!((i32::from(ulaw_to_linear(u)) - i32::from(s)).abs() <= ulaw_step(u));
            let a = linear_to_alaw(s);
            prop_assert!((i32::from(alaw_to_linear(a)) - i32::from(s)).abs() <= alaw_step(a));
        }
    }
}
