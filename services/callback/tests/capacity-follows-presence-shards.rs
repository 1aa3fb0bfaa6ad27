//! The scheduler's capacity follows presence's shards as they change, with no polling: a
//! stand-in presence node serves one shard's agents (a snapshot, then changes) and the
//! capacity moves with every change, and counts nobody of a shard whose stream is lost
//! until the shard's next stream brings its snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_callback::core::Target;
use cc_callback::feeds::Capacity;
use cc_callback::links::follow_capacity_at;
use cc_cluster::{ShardRoutes, keys};
use cc_common::Shutdown;
use cc_common::config::{Config, DEMO_TOML};
use cc_proto::agents::v1::{AgentEvent, AgentState as S, agent_event::Kind};
use cc_proto::presence::internal::v1 as pb;
use cc_proto::presence::internal::v1::presence_control_server::{
    PresenceControl, PresenceControlServer,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

type Events = mpsc::Sender<Result<AgentEvent, Status>>;

/// A presence node whose shard streams the test feeds: each `WatchShard` hands the test the
/// sending end of that stream.
#[derive(Clone)]
struct Stand {
    opened: mpsc::UnboundedSender<(u32, Events)>,
    /// Senders of the shards nobody feeds, kept so that their streams stay open and empty.
    idle: Arc<Mutex<Vec<Events>>>,
    fed: u32,
}

fn not_here<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in this stand-in"))
}

#[tonic::async_trait]
impl PresenceControl for Stand {
    async fn reserve(&self, _: Request<pb::ReserveRequest>) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    async fn confirm_ringing(
        &self,
        _: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    async fn answered(&self, _: Request<pb::AgentCall>) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    async fn call_ended(
        &self,
        _: Request<pb::CallEndedRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    async fn released(&self, _: Request<pb::AgentCall>) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    async fn device_registered(
        &self,
        _: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        not_here()
    }
    async fn device_gone(
        &self,
        _: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        not_here()
    }
    async fn call_in_progress(
        &self,
        _: Request<pb::CallInProgressRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        not_here()
    }
    type WatchShardStream = ReceiverStream<Result<AgentEvent, Status>>;
    async fn watch_shard(
        &self,
        request: Request<pb::WatchShardRequest>,
    ) -> Result<Response<Self::WatchShardStream>, Status> {
        let shard = request.into_inner().shard;
        let (tx, rx) = mpsc::channel(64);
        if shard == self.fed {
            self.opened.send((shard, tx)).unwrap();
        } else {
            self.idle.lock().unwrap().push(tx);
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn event(agent: &str, kind: Kind, to: S) -> Result<AgentEvent, Status> {
    Ok(AgentEvent {
        agent_id: agent.into(),
        kind: kind.into(),
        to: to.into(),
        ..Default::default()
    })
}

/// The next capacity the follower publishes, within 5 s.
async fn next(capacity: &mut watch::Receiver<Capacity>) -> HashMap<String, u32> {
    tokio::time::timeout(Duration::from_secs(5), capacity.changed())
        .await
        .expect("a capacity change within 5 s")
        .unwrap();
    capacity
        .borrow_and_update()
        .iter()
        .map(|(target, n)| {
            let name = match target {
                Target::Department(d) => format!("department {}", d.as_str()),
                Target::Employee(e) => format!("employee {}", e.as_str()),
            };
            (name, *n)
        })
        .collect()
}

fn counts(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn capacity_follows_each_change_of_a_presence_shard_and_forgets_a_lost_one() {
    // Anna (sales) lives in one shard; the stand-in feeds only that one.
    let fed = keys::presence_shard("anna");
    let (opened_tx, mut opened) = mpsc::unbounded_channel();
    let stand = Stand {
        opened: opened_tx,
        idle: Arc::default(),
        fed,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(PresenceControlServer::new(stand))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let config = watch::channel(Arc::new(Config::from_toml(DEMO_TOML).unwrap())).1;
    let (_trigger, shutdown) = Shutdown::new();
    let mut capacity = follow_capacity_at(
        ShardRoutes::single(channel, keys::PRESENCE_SHARDS),
        config,
        shutdown,
    );
    assert!(
        capacity.borrow().is_empty(),
        "nobody before presence answers"
    );

    // The snapshot: Anna logged in and free.
    let (_, feed) = opened.recv().await.unwrap();
    feed.send(event("anna", Kind::Added, S::Available))
        .await
        .unwrap();
    assert_eq!(
        next(&mut capacity).await,
        counts(&[("department sales", 1), ("employee anna", 1)])
    );

    // On a call: still at work for her department, no longer free for her own callbacks.
    feed.send(event("anna", Kind::StateChanged, S::OnCall))
        .await
        .unwrap();
    assert_eq!(
        next(&mut capacity).await,
        counts(&[("department sales", 1)])
    );

    // Paused: nobody.
    feed.send(event("anna", Kind::StateChanged, S::Paused))
        .await
        .unwrap();
    assert_eq!(next(&mut capacity).await, counts(&[]));
    feed.send(event("anna", Kind::StateChanged, S::Available))
        .await
        .unwrap();
    assert_eq!(
        next(&mut capacity).await,
        counts(&[("department sales", 1), ("employee anna", 1)])
    );

    // The shard's stream breaks (its node died or gave the shard up): nobody of it counts
    // until the shard is followed again, from its next snapshot.
    feed.send(Err(Status::unavailable("shard moved")))
        .await
        .unwrap();
    drop(feed);
    assert_eq!(next(&mut capacity).await, counts(&[]));
    let (_, feed) = tokio::time::timeout(Duration::from_secs(5), opened.recv())
        .await
        .expect("the shard followed again")
        .unwrap();
    feed.send(event("anna", Kind::Added, S::WrapUp))
        .await
        .unwrap();
    assert_eq!(
        next(&mut capacity).await,
        counts(&[("department sales", 1)])
    );
    feed.send(event("anna", Kind::Removed, S::Unspecified))
        .await
        .unwrap();
    assert_eq!(next(&mut capacity).await, counts(&[]));
}
