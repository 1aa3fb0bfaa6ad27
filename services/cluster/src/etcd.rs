//! The etcd v3 backend (etcd-client). The client balances over every endpoint given and
//! reconnects by itself; each request has a deadline so that a dead etcd is an
//! [`Error::Unavailable`] after at most that long, never a hang.
//!
//! Failing over between members is ours to do: etcd-client's channel (tonic's
//! power-of-two-choices balancer over lazily connected endpoints) keeps a dead member in
//! the rotation, and every request it sends there fails at once with "tcp connect error"
//! (with a SIGKILLed member of three, about one request in three). So a request that fails
//! is sent again, a few times within its deadline, as etcd's own Go client does: any request
//! that never left (no connection could be made), and a request that is safe to repeat
//! (reads, keep-alives, revokes, new watches) after any unavailability. A write that may
//! have reached etcd before the failure (a connection broken under it, a timeout) is not
//! repeated: its caller learns [`Error::Unavailable`] and decides.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, KvClient,
    LeaseClient, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::{
    Coordinator, Error, Event, Expect, KeyValue, LeaseId, Listing, Revision, Swap, WatchStream,
    Write, ttl_seconds,
};

/// Keys per page when listing a prefix (a page is one response, well under gRPC's 4 MiB).
const PAGE: i64 = 1000;
/// Watch batches buffered for a slow reader before etcd is back-pressured.
const WATCH_BUFFER: usize = 1024;
/// Attempts per request at most, all within the request's deadline.
const ATTEMPTS: u32 = 10;
/// The pause before the first retry; it doubles up to [`LAST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LAST_PAUSE: Duration = Duration::from_millis(250);

/// Whether a failed request may be sent again (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Doing it twice is doing it once: retried after any unavailability.
    Repeatable,
    /// A write: retried only when it was never sent.
    Unsent,
}

/// A coordinator backed by an etcd cluster.
#[derive(Clone)]
pub struct EtcdCoordinator {
    client: Client,
    timeout: Duration,
    endpoints: Vec<String>,
}

impl std::fmt::Debug for EtcdCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdCoordinator")
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl EtcdCoordinator {
    /// Connects to the etcd cluster at `endpoints` (`http://host:port`; a bare `host:port`
    /// is taken as http). Fails when none of them answers within `timeout`.
    pub async fn connect(endpoints: &[String], timeout: Duration) -> Result<Self, Error> {
        if endpoints.is_empty() {
            return Err(Error::Invalid("no etcd endpoint given".into()));
        }
        let endpoints: Vec<String> = endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let options = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_timeout(timeout)
            // A silently dead peer (no RST) ends streams within a few seconds.
            .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2))
            .with_keep_alive_while_idle(true);
        let client = tokio::time::timeout(timeout, Client::connect(&endpoints, Some(options)))
            .await
            .map_err(|_| unavailable_after(timeout))?
            .map_err(convert)?;
        let coordinator = Self {
            client,
            timeout,
            endpoints,
        };
        // The client connects lazily: ask once so that a wrong address fails here.
        coordinator.list("/cc/ping-does-not-exist").await?;
        Ok(coordinator)
    }

    /// Runs `attempt` until it succeeds, fails in a way `retry` does not repeat, or the
    /// deadline (`timeout` from now, for all attempts together) passes; [`ATTEMPTS`] times
    /// at most.
    async fn request<T, F, Fut>(&self, retry: Retry, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut pause = FIRST_PAUSE;
        let mut attempts = 1;
        loop {
            let error = match tokio::time::timeout_at(deadline, attempt()).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(e)) => e,
                Err(_) => return Err(unavailable_after(self.timeout)),
            };
            let again = match retry {
                Retry::Repeatable => unavailable(&error),
                Retry::Unsent => never_sent(&error),
            };
            if !again || attempts >= ATTEMPTS || Instant::now() + pause >= deadline {
                return Err(convert(error));
            }
            tracing::debug!(error = %error, attempts, "etcd request failed; sending it again");
            // A member that refused the connection costs nothing: the next attempt goes out
            // at once (perhaps to another member). Anything else pauses, doubling.
            if !never_sent(&error) {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_PAUSE);
            }
            attempts += 1;
        }
    }

    /// [`Self::request`] with a fresh KV client for each attempt.
    async fn kv<T, Fut>(&self, retry: Retry, attempt: impl Fn(KvClient) -> Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.request(retry, || attempt(self.client.kv_client()))
            .await
    }

    /// [`Self::request`] with a fresh lease client for each attempt.
    async fn lease<T, Fut>(
        &self,
        retry: Retry,
        attempt: impl Fn(LeaseClient) -> Fut,
    ) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.request(retry, || attempt(self.client.lease_client()))
            .await
    }

    async fn watch_stream(
        &self,
        prefix: &str,
        from: Revision,
    ) -> Result<etcd_client::WatchStream, Error> {
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        // The first response says whether the watch was created or refused (compacted).
        let (stream, first) = self
            .request(Retry::Repeatable, || {
                let mut client = self.client.watch_client();
                let options = options.clone();
                async move {
                    let mut stream = client.watch(prefix, Some(options)).await?;
                    let first = stream.message().await?;
                    Ok((stream, first))
                }
            })
            .await?;
        let first =
            first.ok_or_else(|| Error::Unavailable("etcd closed the watch stream".into()))?;
        if first.compact_revision() > 0 {
            return Err(Error::Compacted {
                requested: from,
                oldest: first.compact_revision(),
            });
        }
        if first.canceled() {
            return Err(Error::Unavailable(format!(
                "etcd refused the watch: {}",
                first.cancel_reason()
            )));
        }
        Ok(stream)
    }
}

fn unavailable_after(timeout: Duration) -> Error {
    Error::Unavailable(format!("etcd did not answer within {timeout:?}"))
}

/// True when the error (a gRPC status, or the client's own transport error) was caused by
/// an `E` somewhere in its chain of sources.
fn caused_by<E: std::error::Error + 'static>(e: &etcd_client::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = match e {
        etcd_client::Error::GRpcStatus(status) => Some(status),
        etcd_client::Error::TransportError(error) => Some(error),
        _ => None,
    };
    while let Some(error) = source {
        if error.is::<E>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// True when the request never left: no connection to the member it was given to could be
/// made (tonic answers the request with the failed connect).
fn never_sent(e: &etcd_client::Error) -> bool {
    caused_by::<tonic::ConnectError>(e)
}

/// True when the failure is etcd, or the way to it, being unavailable for now (a dead
/// member, a connection broken under the request, no leader yet), not an answer to the
/// request itself.
fn unavailable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(status) if status.code() == tonic::Code::Unavailable => true,
        // A broken connection ("transport error") comes as Unknown, caused by the transport.
        _ => caused_by::<tonic::transport::Error>(e),
    }
}

fn convert(e: etcd_client::Error) -> Error {
    match e {
        etcd_client::Error::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("lease not found") {
                // The id is not in the status; callers that know it put it back.
                Error::LeaseNotFound(LeaseId(0))
            } else if message.contains("compacted") {
                Error::Compacted {
                    requested: 0,
                    oldest: 0,
                }
            } else if status.code() == tonic::Code::InvalidArgument {
                Error::Invalid(message.to_owned())
            } else {
                Error::Unavailable(format!("etcd: {message}"))
            }
        }
        etcd_client::Error::LeaseKeepAliveError(m) if m.contains("not found") => {
            Error::LeaseNotFound(LeaseId(0))
        }
        etcd_client::Error::InvalidArgs(m) => Error::Invalid(m),
        other => Error::Unavailable(format!("etcd: {other}")),
    }
}

/// Puts the lease id into a [`Error::LeaseNotFound`] that came without one.
fn with_lease(e: Error, lease: Option<LeaseId>) -> Error {
    match (e, lease) {
        (Error::LeaseNotFound(_), Some(id)) => Error::LeaseNotFound(id),
        (e, _) => e,
    }
}

fn key_value(kv: &etcd_client::KeyValue) -> Result<KeyValue, Error> {
    let key = kv
        .key_str()
        .map_err(|_| Error::Invalid("a key in etcd is not UTF-8".into()))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
    })
}

fn put_options(lease: Option<LeaseId>) -> Option<PutOptions> {
    lease.map(|id| PutOptions::new().with_lease(id.0))
}

/// The smallest key after every key that starts with `key` (etcd's prefix range end).
fn after(key: &str) -> Vec<u8> {
    let mut next = key.as_bytes().to_vec();
    next.push(0);
    next
}

fn revision_of(header: Option<&etcd_client::ResponseHeader>) -> Revision {
    header.map_or(0, etcd_client::ResponseHeader::revision)
}

#[async_trait::async_trait]
impl Coordinator for EtcdCoordinator {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        let response = self
            .kv(Retry::Repeatable, |mut kv| async move {
                kv.get(key, None).await
            })
            .await?;
        response.kvs().first().map(key_value).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        // Page by page at one revision, so the listing is one consistent snapshot.
        let first = self
            .kv(Retry::Repeatable, |mut kv| async move {
                let options = GetOptions::new().with_prefix().with_limit(PAGE);
                kv.get(prefix, Some(options)).await
            })
            .await?;
        let revision = revision_of(first.header());
        let mut kvs = first
            .kvs()
            .iter()
            .map(key_value)
            .collect::<Result<Vec<_>, _>>()?;
        let mut more = first.more();
        while more && let Some(last) = kvs.last() {
            let end = {
                let mut end = prefix.as_bytes().to_vec();
                // The prefix range end: the prefix with its last byte incremented.
                match end.iter().rposition(|&b| b < 0xff) {
                    Some(i) => {
                        end[i] += 1;
                        end.truncate(i + 1);
                    }
                    None => end = vec![0],
                }
                end
            };
            let (from, end) = (&after(&last.key), &end);
            let page = self
                .kv(Retry::Repeatable, |mut kv| async move {
                    let options = GetOptions::new()
                        .with_range(end.clone())
                        .with_limit(PAGE)
                        .with_revision(revision);
                    kv.get(from.clone(), Some(options)).await
                })
                .await?;
            more = page.more();
            for kv in page.kvs() {
                kvs.push(key_value(kv)?);
            }
        }
        Ok(Listing { revision, kvs })
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error> {
        if key.is_empty() {
            return Err(Error::Invalid("empty key".into()));
        }
        let value = &value;
        let response = self
            .kv(Retry::Unsent, |mut kv| async move {
                kv.put(key, value.clone(), put_options(lease)).await
            })
            .await
            .map_err(|e| with_lease(e, lease))?;
        Ok(revision_of(response.header()))
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        let response = self
            .kv(
                Retry::Unsent,
                |mut kv| async move { kv.delete(key, None).await },
            )
            .await?;
        Ok(response.deleted() > 0)
    }

    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        if key.is_empty() {
            return Err(Error::Invalid("empty key".into()));
        }
        let compare = match expect {
            // A key that does not exist has create revision 0.
            Expect::Absent => Compare::create_revision(key, CompareOp::Equal, 0),
            Expect::ModRevision(r) => Compare::mod_revision(key, CompareOp::Equal, r),
        };
        let (op, lease) = match write {
            Write::Put { value, lease } => (TxnOp::put(key, value, put_options(lease)), lease),
            Write::Delete => (TxnOp::delete(key, None::<DeleteOptions>), None),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([op])
            .or_else([TxnOp::get(key, None)]);
        let txn = &txn;
        let response = self
            .kv(
                Retry::Unsent,
                |mut kv| async move { kv.txn(txn.clone()).await },
            )
            .await
            .map_err(|e| with_lease(e, lease))?;
        if response.succeeded() {
            return Ok(Swap::Done(revision_of(response.header())));
        }
        let current = response
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                TxnOpResponse::Get(get) => Some(get),
                _ => None,
            })
            .and_then(|get| get.kvs().first().map(key_value))
            .transpose()?;
        Ok(Swap::Conflict(current))
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        // Repeated even when the first try may have reached etcd: a lease granted twice
        // leaves one nobody keeps alive, which expires by itself after `ttl`.
        let response = self
            .lease(Retry::Repeatable, |mut lease| async move {
                lease.grant(ttl_seconds(ttl), None).await
            })
            .await?;
        Ok(LeaseId(response.id()))
    }

    async fn keep_alive(&self, id: LeaseId) -> Result<(), Error> {
        // One round trip on a fresh stream: the client checks the answered TTL (0: gone).
        self.lease(Retry::Repeatable, |mut lease| async move {
            lease.keep_alive(id.0).await
        })
        .await
        .map(drop)
        .map_err(|e| with_lease(e, Some(id)))
    }

    async fn revoke(&self, id: LeaseId) -> Result<(), Error> {
        let revoked = self
            .lease(Retry::Repeatable, |mut lease| async move {
                lease.revoke(id.0).await
            })
            .await;
        match revoked {
            Ok(_) | Err(Error::LeaseNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error> {
        let mut stream = self.watch_stream(prefix, from).await?;
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    message = stream.message() => message,
                    () = tx.closed() => return,
                };
                let response = match message {
                    Ok(Some(response)) => response,
                    Ok(None) => {
                        let _ = tx
                            .send(Err(Error::Unavailable("etcd ended the watch".into())))
                            .await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(convert(e))).await;
                        return;
                    }
                };
                if response.compact_revision() > 0 {
                    let _ = tx
                        .send(Err(Error::Compacted {
                            requested: from,
                            oldest: response.compact_revision(),
                        }))
                        .await;
                    return;
                }
                if response.canceled() {
                    let reason = response.cancel_reason().to_owned();
                    let _ = tx
                        .send(Err(Error::Unavailable(format!(
                            "etcd cancelled the watch: {reason}"
                        ))))
                        .await;
                    return;
                }
                let events: Result<Vec<Event>, Error> = response
                    .events()
                    .iter()
                    .filter_map(|event| {
                        let kv = event.kv()?;
                        Some(match event.event_type() {
                            EventType::Put => key_value(kv).map(Event::Put),
                            EventType::Delete => key_value(kv).map(|kv| Event::Delete {
                                key: kv.key,
                                mod_revision: kv.mod_revision,
                            }),
                        })
                    })
                    .collect();
                match events {
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => {
                        if tx.send(Ok(events)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(WatchStream::new(rx))
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        // Not repeated: compacting twice fails the second time ("already compacted").
        self.kv(Retry::Unsent, |mut kv| async move {
            kv.compact(revision, None).await
        })
        .await
        .map(drop)
    }
}
