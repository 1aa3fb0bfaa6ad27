//! A small conference mixer for up to three parties: caller, agent and supervisor (whisper,
//! barge-in) or caller, agent and transfer target (announced transfer).
//!
//! Each party hears the sum of the parties it may hear, never itself. Who hears whom is a
//! 3x3 matrix, so whisper (the supervisor is heard by the agent only) and silent monitoring
//! (heard by nobody) are just settings. Everything lives in fixed arrays: a tick never
//! allocates.

use thiserror::Error;

use crate::FRAME_SAMPLES;

/// Parties a mixer holds.
pub const MAX_PARTIES: usize = 3;

/// One 20 ms frame of 8 kHz audio.
pub type Frame = [i16; FRAME_SAMPLES];

/// A party of one mixer. Carries a generation so a handle kept after
/// [`Mixer::remove_party`] never addresses whoever takes the slot next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartyId {
    slot: u8,
    generation: u32,
}

/// Misuse of a mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MixerError {
    #[error("the mixer already has {MAX_PARTIES} parties")]
    Full,
    #[error("{0:?} is not a party of this mixer")]
    UnknownParty(PartyId),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Generation of the party in this slot; `None` when the slot is free.
    occupant: Option<u32>,
    input: Frame,
    has_input: bool,
    output: Frame,
}

const FREE: Slot = Slot {
    occupant: None,
    input: [0; FRAME_SAMPLES],
    has_input: false,
    output: [0; FRAME_SAMPLES],
};

/// Mixes 20 ms frames between up to [`MAX_PARTIES`] parties.
///
/// Contract, once per 20 ms tick: [`put_frame`](Self::put_frame) for each party that has
/// audio (a party without a frame this tick is silence), then [`mix`](Self::mix), then
/// read each party's [`output`](Self::output). Sums saturate to the i16 range.
#[derive(Debug, Clone)]
pub struct Mixer {
    slots: [Slot; MAX_PARTIES],
    /// `hears[listener][speaker]`.
    hears: [[bool; MAX_PARTIES]; MAX_PARTIES],
    next_generation: u32,
}

impl Default for Mixer {
    fn default() -> Self {
        Mixer::new()
    }
}

impl Mixer {
    pub fn new() -> Self {
        Mixer {
            slots: [FREE; MAX_PARTIES],
            hears: [[false; MAX_PARTIES]; MAX_PARTIES],
            next_generation: 0,
        }
    }

    /// Adds a party that hears everyone and is heard by everyone.
    pub fn add_party(&mut self) -> Result<PartyId, MixerError> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.occupant.is_none())
            .ok_or(MixerError::Full)?;
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Slot {
                occupant: Some(generation),
                ..FREE
            };
        }
        for other in 0..MAX_PARTIES {
            let both = other != slot;
            self.hears[slot][other] = both;
            self.hears[other][slot] = both;
        }
        Ok(PartyId {
            slot: slot as u8,
            generation,
        })
    }

    /// Removes a party; the others stop hearing it at the next tick.
    pub fn remove_party(&mut self, party: PartyId) -> Result<(), MixerError> {
        let slot = self.slot(party)?;
        self.slots[slot] = FREE;
        for other in 0..MAX_PARTIES {
            self.hears[slot][other] = false;
            self.hears[other][slot] = false;
        }
        Ok(())
    }

    /// The parties now in the mixer.
    pub fn parties(&self) -> impl Iterator<Item = PartyId> + '_ {
        self.slots.iter().enumerate().filter_map(|(slot, s)| {
            s.occupant.map(|generation| PartyId {
                slot: slot as u8,
                generation,
            })
        })
    }

    /// Sets whether `listener` hears `speaker`. Whisper: the caller does not hear the
    /// supervisor. A party never hears itself, whatever is set.
    pub fn set_hears(
        &mut self,
        listener: PartyId,
        speaker: PartyId,
        hears: bool,
    ) -> Result<(), MixerError> {
        let (l, s) = (self.slot(listener)?, self.slot(speaker)?);
        self.hears[l][s] = hears && l != s;
        Ok(())
    }

    /// Makes `party` heard by nobody (silent monitoring) or by everyone again; what it
    /// hears does not change.
    pub fn set_listen_only(&mut self, party: PartyId, listen_only: bool) -> Result<(), MixerError> {
        let slot = self.slot(party)?;
        for (listener, row) in self.hears.iter_mut().enumerate() {
            let present = self.slots[listener].occupant.is_some();
            row[slot] = !listen_only && present && listener != slot;
        }
        Ok(())
    }

    /// Whether `listener` hears `speaker`.
    pub fn hears(&self, listener: PartyId, speaker: PartyId) -> Result<bool, MixerError> {
        Ok(self.hears[self.slot(listener)?][self.slot(speaker)?])
    }

    /// Gives `party`'s audio for this tick; a second call in the same tick replaces it.
    pub fn put_frame(&mut self, party: PartyId, frame: &Frame) -> Result<(), MixerError> {
        let index = self.slot(party)?;
        let slot = &mut self.slots[index];
        slot.input = *frame;
        slot.has_input = true;
        Ok(())
    }

    /// Computes every party's output from this tick's inputs and clears the inputs.
    pub fn mix(&mut self) {
        let mut acc = [0i32; FRAME_SAMPLES];
        for listener in 0..MAX_PARTIES {
            if self.slots[listener].occupant.is_none() {
                continue;
            }
            acc.fill(0);
            for speaker in 0..MAX_PARTIES {
                let s = &self.slots[speaker];
                if speaker == listener || !s.has_input || !self.hears[listener][speaker] {
                    continue;
                }
                for (a, x) in acc.iter_mut().zip(&s.input) {
                    *a += i32::from(*x);
                }
            }
            for (out, a) in self.slots[listener].output.iter_mut().zip(&acc) {
                *out = (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        for s in &mut self.slots {
            s.has_input = false;
        }
    }

    /// What `party` hears, as computed by the last [`mix`](Self::mix).
    pub fn output(&self, party: PartyId) -> Result<&Frame, MixerError> {
        Ok(&self.slots[self.slot(party)?].output)
    }

    fn slot(&self, party: PartyId) -> Result<usize, MixerError> {
        let slot = usize::from(party.slot);
        match self.slots.get(slot) {
            Some(s) if s.occupant == Some(party.generation) => Ok(slot),
            _ => Err(MixerError::UnknownParty(party)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> Frame {
        [v; FRAME_SAMPLES]
    }

    fn three() -> (Mixer, PartyId, PartyId, PartyId) {
        let mut m = Mixer::new();
        let a = m.add_party().unwrap();
        let b = m.add_party().unwrap();
        let c = m.add_party().unwrap();
        (m, a, b, c)
    }

    fn tick(m: &mut Mixer, inputs: &[(PartyId, i16)]) {
        for (p, v) in inputs {
            m.put_frame(*p, &frame(*v)).unwrap();
        }
        m.mix();
    }

    fn heard(m: &Mixer, p: PartyId) -> i16 {
        let out = m.output(p).unwrap();
        assert!(out.iter().all(|s| *s == out[0]));
        out[0]
    }

    #[test]
    fn everyone_hears_the_others_but_not_themselves() {
        let (mut m, a, b, c) = three();
        tick(&mut m, &[(a, 100), (b, 20), (c, 3)]);
        assert_eq!((heard(&m, a), heard(&m, b), heard(&m, c)), (23, 103, 120));
    }

    #[test]
    fn two_parties_just_swap_audio() {
        let mut m = Mixer::new();
        let a = m.add_party().unwrap();
        let b = m.add_party().unwrap();
        let mut fa = frame(0);
        fa.iter_mut().enumerate().for_each(|(i, s)| *s = i as i16);
        m.put_frame(a, &fa).unwrap();
        m.put_frame(b, &frame(-7)).unwrap();
        m.mix();
        assert_eq!(m.output(b).unwrap(), &fa);
        assert_eq!(m.output(a).unwrap(), &frame(-7));
    }

    #[test]
    fn missing_frames_are_silence_and_inputs_do_not_linger() {
        let (mut m, a, b, c) = three();
        tick(&mut m, &[(a, 500)]);
        assert_eq!((heard(&m, a), heard(&m, b), heard(&m, c)), (0, 500, 500));
        tick(&mut m, &[]);
        assert_eq!((heard(&m, a), heard(&m, b), heard(&m, c)), (0, 0, 0));
        // A second frame in one tick replaces the first.
        m.put_frame(a, &frame(1)).unwrap();
        m.put_frame(a, &frame(2)).unwrap();
        m.mix();
        assert_eq!(heard(&m, b), 2);
    }

    #[test]
    fn sums_saturate() {
        let (mut m, a, b, c) = three();
        tick(&mut m, &[(a, 30_000), (b, 30_000), (c, -30_000)]);
        assert_eq!(heard(&m, c), i16::MAX);
        assert_eq!(heard(&m, a), 0);
        tick(&mut m, &[(a, i16::MIN), (b, i16::MIN)]);
        assert_eq!(heard(&m, c), i16::MIN);
    }

    #[test]
    fn whisper_supervisor_heard_by_agent_only() {
        let (mut m, caller, agent, supervisor) = three();
        m.set_hears(caller, supervisor, false).unwrap();
        tick(&mut m, &[(caller, 1), (agent, 10), (supervisor, 100)]);
        assert_eq!(heard(&m, caller), 10);
        assert_eq!(heard(&m, agent), 101);
        assert_eq!(heard(&m, supervisor), 11);
        // Barge: the supervisor joins the conversation.
        m.set_hears(caller, supervisor, true).unwrap();
        tick(&mut m, &[(caller, 1), (agent, 10), (supervisor, 100)]);
        assert_eq!(heard(&m, caller), 110);
    }

    #[test]
    fn listen_only_is_heard_by_nobody() {
        let (mut m, caller, agent, supervisor) = three();
        m.set_listen_only(supervisor, true).unwrap();
        assert!(!m.hears(caller, supervisor).unwrap());
        assert!(m.hears(supervisor, caller).unwrap());
        tick(&mut m, &[(caller, 1), (agent, 10), (supervisor, 100)]);
        assert_eq!(
            (heard(&m, caller), heard(&m, agent), heard(&m, supervisor)),
            (10, 1, 11)
        );
        m.set_listen_only(supervisor, false).unwrap();
        tick(&mut m, &[(caller, 1), (agent, 10), (supervisor, 100)]);
        assert_eq!((heard(&m, caller), heard(&m, agent)), (110, 101));
    }

    #[test]
    fn a_party_never_hears_itself() {
        let (mut m, a, _, _) = three();
        m.set_hears(a, a, true).unwrap();
        assert!(!m.hears(a, a).unwrap());
        tick(&mut m, &[(a, 5)]);
        assert_eq!(heard(&m, a), 0);
    }

    #[test]
    fn full_mixer_and_stale_ids() {
        let (mut m, a, b, c) = three();
        assert_eq!(m.add_party(), Err(MixerError::Full));
        m.remove_party(b).unwrap();
        assert_eq!(m.remove_party(b), Err(MixerError::UnknownParty(b)));
        assert_eq!(m.put_frame(b, &frame(1)), Err(MixerError::UnknownParty(b)));
        assert_eq!(m.parties().count(), 2);
        let d = m.add_party().unwrap();
        assert_ne!(d, b, "the slot is reused under a new generation");
        assert!(m.output(b).is_err());
        assert!(m.set_hears(a, b, true).is_err());
        tick(&mut m, &[(a, 1), (c, 2), (d, 4)]);
        assert_eq!((heard(&m, a), heard(&m, c), heard(&m, d)), (6, 5, 3));
    }

    #[test]
    fn removed_party_is_not_heard_and_new_one_starts_silent() {
        let (mut m, a, b, c) = three();
        tick(&mut m, &[(a, 1), (b, 2), (c, 4)]);
        m.put_frame(c, &frame(4)).unwrap();
        m.remove_party(c).unwrap();
        m.mix();
        assert_eq!(heard(&m, a), 0);
        let d = m.add_party().unwrap();
        assert_eq!(heard(&m, d), 0);
    }
}
