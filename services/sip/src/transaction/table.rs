//! The transaction table: matches messages to transactions, creates server transactions
//! for new requests, and gathers what the machines want sent, told and woken up for.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use super::invite_client::InviteClient;
use super::invite_server::{InviteServer, InviteServerInput};
use super::key::{ClientKey, ServerKey};
use super::non_invite_client::NonInviteClient;
use super::non_invite_server::NonInviteServer;
use super::timer::TimerConfig;
use super::{
    Action, Machine, RequestOutcome, ResponseOutcome, TransactionError, TransactionEvent, Transmit,
    TxHandle,
};
use crate::message::{Message, Request, Response};
use crate::method::Method;

/// Every live transaction of one SIP endpoint, generic over the transport's opaque
/// destination `D` (a peer address, a connection id).
///
/// Calling contract: give inputs to the `handle_*` and `send_*` methods; after each, drain
/// [`poll_transmit`](Self::poll_transmit) and [`poll_event`](Self::poll_event), then call
/// [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is
/// reached. A terminated transaction leaves the table at once (with a
/// [`TransactionEvent::Terminated`]), so its size follows the live traffic.
#[derive(Debug)]
pub struct TransactionTable<D> {
    config: TimerConfig,
    next_handle: u64,
    transactions: HashMap<TxHandle, Entry<D>>,
    clients: HashMap<ClientKey, TxHandle>,
    servers: HashMap<ServerKey, TxHandle>,
    /// Each transaction's next wake-up, ordered so the earliest is first.
    deadlines: BTreeSet<(Instant, TxHandle)>,
    transmits: VecDeque<Transmit<D>>,
    events: VecDeque<TransactionEvent>,
}

#[derive(Debug)]
struct Entry<D> {
    tx: Transaction,
    key: Key,
    dest: D,
    /// What is filed in `deadlines` for this transaction.
    deadline: Option<Instant>,
}

#[derive(Debug)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
enum Transaction {
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
}

impl Transaction {
    fn machine(&self) -> &dyn Machine {
        match self {
            Transaction::InviteClient(t) => t,
            Transaction::NonInviteClient(t) => t,
            Transaction::InviteServer(t) => t,
            Transaction::NonInviteServer(t) => t,
        }
    }

    fn machine_mut(&mut self) -> &mut dyn Machine {
        match self {
            Transaction::InviteClient(t) => t,
            Transaction::NonInviteClient(t) => t,
            Transaction::InviteServer(t) => t,
            Transaction::NonInviteServer(t) => t,
        }
    }
}

impl<D: Clone> TransactionTable<D> {
    pub fn new(config: TimerConfig) -> Self {
        TransactionTable {
            config: config.sanitized(),
            next_handle: 0,
            transactions: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            deadlines: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// A request from the network, received from `dest` over a transport that is
    /// `reliable` or not. Fails only when the request has no Via (or, without an RFC 3261
    /// branch, no Call-ID or CSeq): such a request cannot be answered and is dropped.
    pub fn handle_request(
        &mut self,
        request: Request,
        reliable: bool,
        dest: D,
        now: Instant,
    ) -> Result<RequestOutcome, TransactionError> {
        let key = ServerKey::of_request(&request)?;
        if let Some(&handle) = self.servers.get(&key) {
            let mut out = Vec::new();
            let outcome = match self.transactions.get_mut(&handle).map(|e| &mut e.tx) {
                Some(Transaction::InviteServer(tx)) => {
                    match tx.handle_request(&request.method, now, &mut out) {
                        InviteServerInput::Retransmission => RequestOutcome::Retransmission(handle),
                        InviteServerInput::AckAbsorbed => RequestOutcome::AckAbsorbed(handle),
                        InviteServerInput::AckForTu => RequestOutcome::Ack(request),
                    }
                }
                Some(Transaction::NonInviteServer(tx)) => {
                    tx.handle_request(&mut out);
                    RequestOutcome::Retransmission(handle)
                }
                // The server index only names server transactions.
                _ => RequestOutcome::Retransmission(handle),
            };
            self.finish(handle, out);
            return Ok(outcome);
        }
        if request.method == Method::Ack {
            return Ok(RequestOutcome::Ack(request));
        }
        let mut out = Vec::new();
        let tx = if request.method == Method::Invite {
            Transaction::InviteServer(InviteServer::new(&request, reliable, self.config, &mut out))
        } else {
            Transaction::NonInviteServer(NonInviteServer::new(reliable, self.config))
        };
        let cancelled = (request.method == Method::Cancel).then(|| key.as_invite());
        let handle = self.insert(tx, Key::Server(key), dest, out);
        Ok(match cancelled {
            Some(invite) => {
                let invite = self.servers.get(&invite).copied();
                RequestOutcome::Cancel {
                    handle,
                    request,
                    invite,
                }
            }
            None => RequestOutcome::New { handle, request },
        })
    }

    /// The TU's response for a server transaction. Provisional responses may repeat; after
    /// a 2xx to an INVITE only further 2xx (the TU's retransmissions) are accepted.
    pub fn send_response(
        &mut self,
        handle: TxHandle,
        response: Response,
        now: Instant,
    ) -> Result<(), TransactionError> {
        if !(100..=699).contains(&response.status) {
            return Err(TransactionError::InvalidStatus(response.status));
        }
        let entry = self
            .transactions
            .get_mut(&handle)
            .ok_or(TransactionError::UnknownTransaction(handle))?;
        let mut out = Vec::new();
        match &mut entry.tx {
            Transaction::InviteServer(tx) => tx.send_response(response, now, &mut out)?,
            Transaction::NonInviteServer(tx) => tx.send_response(response, now, &mut out)?,
            _ => return Err(TransactionError::NotAServerTransaction(handle)),
        }
        self.finish(handle, out);
        Ok(())
    }

    /// Starts a client transaction and queues the request for `dest`. The caller sets the
    /// top Via with a fresh `z9hG4bK` branch; a CANCEL reuses its INVITE's branch
    /// ([`super::cancel_for`]). ACK is refused: the ACK for a non-2xx is sent by the INVITE
    /// transaction itself, the ACK for a 2xx by the TU with [`Self::send_stateless`].
    pub fn send_request(
        &mut self,
        request: Request,
        reliable: bool,
        dest: D,
        now: Instant,
    ) -> Result<TxHandle, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckWithoutTransaction);
        }
        let key = ClientKey::of_request(&request)?;
        if self.clients.contains_key(&key) {
            return Err(TransactionError::DuplicateTransaction);
        }
        if request.method == Method::Cancel {
            self.cancel_sent(&key.as_invite(), now);
        }
        let mut out = Vec::new();
        let tx = if request.method == Method::Invite {
            Transaction::InviteClient(InviteClient::new(
                request,
                reliable,
                self.config,
                now,
                &mut out,
            ))
        } else {
            let tx = NonInviteClient::new(request, reliable, self.config, now, &mut out);
            Transaction::NonInviteClient(tx)
        };
        Ok(self.insert(tx, Key::Client(key), dest, out))
    }

    /// A response from the network, matched by top Via branch and CSeq method.
    pub fn handle_response(&mut self, response: Response, now: Instant) -> ResponseOutcome {
        let Some(key) = ClientKey::of_response(&response) else {
            return ResponseOutcome::Unmatched(response);
        };
        let Some(&handle) = self.clients.get(&key) else {
            return ResponseOutcome::Unmatched(response);
        };
        let mut out = Vec::new();
        match self.transactions.get_mut(&handle).map(|e| &mut e.tx) {
            Some(Transaction::InviteClient(tx)) => tx.handle_response(response, now, &mut out),
            Some(Transaction::NonInviteClient(tx)) => tx.handle_response(response, now, &mut out),
            _ => return ResponseOutcome::Unmatched(response),
        }
        self.finish(handle, out);
        ResponseOutcome::Matched(handle)
    }

    /// Queues a message that belongs to no transaction: the ACK for a 2xx, or a response
    /// sent statelessly.
    pub fn send_stateless(&mut self, message: Message, dest: D) {
        self.transmits.push_back(Transmit { message, dest });
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<TxHandle> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|&(_, handle)| handle)
            .collect();
        for handle in due {
            let mut out = Vec::new();
            if let Some(entry) = self.transactions.get_mut(&handle) {
                entry.tx.machine_mut().handle_timeout(now, &mut out);
            }
            self.finish(handle, out);
        }
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit<D>> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    fn insert(&mut self, tx: Transaction, key: Key, dest: D, out: Vec<Action>) -> TxHandle {
        let handle = TxHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1);
        match &key {
            Key::Client(k) => self.clients.insert(k.clone(), handle),
            Key::Server(k) => self.servers.insert(k.clone(), handle),
        };
        self.transactions.insert(
            handle,
            Entry {
                tx,
                key,
                dest,
                deadline: None,
            },
        );
        self.finish(handle, out);
        handle
    }

    /// RFC 3261 9.1: an INVITE whose CANCEL got no final response is given up 64*T1 later.
    fn cancel_sent(&mut self, invite: &ClientKey, now: Instant) {
        let Some(&handle) = self.clients.get(invite) else {
            return;
        };
        if let Some(Entry {
            tx: Transaction::InviteClient(tx),
            ..
        }) = self.transactions.get_mut(&handle)
        {
            tx.cancel_sent(now);
            self.finish(handle, Vec::new());
        }
    }

    /// Queues what a machine asked for, then files its next deadline, or removes it when
    /// it has terminated.
    fn finish(&mut self, handle: TxHandle, out: Vec<Action>) {
        let Some(entry) = self.transactions.get_mut(&handle) else {
            return;
        };
        for action in out {
            match action {
                Action::Transmit(message) => self.transmits.push_back(Transmit {
                    message,
                    dest: entry.dest.clone(),
                }),
                Action::Deliver(response) => self
                    .events
                    .push_back(TransactionEvent::Response { handle, response }),
                Action::Timeout(timer) => self
                    .events
                    .push_back(TransactionEvent::Timeout { handle, timer }),
            }
        }
        let terminated = entry.tx.machine().is_terminated();
        let deadline = if terminated {
            None
        } else {
            entry.tx.machine().poll_timeout()
        };
        if deadline != entry.deadline {
            if let Some(old) = entry.deadline {
                self.deadlines.remove(&(old, handle));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, handle));
            }
            entry.deadline = deadline;
        }
        if terminated && let Some(entry) = self.transactions.remove(&handle) {
            match entry.key {
                Key::Client(k) => self.clients.remove(&k),
                Key::Server(k) => self.servers.remove(&k),
            };
            self.events
                .push_back(TransactionEvent::Terminated { handle });
        }
    }
}

#[cfg(test)]
mod tests;
