//! A coordinator seen through a key prefix, so that several clusters (a test and a staging
//! cluster, two tenants) share one etcd without seeing each other: every key the cluster
//! uses (`/cc/...`) is stored under the prefix, and comes back without it.

use std::sync::Arc;
use std::time::Duration;

use crate::{
    Coordinator, Error, Event, Expect, KeyValue, LeaseId, Listing, Revision, Swap, WatchStream,
    Write,
};

/// `inner`, with every key under `prefix`.
#[derive(Debug)]
pub struct Namespaced {
    inner: Arc<dyn Coordinator>,
    prefix: String,
}

impl Namespaced {
    /// Keys live under `prefix` (e.g. `/acme`: the cluster's `/cc/config/...` is stored at
    /// `/acme/cc/config/...`). The prefix must start with `/` and not end with one.
    pub fn new(inner: Arc<dyn Coordinator>, prefix: &str) -> Result<Self, Error> {
        if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.len() < 2 {
            return Err(Error::Invalid(format!(
                "key prefix {prefix:?}: must start with '/', not end with one, and name something (e.g. \"/acme\")"
            )));
        }
        Ok(Self {
            inner,
            prefix: prefix.to_owned(),
        })
    }

    fn outer(&self, prefix: &str) -> String {
        format!("{}{prefix}", self.prefix)
    }

    /// One key's place in the store: an empty key is refused as the store refuses it (under
    /// the prefix it would name the prefix itself).
    fn outer_key(&self, key: &str) -> Result<String, Error> {
        if key.is_empty() {
            return Err(Error::Invalid("an empty key".into()));
        }
        Ok(self.outer(key))
    }

    /// The key as the cluster knows it; a key outside the prefix (which a prefixed request
    /// cannot return) is an error rather than a silent mix-up.
    fn strip(&self, key: String) -> Result<String, Error> {
        key.strip_prefix(&self.prefix)
            .map(str::to_owned)
            .ok_or_else(|| Error::Invalid(format!("key {key:?} is outside {:?}", self.prefix)))
    }

    fn strip_kv(&self, mut kv: KeyValue) -> Result<KeyValue, Error> {
        kv.key = self.strip(kv.key)?;
        Ok(kv)
    }

    fn strip_event(&self, event: Event) -> Result<Event, Error> {
        Ok(match event {
            Event::Put(kv) => Event::Put(self.strip_kv(kv)?),
            Event::Delete { key, mod_revision } => Event::Delete {
                key: self.strip(key)?,
                mod_revision,
            },
        })
    }
}

#[async_trait::async_trait]
impl Coordinator for Namespaced {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, Error> {
        self.inner
            .get(&self.outer_key(key)?)
            .await?
            .map(|kv| self.strip_kv(kv))
            .transpose()
    }

    async fn list(&self, prefix: &str) -> Result<Listing, Error> {
        let listing = self.inner.list(&self.outer(prefix)).await?;
        Ok(Listing {
            kvs: listing
                .kvs
                .into_iter()
                .map(|kv| self.strip_kv(kv))
                .collect::<Result<_, _>>()?,
            ..listing
        })
    }

    async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    ) -> Result<Revision, Error> {
        self.inner.put(&self.outer_key(key)?, value, lease).await
    }

    async fn delete(&self, key: &str) -> Result<bool, Error> {
        self.inner.delete(&self.outer_key(key)?).await
    }

    async fn swap(&self, key: &str, expect: Expect, write: Write) -> Result<Swap, Error> {
        Ok(
            match self
                .inner
                .swap(&self.outer_key(key)?, expect, write)
                .await?
            {
                Swap::Done(revision) => Swap::Done(revision),
                Swap::Conflict(current) => {
                    Swap::Conflict(current.map(|kv| self.strip_kv(kv)).transpose()?)
                }
            },
        )
    }

    async fn grant(&self, ttl: Duration) -> Result<LeaseId, Error> {
        self.inner.grant(ttl).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), Error> {
        self.inner.keep_alive(lease).await
    }

    async fn revoke(&self, lease: LeaseId) -> Result<(), Error> {
        self.inner.revoke(lease).await
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, Error> {
        let mut inner = self.inner.watch(&self.outer(prefix), from).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let this = Self {
            inner: self.inner.clone(),
            prefix: self.prefix.clone(),
        };
        tokio::spawn(async move {
            while let Some(batch) = inner.next().await {
                let batch = batch.and_then(|events| {
                    events
                        .into_iter()
                        .map(|e| this.strip_event(e))
                        .collect::<Result<Vec<_>, _>>()
                });
                let failed = batch.is_err();
                if tx.send(batch).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(WatchStream::new(rx))
    }

    async fn compact(&self, revision: Revision) -> Result<(), Error> {
        self.inner.compact(revision).await
    }
}
