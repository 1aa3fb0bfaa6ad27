//! The SIP core of the edge node: every parsed message passes through here. It owns the
//! transaction table, the registrar, the digest server and the authentication throttle.
//!
//! Deterministic: messages, `now` and the wall-clock seconds (for nonces) go in; messages to
//! send, device events and the next deadline come out. The tokio driver in `lib.rs` feeds it.

mod calls;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cc_common::Config;
use cc_sip::digest::{Algorithm, DigestConfig, DigestError, DigestServer, UserSecret};
use cc_sip::transaction::{
    RequestOutcome, ResponseOutcome, TimerConfig, TransactionEvent, TransactionTable, TxHandle,
};
use cc_sip::{Contact, Header, Host, Message, Method, Request, Response, Uri};
use tracing::{debug, info, warn};

use crate::metrics::Counters;
use crate::registrar::{RegisterError, Registrar, RegistrarConfig, RegistrarEvent};
use crate::throttle::{AuthThrottle, ThrottleConfig};
use crate::transport::{Inbound, Peer};

use calls::CallTable;
pub use calls::{CallNo, Contact as DeviceContact, FromCall, ToCall};

/// Methods this node implements (advertised in Allow).
const ALLOW: &[Method] = &[
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Options,
    Method::Register,
    Method::Refer,
];

/// How a response leaves: through its server transaction, or statelessly for requests
/// whose answer is idempotent (a retransmission is simply answered again).
#[derive(Debug, Clone, Copy)]
enum Reply {
    Tx(TxHandle),
    Stateless(Peer),
}

/// Requests answered without a transaction: OPTIONS pings, unauthenticated REGISTERs
/// (challenged again on retransmission, harmless) and methods refused outright. Keep-alive
/// and scanner floods then cost no state. REGISTERs with credentials stay stateful: a
/// retransmission must not be verified twice (its nonce count would look replayed); so do
/// REFERs in a dialog: a retransmission must not transfer the call twice (those outside
/// any are refused).
fn answered_statelessly(req: &Request) -> bool {
    match &req.method {
        Method::Options
        | Method::Info
        | Method::Update
        | Method::Prack
        | Method::Subscribe
        | Method::Notify
        | Method::Message
        | Method::Publish
        | Method::Other(_) => true,
        Method::Register => req.headers.authorization().is_none(),
        Method::Refer => req.headers.to().and_then(|t| t.tag()).is_none(),
        Method::Invite | Method::Ack | Method::Bye | Method::Cancel => false,
    }
}

/// What the core wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub peer: Peer,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct EdgeCore {
    config: Arc<Config>,
    transactions: TransactionTable<Peer>,
    registrar: Registrar,
    digest: DigestServer,
    throttle: AuthThrottle,
    counters: Arc<Counters>,
    out: VecDeque<Outgoing>,
    events: VecDeque<RegistrarEvent>,
    calls: CallTable,
    /// The connection each TCP-registered device registered over, to ring it on.
    tcp_conns: std::collections::HashMap<std::net::SocketAddr, crate::transport::ConnId>,
    call_events: VecDeque<(CallNo, ToCall)>,
    next_tag: u64,
    /// The node is draining: new calls are refused (503), calls in progress go on.
    draining: bool,
}

/// Errors that prevent the core from starting.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("digest configuration: {0}")]
    Digest(#[from] cc_sip::digest::DigestConfigError),
}

impl EdgeCore {
    /// Stops taking new calls (answered 503 with Retry-After, so callers and trunks try
    /// another node) while the calls in progress go on: a graceful drain.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// `secret` keys the stateless nonces; `seed` makes this node's nonces and tags unique.
    pub fn new(
        config: Arc<Config>,
        secret: Vec<u8>,
        seed: u64,
        counters: Arc<Counters>,
    ) -> Result<Self, CoreError> {
        let sip = &config.sip;
        let mut digest = DigestConfig::new(config.realm(), secret, seed);
        digest.nonce_lifetime_secs = sip.nonce_ttl_secs;
        // Validated by the config loader; unknown names cannot reach here.
        digest.algorithms = sip
            .digest_algorithms
            .iter()
            .filter_map(|a| Algorithm::parse(a))
            .collect();
        let timers = TimerConfig {
            t1: Duration::from_millis(sip.t1_ms),
            t2: Duration::from_millis(sip.t2_ms),
            t4: Duration::from_millis(sip.t4_ms),
        };
        Ok(EdgeCore {
            transactions: TransactionTable::new(timers),
            registrar: Registrar::new(RegistrarConfig {
                min_expires: sip.min_expires,
                max_expires: sip.max_expires,
                default_expires: sip.default_expires,
                max_contacts_per_aor: sip.max_contacts_per_aor,
            }),
            digest: DigestServer::new(digest)?,
            throttle: AuthThrottle::new(ThrottleConfig {
                max_failures: sip.auth_failures_before_block,
                window: Duration::from_secs(60),
                block_for: Duration::from_secs(sip.auth_block_secs),
                max_sources: 100_000,
            }),
            counters,
            out: VecDeque::new(),
            events: VecDeque::new(),
            calls: CallTable::default(),
            tcp_conns: Default::default(),
            call_events: VecDeque::new(),
            next_tag: seed,
            draining: false,
            config,
        })
    }

    /// A new organisation configuration (employees, numbers, departments changed through
    /// the API). Node settings (`[sip]`) keep the values the node started with.
    pub fn set_config(&mut self, config: Arc<Config>) {
        let mut c = (*config).clone();
        c.sip = self.config.sip.clone();
        self.config = Arc::new(c);
    }

    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Live server transactions (bounded by `[sip] max_transactions`).
    pub fn transaction_count(&self) -> usize {
        self.transactions.len()
    }

    pub fn handle_inbound(&mut self, inbound: Inbound, now: Instant, unix_secs: u64) {
        let Inbound { message, peer } = inbound;
        match message {
            Message::Request(mut req) => {
                if self.throttle.is_blocked(peer.addr().ip(), now) {
                    self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                stamp_received(&mut req, peer);
                if answered_statelessly(&req) {
                    self.on_request(Reply::Stateless(peer), &req, peer, now, unix_secs);
                    return;
                }
                if self.transactions.len() >= self.config.sip.max_transactions
                    && !matches!(req.method, Method::Ack | Method::Cancel)
                {
                    // Every UDP server transaction lives 32 s (timer J/H); under a flood the
                    // table, not the queue, is what grows.
                    self.counters
                        .overload_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    self.respond(
                        Reply::Stateless(peer),
                        &req,
                        503,
                        |r| {
                            r.headers.push(Header::Other {
                                name: "Retry-After".into(),
                                value: "5".into(),
                            })
                        },
                        now,
                    );
                    return;
                }
                match self
                    .transactions
                    .handle_request(req, peer.is_reliable(), peer, now)
                {
                    Ok(RequestOutcome::New { handle, request }) => {
                        self.on_request(Reply::Tx(handle), &request, peer, now, unix_secs)
                    }
                    Ok(RequestOutcome::Cancel {
                        handle,
                        request,
                        invite,
                    }) => {
                        let status = if invite.is_some() { 200 } else { 481 };
                        self.respond(Reply::Tx(handle), &request, status, |_| {}, now);
                        if let (Some(invite), Some(call)) = (invite, self.call_of(&request)) {
                            self.call_events
                                .push_back((call, ToCall::Cancelled { invite }));
                        }
                    }
                    Ok(RequestOutcome::Ack(request)) => {
                        if let Some(call) = self.call_of(&request) {
                            self.call_events.push_back((call, ToCall::Ack { request }));
                        }
                    }
                    Ok(RequestOutcome::Retransmission(_) | RequestOutcome::AckAbsorbed(_)) => {}
                    Err(e) => {
                        debug!(peer = %peer.addr(), error = %e, "request not accepted by the transaction layer")
                    }
                }
            }
            Message::Response(resp) => {
                if let ResponseOutcome::Unmatched(response) =
                    self.transactions.handle_response(resp, now)
                {
                    // A 2xx retransmitted after its INVITE transaction ended still belongs
                    // to the call (it is ACKed again); anything else is a stray.
                    if let Some(call) = response
                        .headers
                        .call_id()
                        .and_then(|id| self.calls.by_leg(id))
                    {
                        self.call_events
                            .push_back((call, ToCall::Response { response }));
                    }
                }
            }
        }
        self.drain_transactions();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.drain_transactions();
        self.drain_registrar();
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match (
            self.transactions.poll_timeout(),
            self.registrar.poll_timeout(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_outgoing(&mut self) -> Option<Outgoing> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    fn drain_transactions(&mut self) {
        while let Some(t) = self.transactions.poll_transmit() {
            self.out.push_back(Outgoing {
                peer: response_peer(&t.message, t.dest),
                bytes: t.message.to_bytes(),
            });
        }
        while let Some(event) = self.transactions.poll_event() {
            match event {
                TransactionEvent::Response { handle, response } => {
                    if let Some(&(call, _, _)) = self.calls.client(handle) {
                        self.call_events
                            .push_back((call, ToCall::Response { response }));
                    }
                }
                TransactionEvent::Timeout { handle, .. } => {
                    if let Some((call, call_id, method)) = self.calls.client(handle).cloned() {
                        self.call_events
                            .push_back((call, ToCall::Timeout { call_id, method }));
                    }
                }
                TransactionEvent::Terminated { handle } => self.calls.client_done(handle),
            }
        }
    }

    /// What a call actor wants done. [`FromCall::Contacts`] is answered by the driver,
    /// which owns the reply channel; here it is ignored.
    pub fn handle_command(&mut self, command: FromCall, now: Instant) {
        match command {
            FromCall::Respond { tx, response } => self.send(Reply::Tx(tx), response, now),
            FromCall::Request {
                call,
                request,
                dest,
            } => {
                let call_id = request.headers.call_id().unwrap_or_default().to_owned();
                let method = request.method.clone();
                self.calls.add_leg(call, &call_id);
                match self
                    .transactions
                    .send_request(request, dest.is_reliable(), dest, now)
                {
                    Ok(tx) => self.calls.add_client(tx, call, &call_id, method),
                    Err(e) => {
                        warn!(call, error = %e, "request not sent");
                        self.call_events
                            .push_back((call, ToCall::Timeout { call_id, method }));
                    }
                }
                self.drain_transactions();
            }
            FromCall::Stateless { message, dest } => {
                self.out.push_back(Outgoing {
                    peer: dest,
                    bytes: message.to_bytes(),
                });
            }
            FromCall::Contacts { .. } => {}
            FromCall::MoveLeg { call_id, to } => self.calls.move_leg(&call_id, to),
            FromCall::Ended { call } => self.calls.remove(call),
        }
    }

    /// Events for call actors, each tagged with its call.
    pub fn poll_call_event(&mut self) -> Option<(CallNo, ToCall)> {
        self.call_events.pop_front()
    }

    /// Calls with live legs on this node.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The devices an extension can be rung on: every live binding, freshest first.
    pub fn contacts(&self, extension: &str, now: Instant) -> Vec<DeviceContact> {
        let mut bindings = self.registrar.bindings(extension, now);
        bindings.sort_by_key(|b| std::cmp::Reverse(b.expires_at));
        bindings
            .into_iter()
            .map(|b| DeviceContact {
                uri: b.contact.uri.clone(),
                dest: match b.transport {
                    cc_sip::Transport::Tcp => match self.tcp_conns.get(&b.source) {
                        Some(&conn) => Peer::Tcp {
                            conn,
                            addr: b.source,
                        },
                        None => Peer::Udp(b.source),
                    },
                    _ => Peer::Udp(b.source),
                },
            })
            .collect()
    }

    fn remember_tcp(
        &mut self,
        addr: std::net::SocketAddr,
        conn: crate::transport::ConnId,
        now: Instant,
    ) {
        self.tcp_conns.insert(addr, conn);
        if self.tcp_conns.len() > 2 * self.config.sip.max_tcp_connections {
            let live: std::collections::HashSet<_> = self
                .registrar
                .all(now)
                .into_iter()
                .flat_map(|(_, b)| b.into_iter().map(|b| b.source))
                .collect();
            self.tcp_conns.retain(|a, _| live.contains(a));
        }
    }

    fn call_of(&self, request: &Request) -> Option<CallNo> {
        self.calls.by_leg(request.headers.call_id()?)
    }

    fn drain_registrar(&mut self) {
        while let Some(e) = self.registrar.poll_event() {
            match &e {
                RegistrarEvent::DeviceRegistered {
                    aor,
                    contact,
                    source,
                } => {
                    info!(%aor, %contact, %source, "device registered")
                }
                RegistrarEvent::DeviceGone {
                    aor,
                    contact,
                    reason,
                } => info!(%aor, %contact, ?reason, "device gone"),
            }
            self.events.push_back(e);
        }
    }

    fn on_request(
        &mut self,
        reply: Reply,
        req: &Request,
        peer: Peer,
        now: Instant,
        unix_secs: u64,
    ) {
        let unsupported: Vec<String> = req.headers.require().map(str::to_owned).collect();
        if !unsupported.is_empty() && req.method != Method::Cancel && req.method != Method::Ack {
            let value = unsupported.join(", ");
            self.respond(
                reply,
                req,
                420,
                |r| {
                    r.headers.push(Header::Other {
                        name: "Unsupported".into(),
                        value: value.into(),
                    })
                },
                now,
            );
            return;
        }
        match &req.method {
            Method::Register => self.on_register(reply, req, peer, now, unix_secs),
            Method::Options => self.respond(reply, req, 200, capabilities, now),
            Method::Invite => self.on_invite(reply, req, peer, now),
            Method::Bye => self.pass_to_call(reply, req, peer, now),
            Method::Refer => self.on_refer(reply, req, peer, now),
            Method::Info
            | Method::Update
            | Method::Prack
            | Method::Subscribe
            | Method::Notify
            | Method::Message
            | Method::Publish => self.respond(reply, req, 405, allow, now),
            Method::Other(m) => {
                debug!(method = %m, "unknown method");
                self.respond(reply, req, 501, allow, now)
            }
            // Handled by the transaction table before a transaction is made.
            Method::Ack | Method::Cancel => {}
        }
    }

    /// A REFER (RFC 3515) is taken only inside the dialog of a call in progress, where the
    /// call decides (a blind transfer from the phone that took the call). One outside any
    /// dialog (no To tag) is refused 403: this node transfers calls, it does not place them
    /// for others. One naming a dialog we do not have gets 481 (RFC 3261 12.2.2).
    fn on_refer(&mut self, reply: Reply, req: &Request, peer: Peer, now: Instant) {
        if req.headers.to().and_then(|t| t.tag()).is_none() {
            let mut r = Response::to_request(req, 403, Some(&self.tag()));
            r.reason = "Forbidden (REFER is taken only inside a call's dialog)".into();
            return self.send(reply, r, now);
        }
        self.pass_to_call(reply, req, peer, now);
    }

    /// A request inside a call's dialog goes to its call, which checks the dialog; one for
    /// no call in progress gets 481.
    fn pass_to_call(&mut self, reply: Reply, req: &Request, peer: Peer, now: Instant) {
        match (reply, self.call_of(req)) {
            (Reply::Tx(tx), Some(call)) => self.call_events.push_back((
                call,
                ToCall::Request {
                    tx,
                    request: req.clone(),
                    peer,
                },
            )),
            _ => self.respond(reply, req, 481, |_| {}, now),
        }
    }

    fn on_invite(&mut self, reply: Reply, req: &Request, peer: Peer, now: Instant) {
        let Reply::Tx(tx) = reply else {
            return self.respond(reply, req, 500, |_| {}, now);
        };
        let existing = self.call_of(req);
        if req.headers.to().and_then(|t| t.tag()).is_some() {
            // A re-INVITE: it belongs to a dialog of a live call, or to nothing.
            return match existing {
                Some(call) => self.call_events.push_back((
                    call,
                    ToCall::Request {
                        tx,
                        request: req.clone(),
                        peer,
                    },
                )),
                None => self.respond(reply, req, 481, |_| {}, now),
            };
        }
        if existing.is_some() {
            // RFC 3261 8.2.2.2: the same request forked back to us by another path.
            return self.respond(reply, req, 482, |_| {}, now);
        }
        let dialed = req.uri.user().unwrap_or_default();
        if !self.config.is_dialable(dialed) {
            return self.respond(reply, req, 404, |_| {}, now);
        }
        if req
            .headers
            .content_type()
            .is_none_or(|t| !t.is("application", "sdp"))
            || req.body.is_empty()
        {
            // Offerless INVITEs (the offer in the ACK) are not supported: every caller here
            // offers audio.
            let mut r = Response::to_request(req, 488, Some(&self.tag()));
            r.reason = "Not Acceptable Here (an SDP offer is required)".into();
            return self.send(reply, r, now);
        }
        if self.draining || self.calls.len() >= self.config.sip.max_calls {
            if !self.draining {
                self.counters
                    .overload_rejected
                    .fetch_add(1, Ordering::Relaxed);
            }
            return self.respond(
                reply,
                req,
                503,
                |r| {
                    r.headers.push(Header::Other {
                        name: "Retry-After".into(),
                        value: "5".into(),
                    })
                },
                now,
            );
        }
        let caller_extension = self.caller_extension(req, peer, now);
        let call_id = req.headers.call_id().unwrap_or_default();
        let call = self.calls.create(call_id);
        self.call_events.push_back((
            call,
            ToCall::New {
                tx,
                request: req.clone(),
                peer,
                caller_extension,
            },
        ));
    }

    /// The caller's extension when the INVITE comes from the address one of that
    /// extension's devices registered from (its From names the extension).
    fn caller_extension(&self, req: &Request, peer: Peer, now: Instant) -> Option<String> {
        let user = req.headers.from()?.uri.user()?;
        self.config.employee_by_extension(user)?;
        self.registrar
            .bindings(user, now)
            .iter()
            .any(|b| b.source == peer.addr())
            .then(|| user.to_owned())
    }

    fn on_register(
        &mut self,
        reply: Reply,
        req: &Request,
        peer: Peer,
        now: Instant,
        unix_secs: u64,
    ) {
        let Some(aor) = self.local_user(req) else {
            self.respond(reply, req, 404, |_| {}, now);
            return;
        };
        let Some(credentials) = req.headers.authorization().filter(|a| a.is_digest()) else {
            self.challenge(reply, req, false, now, unix_secs);
            return;
        };
        let employees = &self.config.employees;
        let verified = self.digest.verify(
            credentials,
            &req.method,
            unix_secs,
            |user, _alg: Algorithm| {
                employees
                    .iter()
                    .find(|e| e.extension.as_str() == user)
                    .map(|e| UserSecret::Password(e.sip_password.clone()))
            },
        );
        let ip = peer.addr().ip();
        match verified {
            Ok(v) if v.username == aor => {
                self.throttle.record_success(ip);
                self.register(reply, req, &aor, peer, now);
            }
            Ok(v) => {
                warn!(user = %v.username, %aor, source = %ip, "authenticated user tried to register another extension");
                self.respond(reply, req, 403, |_| {}, now);
            }
            Err(DigestError::Stale) => self.challenge(reply, req, true, now, unix_secs),
            Err(DigestError::Malformed(field)) => {
                let mut r = Response::to_request(req, 400, Some(&self.tag()));
                r.reason = format!("Bad Request (malformed Authorization {field})");
                self.send(reply, r, now);
            }
            Err(
                DigestError::WrongRealm
                | DigestError::InvalidNonce
                | DigestError::UnsupportedAlgorithm
                | DigestError::UnsupportedQop,
            ) => self.challenge(reply, req, false, now, unix_secs),
            Err(
                e @ (DigestError::BadResponse | DigestError::UnknownUser | DigestError::Replay),
            ) => {
                self.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
                if self.throttle.record_failure(ip, now) {
                    warn!(source = %ip, "too many failed authentications: source blocked");
                }
                debug!(source = %ip, %aor, error = %e, "authentication failed");
                self.respond(reply, req, 403, |_| {}, now);
            }
        }
    }

    fn register(&mut self, reply: Reply, req: &Request, aor: &str, peer: Peer, now: Instant) {
        match self
            .registrar
            .handle_register(aor, req, peer.addr(), peer.transport(), now)
        {
            Ok(bindings) => {
                self.counters.registrations.fetch_add(1, Ordering::Relaxed);
                if let Peer::Tcp { conn, addr } = peer {
                    self.remember_tcp(addr, conn, now);
                }
                self.respond(
                    reply,
                    req,
                    200,
                    |r| {
                        for b in &bindings {
                            let mut c = b.contact.clone();
                            c.params.set("expires", Some(&b.remaining(now).to_string()));
                            r.headers.push(Header::Contact(Contact::Addr(c)));
                        }
                    },
                    now,
                );
            }
            Err(RegisterError::IntervalTooBrief { min_expires }) => self.respond(
                reply,
                req,
                423,
                |r| {
                    r.headers.push(Header::Other {
                        name: "Min-Expires".into(),
                        value: min_expires.to_string().into(),
                    })
                },
                now,
            ),
            Err(RegisterError::BadWildcard) => {
                let mut r = Response::to_request(req, 400, Some(&self.tag()));
                r.reason = "Bad Request (Contact: * needs Expires: 0 and no other contact)".into();
                self.send(reply, r, now);
            }
            Err(RegisterError::Malformed(h)) => {
                let mut r = Response::to_request(req, 400, Some(&self.tag()));
                r.reason = format!("Bad Request (missing {h})");
                self.send(reply, r, now);
            }
        }
        self.drain_registrar();
    }

    fn challenge(
        &mut self,
        reply: Reply,
        req: &Request,
        stale: bool,
        now: Instant,
        unix_secs: u64,
    ) {
        let challenges = self.digest.challenge(unix_secs, stale);
        self.respond(
            reply,
            req,
            401,
            |r| {
                for c in challenges {
                    r.headers.push(Header::WwwAuthenticate(c));
                }
            },
            now,
        );
    }

    /// The extension a REGISTER is for, when the To URI names a user of our domain.
    fn local_user(&self, req: &Request) -> Option<String> {
        let to = req.headers.to()?;
        let Uri::Sip(uri) = &to.uri else { return None };
        let ours = match &uri.host {
            Host::Domain(d) => d.eq_ignore_ascii_case(&self.config.sip.domain),
            Host::Ip(_) => true,
        };
        ours.then(|| uri.user.as_deref().map(str::to_owned))
            .flatten()
    }

    fn tag(&mut self) -> String {
        self.next_tag = self
            .next_tag
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        format!("{:x}", self.next_tag >> 16)
    }

    fn respond(
        &mut self,
        reply: Reply,
        req: &Request,
        status: u16,
        build: impl FnOnce(&mut Response),
        now: Instant,
    ) {
        let tag = self.tag();
        let mut r = Response::to_request(req, status, Some(&tag));
        build(&mut r);
        self.send(reply, r, now);
    }

    fn send(&mut self, reply: Reply, mut r: Response, now: Instant) {
        r.headers.push(Header::Other {
            name: "Server".into(),
            value: concat!("ccd/", env!("CARGO_PKG_VERSION")).into(),
        });
        match reply {
            Reply::Tx(tx) => {
                if let Err(e) = self.transactions.send_response(tx, r, now) {
                    debug!(error = %e, "response not sent");
                }
            }
            Reply::Stateless(peer) => {
                let message = Message::Response(r);
                self.out.push_back(Outgoing {
                    peer: response_peer(&message, peer),
                    bytes: message.to_bytes(),
                });
            }
        }
        self.drain_transactions();
    }
}

fn allow(r: &mut Response) {
    r.headers.push(Header::Allow(ALLOW.to_vec()));
}

fn capabilities(r: &mut Response) {
    allow(r);
    r.headers.push(Header::Other {
        name: "Accept".into(),
        value: "application/sdp".into(),
    });
    r.headers
        .push(Header::Supported(vec!["path".into(), "outbound".into()]));
}

/// RFC 3261 18.2.1 and RFC 3581: note the source address on the top Via when it differs
/// from sent-by, and fill in `rport` when the client asked for it.
fn stamp_received(req: &mut Request, peer: Peer) {
    let Some(via) = req.headers.top_via_mut() else {
        return;
    };
    let src = peer.addr();
    let same_host = matches!(&via.host, Host::Ip(ip) if *ip == src.ip());
    if !same_host || via.rport().is_some() {
        via.params.set("received", Some(&src.ip().to_string()));
    }
    if via.rport().is_some() {
        via.params.set("rport", Some(&src.port().to_string()));
    }
}

/// Where a response goes (RFC 3261 18.2.2, RFC 3581 4): back over the same TCP connection;
/// over UDP to the source address when rport was used, otherwise to the source IP and the
/// sent-by port.
fn response_peer(message: &Message, dest: Peer) -> Peer {
    let (Message::Response(resp), Peer::Udp(src)) = (message, dest) else {
        return dest;
    };
    let Some(via) = resp.headers.top_via() else {
        return dest;
    };
    if via.rport().is_some() {
        return dest;
    }
    Peer::Udp(std::net::SocketAddr::new(
        src.ip(),
        via.port.unwrap_or(5060),
    ))
}

#[cfg(test)]
mod tests;
