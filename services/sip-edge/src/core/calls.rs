//! The core's side of calls: which SIP dialogs and transactions belong to which call actor.
//!
//! The core stays the only owner of the transaction table. A call actor sees its legs as
//! [`ToCall`] events (tagged with its [`CallNo`]) and acts through [`FromCall`] commands;
//! every leg is known by its Call-ID, which the core learns from the first request of the
//! leg (the caller's INVITE, or an INVITE the actor sends to an agent).

use std::collections::HashMap;

use cc_sip::transaction::TxHandle;
use cc_sip::{Message, Method, Request, Response};

use crate::transport::Peer;

/// Names one call on this node (never reused while the node runs).
pub type CallNo = u64;

/// What the core tells a call actor.
#[derive(Debug, Clone)]
pub enum ToCall {
    /// A new call: the caller's initial INVITE, 100 Trying already sent. `caller_extension`
    /// is set when it comes from a registered device of that employee.
    New {
        tx: TxHandle,
        request: Request,
        peer: Peer,
        caller_extension: Option<String>,
    },
    /// A request inside one of the call's dialogs (BYE, re-INVITE, INFO...), to be answered
    /// on `tx`.
    Request {
        tx: TxHandle,
        request: Request,
        peer: Peer,
    },
    /// The ACK for a 2xx the actor sent.
    Ack { request: Request },
    /// The caller cancelled the INVITE on `invite` (200 to the CANCEL already sent); the
    /// actor answers the INVITE 487 unless it already sent a final response.
    Cancelled { invite: TxHandle },
    /// A response to a request the actor sent (also a retransmitted 2xx after its
    /// transaction ended: the actor sends the ACK again).
    Response { response: Response },
    /// A request the actor sent got no final response in time.
    Timeout { call_id: String, method: Method },
}

/// What a call actor asks the core to do.
#[derive(Debug)]
pub enum FromCall {
    /// Answer a server transaction.
    Respond { tx: TxHandle, response: Response },
    /// Send a request in its own client transaction; its Call-ID becomes one of the call's
    /// legs.
    Request {
        call: CallNo,
        request: Request,
        dest: Peer,
    },
    /// Send a message outside any transaction (the ACK for a 2xx).
    Stateless { message: Message, dest: Peer },
    /// The devices registered for an extension, freshest first.
    Contacts {
        extension: String,
        reply: tokio::sync::oneshot::Sender<Vec<Contact>>,
    },
    /// The leg `call_id` now belongs to call `to`, with its transactions (an attended
    /// transfer hands a talking leg from one call to another).
    MoveLeg { call_id: String, to: CallNo },
    /// The call is over: forget its legs (late messages then get 481 or are dropped).
    Ended { call: CallNo },
}

/// A device to ring: its Contact URI and where to send the INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub uri: cc_sip::Uri,
    pub dest: Peer,
}

/// The registry of legs and client transactions per call.
#[derive(Debug, Default)]
pub(crate) struct CallTable {
    next: CallNo,
    legs: HashMap<String, CallNo>,
    per_call: HashMap<CallNo, Vec<String>>,
    clients: HashMap<TxHandle, (CallNo, String, Method)>,
    /// Each call's client transactions, so that forgetting a call is O(its own legs).
    client_handles: HashMap<CallNo, Vec<TxHandle>>,
}

impl CallTable {
    pub fn len(&self) -> usize {
        self.per_call.len()
    }

    /// A new call owning the leg `call_id`.
    pub fn create(&mut self, call_id: &str) -> CallNo {
        self.next += 1;
        let call = self.next;
        self.add_leg(call, call_id);
        call
    }

    pub fn add_leg(&mut self, call: CallNo, call_id: &str) {
        if self.legs.insert(call_id.to_owned(), call).is_none() {
            self.per_call
                .entry(call)
                .or_default()
                .push(call_id.to_owned());
        }
    }

    pub fn by_leg(&self, call_id: &str) -> Option<CallNo> {
        self.legs.get(call_id).copied()
    }

    pub fn add_client(&mut self, tx: TxHandle, call: CallNo, call_id: &str, method: Method) {
        self.clients.insert(tx, (call, call_id.to_owned(), method));
        self.client_handles.entry(call).or_default().push(tx);
    }

    pub fn client(&self, tx: TxHandle) -> Option<&(CallNo, String, Method)> {
        self.clients.get(&tx)
    }

    pub fn client_done(&mut self, tx: TxHandle) {
        if let Some((call, _, _)) = self.clients.remove(&tx)
            && let Some(handles) = self.client_handles.get_mut(&call)
        {
            handles.retain(|h| *h != tx);
        }
    }

    /// Gives the leg `call_id` (and its client transactions) to `to`; a leg nobody has is
    /// left alone.
    pub fn move_leg(&mut self, call_id: &str, to: CallNo) {
        let Some(from) = self.legs.get(call_id).copied() else {
            return;
        };
        if from == to {
            return;
        }
        if let Some(legs) = self.per_call.get_mut(&from) {
            legs.retain(|l| l != call_id);
        }
        self.legs.remove(call_id);
        self.add_leg(to, call_id);
        let moved: Vec<TxHandle> = self
            .client_handles
            .get(&from)
            .into_iter()
            .flatten()
            .copied()
            .filter(|tx| self.clients.get(tx).is_some_and(|(_, id, _)| id == call_id))
            .collect();
        for tx in moved {
            if let Some((call, _, _)) = self.clients.get_mut(&tx) {
                *call = to;
            }
            if let Some(handles) = self.client_handles.get_mut(&from) {
                handles.retain(|h| *h != tx);
            }
            self.client_handles.entry(to).or_default().push(tx);
        }
    }

    pub fn remove(&mut self, call: CallNo) {
        for leg in self.per_call.remove(&call).unwrap_or_default() {
            self.legs.remove(&leg);
        }
        for tx in self.client_handles.remove(&call).unwrap_or_default() {
            self.clients.remove(&tx);
        }
    }
}
