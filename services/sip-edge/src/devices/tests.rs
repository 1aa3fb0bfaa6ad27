//! The reporter against a stand-in for presence's `PresenceControl`, served on
//! 127.0.0.1:0: it seeds, reports each event, retries while presence is unreachable and
//! re-sends the registrations after that, and takes back phones whose events it missed.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

struct Setup {
    received: mpsc::UnboundedReceiver<Received>,
    down: Arc<AtomicBool>,
    /// What the registrar holds now.
    registered: Arc<Mutex<HashSet<Phone>>>,
    events: broadcast::Sender<RegistrarEvent>,
}

impl Setup {
    /// A stand-in presence, and a reporter to it that starts from `registered`, following
    /// registrar events through a channel of `capacity`.
    async fn start(registered: &[(&str, &str)], capacity: usize) -> Setup {
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
        let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let registered = Arc::new(Mutex::new(
            registered
                .iter()
                .map(|(e, c)| phone(e, c))
                .collect::<HashSet<_>>(),
        ));
        let (events, subscribed) = broadcast::channel(capacity);
        let mut reporter = Reporter {
            presence: PresenceControlClient::new(channel),
            timeout: Duration::from_secs(2),
            told: HashSet::new(),
            moved: None,
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
        Setup {
            received,
            down,
            registered,
            events,
        }
    }

    /// The next report presence received.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("a report within 5 s")
            .unwrap()
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
        self.registered
            .lock()
            .unwrap()
            .insert(phone(extension, contact));
        let _ = self.events.send(RegistrarEvent::DeviceRegistered {
            aor: extension.into(),
            contact: contact.into(),
            source: "127.0.0.1:5070".parse().unwrap(),
        });
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
