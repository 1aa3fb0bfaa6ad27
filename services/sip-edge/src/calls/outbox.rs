//! What a call owes other services and must not be lost: the queue's and presence's view
//! of the call (abandoned, rejected, answered, ended; ringing, on call, ended). A call sends
//! these through its outbox: in order, without waiting (the call goes on), retried with
//! back-off while the service is unavailable or slow. Each operation is idempotent on the
//! receiving side: a repeat of one that was applied is refused as stale, which ends it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Code;

/// One delivery attempt.
pub(crate) type Attempt =
    Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>> + Send>;

struct Note {
    what: &'static str,
    attempt: Attempt,
}

/// Attempts per notification: 0.25 s doubling to 8 s between them, about 30 s in all.
const ATTEMPTS: u32 = 8;
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);

/// A call's ordered, retrying sender of notifications.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Note>,
}

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

impl Outbox {
    /// Starts the sender of `call`; it ends once the outbox is dropped and emptied.
    pub(crate) fn start(call: String, timeout: Duration) -> Outbox {
        let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
        tokio::spawn(async move {
            while let Some(note) = rx.recv().await {
                deliver(&call, timeout, note).await;
            }
        });
        Outbox { tx }
    }

    pub(crate) fn push(&self, what: &'static str, attempt: Attempt) {
        let _ = self.tx.send(Note { what, attempt });
    }
}

/// Whether a failure may go away by itself (the service restarting, overloaded or slow).
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
    )
}

async fn deliver(call: &str, timeout: Duration, mut note: Note) {
    let mut delay = FIRST_DELAY;
    for attempt in 1..=ATTEMPTS {
        let error = match tokio::time::timeout(timeout, (note.attempt)()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) if !transient(e.code()) => {
                tracing::debug!(call, what = note.what, error = %e, "not taken");
                return;
            }
            Ok(Err(e)) => e,
            Err(_) => tonic::Status::deadline_exceeded("no answer in time"),
        };
        if attempt == ATTEMPTS {
            tracing::warn!(call, what = note.what, error = %error, "given up after {ATTEMPTS} attempts");
            return;
        }
        tracing::debug!(call, what = note.what, error = %error, attempt, "retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn counting(
        fails: u32,
        code: Code,
        calls: Arc<AtomicU32>,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Attempt {
        let mut done = done;
        Box::new(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let result = if n <= fails {
                Err(tonic::Status::new(code, "no"))
            } else {
                if let Some(d) = done.take() {
                    let _ = d.send(());
                }
                Ok(())
            };
            Box::pin(async move { result })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_is_retried_until_it_goes_through_and_order_is_kept() {
        let outbox = Outbox::start("c1".into(), Duration::from_secs(2));
        let first = Arc::new(AtomicU32::new(0));
        let second = Arc::new(AtomicU32::new(0));
        let (done, finished) = tokio::sync::oneshot::channel();
        outbox.push("first", counting(3, Code::Unavailable, first.clone(), None));
        outbox.push("second", counting(0, Code::Ok, second.clone(), Some(done)));
        finished.await.unwrap();
        assert_eq!(first.load(Ordering::SeqCst), 4);
        assert_eq!(
            second.load(Ordering::SeqCst),
            1,
            "sent once, after the first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let outbox = Outbox::start("c1".into(), Duration::from_secs(2));
        let tries = Arc::new(AtomicU32::new(0));
        let (done, finished) = tokio::sync::oneshot::channel();
        outbox.push(
            "stale",
            counting(1, Code::FailedPrecondition, tries.clone(), None),
        );
        outbox.push(
            "next",
            counting(0, Code::Ok, Arc::new(AtomicU32::new(0)), Some(done)),
        );
        finished.await.unwrap();
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_never_answers_is_given_up_on() {
        let outbox = Outbox::start("c1".into(), Duration::from_secs(2));
        let tries = Arc::new(AtomicU32::new(0));
        let (done, finished) = tokio::sync::oneshot::channel();
        outbox.push(
            "down",
            counting(u32::MAX, Code::Unavailable, tries.clone(), None),
        );
        outbox.push(
            "after",
            counting(0, Code::Ok, Arc::new(AtomicU32::new(0)), Some(done)),
        );
        finished.await.unwrap();
        assert_eq!(tries.load(Ordering::SeqCst), ATTEMPTS);
    }
}
