//! The etcd v3 backend (etcd-client). The client balances over every endpoint given and
//! reconnects by itself; each request has a deadline so that a dead etcd is an
//! [`Error::Unavailable`] after at most that long, never a hang.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, PutOptions,
    Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::mpsc;

use crate::{
    Coordinator, Error, Event, Expect, KeyValue, LeaseId, Listing, Revision, Swap, WatchStream,
    Write, ttl_seconds,
};

/// Keys per page when listing a prefix (a page is one response, well under gRPC's 4 MiB).
const PAGE: i64 = 1000;
/// Watch batches buffered for a slow reader before etcd is back-pressured.
const WATCH_BUFFER: usize = 1024;

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

    async fn deadline<T>(
        &self,
        call: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| unavailable_after(self.timeout))?
            .map_err(convert)
    }

    async fn watch_stream(
        &self,
        prefix: &str,
        from: Revision,
    ) -> Result<etcd_client::WatchStream, Error> {
        let options = WatchOptions::new().with_prefix().with_start_revision(from);
        let mut client = self.client.watch_client();
        let mut stream = self.deadline(client.watch(prefix, Some(options))).await?;
        // The first response says whether the watch was created or refused (compacted).
        let first = self
            .deadline(stream.message())
            .await?
            .ok_or_else(|| Error::Unavailable("etcd closed the watch stream".into()))?;
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
        let mut kv = self.client.kv_client();
        let response = self.deadline(kv.get(key, None)).await?;
        response.kvs().first().map(key_value).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        let mut kv = self.client.kv_client();
        // Page by page at one revision, so the listing is one consistent snapshot.
        let first = self
            .deadline(kv.get(
                prefix,
                Some(GetOptions::new().with_prefix().with_limit(PAGE)),
            ))
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
            let page = self
                .deadline(
                    kv.get(
                        after(&last.key),
                        Some(
                            GetOptions::new()
                                .with_range(end)
                                .with_limit(PAGE)
                                .with_revision(revision),
                        ),
                    ),
                )
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
        let mut kv = self.client.kv_client();
        let response = self
            .deadline(kv.put(key, value, put_options(lease)))
            .await
            .map_err(|e| with_lease(e, lease))?;
        Ok(revision_of(response.header()))
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        let mut kv = self.client.kv_client();
        let response = self.deadline(kv.delete(key, None)).await?;
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
        let mut kv = self.client.kv_client();
        let response = self
            .deadline(kv.txn(txn))
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
        let mut lease = self.client.lease_client();
        let response = self.deadline(lease.grant(ttl_seconds(ttl), None)).await?;
        Ok(LeaseId(response.id()))
    }

    async fn keep_alive(&self, id: LeaseId) -> Result<(), Error> {
        let mut lease = self.client.lease_client();
        // One round trip on a fresh stream: the client checks the answered TTL (0: gone).
        self.deadline(lease.keep_alive(id.0))
            .await
            .map(drop)
            .map_err(|e| with_lease(e, Some(id)))
    }

    async fn revoke(&self, id: LeaseId) -> Result<(), Error> {
        let mut lease = self.client.lease_client();
        match self.deadline(lease.revoke(id.0)).await {
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
        let mut kv = self.client.kv_client();
        self.deadline(kv.compact(revision, None)).await.map(drop)
    }
}
