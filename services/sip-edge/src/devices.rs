//! Tells presence which phones are registered: follows this node's registrar events and
//! reports each one over `cc.presence.internal.v1.PresenceControl` (DeviceRegistered /
//! DeviceGone with the extension and the contact; presence finds the agent) to the owner of
//! the presence shard of the agent whose extension it is (as this node's configuration
//! says; shard 0 for an extension that is no agent's). Presence may be another process
//! that is slow, down or restarted, so a report is retried until it goes through, and the
//! node's registrations are re-sent in full ("seeded") at start, after this task missed
//! events and after presence was unreachable (a restarted presence has forgotten every
//! device); when some shards get a new owner node, only the phones of those shards' agents
//! are sent again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cc_cluster::{Owner, ShardRoutes, keys};
use cc_common::{Config, Shutdown};
use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_client::PresenceControlClient;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::EdgeHandle;
use crate::registrar::RegistrarEvent;
use crate::shards::{OwnerTokens, extension_shard};

/// The first retry comes this soon after a failure; each further one waits twice as long,
/// up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// One registered phone: the extension it registered for and its contact (the registrar's
/// binding key, which presence uses as the device id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Phone {
    pub(crate) extension: String,
    pub(crate) contact: String,
}

/// Presence as the phones see it: a channel to the owner of each shard, and the
/// configuration that says whose extension is whose (read at each attempt, so a report
/// follows a change of it).
#[derive(Debug, Clone)]
pub(crate) struct PhonePresence {
    pub(crate) routes: ShardRoutes,
    pub(crate) config: watch::Receiver<Arc<Config>>,
}

impl PhonePresence {
    /// The shard that answers for the phones of `extension`.
    fn shard(&self, extension: &str) -> u32 {
        extension_shard(&self.config.borrow(), extension)
    }

    /// Presence at the owner of the shard of `extension`.
    fn client(&self, extension: &str) -> PresenceControlClient<Channel> {
        PresenceControlClient::new(self.routes.get(self.shard(extension)))
    }

    /// Of `phones`, the ones whose shard is in `shards`.
    fn in_shards<'a>(
        &self,
        phones: impl IntoIterator<Item = &'a Phone>,
        shards: &BTreeSet<u32>,
    ) -> HashSet<Phone> {
        phones_in_shards(&self.config.borrow(), phones, shards)
    }
}

/// Of `phones`, the ones whose extension's presence shard (as `config` says) is in
/// `shards`: the ones a new owner of those shards must be told about.
pub(crate) fn phones_in_shards<'a>(
    config: &Config,
    phones: impl IntoIterator<Item = &'a Phone>,
    shards: &BTreeSet<u32>,
) -> HashSet<Phone> {
    phones
        .into_iter()
        .filter(|p| shards.contains(&extension_shard(config, &p.extension)))
        .cloned()
        .collect()
}

/// Every presence shard.
fn all_shards() -> BTreeSet<u32> {
    (0..keys::PRESENCE_SHARDS).collect()
}

/// Starts the reporter; it ends on shutdown or when the SIP core stops. `events` must be
/// subscribed before the first registration can happen (or the seed misses it). `owners`
/// names each presence shard's owner: a shard with a new one gets its phones again.
pub(crate) fn spawn(
    edge: EdgeHandle,
    events: broadcast::Receiver<RegistrarEvent>,
    presence: PhonePresence,
    mut owners: watch::Receiver<BTreeMap<String, Owner>>,
    node: String,
    timeout: Duration,
    mut shutdown: Shutdown,
) {
    let registrations = move || {
        let edge = edge.clone();
        async move {
            let all = edge.registrations().await.ok()?;
            Some(
                all.into_iter()
                    .flat_map(|(extension, bindings)| {
                        bindings.into_iter().map(move |b| Phone {
                            extension: extension.clone(),
                            contact: b.key,
                        })
                    })
                    .collect(),
            )
        }
    };
    let tokens = OwnerTokens::new(&owners.borrow_and_update());
    let mut reporter = Reporter {
        presence,
        timeout,
        told: HashSet::new(),
        tokens,
        moved: Some(owners),
        node,
    };
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.wait() => {}
            () = reporter.run(registrations, events) => {}
        }
    });
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Report {
    Registered,
    Gone,
}

/// How a report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Presence took it at the first attempt (or refused it for good).
    Delivered,
    /// Presence took it after being unreachable or slow: it may have restarted meanwhile.
    AfterOutage,
}

/// Reports this node's phones to presence (see the module docs).
pub(crate) struct Reporter {
    pub(crate) presence: PhonePresence,
    pub(crate) timeout: Duration,
    /// The phones presence was told are registered (what a seed must take back if gone).
    pub(crate) told: HashSet<Phone>,
    /// Who owns each presence shard: a new owner starts knowing none of the shard's
    /// phones, so the shard gets a seed.
    pub(crate) moved: Option<watch::Receiver<BTreeMap<String, Owner>>>,
    /// The owner tokens `moved` had when last looked at.
    pub(crate) tokens: OwnerTokens,
    /// This node's name in the cluster: the phones registered here go when it goes.
    pub(crate) node: String,
}

impl Reporter {
    /// Seeds, then reports every event; seeds again when events were missed or presence was
    /// out of reach, and seeds the shards that get a new owner. Returns when the SIP core
    /// stops.
    pub(crate) async fn run<R, F>(
        &mut self,
        registrations: R,
        mut events: broadcast::Receiver<RegistrarEvent>,
    ) where
        R: Fn() -> F,
        F: Future<Output = Option<HashSet<Phone>>>,
    {
        // The shards to seed before the next event.
        let mut seed = all_shards();
        loop {
            while !seed.is_empty() {
                let Some(now) = registrations().await else {
                    return;
                };
                // A seed interrupted by an outage may have reached a presence that then
                // restarted: until one goes through cleanly, seed everything again.
                seed = match self.seed(now, &seed).await {
                    Outcome::Delivered => BTreeSet::new(),
                    Outcome::AfterOutage => all_shards(),
                };
            }
            let event = match self.moved.as_mut() {
                Some(moved) => tokio::select! {
                    event = events.recv() => event,
                    changed = moved.changed() => {
                        if changed.is_ok() {
                            seed = self.tokens.moved(&moved.borrow_and_update());
                            if !seed.is_empty() {
                                tracing::info!(shards = ?seed, "presence shards have a new owner; sending it their registrations");
                            }
                        } else {
                            self.moved = None;
                        }
                        continue;
                    }
                },
                None => events.recv().await,
            };
            let outcome = match event {
                Ok(RegistrarEvent::DeviceRegistered { aor, contact, .. }) => {
                    let phone = Phone {
                        extension: aor,
                        contact,
                    };
                    self.told.insert(phone.clone());
                    self.report(Report::Registered, &phone).await
                }
                Ok(RegistrarEvent::DeviceGone { aor, contact, .. }) => {
                    let phone = Phone {
                        extension: aor,
                        contact,
                    };
                    self.told.remove(&phone);
                    self.report(Report::Gone, &phone).await
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "presence missed device events; re-sending the registrations"
                    );
                    seed = all_shards();
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if outcome == Outcome::AfterOutage {
                tracing::info!("presence is back; re-sending the registrations");
                seed = all_shards();
            }
        }
    }

    /// Makes the view of `shards` of this node's phones `now`: of the phones of those
    /// shards, the ones presence was told about that are gone (their events were missed)
    /// are reported gone, every current one registered.
    async fn seed(&mut self, now: HashSet<Phone>, shards: &BTreeSet<u32>) -> Outcome {
        let mut outcome = Outcome::Delivered;
        let now = self.presence.in_shards(&now, shards);
        let told = self.presence.in_shards(&self.told, shards);
        for phone in told.difference(&now) {
            if self.report(Report::Gone, phone).await == Outcome::AfterOutage {
                outcome = Outcome::AfterOutage;
            }
        }
        for phone in &now {
            if self.report(Report::Registered, phone).await == Outcome::AfterOutage {
                outcome = Outcome::AfterOutage;
            }
        }
        tracing::debug!(
            phones = now.len(),
            ?shards,
            "registrations sent to presence"
        );
        self.told.retain(|p| !told.contains(p));
        self.told.extend(now);
        outcome
    }

    /// Sends one report until presence takes it or refuses it for good.
    async fn report(&self, report: Report, phone: &Phone) -> Outcome {
        let mut retry = FIRST_RETRY;
        let mut outcome = Outcome::Delivered;
        loop {
            let error = match self.attempt(report, phone).await {
                Ok(true) => {
                    tracing::debug!(extension = phone.extension, ?report, "presence: device");
                    return outcome;
                }
                Ok(false) => {
                    tracing::debug!(
                        extension = phone.extension,
                        ?report,
                        "presence: not an agent's extension"
                    );
                    return outcome;
                }
                Err(e) if !transient(e.code()) => {
                    tracing::warn!(extension = phone.extension, ?report, error = %e, "presence refused a device");
                    return outcome;
                }
                Err(e) => e,
            };
            if outcome == Outcome::Delivered {
                tracing::warn!(extension = phone.extension, ?report, error = %error, "presence unreachable; retrying");
            }
            outcome = Outcome::AfterOutage;
            tokio::time::sleep(retry).await;
            retry = retry.saturating_mul(2).min(MAX_RETRY);
        }
    }

    /// One attempt: whether the extension is an agent's.
    async fn attempt(&self, report: Report, phone: &Phone) -> Result<bool, Status> {
        let request = pb::DeviceRequest {
            extension: phone.extension.clone(),
            contact: phone.contact.clone(),
            edge_node: self.node.clone(),
        };
        let mut presence = self.presence.client(&phone.extension);
        let answer = async move {
            match report {
                Report::Registered => presence.device_registered(request).await,
                Report::Gone => presence.device_gone(request).await,
            }
        };
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(answered) => Ok(answered?.into_inner().agent),
            Err(_) => Err(Status::deadline_exceeded("presence did not answer in time")),
        }
    }
}

/// Whether a failure may go away by itself (presence restarting, overloaded or slow). Any
/// other refusal would be refused again: retrying it would only hold up the reports behind.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted
    )
}

#[cfg(test)]
mod tests;
