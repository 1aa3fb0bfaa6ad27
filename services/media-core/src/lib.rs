//! Sans-IO media for the contact center: packets and `now` go in; packets to send, events
//! and the next deadline come out. Nothing here reads a clock, opens a socket or spawns.
//!
//! Audio inside the crate is 8 kHz mono 16-bit linear PCM, handled in 20 ms frames of
//! [`FRAME_SAMPLES`] samples; G.711 is the only wire codec.

/// Samples per second of every audio stream this crate handles.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

pub mod collector;
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod inactivity;
pub mod mixer;
pub mod player;
pub mod reorder;
pub mod rtcp;
pub mod rtp;
pub mod stream;
pub mod wav;
