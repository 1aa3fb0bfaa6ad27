//! The reporter against stand-ins for presence's `PresenceControl`, served on
//! 127.0.0.1:0: it seeds, reports each event, retries while presence is unreachable and
//! re-sends the registrations after that, and takes back phones whose events it missed;
//! each phone goes to the owner of its agent's shard, and a shard's new owner gets the
//! phones of that shard again, and only those.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_cluster::{Coordinator, MemoryCoordinator, Owners};
use cc_proto::presence::internal::v1::presence_control_server::{
    PresenceControl, PresenceControlServer,
};
use tokio::sync::mpsc;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response};

use super::*;
use crate::registrar::GoneReason;

/// One report as presence received it, and whether it was taken.
type Received = (Report, Phone, bool);

/// The organisation: anna (201), piotr (202) and ewa (203) are in presence shards 3, 1 and
/// 4; 999 is nobody's extension.
const CONFIG: &str = r#"
[sip]
listen = "127.0.0.1:5060"
domain = "cc.local"
[[employees]]
id = "anna"
name = "Anna"
extension = "201"
sip_password = "secret"
role = "user"
[[employees]]
id = "piotr"
name = "Piotr"
extension = "202"
sip_password = "secret"
role = "user"
[[employees]]
id = "ewa"
name = "Ewa"
extension = "203"
sip_password = "secret"
role = "user"
"#;

fn config() -> Arc<Config> {
    Arc::new(Config::from_toml(CONFIG).unwrap())
}

/// Presence as far as phones go: agents are the extensions starting with "2".
#[derive(Clone)]
struct Stand {
    received: mpsc::UnboundedSender<Received>,
    down: Arc<AtomicBool>,
}

impl Stand {
    fn answer(
        &self,
        report: Report,
        request: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        let request = request.into_inner();
        let agent = request.extension.starts_with('2');
        let phone = Phone {
            extension: request.extension,
            contact: request.contact,
        };
        let down = self.down.load(Ordering::SeqCst);
        let _ = self.received.send((report, phone, !down));
        if down {
            return Err(Status::unavailable("restarting"));
        }
        Ok(Response::new(pb::DeviceResponse { agent }))
    }
}

#[tonic::async_trait]
impl PresenceControl for Stand {
    async fn reserve(&self, _: Request<pb::ReserveRequest>) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    async fn confirm_ringing(
        &self,
        _: Request<pb::AgentCall>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    async fn answered(&self, _: Request<pb::AgentCall>) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    async fn call_ended(
        &self,
        _: Request<pb::CallEndedRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    async fn released(&self, _: Request<pb::AgentCall>) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    async fn device_registered(
        &self,
        request: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        self.answer(Report::Registered, request)
    }
    async fn device_gone(
        &self,
        request: Request<pb::DeviceRequest>,
    ) -> Result<Response<pb::DeviceResponse>, Status> {
        self.answer(Report::Gone, request)
    }
    async fn call_in_progress(
        &self,
        _: Request<pb::CallInProgressRequest>,
    ) -> Result<Response<pb::Done>, Status> {
        Err(Status::unimplemented("not here"))
    }
    type WatchShardStream = tokio_stream::Empty<Result<cc_proto::agents::v1::AgentEvent, Status>>;
    async fn watch_shard(
        &self,
        _: Request<pb::WatchShardRequest>,
    ) -> Result<Response<Self::WatchShardStream>, Status> {
        Err(Status::unimplemented("not here"))
    }
}

/// A stand-in presence node serving on 127.0.0.1:0: where it listens, what it receives,
/// and the switch that makes it answer UNAVAILABLE.
async fn serve_stand() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<Received>,
    Arc<AtomicBool>,
) {
    let (tx, received) = mpsc::unbounded_channel();
    let down = Arc::new(AtomicBool::new(false));
    let stand = Stand {
        received: tx,
        down: down.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(PresenceControlServer::new(stand))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (addr, received, down)
}

/// The next report a stand-in received.
async fn next_at(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("a report within 5 s")
        .unwrap()
}

struct Setup {
    received: mpsc::UnboundedReceiver<Received>,
    down: Arc<AtomicBool>,
    /// What the registrar holds now.
    registered: Arc<Mutex<HashSet<Phone>>>,
    events: broadcast::Sender<RegistrarEvent>,
}

impl Setup {
    /// A stand-in presence owning every shard, and a reporter to it that starts from
    /// `registered`, following registrar events through a channel of `capacity`.
    async fn start(registered: &[(&str, &str)], capacity: usize) -> Setup {
        let (addr, received, down) = serve_stand().await;
        let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let routes = ShardRoutes::single(channel, keys::PRESENCE_SHARDS);
        let (registered, events) = start_reporter(registered, capacity, routes, None);
        Setup {
            received,
            down,
            registered,
            events,
        }
    }

    /// The next report presence received.
    async fn next(&mut self) -> Received {
        next_at(&mut self.received).await
    }

    /// The next `n` reports, in any order.
    async fn next_set(&mut self, n: usize) -> HashSet<(Report, Phone, bool)> {
        let mut all = HashSet::new();
        for _ in 0..n {
            all.insert(self.next().await);
        }
        all
    }

    fn registered(&self, extension: &str, contact: &str) {
        registered(&self.registered, &self.events, extension, contact);
    }

    fn gone(&self, extension: &str, contact: &str) {
        self.registered
            .lock()
            .unwrap()
            .remove(&phone(extension, contact));
        let _ = self.events.send(RegistrarEvent::DeviceGone {
            aor: extension.into(),
            contact: contact.into(),
            reason: GoneReason::Expired,
        });
    }
}

/// Starts a reporter to `routes` (following the shards' owners when given `owners`) that
/// starts from `registered`, following registrar events through a channel of `capacity`:
/// returns what the registrar holds and where its events go.
fn start_reporter(
    registered: &[(&str, &str)],
    capacity: usize,
    routes: ShardRoutes,
    owners: Option<watch::Receiver<BTreeMap<String, Owner>>>,
) -> (
    Arc<Mutex<HashSet<Phone>>>,
    broadcast::Sender<RegistrarEvent>,
) {
    let registered = Arc::new(Mutex::new(
        registered
            .iter()
            .map(|(e, c)| phone(e, c))
            .collect::<HashSet<_>>(),
    ));
    let (events, subscribed) = broadcast::channel(capacity);
    let tokens = owners
        .as_ref()
        .map(|o| OwnerTokens::new(&o.borrow()))
        .unwrap_or_default();
    let mut reporter = Reporter {
        presence: PhonePresence {
            routes,
            config: watch::channel(config()).1,
        },
        timeout: Duration::from_secs(2),
        told: HashSet::new(),
        moved: owners,
        tokens,
        node: "edge-1".into(),
    };
    let now = registered.clone();
    tokio::spawn(async move {
        let registrations = move || {
            let now = now.lock().unwrap().clone();
            async move { Some(now) }
        };
        reporter.run(registrations, subscribed).await;
    });
    (registered, events)
}

/// A phone registers: the registrar holds it and says so.
fn registered(
    holds: &Mutex<HashSet<Phone>>,
    events: &broadcast::Sender<RegistrarEvent>,
    extension: &str,
    contact: &str,
) {
    holds.lock().unwrap().insert(phone(extension, contact));
    let _ = events.send(RegistrarEvent::DeviceRegistered {
        aor: extension.into(),
        contact: contact.into(),
        source: "127.0.0.1:5070".parse().unwrap(),
    });
}

fn phone(extension: &str, contact: &str) -> Phone {
    Phone {
        extension: extension.into(),
        contact: contact.into(),
    }
}

#[tokio::test]
async fn the_registrations_are_sent_at_start_then_each_event() {
    let mut s = Setup::start(&[("201", "sip:201@10.0.0.5")], 64).await;
    assert_eq!(
        s.next().await,
        (Report::Registered, phone("201", "sip:201@10.0.0.5"), true)
    );
    s.gone("201", "sip:201@10.0.0.5");
    s.registered("999", "sip:999@10.0.0.9");
    s.registered("202", "sip:202@10.0.0.6");
    assert_eq!(
        s.next().await,
        (Report::Gone, phone("201", "sip:201@10.0.0.5"), true)
    );
    assert_eq!(
        s.next().await,
        (Report::Registered, phone("999", "sip:999@10.0.0.9"), true),
        "presence decides the extension is no agent's; the next one still goes"
    );
    assert_eq!(
        s.next().await,
        (Report::Registered, phone("202", "sip:202@10.0.0.6"), true)
    );
}

#[tokio::test]
async fn a_report_waits_out_an_outage_and_the_registrations_are_sent_again() {
    let mut s = Setup::start(&[("201", "sip:201@10.0.0.5")], 64).await;
    s.next().await;

    // Presence restarts: the report fails, and is retried until presence is back.
    s.down.store(true, Ordering::SeqCst);
    s.registered("202", "sip:202@10.0.0.6");
    let b = phone("202", "sip:202@10.0.0.6");
    assert_eq!(s.next().await, (Report::Registered, b.clone(), false));
    s.down.store(false, Ordering::SeqCst);
    loop {
        let (report, phone, taken) = s.next().await;
        assert_eq!((report, &phone), (Report::Registered, &b));
        if taken {
            break;
        }
    }
    // A restarted presence forgot every phone: all of them are sent again.
    assert_eq!(
        s.next_set(2).await,
        HashSet::from([
            (Report::Registered, phone("201", "sip:201@10.0.0.5"), true),
            (Report::Registered, b, true),
        ])
    );
}

#[tokio::test]
async fn missed_events_are_made_up_for_including_phones_gone_meanwhile() {
    let mut s = Setup::start(&[("201", "sip:201@10.0.0.5")], 2).await;
    s.next().await;
    // Four events into a channel of two: the reporter misses the first two.
    s.gone("201", "sip:201@10.0.0.5");
    s.registered("202", "sip:202@10.0.0.6");
    s.gone("202", "sip:202@10.0.0.6");
    s.registered("203", "sip:203@10.0.0.7");
    // The seed takes back 201 (its "gone" was missed) and sends 203, the one registered.
    assert_eq!(
        s.next_set(2).await,
        HashSet::from([
            (Report::Gone, phone("201", "sip:201@10.0.0.5"), true),
            (Report::Registered, phone("203", "sip:203@10.0.0.7"), true),
        ])
    );
    // Then the events still in the channel, harmless repeats.
    assert_eq!(
        s.next().await,
        (Report::Gone, phone("202", "sip:202@10.0.0.6"), true)
    );
    assert_eq!(
        s.next().await,
        (Report::Registered, phone("203", "sip:203@10.0.0.7"), true)
    );
}

#[test]
fn a_new_owner_gets_only_the_phones_of_its_shards() {
    let config = config();
    assert_eq!(
        [
            keys::presence_shard("anna"),
            keys::presence_shard("piotr"),
            keys::presence_shard("ewa")
        ],
        [3, 1, 4],
        "the shards this module's tests assume"
    );
    let phones = [
        phone("201", "sip:201@10.0.0.5"),
        phone("201", "sip:201@10.0.0.15"),
        phone("202", "sip:202@10.0.0.6"),
        phone("203", "sip:203@10.0.0.7"),
        phone("999", "sip:999@10.0.0.9"),
    ];
    assert_eq!(
        phones_in_shards(&config, &phones, &BTreeSet::from([3, 0])),
        HashSet::from([phones[0].clone(), phones[1].clone(), phones[4].clone()]),
        "anna's phones, and the extension of nobody (shard 0)"
    );
    assert_eq!(
        phones_in_shards(&config, &phones, &BTreeSet::from([1, 2])),
        HashSet::from([phones[2].clone()])
    );
    assert!(phones_in_shards(&config, &phones, &BTreeSet::new()).is_empty());
}

/// The ownership record of a presence node listening at `addr`.
fn owner_record(node: &str, addr: SocketAddr) -> Vec<u8> {
    format!(r#"{{"service":"presence","node":"{node}","address":"{addr}","load":0}}"#).into_bytes()
}

#[tokio::test]
async fn each_phone_goes_to_its_shards_owner_and_a_moved_shard_gets_its_phones_again() {
    let (at_a, mut a, _) = serve_stand().await;
    let (at_b, mut b, _) = serve_stand().await;
    let anna = keys::presence_shard("anna");
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::default());
    for shard in 0..keys::PRESENCE_SHARDS {
        let record = if shard == anna {
            owner_record("a", at_a)
        } else {
            owner_record("b", at_b)
        };
        coordinator
            .put(&keys::presence_owner(shard), record, None)
            .await
            .unwrap();
    }
    let owners = Owners::follow(coordinator.clone(), keys::PRESENCE_OWNERS);
    let mut all = owners.subscribe();
    all.wait_for(|o| o.len() == 8).await.unwrap();
    let routes = ShardRoutes::follow(&owners, keys::PRESENCE_SHARDS);
    let (holds, events) = start_reporter(
        &[
            ("201", "sip:201@10.0.0.5"),
            ("202", "sip:202@10.0.0.6"),
            ("999", "sip:999@10.0.0.9"),
        ],
        64,
        routes,
        Some(owners.subscribe()),
    );
    // Anna's phone at her shard's owner, the others at theirs (999 at shard 0's).
    assert_eq!(
        next_at(&mut a).await,
        (Report::Registered, phone("201", "sip:201@10.0.0.5"), true)
    );
    let mut at_b_first = HashSet::new();
    for _ in 0..2 {
        at_b_first.insert(next_at(&mut b).await);
    }
    assert_eq!(
        at_b_first,
        HashSet::from([
            (Report::Registered, phone("202", "sip:202@10.0.0.6"), true),
            (Report::Registered, phone("999", "sip:999@10.0.0.9"), true),
        ])
    );

    // Anna's shard moves to b (a new ownership): b hears of her phone, and of nothing else.
    let key = keys::presence_owner(anna);
    coordinator.delete(&key).await.unwrap();
    coordinator
        .put(&key, owner_record("b", at_b), None)
        .await
        .unwrap();
    assert_eq!(
        next_at(&mut b).await,
        (Report::Registered, phone("201", "sip:201@10.0.0.5"), true)
    );
    registered(&holds, &events, "203", "sip:203@10.0.0.7");
    assert_eq!(
        next_at(&mut b).await,
        (Report::Registered, phone("203", "sip:203@10.0.0.7"), true),
        "the next report is the next event: the other shards were not sent again"
    );
    assert!(a.try_recv().is_err(), "a owns nothing any more");
}
