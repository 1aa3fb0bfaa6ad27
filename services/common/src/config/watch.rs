//! The configuration as its consumers follow it: a `watch` of whole, validated snapshots.
//! The configuration store (cc-config) publishes a new snapshot for every accepted change;
//! routing, queue and presence read the latest one and rebuild what they derive from it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Config;
use crate::Shutdown;

/// The latest configuration snapshot and the news of the next one.
pub type ConfigWatch = watch::Receiver<Arc<Config>>;

/// A watch of a configuration that never changes (tests, single-service processes without a
/// store): `borrow()` gives `config`, `changed()` ends at once.
pub fn fixed(config: Config) -> ConfigWatch {
    watch::channel(Arc::new(config)).1
}

/// How a consumer fared applying a snapshot in [`follow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied; wait for the next change.
    Done,
    /// Not applied this time (the consumer was busy or slow): try the latest snapshot again
    /// after [`RETRY_AFTER`].
    Retry,
    /// The consumer is gone: stop following.
    Stop,
}

/// The pause before a snapshot that could not be applied is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Hands every later snapshot of `config` to `apply` until the source or the consumer goes
/// away or shutdown. The snapshot current when this is called counts as applied (the
/// consumer was built from it). Snapshots that arrive while one is being applied collapse
/// into the latest: consumers rebuild from the whole configuration, so none is missed.
pub async fn follow<F, Fut>(mut config: ConfigWatch, mut shutdown: Shutdown, mut apply: F)
where
    F: FnMut(Arc<Config>) -> Fut,
    Fut: Future<Output = Applied>,
{
    config.borrow_and_update();
    loop {
        tokio::select! {
            changed = config.changed() => if changed.is_err() { return },
            () = shutdown.wait() => return,
        }
        loop {
            let latest = config.borrow_and_update().clone();
            match apply(latest).await {
                Applied::Done => break,
                Applied::Stop => return,
                Applied::Retry => tokio::select! {
                    () = tokio::time::sleep(RETRY_AFTER) => {}
                    () = shutdown.wait() => return,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEMO_TOML;

    #[tokio::test]
    async fn a_fixed_watch_keeps_its_value_and_never_changes() {
        let mut rx = fixed(Config::from_toml(DEMO_TOML).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(rx.borrow().employees.len(), 3);
        assert!(rx.changed().await.is_err());
        assert_eq!(rx.borrow().employees.len(), 3);
    }
}

#[cfg(test)]
mod follow_tests {
    use std::sync::Mutex;

    use super::*;
    use crate::config::DEMO_TOML;

    fn demo() -> Config {
        Config::from_toml(DEMO_TOML).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test(start_paused = true)]
    async fn every_later_snapshot_is_applied_and_a_failed_one_is_retried() {
        let (publish, watch) = watch::channel(Arc::new(demo()));
        let (trigger, shutdown) = Shutdown::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut failures = 1;
        let task = tokio::spawn(follow(watch, shutdown, move |config: Arc<Config>| {
            let outcome = if failures > 0 {
                failures -= 1;
                Applied::Retry
            } else {
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(config.employees.len());
                Applied::Done
            };
            async move { outcome }
        }));
        tokio::task::yield_now().await;
        let mut next = demo();
        next.employees.pop();
        publish.send_replace(Arc::new(next));
        tokio::time::sleep(RETRY_AFTER * 2).await;
        assert_eq!(*seen.lock().unwrap_or_else(|e| e.into_inner()), [2]);
        trigger.trigger();
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
