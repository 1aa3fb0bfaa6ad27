//! In-band DTMF detection, for callers whose carrier sends key presses as tones in the audio
//! instead of RFC 4733 events.
//!
//! The audio is cut into blocks of [`BLOCK_SAMPLES`] samples (12.75 ms); a Goertzel filter
//! per DTMF frequency measures each block. A block "hits" a key when the usual checks of
//! ITU-T Q.24 style receivers pass: both tones loud enough, one row and one column clearly
//! above the others, twist within limits, most of the block's energy in the two tones, and
//! optionally no strong second harmonic (speech has harmonics, DTMF does not).
//!
//! Why 102-sample blocks: short blocks give the time resolution Q.24 asks for (a 40 ms tone
//! and a 40 ms pause must be recognised, a tone of about 20 ms must not) while still
//! resolving the 73 Hz row spacing. A key is reported once it hits in
//! [`DetectorConfig::min_on_blocks`] consecutive blocks and can be reported again only after
//! [`DetectorConfig::min_off_blocks`] blocks without it. With the defaults (two and two) every
//! 40 ms tone and every 40 ms pause is seen whatever its alignment to the blocks, a tone of
//! 18 ms never is (a block partly filled with tone fails the energy-share check), a long
//! press is one digit and a one-block dropout does not split it.

use std::collections::VecDeque;

use thiserror::Error;

use crate::SAMPLE_RATE;
use crate::dtmf::Digit;

/// Samples per analysis block.
pub const BLOCK_SAMPLES: usize = 102;

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::D1, Digit::D2, Digit::D3, Digit::A],
    [Digit::D4, Digit::D5, Digit::D6, Digit::B],
    [Digit::D7, Digit::D8, Digit::D9, Digit::C],
    [Digit::Star, Digit::D0, Digit::Hash, Digit::D],
];
/// Filters: 4 rows, 4 columns, then the second harmonics of the 4 columns. Row harmonics
/// (1394-1882 Hz) sit on top of the column tones and cannot be told apart in a short block.
const FILTERS: usize = 12;
/// Level of a full-scale sine in dBm0 for 16-bit linear audio (G.711 mu-law: +3.17 dBm0).
const FULL_SCALE_DBM0: f32 = 3.17;
/// A column's second harmonic must be this much weaker than the column tone.
const HARMONIC_REJECT_DB: f32 = 10.0;
/// Detections waiting for `poll_digit`; a caller that never polls loses the oldest.
const MAX_PENDING: usize = 16;

/// Thresholds of the detector; the defaults follow common Q.24 practice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Quietest tone (each of the two) that counts, in dBm0.
    pub min_level_dbm0: f32,
    /// How much weaker the column tone may be than the row tone (normal twist), in dB.
    pub normal_twist_db: f32,
    /// How much stronger the column tone may be than the row tone (reverse twist), in dB.
    pub reverse_twist_db: f32,
    /// How far the strongest row (column) must stand above the other rows (columns), in dB.
    pub relative_peak_db: f32,
    /// Share of the block's energy that must be in the two tones (1.0 for a pure pair);
    /// noise and speech spread their energy and fail this. It also decides how much of a
    /// block the tone must fill to count, and the 1.5 % frequency tolerance of Q.24 costs
    /// up to 17 % on the 1633 Hz column: 0.78 balances the two.
    pub min_tone_share: f32,
    /// Reject blocks whose column tone has a strong second harmonic.
    pub second_harmonic_check: bool,
    /// Consecutive hit blocks before a key is reported.
    pub min_on_blocks: u8,
    /// Consecutive blocks without the key before the same key can be reported again.
    pub min_off_blocks: u8,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_level_dbm0: -30.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            relative_peak_db: 8.0,
            min_tone_share: 0.78,
            second_harmonic_check: true,
            min_on_blocks: 2,
            min_off_blocks: 2,
        }
    }
}

/// A configuration value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DetectorConfigError {
    #[error("DTMF detector {field} must be {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

/// A key found in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    pub digit: Digit,
    /// Index (counting every sample fed since creation or reset) of the first sample of the
    /// first block in which the tone was seen.
    pub start_sample: u64,
}

/// Thresholds turned into the power domain once, so blocks only multiply and compare.
#[derive(Debug, Clone, Copy)]
struct Limits {
    min_power: f32,
    normal_twist: f32,
    reverse_twist: f32,
    relative_peak: f32,
    share: f32,
    harmonic: Option<f32>,
}

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

impl Limits {
    fn validate(c: &DetectorConfig) -> Result<(), DetectorConfigError> {
        let check = |ok: bool, field, expected| {
            if ok {
                Ok(())
            } else {
                Err(DetectorConfigError::Invalid { field, expected })
            }
        };
        check(
            c.min_level_dbm0.is_finite() && c.min_level_dbm0 <= FULL_SCALE_DBM0,
            "min_level_dbm0",
            "a finite level up to +3 dBm0",
        )?;
        for (value, field) in [
            (c.normal_twist_db, "normal_twist_db"),
            (c.reverse_twist_db, "reverse_twist_db"),
            (c.relative_peak_db, "relative_peak_db"),
        ] {
            check(
                value.is_finite() && (0.0..=40.0).contains(&value),
                field,
                "between 0 and 40 dB",
            )?;
        }
        check(
            c.min_tone_share > 0.0 && c.min_tone_share <= 1.0,
            "min_tone_share",
            "in (0, 1]",
        )?;
        check(c.min_on_blocks > 0, "min_on_blocks", "at least 1")?;
        check(c.min_off_blocks > 0, "min_off_blocks", "at least 1")
    }

    fn from_config(c: &DetectorConfig) -> Limits {
        // Goertzel power of a sine of amplitude A over N samples is (A * N / 2)^2.
        let amplitude = 32767.0 * 10f32.powf((c.min_level_dbm0 - FULL_SCALE_DBM0) / 20.0);
        let half_block = BLOCK_SAMPLES as f32 / 2.0;
        Limits {
            min_power: (amplitude * half_block).powi(2),
            normal_twist: db_to_power(c.normal_twist_db),
            reverse_twist: db_to_power(c.reverse_twist_db),
            relative_peak: db_to_power(c.relative_peak_db),
            share: c.min_tone_share * half_block,
            harmonic: c
                .second_harmonic_check
                .then(|| db_to_power(HARMONIC_REJECT_DB)),
        }
    }
}

/// Run of consecutive blocks that hit the same key.
#[derive(Debug, Clone, Copy)]
struct Run {
    digit: Digit,
    hits: u8,
    start: u64,
}

/// A reported key that has not yet been released.
#[derive(Debug, Clone, Copy)]
struct Held {
    digit: Digit,
    misses: u8,
}

/// Finds DTMF keys in 8 kHz audio.
///
/// Contract: feed every sample of the stream in order with [`process`](Self::process)
/// (any slice length, 20 ms frames are typical), then drain
/// [`poll_digit`](Self::poll_digit). No timers: time is the sample count.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    min_on: u8,
    min_off: u8,
    limits: Limits,
    coeffs: [f32; FILTERS],
    s1: [f32; FILTERS],
    s2: [f32; FILTERS],
    energy: f32,
    in_block: usize,
    /// Samples fed before the current block.
    block_start: u64,
    run: Option<Run>,
    held: Option<Held>,
    pending: VecDeque<DetectedDigit>,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        DtmfDetector::from_valid(&DetectorConfig::default())
    }
}

impl DtmfDetector {
    pub fn new(config: DetectorConfig) -> Result<Self, DetectorConfigError> {
        Limits::validate(&config)?;
        Ok(DtmfDetector::from_valid(&config))
    }

    fn from_valid(config: &DetectorConfig) -> Self {
        let mut coeffs = [0.0; FILTERS];
        let freqs = ROWS.iter().chain(&COLS).copied();
        let harmonics = COLS.iter().map(|f| f * 2.0);
        for (c, f) in coeffs.iter_mut().zip(freqs.chain(harmonics)) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE as f32).cos();
        }
        DtmfDetector {
            min_on: config.min_on_blocks,
            min_off: config.min_off_blocks,
            limits: Limits::from_config(config),
            coeffs,
            s1: [0.0; FILTERS],
            s2: [0.0; FILTERS],
            energy: 0.0,
            in_block: 0,
            block_start: 0,
            run: None,
            held: None,
            pending: VecDeque::with_capacity(4),
        }
    }

    /// Feeds audio; detections become available from [`poll_digit`](Self::poll_digit).
    pub fn process(&mut self, samples: &[i16]) {
        for &sample in samples {
            let x = f32::from(sample);
            for i in 0..FILTERS {
                let s0 = x + self.coeffs[i] * self.s1[i] - self.s2[i];
                self.s2[i] = self.s1[i];
                self.s1[i] = s0;
            }
            self.energy += x * x;
            self.in_block += 1;
            if self.in_block == BLOCK_SAMPLES {
                self.finish_block();
            }
        }
    }

    /// The next detected key, oldest first.
    #[must_use]
    pub fn poll_digit(&mut self) -> Option<DetectedDigit> {
        self.pending.pop_front()
    }

    /// Starts over as if no audio had been fed (the sample count restarts too).
    pub fn reset(&mut self) {
        self.s1 = [0.0; FILTERS];
        self.s2 = [0.0; FILTERS];
        self.energy = 0.0;
        self.in_block = 0;
        self.block_start = 0;
        self.run = None;
        self.held = None;
        self.pending.clear();
    }

    fn finish_block(&mut self) {
        let mut power = [0.0f32; FILTERS];
        for (i, p) in power.iter_mut().enumerate() {
            let (s1, s2) = (self.s1[i], self.s2[i]);
            *p = s1 * s1 + s2 * s2 - self.coeffs[i] * s1 * s2;
        }
        let hit = self.classify(&power);
        let start = self.block_start;
        self.s1 = [0.0; FILTERS];
        self.s2 = [0.0; FILTERS];
        self.energy = 0.0;
        self.in_block = 0;
        self.block_start += BLOCK_SAMPLES as u64;
        self.step(hit, start);
    }

    /// The key this block hits, if every check passes.
    fn classify(&self, power: &[f32; FILTERS]) -> Option<Digit> {
        let l = &self.limits;
        let (rows, rest) = power.split_at(4);
        let (cols, harmonics) = rest.split_at(4);
        let (r, row) = strongest(rows)?;
        let (c, col) = strongest(cols)?;
        if row < l.min_power || col < l.min_power {
            return None;
        }
        if row > col * l.normal_twist || col > row * l.reverse_twist {
            return None;
        }
        let dominates = |group: &[f32], best: usize, peak: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p * l.relative_peak < peak)
        };
        if !dominates(rows, r, row) || !dominates(cols, c, col) {
            return None;
        }
        if row + col < l.share * self.energy {
            return None;
        }
        if let Some(limit) = l.harmonic
            && harmonics.get(c).is_some_and(|&h| h * limit > col)
        {
            return None;
        }
        KEYPAD.get(r).and_then(|keys| keys.get(c)).copied()
    }

    /// Debounce: report a key after `min_on` hits in a row, not again until `min_off`
    /// blocks without it.
    fn step(&mut self, hit: Option<Digit>, block_start: u64) {
        self.run = match (hit, self.run) {
            (Some(d), Some(run)) if run.digit == d => Some(Run {
                hits: run.hits.saturating_add(1),
                ..run
            }),
            (Some(d), _) => Some(Run {
                digit: d,
                hits: 1,
                start: block_start,
            }),
            (None, _) => None,
        };
        if let Some(held) = self.held.as_mut() {
            if hit == Some(held.digit) {
                held.misses = 0;
            } else {
                held.misses = held.misses.saturating_add(1);
                if held.misses >= self.min_off {
                    self.held = None;
                }
            }
        }
        if let Some(run) = self.run
            && run.hits >= self.min_on
            && self.held.map(|h| h.digit) != Some(run.digit)
        {
            self.held = Some(Held {
                digit: run.digit,
                misses: 0,
            });
            if self.pending.len() >= MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back(DetectedDigit {
                digit: run.digit,
                start_sample: run.start,
            });
        }
    }
}

/// Index and power of the strongest filter of a group.
fn strongest(group: &[f32]) -> Option<(usize, f32)> {
    group
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = SAMPLE_RATE as f64;

    /// Row and column frequency of a key.
    fn freqs(d: Digit) -> (f64, f64) {
        for (r, keys) in KEYPAD.iter().enumerate() {
            if let Some(c) = keys.iter().position(|k| *k == d) {
                return (f64::from(ROWS[r]), f64::from(COLS[c]));
            }
        }
        unreachable!()
    }

    /// Deterministic white noise (xorshift), uniform in [-1, 1].
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    /// Builds audio piece by piece; tones keep a running phase so joins are realistic.
    struct Signal {
        samples: Vec<f64>,
        noise: Noise,
    }

    impl Signal {
        fn new(seed: u64, lead_in: usize) -> Self {
            Signal {
                samples: vec![0.0; lead_in],
                noise: Noise(seed | 1),
            }
        }
        fn tones(&mut self, parts: &[(f64, f64)], millis: usize) -> &mut Self {
            let n = millis * 8;
            let phases: Vec<f64> = parts.iter().map(|_| self.noise.next() * 3.2).collect();
            for i in 0..n {
                let t = i as f64 / RATE;
                let v: f64 = parts
                    .iter()
                    .zip(&phases)
                    .map(|((f, a), p)| a * (2.0 * std::f64::consts::PI * f * t + p).sin())
                    .sum();
                self.samples.push(v);
            }
            self
        }
        fn key(&mut self, d: Digit, amp: f64, millis: usize) -> &mut Self {
            let (r, c) = freqs(d);
            self.tones(&[(r, amp), (c, amp)], millis)
        }
        fn silence(&mut self, millis: usize) -> &mut Self {
            self.tones(&[], millis)
        }
        /// Adds white noise at `snr_db` below the power of a sine of amplitude `amp`.
        fn with_noise(&mut self, amp: f64, snr_db: f64) -> &mut Self {
            let noise_power = amp * amp / 2.0 / 10f64.powf(snr_db / 10.0);
            let scale = (3.0 * noise_power).sqrt();
            for s in self.samples.iter_mut() {
                *s += scale * self.noise.next();
            }
            self
        }
        fn pcm(&self) -> Vec<i16> {
            self.samples
                .iter()
                .map(|v| v.round().clamp(-32768.0, 32767.0) as i16)
                .collect()
        }
    }

    fn detect_with(config: DetectorConfig, pcm: &[i16], chunk: usize) -> Vec<Digit> {
        let mut det = DtmfDetector::new(config).unwrap();
        for part in pcm.chunks(chunk) {
            det.process(part);
        }
        std::iter::from_fn(|| det.poll_digit())
            .map(|d| d.digit)
            .collect()
    }

    fn detect(pcm: &[i16]) -> Vec<Digit> {
        detect_with(DetectorConfig::default(), pcm, 160)
    }

    fn amplitude_dbm0(dbm0: f64) -> f64 {
        32767.0 * 10f64.powf((dbm0 - f64::from(FULL_SCALE_DBM0)) / 20.0)
    }

    #[test]
    fn all_keys_at_several_levels() {
        for (i, amp) in [amplitude_dbm0(-25.0), 2000.0, 6000.0, 15000.0]
            .into_iter()
            .enumerate()
        {
            let mut s = Signal::new(i as u64 + 1, 13 + i * 29);
            for d in Digit::ALL {
                s.key(d, amp, 100).silence(100);
            }
            assert_eq!(detect(&s.pcm()), Digit::ALL, "amplitude {amp}");
        }
    }

    #[test]
    fn short_tones_and_gaps_in_noise() {
        for (seed, snr) in [(3u64, 15.0), (4, 20.0), (5, 30.0)] {
            for (on, off) in [(50, 50), (100, 100), (40, 40)] {
                let amp = 3000.0;
                let mut s = Signal::new(seed, (seed as usize * 37) % 102);
                for d in Digit::ALL {
                    s.key(d, amp, on).silence(off);
                }
                s.with_noise(amp, snr);
                let got = detect(&s.pcm());
                assert_eq!(got, Digit::ALL, "snr {snr} dB, {on}/{off} ms");
            }
        }
    }

    #[test]
    fn any_chunk_size_gives_the_same_result() {
        let mut s = Signal::new(9, 55);
        for d in [Digit::D1, Digit::D2, Digit::D2, Digit::Hash] {
            s.key(d, 5000.0, 60).silence(60);
        }
        let pcm = s.pcm();
        let expected = [Digit::D1, Digit::D2, Digit::D2, Digit::Hash];
        for chunk in [1, 7, 102, 160, 333, pcm.len()] {
            assert_eq!(
                detect_with(DetectorConfig::default(), &pcm, chunk),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn start_sample_points_at_the_tone() {
        let mut s = Signal::new(1, 0);
        s.silence(200).key(Digit::D5, 5000.0, 100);
        let mut det = DtmfDetector::default();
        det.process(&s.pcm());
        let got = det.poll_digit().unwrap();
        assert_eq!(got.digit, Digit::D5);
        // The tone starts at sample 1600; the first full block inside it starts by 1632.
        assert!(
            (1530..=1632).contains(&got.start_sample),
            "{}",
            got.start_sample
        );
        assert_eq!(det.poll_digit(), None);
    }

    #[test]
    fn silence_and_noise_are_not_digits() {
        assert!(detect(&vec![0; 8000]).is_empty());
        for snr in [-10.0, 0.0, 20.0] {
            let mut s = Signal::new(77, 0);
            s.silence(3000).with_noise(5000.0, snr);
            assert!(detect(&s.pcm()).is_empty(), "noise at {snr} dB");
        }
    }

    #[test]
    fn speech_like_signals_are_not_digits() {
        // Voiced speech: a gliding pitch with many harmonics shaped by two formants, plus
        // syllable-rate amplitude changes and some breath noise.
        let mut noise = Noise(12345);
        let mut phase = 0.0f64;
        let mut pcm = Vec::new();
        for i in 0..(8000 * 5) {
            let t = i as f64 / RATE;
            let pitch = 140.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            phase += 2.0 * std::f64::consts::PI * pitch / RATE;
            let formant = |f: f64, center: f64| (-((f - center) / 300.0).powi(2)).exp();
            let mut v = 0.0;
            for k in 1..=25 {
                let f = pitch * f64::from(k);
                if f < 3800.0 {
                    v += (formant(f, 700.0) + 0.6 * formant(f, 1250.0) + 0.05)
                        * (phase * f64::from(k)).sin();
                }
            }
            let envelope = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
            pcm.push(
                (2000.0 * envelope * v + 200.0 * noise.next()).clamp(-32768.0, 32767.0) as i16,
            );
        }
        assert!(detect(&pcm).is_empty());
    }

    #[test]
    fn single_tones_are_not_digits() {
        for f in ROWS
            .iter()
            .chain(&COLS)
            .chain(&[1000.0, 350.0, 440.0, 2600.0])
        {
            let mut s = Signal::new(2, 0);
            s.tones(&[(f64::from(*f), 8000.0)], 500);
            assert!(detect(&s.pcm()).is_empty(), "{f} Hz");
        }
        // Dial tone (350 + 440 Hz) is a pair, but not a DTMF pair.
        let mut s = Signal::new(2, 0);
        s.tones(&[(350.0, 6000.0), (440.0, 6000.0)], 500);
        assert!(detect(&s.pcm()).is_empty());
    }

    #[test]
    fn twist_limits_are_respected() {
        let (r, c) = freqs(Digit::D5);
        let level = |db: f64| 6000.0 * 10f64.powf(db / 20.0);
        let pair = |row_db: f64, col_db: f64| {
            let mut s = Signal::new(8, 20);
            s.tones(&[(r, level(row_db)), (c, level(col_db))], 120);
            detect(&s.pcm())
        };
        assert_eq!(pair(0.0, -7.0), [Digit::D5], "7 dB normal twist is allowed");
        assert!(pair(0.0, -9.0).is_empty(), "9 dB normal twist is not");
        assert_eq!(pair(0.0, 3.0), [Digit::D5], "3 dB reverse twist is allowed");
        assert!(pair(0.0, 5.0).is_empty(), "5 dB reverse twist is not");
    }

    #[test]
    fn levels_below_threshold_are_ignored() {
        let mut s = Signal::new(4, 0);
        s.key(Digit::D8, amplitude_dbm0(-36.0), 200);
        assert!(detect(&s.pcm()).is_empty());
        let mut s = Signal::new(4, 0);
        s.key(Digit::D8, amplitude_dbm0(-27.0), 200);
        assert_eq!(detect(&s.pcm()), [Digit::D8]);
    }

    #[test]
    fn frequency_deviation_within_q24_is_accepted() {
        for d in Digit::ALL {
            let (r, c) = freqs(d);
            for dev in [0.985, 1.015] {
                let mut s = Signal::new(6, 40);
                s.tones(&[(r * dev, 4000.0), (c * dev, 4000.0)], 100);
                s.with_noise(4000.0, 25.0);
                assert_eq!(detect(&s.pcm()), [d], "{d} at {dev}");
            }
        }
    }

    #[test]
    fn too_short_tone_is_rejected() {
        // Whatever its alignment to the blocks, an 18 ms tone never fills two blocks enough.
        for lead in 0..BLOCK_SAMPLES {
            let mut s = Signal::new(lead as u64 + 3, lead);
            s.key(Digit::D3, 6000.0, 18).silence(100);
            assert!(detect(&s.pcm()).is_empty(), "lead-in {lead}");
        }
    }

    #[test]
    fn forty_ms_tones_and_pauses_at_every_alignment() {
        for lead in 0..BLOCK_SAMPLES {
            let mut s = Signal::new(lead as u64 + 1, lead);
            s.key(Digit::D7, 3000.0, 40)
                .silence(40)
                .key(Digit::D7, 3000.0, 40);
            s.with_noise(3000.0, 20.0);
            assert_eq!(detect(&s.pcm()), [Digit::D7, Digit::D7], "lead-in {lead}");
        }
    }

    #[test]
    fn long_press_is_one_digit() {
        let mut s = Signal::new(5, 17);
        s.key(Digit::D0, 5000.0, 2000);
        assert_eq!(detect(&s.pcm()), [Digit::D0]);
        // A 10 ms dropout (a lost packet concealed by silence) does not split it.
        let mut s = Signal::new(5, 17);
        s.key(Digit::D0, 5000.0, 500)
            .silence(10)
            .key(Digit::D0, 5000.0, 500);
        assert_eq!(detect(&s.pcm()), [Digit::D0]);
    }

    #[test]
    fn presses_separated_by_a_gap_are_two_digits() {
        let mut s = Signal::new(5, 61);
        s.key(Digit::Star, 5000.0, 100)
            .silence(45)
            .key(Digit::Star, 5000.0, 100);
        assert_eq!(detect(&s.pcm()), [Digit::Star, Digit::Star]);
    }

    #[test]
    fn key_change_without_gap_reports_the_new_key() {
        let mut s = Signal::new(5, 0);
        s.key(Digit::D1, 5000.0, 100).key(Digit::D9, 5000.0, 100);
        assert_eq!(detect(&s.pcm()), [Digit::D1, Digit::D9]);
    }

    #[test]
    fn harmonic_check_rejects_distorted_column() {
        let (r, c) = freqs(Digit::D6);
        let mut s = Signal::new(5, 0);
        s.tones(&[(r, 5000.0), (c, 5000.0), (2.0 * c, 2500.0)], 200);
        let pcm = s.pcm();
        let off = DetectorConfig {
            second_harmonic_check: false,
            min_tone_share: 0.6,
            ..DetectorConfig::default()
        };
        assert_eq!(detect_with(off, &pcm, 160), [Digit::D6]);
        let on = DetectorConfig {
            second_harmonic_check: true,
            ..off
        };
        assert!(detect_with(on, &pcm, 160).is_empty());
    }

    #[test]
    fn bad_config_is_refused_and_reset_restarts() {
        for bad in [
            DetectorConfig {
                min_level_dbm0: f32::NAN,
                ..Default::default()
            },
            DetectorConfig {
                normal_twist_db: -1.0,
                ..Default::default()
            },
            DetectorConfig {
                min_tone_share: 0.0,
                ..Default::default()
            },
            DetectorConfig {
                min_on_blocks: 0,
                ..Default::default()
            },
            DetectorConfig {
                min_off_blocks: 0,
                ..Default::default()
            },
        ] {
            assert!(DtmfDetector::new(bad).is_err(), "{bad:?}");
        }
        let err = DtmfDetector::new(DetectorConfig {
            min_tone_share: 2.0,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "DTMF detector min_tone_share must be in (0, 1]"
        );
        let mut s = Signal::new(1, 0);
        s.key(Digit::D2, 5000.0, 100);
        let pcm = s.pcm();
        let mut det = DtmfDetector::default();
        det.process(&pcm);
        det.reset();
        assert_eq!(det.poll_digit(), None);
        det.process(&pcm);
        assert_eq!(det.poll_digit().map(|d| d.digit), Some(Digit::D2));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_audio_never_panics(pcm in proptest::collection::vec(proptest::prelude::any::<i16>(), 0..2000)) {
            let mut det = DtmfDetector::default();
            det.process(&pcm);
            while det.poll_digit().is_some() {}
        }
    }
}
