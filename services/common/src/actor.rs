//! Helpers for the actors that own a sans-IO core: the time on tokio's clock (so
//! `tokio::time::pause` drives the core in tests) and one timer kept armed for the core's
//! next deadline.

use std::time::Instant;

use ractor::concurrency::JoinHandle;
use ractor::{ActorRef, Message, MessagingErr};

/// Now, on tokio's clock.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The task that sends a timer's message.
type Sender<M> = JoinHandle<Result<(), MessagingErr<M>>>;

/// One timer that sends the actor a message at its owner's next deadline. Re-arming to
/// the same deadline keeps it; a different one (earlier or later) replaces it, so the actor
/// never sleeps past a new earlier deadline.
#[derive(Debug)]
pub struct DeadlineTimer<M: Message> {
    armed: Option<(Instant, Sender<M>)>,
}

impl<M: Message> Default for DeadlineTimer<M> {
    fn default() -> Self {
        DeadlineTimer { armed: None }
    }
}

impl<M: Message> DeadlineTimer<M> {
    /// Arms for `next` (or disarms on `None`); `message(at)` is sent at `at`.
    pub fn arm(
        &mut self,
        myself: &ActorRef<M>,
        next: Option<Instant>,
        message: impl FnOnce(Instant) -> M + Send + 'static,
    ) {
        if self.armed.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        self.cancel();
        if let Some(at) = next {
            let delay = tokio::time::Instant::from_std(at)
                .saturating_duration_since(tokio::time::Instant::now());
            let handle = myself.send_after(delay, move || message(at));
            self.armed = Some((at, handle));
        }
    }

    /// The timer for `at` fired: forget it (a stale firing for another deadline is kept).
    pub fn fired(&mut self, at: Instant) {
        if self.armed.as_ref().is_some_and(|(armed, _)| *armed == at) {
            self.armed = None;
        }
    }

    pub fn cancel(&mut self) {
        if let Some((_, handle)) = self.armed.take() {
            handle.abort();
        }
    }
}
