//! A scheduler leader as the service will run it, minus the actor: a core and its store,
//! with the output loop that writes every record before acting on it.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use cc_callback::core::{
    AlwaysOpen, CallbackCore, CallbackError, CallbackId, CoreConfig, Dispatch, LeaderToken, Output,
    Restored, Timestamp,
};
use cc_callback::{CallbackStore, StoreError, Written};
use cc_cluster::Coordinator;

/// 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000;

/// `secs` after `T0`.
pub fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix_ms(T0).saturating_add(Duration::from_secs(secs))
}

/// What one round of the output loop did.
#[derive(Debug, Default)]
pub struct Pumped {
    /// Attempts whose dispatch was written: dial them.
    pub dial: Vec<Dispatch>,
    /// Callbacks whose write found another leader's record (taken by the core instead).
    pub conflicts: Vec<CallbackId>,
}

/// A leader: core + store under one token.
#[derive(Debug)]
pub struct Leader {
    pub core: CallbackCore,
    pub store: CallbackStore,
}

impl Leader {
    /// A new leader restored from what `coordinator` holds.
    pub async fn elect(
        coordinator: Arc<dyn Coordinator>,
        token: LeaderToken,
        config: CoreConfig,
        now: Timestamp,
    ) -> (Self, Restored) {
        let mut store = CallbackStore::new(coordinator, token);
        let loaded = store.load_all().await.unwrap();
        assert_eq!(loaded.skipped, 0);
        let mut core = CallbackCore::new(config, token, AlwaysOpen);
        let restored = core.handle_restore(now, loaded.records).unwrap();
        (Self { core, store }, restored)
    }

    /// Writes every output, in order, and says what to dial. `Err` when a newer leader has
    /// written (this one must stop).
    pub async fn pump(&mut self, now: Timestamp) -> Result<Pumped, LeaderToken> {
        let mut pumped = Pumped::default();
        while let Some(output) = self.core.poll_output() {
            let id = output.record().id.clone();
            let stored = match self.store.write(output.record()).await {
                Ok(Written::Done) => {
                    if let Output::Dispatch(d) = output {
                        pumped.dial.push(d);
                    }
                    continue;
                }
                Ok(Written::Conflict(stored)) => stored.map(|r| *r),
                Err(StoreError::Fenced { by }) => return Err(by),
                Err(StoreError::Unavailable(_)) => match self.store.read(&id).await {
                    Ok(stored) => stored,
                    Err(StoreError::Fenced { by }) => return Err(by),
                    Err(e) => panic!("{e}"),
                },
                Err(e) => panic!("{e}"),
            };
            pumped.conflicts.push(id.clone());
            match self.core.handle_stored(now, &id, stored) {
                Ok(()) | Err(CallbackError::InvalidRecord { .. }) => {}
                Err(CallbackError::Fenced { by }) => return Err(by),
                Err(e) => panic!("{e}"),
            }
        }
        Ok(pumped)
    }
}
