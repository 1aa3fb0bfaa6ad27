//! Hold, never in silence. A connected call is held by a phone's re-INVITE
//! that stops receiving (`a=sendonly`, `a=inactive`, or the legacy `c=0.0.0.0`) and resumed
//! by one that receives again; or held and resumed through the Calls API on behalf of the
//! one who took the call. While held the parties are not bridged, and whoever is held hears
//! the on-hold prompt ("please stay on the line") and music, the prompt again about once a
//! minute (a held caller must not think they were forgotten; an agent taking a second call
//! keeps it short). Every party that held must resume before the two talk again.
//!
//! [`Hold`] is the pure part: who holds, and what the media must do when that changes; the
//! call actor carries it out ([`Call::set_hold`]).

use tracing::{debug, info, warn};

use cc_proto::media::internal::v1 as media;

use super::actor::{Call, Phase, Side, rpc};
use super::{CallEvent, HoldBy, HoldError, unix_ms};

/// What a held party hears, looped: the prompt, then about 48 s of music.
const ON_HOLD: [&str; 4] = ["on-hold", "music-on-hold", "music-on-hold", "music-on-hold"];

/// Who holds a connected call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Hold {
    /// The caller's phone (or a callback's customer's).
    caller: bool,
    /// The phone that took the call.
    callee: bool,
    /// The Calls API, for the one who took the call.
    api: bool,
    /// Since when anyone holds.
    since_unix_ms: Option<u64>,
}

/// What one change of [`Hold`] asks of the media and the event stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Change {
    /// `Some(false)`: unbridge the parties; `Some(true)`: bridge them again.
    pub bridge: Option<bool>,
    /// Start (`true`) or stop the on-hold audio to the caller's side.
    pub caller_music: Option<bool>,
    /// Start (`true`) or stop the on-hold audio to the side that took the call.
    pub callee_music: Option<bool>,
    /// `Some(by)`: the call went on hold; `None` with `resumed`: it talks again.
    pub held: Option<HoldBy>,
    pub resumed: bool,
}

impl Hold {
    /// Whether anyone holds the call.
    pub(super) fn held(&self) -> bool {
        self.caller || self.callee || self.api
    }

    pub(super) fn since_unix_ms(&self) -> Option<u64> {
        self.since_unix_ms
    }

    /// The side that took the call holds it (its phone or the API).
    fn callee_side(&self) -> bool {
        self.callee || self.api
    }

    /// The caller hears the on-hold audio: the other side holds, and the caller's own
    /// phone still listens.
    fn caller_music(&self) -> bool {
        self.callee_side() && !self.caller
    }

    fn callee_music(&self) -> bool {
        self.caller && !self.callee_side()
    }

    /// `by` holds (`on`) or resumes at `now_unix_ms`; what the media must do about it.
    /// Holding twice, or resuming what `by` did not hold, changes nothing.
    pub(super) fn set(&mut self, by: HoldBy, on: bool, now_unix_ms: u64) -> Change {
        let before = *self;
        match by {
            HoldBy::Caller => self.caller = on,
            HoldBy::Callee => self.callee = on,
            HoldBy::Api => self.api = on,
        }
        self.since_unix_ms = match (before.held(), self.held()) {
            (false, true) => Some(now_unix_ms),
            (_, false) => None,
            (true, true) => before.since_unix_ms,
        };
        let changed = |was: bool, is: bool| (was != is).then_some(is);
        Change {
            bridge: changed(!before.held(), !self.held()),
            caller_music: changed(before.caller_music(), self.caller_music()),
            callee_music: changed(before.callee_music(), self.callee_music()),
            held: (!before.held() && self.held()).then_some(by),
            resumed: before.held() && !self.held(),
        }
    }
}

impl Call {
    /// A re-INVITE from `side` was answered; `receives` says whether that phone still
    /// receives audio. The caller's (or a callback customer's) and the connected phone's
    /// hold or resume the call; any other leg's change nothing.
    pub(super) async fn phone_hold(&mut self, side: Side, receives: bool) {
        if self.phase != Phase::Talking {
            return;
        }
        let by = match side {
            Side::Caller => HoldBy::Caller,
            Side::Leg(i) if self.is_customer_leg(i) => HoldBy::Caller,
            Side::Leg(i) if self.winner == Some(i) => HoldBy::Callee,
            Side::Leg(_) | Side::Nobody => return,
        };
        self.set_hold(by, !receives).await;
    }

    /// The Calls API holds (`on`) or resumes the connected call.
    pub(super) async fn api_hold(&mut self, on: bool) -> Result<(), HoldError> {
        match self.phase {
            Phase::Ending => return Err(HoldError::Gone),
            Phase::Talking if self.winner.is_some() && self.b.is_some() => {}
            _ => return Err(HoldError::NotConnected),
        }
        self.set_hold(HoldBy::Api, on).await;
        Ok(())
    }

    /// Applies one change of who holds the call: unbridges or bridges the parties, starts
    /// or stops the on-hold audio on each side, says so in the events and the call list.
    pub(super) async fn set_hold(&mut self, by: HoldBy, on: bool) {
        let change = self.hold.set(by, on, unix_ms());
        if change == Change::default() {
            return;
        }
        let a = self.a.clone();
        let b = self.b.as_ref().map(|(e, _)| e.clone());
        let mut m = self.media_client();
        if change.bridge == Some(false)
            && let Some(a) = a.clone()
        {
            let r = media::EndpointRef { endpoint_id: a };
            if let Err(e) = rpc(self.timeout(), m.unbridge(r)).await {
                warn!(call = %self.id, error = %e, "cannot unbridge a held call");
            }
        }
        for (endpoint, music) in [
            (a.clone(), change.caller_music),
            (b.clone(), change.callee_music),
        ] {
            let (Some(endpoint), Some(music)) = (endpoint, music) else {
                continue;
            };
            if music {
                self.play_on_hold(endpoint).await;
            } else {
                let r = media::EndpointRef {
                    endpoint_id: endpoint,
                };
                if let Err(e) = rpc(self.timeout(), m.stop_play(r)).await {
                    debug!(call = %self.id, error = %e, "stopping the on-hold audio failed");
                }
            }
        }
        if change.bridge == Some(true)
            && let (Some(a), Some(b)) = (a, b)
        {
            let r = media::BridgeRequest {
                endpoint_id: a,
                other_endpoint_id: b,
            };
            if let Err(e) = rpc(self.timeout(), m.bridge(r)).await {
                warn!(call = %self.id, error = %e, "cannot bridge a resumed call again");
            }
        }
        let since = self.hold.since_unix_ms();
        self.ctx
            .registry
            .update(self.no(), |info| info.held_since_unix_ms = since);
        if let Some(by) = change.held {
            info!(call = %self.id, ?by, "call on hold");
            self.emit(CallEvent::Held {
                id: self.id.clone(),
                by,
            });
        }
        if change.resumed {
            info!(call = %self.id, "call resumed");
            self.emit(CallEvent::Resumed {
                id: self.id.clone(),
            });
        }
    }

    /// Plays the on-hold prompt and music to `endpoint`, looped; music alone should the
    /// media node lack the prompt.
    async fn play_on_hold(&mut self, endpoint: String) {
        let mut m = self.media_client();
        for prompts in [&ON_HOLD[..], &ON_HOLD[1..2]] {
            let request = media::PlayRequest {
                endpoint_id: endpoint.clone(),
                prompts: prompts.iter().map(|p| (*p).to_owned()).collect(),
                r#loop: true,
                barge_in: false,
            };
            match rpc(self.timeout(), m.play(request)).await {
                Ok(_) => return,
                Err(e) => warn!(call = %self.id, error = %e, "cannot play the on-hold audio"),
            }
        }
    }

    /// Forgets who held the call when it leaves its parties (a transfer): what played is
    /// replaced or goes with its endpoint. Says the call resumed if it was held.
    pub(super) fn clear_hold(&mut self) {
        if !self.hold.held() {
            return;
        }
        self.hold = Hold::default();
        self.ctx
            .registry
            .update(self.no(), |info| info.held_since_unix_ms = None);
        self.emit(CallEvent::Resumed {
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callee_hold_unbridges_and_plays_to_the_caller_until_resumed() {
        let mut hold = Hold::default();
        let held = hold.set(HoldBy::Callee, true, 1_000);
        assert_eq!(
            held,
            Change {
                bridge: Some(false),
                caller_music: Some(true),
                callee_music: None,
                held: Some(HoldBy::Callee),
                resumed: false,
            }
        );
        assert_eq!(hold.since_unix_ms(), Some(1_000));
        // A second hold (a session refresh while held) changes nothing.
        assert_eq!(hold.set(HoldBy::Callee, true, 2_000), Change::default());
        assert_eq!(hold.since_unix_ms(), Some(1_000));
        let resumed = hold.set(HoldBy::Callee, false, 3_000);
        assert_eq!(
            resumed,
            Change {
                bridge: Some(true),
                caller_music: Some(false),
                callee_music: None,
                held: None,
                resumed: true,
            }
        );
        assert_eq!(hold.since_unix_ms(), None);
        assert_eq!(hold, Hold::default());
    }

    #[test]
    fn a_caller_hold_plays_to_the_side_that_took_the_call() {
        let mut hold = Hold::default();
        let change = hold.set(HoldBy::Caller, true, 5);
        assert_eq!(change.callee_music, Some(true));
        assert_eq!(change.caller_music, None);
        assert_eq!(change.held, Some(HoldBy::Caller));
    }

    #[test]
    fn both_sides_must_resume_before_the_parties_talk_again() {
        let mut hold = Hold::default();
        hold.set(HoldBy::Callee, true, 1);
        // The caller holds too: nobody listens on either side, so the music stops.
        let both = hold.set(HoldBy::Caller, true, 2);
        assert_eq!(both.caller_music, Some(false));
        assert_eq!(both.callee_music, None, "the callee holds too");
        assert_eq!(both.bridge, None);
        assert_eq!(both.held, None, "already held");
        // The callee resumes: the caller still holds, so the callee hears the music.
        let one = hold.set(HoldBy::Callee, false, 3);
        assert_eq!(one.callee_music, Some(true));
        assert_eq!(one.bridge, None);
        assert!(!one.resumed);
        assert_eq!(hold.since_unix_ms(), Some(1), "held since the first hold");
        let none = hold.set(HoldBy::Caller, false, 4);
        assert_eq!(none.bridge, Some(true));
        assert_eq!(none.callee_music, Some(false));
        assert!(none.resumed);
    }

    #[test]
    fn the_api_and_the_phone_hold_independently() {
        let mut hold = Hold::default();
        hold.set(HoldBy::Api, true, 1);
        assert_eq!(hold.set(HoldBy::Callee, true, 2), Change::default());
        // The phone resumes; the API still holds.
        assert_eq!(hold.set(HoldBy::Callee, false, 3), Change::default());
        assert!(hold.held());
        // Resuming what nobody held changes nothing.
        assert_eq!(hold.set(HoldBy::Caller, false, 4), Change::default());
        let resumed = hold.set(HoldBy::Api, false, 5);
        assert!(resumed.resumed);
        assert_eq!(resumed.caller_music, Some(false));
    }
}
