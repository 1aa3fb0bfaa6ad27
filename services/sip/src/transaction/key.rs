//! Transaction matching keys (RFC 3261 17.1.3 for clients, 17.2.3 for servers).

use crate::header::{BRANCH_MAGIC, Via};
use crate::message::{Request, Response};
use crate::method::Method;

use super::TransactionError;

/// Matches responses to client transactions: top Via branch and CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    /// The key of a request about to be sent; the branch must carry the magic cookie
    /// because responses are matched by branch alone.
    pub(crate) fn of_request(req: &Request) -> Result<ClientKey, TransactionError> {
        let via = req
            .headers
            .top_via()
            .ok_or(TransactionError::MissingHeader("Via"))?;
        let branch = via.branch().unwrap_or_default();
        if !branch.starts_with(BRANCH_MAGIC) {
            return Err(TransactionError::BranchWithoutMagicCookie(
                branch.to_owned(),
            ));
        }
        let cseq = req
            .headers
            .cseq()
            .ok_or(TransactionError::MissingHeader("CSeq"))?;
        if cseq.method != req.method {
            return Err(TransactionError::CSeqMismatch {
                cseq: cseq.method.clone(),
                method: req.method.clone(),
            });
        }
        Ok(ClientKey {
            branch: branch.to_owned(),
            method: req.method.clone(),
        })
    }

    pub(crate) fn of_response(resp: &Response) -> Option<ClientKey> {
        let branch = resp.headers.top_via()?.branch()?;
        let method = resp.headers.cseq()?.method.clone();
        Some(ClientKey {
            branch: branch.to_owned(),
            method,
        })
    }

    /// The INVITE this CANCEL shares its branch with (RFC 3261 9.1).
    pub(crate) fn as_invite(&self) -> ClientKey {
        ClientKey {
            branch: self.branch.clone(),
            method: Method::Invite,
        }
    }
}

/// Matches requests to server transactions. ACK is keyed as INVITE so that it finds the
/// INVITE transaction it acknowledges.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// RFC 3261 branch: branch, sent-by and method.
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// RFC 2543 peers (no magic cookie): a simplified 17.2.3 fallback.
    Legacy {
        call_id: String,
        seq: u32,
        from_tag: Option<String>,
        via: String,
        method: Method,
    },
}

impl ServerKey {
    pub(crate) fn of_request(req: &Request) -> Result<ServerKey, TransactionError> {
        let via = req
            .headers
            .top_via()
            .ok_or(TransactionError::MissingHeader("Via"))?;
        let method = match &req.method {
            Method::Ack => Method::Invite,
            m => m.clone(),
        };
        if let Some(branch) = via.branch().filter(|b| b.starts_with(BRANCH_MAGIC)) {
            return Ok(ServerKey::Rfc3261 {
                branch: branch.to_owned(),
                sent_by: sent_by(via),
                method,
            });
        }
        let call_id = req
            .headers
            .call_id()
            .ok_or(TransactionError::MissingHeader("Call-ID"))?;
        let cseq = req
            .headers
            .cseq()
            .ok_or(TransactionError::MissingHeader("CSeq"))?;
        Ok(ServerKey::Legacy {
            call_id: call_id.to_owned(),
            seq: cseq.seq,
            from_tag: req.headers.from().and_then(|f| f.tag()).map(str::to_owned),
            via: via.to_string(),
            method,
        })
    }

    /// The key of the INVITE a CANCEL with this key would cancel (RFC 3261 9.2).
    pub(crate) fn as_invite(&self) -> ServerKey {
        let mut key = self.clone();
        match &mut key {
            ServerKey::Rfc3261 { method, .. } | ServerKey::Legacy { method, .. } => {
                *method = Method::Invite
            }
        }
        key
    }
}

/// Host (case-folded) and port of a Via.
fn sent_by(via: &Via) -> String {
    let mut s = via.host.to_string().to_ascii_lowercase();
    if let Some(port) = via.port {
        s.push(':');
        s.push_str(&port.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::request;

    #[test]
    fn ack_and_cancel_find_the_invite_server_key() {
        let invite = ServerKey::of_request(&request("INVITE", "z9hG4bK1")).unwrap();
        let ack = ServerKey::of_request(&request("ACK", "z9hG4bK1")).unwrap();
        let cancel = ServerKey::of_request(&request("CANCEL", "z9hG4bK1")).unwrap();
        assert_eq!(invite, ack);
        assert_ne!(invite, cancel);
        assert_eq!(invite, cancel.as_invite());
    }

    #[test]
    fn sent_by_host_compares_case_insensitively() {
        let a = request("OPTIONS", "z9hG4bK1");
        let mut b = a.clone();
        b.headers.top_via_mut().unwrap().host = crate::uri::Host::Domain("A.EXAMPLE".into());
        assert_eq!(
            ServerKey::of_request(&a).unwrap(),
            ServerKey::of_request(&b).unwrap()
        );
        b.headers.top_via_mut().unwrap().port = Some(5070);
        assert_ne!(
            ServerKey::of_request(&a).unwrap(),
            ServerKey::of_request(&b).unwrap()
        );
    }

    #[test]
    fn branch_without_magic_cookie_falls_back_to_dialog_fields() {
        let key = ServerKey::of_request(&request("INVITE", "old1")).unwrap();
        assert!(matches!(key, ServerKey::Legacy { seq: 1, .. }));
        assert!(ClientKey::of_request(&request("INVITE", "old1")).is_err());
    }
}
