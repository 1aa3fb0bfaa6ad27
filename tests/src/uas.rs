//! A minimal SIP user agent server for media tests, standing in for the call logic that
//! sip-edge gains later: it answers INVITEs from SIPp with an SDP answer made by ccd's
//! media engine (through its gRPC `MediaControl` API) and reports each call to the test,
//! which then bridges, records or collects digits on the call's endpoint.
//!
//! It answers one INVITE per Call-ID (retransmissions get the same 200), ignores ACK, and
//! answers BYE with 200 before telling the test the call ended.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use cc_proto::media::internal::v1 as pb;
use cc_proto::media::internal::v1::media_control_client::MediaControlClient;
use cc_sip::{Header, Message, Method, Request, Response, parse_message};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// A connected MediaControl client.
pub type Media = MediaControlClient<Channel>;

/// Connects to the media API of a node, retrying for a few seconds while it starts.
pub async fn media_client(api: SocketAddr) -> Media {
    let url = format!("http://{api}");
    for _ in 0..50 {
        if let Ok(c) = MediaControlClient::connect(url.clone()).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the media API at {url}");
}

/// What the UAS tells the test.
#[derive(Debug, Clone)]
pub enum UasEvent {
    /// An INVITE was answered; its media is `endpoint_id`.
    Answered {
        call_id: String,
        endpoint_id: String,
    },
    /// The caller hung up (BYE answered).
    Ended { call_id: String },
}

/// How the UAS answers.
#[derive(Debug, Clone, Copy)]
pub struct UasOptions {
    /// Hold every answer until this many INVITEs are in, so the test can bridge the calls
    /// before any caller starts sending audio.
    pub answer_together: usize,
}

/// A running UAS. Dropping it stops the task.
#[derive(Debug)]
pub struct Uas {
    pub addr: SocketAddr,
    pub events: mpsc::UnboundedReceiver<UasEvent>,
    /// The test says "answer now" for calls held by `answer_together`.
    release: mpsc::UnboundedSender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Uas {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Pending {
    from: SocketAddr,
    response: Vec<u8>,
}

impl Uas {
    pub async fn start(media: Media, options: UasOptions) -> Uas {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind the test UAS");
        let addr = socket.local_addr().expect("UAS address");
        let (tx, events) = mpsc::unbounded_channel();
        let (release, mut released) = mpsc::unbounded_channel::<()>();
        let task = tokio::spawn(async move {
            let mut media = media;
            let mut calls: HashMap<String, Pending> = HashMap::new();
            let mut order: Vec<String> = Vec::new();
            let mut answering = options.answer_together <= 1;
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, from) = tokio::select! {
                    r = socket.recv_from(&mut buf) => match r {
                        Ok(r) => r,
                        Err(_) => continue,
                    },
                    Some(()) = released.recv() => {
                        answering = true;
                        for call_id in &order {
                            if let Some(p) = calls.get(call_id) {
                                let _ = socket.send_to(&p.response, p.from).await;
                            }
                        }
                        continue;
                    }
                };
                let Ok(Message::Request(req)) = parse_message(&buf[..n]) else {
                    continue;
                };
                let call_id = req.headers.call_id().unwrap_or_default().to_owned();
                match req.method {
                    Method::Invite => {
                        if let Some(p) = calls.get(&call_id) {
                            if answering {
                                let _ = socket.send_to(&p.response, from).await;
                            }
                            continue;
                        }
                        let offer = String::from_utf8_lossy(&req.body).into_owned();
                        let created = media
                            .create_endpoint(pb::CreateEndpointRequest {
                                remote_offer: offer,
                                near_endpoint_id: String::new(),
                                label: call_id.clone(),
                                webrtc: false,
                            })
                            .await
                            .expect("the media engine answers the offer")
                            .into_inner();
                        let ok = answer(&req, addr, created.local_sdp.as_bytes());
                        calls.insert(
                            call_id.clone(),
                            Pending {
                                from,
                                response: ok.clone(),
                            },
                        );
                        order.push(call_id.clone());
                        let _ = tx.send(UasEvent::Answered {
                            call_id,
                            endpoint_id: created.endpoint_id,
                        });
                        if answering {
                            let _ = socket.send_to(&ok, from).await;
                        }
                    }
                    Method::Bye => {
                        let ok = answer(&req, addr, b"");
                        let _ = socket.send_to(&ok, from).await;
                        if calls.remove(&call_id).is_some() {
                            let _ = tx.send(UasEvent::Ended { call_id });
                        }
                    }
                    _ => {}
                }
            }
        });
        Uas {
            addr,
            events,
            release,
            task,
        }
    }

    /// Sends the held 200 OKs (see [`UasOptions::answer_together`]).
    pub fn answer_held_calls(&self) {
        let _ = self.release.send(());
    }

    /// The next event, or a panic naming what was awaited after `timeout`.
    pub async fn next(&mut self, what: &str, timeout: Duration) -> UasEvent {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("the UAS saw no {what} within {timeout:?}"))
            .unwrap_or_else(|| panic!("the UAS stopped before {what}"))
    }
}

/// A 200 OK to `req` with our Contact and, if given, an SDP body.
fn answer(req: &Request, uas: SocketAddr, sdp: &[u8]) -> Vec<u8> {
    let mut r = Response::new(200);
    for h in req.headers.iter() {
        if matches!(
            h,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            r.headers.push(h.clone());
        }
    }
    if let Some(to) = r.headers.to_mut()
        && to.tag().is_none()
    {
        to.params.set("tag", Some("uas-media-test"));
    }
    r.headers.push(Header::Other {
        name: "Contact".into(),
        value: format!("<sip:uas@{uas}>").into(),
    });
    if !sdp.is_empty() {
        r.headers.push(Header::Other {
            name: "Content-Type".into(),
            value: "application/sdp".into(),
        });
        r.body = sdp.to_vec();
    }
    r.to_bytes()
}
