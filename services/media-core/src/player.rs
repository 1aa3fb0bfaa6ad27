//! Prompt player: turns a playlist of decoded prompts into 20 ms frames, for greetings,
//! menus, position announcements and music on hold.
//!
//! Prompts are shared `Arc<[i16]>` so one decoded copy of a prompt serves every call that
//! plays it; producing a frame only copies 160 samples.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::FRAME_SAMPLES;

/// One 20 ms frame of 8 kHz audio.
pub type Frame = [i16; FRAME_SAMPLES];

/// Identifies a prompt in events (the caller maps it to its prompt name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptId(pub u32);

/// Identifies one `play` request, so events of an old playlist are never mistaken for
/// the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaylistId(pub u64);

/// Decoded audio of a prompt (8 kHz mono PCM).
#[derive(Debug, Clone)]
pub struct Prompt {
    pub id: PromptId,
    pub samples: Arc<[i16]>,
}

/// Prompts played one after the other, optionally over and over (music on hold).
#[derive(Debug, Clone)]
pub struct Playlist {
    pub id: PlaylistId,
    pub prompts: Vec<Prompt>,
    pub looped: bool,
}

impl Playlist {
    pub fn new(id: PlaylistId, prompts: Vec<Prompt>) -> Self {
        Playlist {
            id,
            prompts,
            looped: false,
        }
    }

    /// Plays the whole list again after its end, until stopped.
    pub fn looped(mut self) -> Self {
        self.looped = true;
        self
    }
}

/// Why a playlist stopped playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEnd {
    /// Its last frame was produced.
    Completed,
    /// [`PromptPlayer::stop`] was called (barge-in, hang-up...).
    Stopped,
    /// [`PromptPlayer::play`] started another playlist.
    Replaced,
}

/// What the player reports, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The last frame of a prompt was produced.
    PromptDone {
        playlist: PlaylistId,
        prompt: PromptId,
    },
    /// The playlist is over; nothing more will be reported for it.
    PlaylistDone {
        playlist: PlaylistId,
        reason: PlayEnd,
    },
}

/// Events waiting for `poll_event`. A looping playlist reports every prompt on every pass;
/// a caller that never polls loses the oldest instead of growing memory.
const MAX_EVENTS: usize = 32;

#[derive(Debug)]
struct Cursor {
    list: Playlist,
    /// Looping a list that holds no audio would spin forever without producing a frame.
    has_audio: bool,
    index: usize,
    offset: usize,
}

/// Plays one playlist at a time as 20 ms frames.
///
/// Contract: [`play`](Self::play) a list, call [`next_frame`](Self::next_frame) once per
/// 20 ms tick until it returns `None`, and drain [`poll_event`](Self::poll_event) after each
/// call. A prompt's last partial frame is padded with silence, so every prompt starts on a
/// frame boundary. [`stop`](Self::stop) ends playback at once (barge-in is the caller's
/// decision).
#[derive(Debug)]
pub struct PromptPlayer {
    current: Option<Cursor>,
    events: VecDeque<PlayerEvent>,
}

impl Default for PromptPlayer {
    fn default() -> Self {
        PromptPlayer::new()
    }
}

fn push(events: &mut VecDeque<PlayerEvent>, event: PlayerEvent) {
    if events.len() >= MAX_EVENTS {
        events.pop_front();
    }
    events.push_back(event);
}

impl PromptPlayer {
    pub fn new() -> Self {
        PromptPlayer {
            current: None,
            events: VecDeque::with_capacity(MAX_EVENTS),
        }
    }

    /// Starts `list` from its beginning; a list still playing ends as
    /// [`PlayEnd::Replaced`].
    pub fn play(&mut self, list: Playlist) {
        if let Some(old) = self.current.take() {
            push(
                &mut self.events,
                PlayerEvent::PlaylistDone {
                    playlist: old.list.id,
                    reason: PlayEnd::Replaced,
                },
            );
        }
        let has_audio = list.prompts.iter().any(|p| !p.samples.is_empty());
        self.current = Some(Cursor {
            list,
            has_audio,
            index: 0,
            offset: 0,
        });
    }

    /// Stops playback at once; returns the list that was playing, which ends as
    /// [`PlayEnd::Stopped`].
    pub fn stop(&mut self) -> Option<PlaylistId> {
        let old = self.current.take()?;
        push(
            &mut self.events,
            PlayerEvent::PlaylistDone {
                playlist: old.list.id,
                reason: PlayEnd::Stopped,
            },
        );
        Some(old.list.id)
    }

    /// The list playing now, if any.
    pub fn playlist(&self) -> Option<PlaylistId> {
        self.current.as_ref().map(|c| c.list.id)
    }

    pub fn is_playing(&self) -> bool {
        self.current.is_some()
    }

    /// The next 20 ms of audio, or `None` when nothing is playing.
    #[must_use]
    pub fn next_frame(&mut self) -> Option<Frame> {
        let cur = self.current.as_mut()?;
        let playlist = cur.list.id;
        let frame = loop {
            let Some(prompt) = cur.list.prompts.get(cur.index) else {
                if cur.list.looped && cur.has_audio {
                    cur.index = 0;
                    cur.offset = 0;
                    continue;
                }
                // Only reached for lists that end in empty prompts or hold nothing.
                self.current = None;
                push(
                    &mut self.events,
                    PlayerEvent::PlaylistDone {
                        playlist,
                        reason: PlayEnd::Completed,
                    },
                );
                return None;
            };
            let rest = prompt.samples.get(cur.offset..).unwrap_or_default();
            let n = rest.len().min(FRAME_SAMPLES);
            let mut frame = [0i16; FRAME_SAMPLES];
            if let (Some(dst), Some(src)) = (frame.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            cur.offset += n;
            let prompt_id = prompt.id;
            if cur.offset >= prompt.samples.len() {
                push(
                    &mut self.events,
                    PlayerEvent::PromptDone {
                        playlist,
                        prompt: prompt_id,
                    },
                );
                cur.index += 1;
                cur.offset = 0;
            }
            if n > 0 {
                break frame;
            }
        };
        // Report the end together with the last frame rather than one tick later.
        if cur.index >= cur.list.prompts.len() && !cur.list.looped {
            self.current = None;
            push(
                &mut self.events,
                PlayerEvent::PlaylistDone {
                    playlist,
                    reason: PlayEnd::Completed,
                },
            );
        }
        Some(frame)
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(id: u32, len: usize) -> Prompt {
        // Sample values encode (prompt, position) so frames can be checked exactly.
        let samples: Vec<i16> = (0..len)
            .map(|i| (id as i16) * 1000 + (i % 997) as i16 + 1)
            .collect();
        Prompt {
            id: PromptId(id),
            samples: samples.into(),
        }
    }

    fn events(p: &mut PromptPlayer) -> Vec<PlayerEvent> {
        std::iter::from_fn(|| p.poll_event()).collect()
    }

    fn done(list: u64, reason: PlayEnd) -> PlayerEvent {
        PlayerEvent::PlaylistDone {
            playlist: PlaylistId(list),
            reason,
        }
    }

    fn prompt_done(list: u64, prompt: u32) -> PlayerEvent {
        PlayerEvent::PromptDone {
            playlist: PlaylistId(list),
            prompt: PromptId(prompt),
        }
    }

    #[test]
    fn plays_frames_and_pads_the_last_one() {
        let mut p = PromptPlayer::new();
        let a = prompt(1, 400);
        p.play(Playlist::new(PlaylistId(7), vec![a.clone()]));
        assert_eq!(p.playlist(), Some(PlaylistId(7)));
        let f1 = p.next_frame().unwrap();
        let f2 = p.next_frame().unwrap();
        assert!(events(&mut p).is_empty());
        let f3 = p.next_frame().unwrap();
        assert_eq!(&f1[..], &a.samples[..160]);
        assert_eq!(&f2[..], &a.samples[160..320]);
        assert_eq!(&f3[..80], &a.samples[320..]);
        assert!(f3[80..].iter().all(|&s| s == 0));
        assert_eq!(
            events(&mut p),
            [prompt_done(7, 1), done(7, PlayEnd::Completed)]
        );
        assert!(!p.is_playing());
        assert_eq!(p.next_frame(), None);
        assert!(events(&mut p).is_empty());
    }

    #[test]
    fn prompts_follow_each_other_on_frame_boundaries() {
        let mut p = PromptPlayer::default();
        let (a, b) = (prompt(1, 160), prompt(2, 170));
        p.play(Playlist::new(PlaylistId(1), vec![a.clone(), b.clone()]));
        assert_eq!(&p.next_frame().unwrap()[..], &a.samples[..]);
        assert_eq!(events(&mut p), [prompt_done(1, 1)]);
        assert_eq!(&p.next_frame().unwrap()[..], &b.samples[..160]);
        let last = p.next_frame().unwrap();
        assert_eq!(&last[..10], &b.samples[160..]);
        assert_eq!(
            events(&mut p),
            [prompt_done(1, 2), done(1, PlayEnd::Completed)]
        );
    }

    #[test]
    fn looping_playlist_repeats_until_stopped() {
        let mut p = PromptPlayer::new();
        let moh = prompt(3, 320);
        p.play(Playlist::new(PlaylistId(9), vec![moh.clone()]).looped());
        for pass in 0..5 {
            assert_eq!(
                &p.next_frame().unwrap()[..],
                &moh.samples[..160],
                "pass {pass}"
            );
            assert_eq!(&p.next_frame().unwrap()[..], &moh.samples[160..]);
            assert_eq!(events(&mut p), [prompt_done(9, 3)]);
        }
        assert_eq!(p.stop(), Some(PlaylistId(9)));
        assert_eq!(events(&mut p), [done(9, PlayEnd::Stopped)]);
        assert_eq!(p.next_frame(), None);
        assert_eq!(p.stop(), None);
        assert!(events(&mut p).is_empty());
    }

    #[test]
    fn stop_in_the_middle_and_replace() {
        let mut p = PromptPlayer::new();
        p.play(Playlist::new(PlaylistId(1), vec![prompt(1, 8000)]));
        p.next_frame().unwrap();
        p.play(Playlist::new(PlaylistId(2), vec![prompt(2, 160)]));
        assert_eq!(events(&mut p), [done(1, PlayEnd::Replaced)]);
        assert_eq!(p.next_frame().unwrap()[0], 2001);
        assert_eq!(
            events(&mut p),
            [prompt_done(2, 2), done(2, PlayEnd::Completed)]
        );
    }

    #[test]
    fn empty_prompts_and_lists_end_without_hanging() {
        let mut p = PromptPlayer::new();
        p.play(Playlist::new(PlaylistId(1), vec![]));
        assert_eq!(p.next_frame(), None);
        assert_eq!(events(&mut p), [done(1, PlayEnd::Completed)]);

        // A looping list of nothing must not spin forever.
        p.play(Playlist::new(PlaylistId(2), vec![prompt(5, 0), prompt(6, 0)]).looped());
        assert_eq!(p.next_frame(), None);
        assert_eq!(
            events(&mut p),
            [
                prompt_done(2, 5),
                prompt_done(2, 6),
                done(2, PlayEnd::Completed)
            ]
        );

        // Empty prompts inside a list are skipped without a silent frame.
        let b = prompt(8, 160);
        p.play(Playlist::new(
            PlaylistId(3),
            vec![prompt(7, 0), b.clone(), prompt(9, 0)],
        ));
        assert_eq!(&p.next_frame().unwrap()[..], &b.samples[..]);
        assert_eq!(events(&mut p), [prompt_done(3, 7), prompt_done(3, 8)]);
        assert_eq!(p.next_frame(), None);
        assert_eq!(
            events(&mut p),
            [prompt_done(3, 9), done(3, PlayEnd::Completed)]
        );
    }

    #[test]
    fn unpolled_events_are_bounded() {
        let mut p = PromptPlayer::new();
        p.play(Playlist::new(PlaylistId(1), vec![prompt(1, 10)]).looped());
        for _ in 0..1000 {
            p.next_frame().unwrap();
        }
        assert_eq!(events(&mut p).len(), MAX_EVENTS);
    }

    #[test]
    fn shared_prompt_is_not_copied() {
        let a = prompt(1, 480);
        let mut players: Vec<PromptPlayer> = (0..10).map(|_| PromptPlayer::new()).collect();
        for (i, p) in players.iter_mut().enumerate() {
            p.play(Playlist::new(PlaylistId(i as u64), vec![a.clone()]));
        }
        assert_eq!(Arc::strong_count(&a.samples), 11);
        for p in &mut players {
            while p.next_frame().is_some() {}
        }
        assert_eq!(Arc::strong_count(&a.samples), 1);
    }
}
