//! proto -> domain for `cc.presence.internal.v1`: each request becomes the agent and the
//! [`Command`] it applies (or, for a device report, the phone: extension, contact and edge).
//! Refusals of the core go through presence's one mapping, [`crate::convert::status`].

use std::time::Duration;

use cc_proto::presence::internal::v1 as pb;
use tonic::Status;

use crate::actor::Command;
use crate::convert::agent_id;
use crate::core::{AgentId, CallId, EdgeNode};

/// The `call_id` of a request.
fn call_id(id: String) -> Result<CallId, Status> {
    if id.is_empty() {
        return Err(Status::invalid_argument("call_id: must not be empty"));
    }
    Ok(CallId::new(id))
}

/// The `edge_node` of a request: empty when the caller does not know it.
fn edge_node(name: String) -> Option<EdgeNode> {
    (!name.is_empty()).then(|| EdgeNode::new(name))
}

/// The agent and call of a call-phase report.
pub(super) fn agent_call(request: pb::AgentCall) -> Result<(AgentId, CallId), Status> {
    Ok((agent_id(request.agent_id)?, call_id(request.call_id)?))
}

/// The agent and the `Reserve` command. A ttl of 0 or above the maximum, or an edge name
/// too long, is the core's to refuse, naming the field.
pub(super) fn reserve(request: pb::ReserveRequest) -> Result<(AgentId, Command), Status> {
    let agent = agent_id(request.agent_id)?;
    let call = call_id(request.call_id)?;
    let edge = edge_node(request.edge_node);
    let ttl = Duration::from_millis(request.ttl_ms);
    Ok((agent, Command::Reserve { call, edge, ttl }))
}

/// A phone as a device report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Phone {
    /// The extension it registered for.
    pub(super) extension: String,
    /// Its Contact URI (one device per contact).
    pub(super) contact: String,
    /// The sip-edge node it registered with, if the node said. An edge name too long is the
    /// core's to refuse (as for a call's edge), naming `edge_node`.
    pub(super) edge: Option<EdgeNode>,
}

/// The phone of a device report.
pub(super) fn device(request: pb::DeviceRequest) -> Result<Phone, Status> {
    if request.extension.is_empty() {
        return Err(Status::invalid_argument("extension: must not be empty"));
    }
    if request.contact.is_empty() {
        return Err(Status::invalid_argument("contact: must not be empty"));
    }
    Ok(Phone {
        extension: request.extension,
        contact: request.contact,
        edge: edge_node(request.edge_node),
    })
}

/// The agent and the `CallEnded` command, with its wrap-up (presence caps it).
pub(super) fn call_ended(request: pb::CallEndedRequest) -> Result<(AgentId, Command), Status> {
    let agent = agent_id(request.agent_id)?;
    let call = call_id(request.call_id)?;
    let wrap_up = Duration::from_secs(u64::from(request.wrap_up_seconds));
    Ok((agent, Command::CallEnded { call, wrap_up }))
}

/// The agent and the `CallInProgress` command of a call reported after a takeover.
pub(super) fn call_in_progress(
    request: pb::CallInProgressRequest,
) -> Result<(AgentId, Command), Status> {
    let agent = agent_id(request.agent_id)?;
    let call = call_id(request.call_id)?;
    let edge = edge_node(request.edge_node);
    if !request.replaces_call_id.is_empty() {
        let from = call_id(request.replaces_call_id)?;
        return Ok((agent, Command::CallMoved { call, from, edge }));
    }
    let answered = request.answered;
    Ok((
        agent,
        Command::CallInProgress {
            call,
            edge,
            answered,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tonic::Code;

    use super::*;

    fn field(status: &Status) -> &str {
        status.message().split(':').next().unwrap_or_default()
    }

    #[test]
    fn a_report_names_its_agent_and_call() {
        let request = pb::AgentCall {
            agent_id: "anna".into(),
            call_id: "c1".into(),
        };
        assert_eq!(
            agent_call(request).unwrap(),
            (AgentId::new("anna"), CallId::new("c1"))
        );
    }

    #[test]
    fn a_call_end_carries_its_wrap_up_in_seconds() {
        let request = pb::CallEndedRequest {
            agent_id: "anna".into(),
            call_id: "c1".into(),
            wrap_up_seconds: 30,
        };
        assert_eq!(
            call_ended(request).unwrap(),
            (
                AgentId::new("anna"),
                Command::CallEnded {
                    call: CallId::new("c1"),
                    wrap_up: Duration::from_secs(30),
                }
            )
        );
    }

    #[test]
    fn a_call_in_progress_says_whether_it_was_answered_and_its_edge() {
        for (answered, edge_node, edge) in [
            (false, "", None),
            (true, "", None),
            (true, "edge-1", Some(EdgeNode::new("edge-1"))),
        ] {
            let request = pb::CallInProgressRequest {
                agent_id: "anna".into(),
                call_id: "c1".into(),
                answered,
                edge_node: edge_node.into(),
                replaces_call_id: String::new(),
            };
            assert_eq!(
                call_in_progress(request).unwrap(),
                (
                    AgentId::new("anna"),
                    Command::CallInProgress {
                        call: CallId::new("c1"),
                        edge,
                        answered,
                    }
                )
            );
        }
    }

    #[test]
    fn a_reservation_carries_its_ttl_in_milliseconds_and_its_edge() {
        for (edge_node, edge) in [("", None), ("edge-1", Some(EdgeNode::new("edge-1")))] {
            let request = pb::ReserveRequest {
                agent_id: "anna".into(),
                call_id: "c1".into(),
                ttl_ms: 20_500,
                edge_node: edge_node.into(),
            };
            assert_eq!(
                reserve(request).unwrap(),
                (
                    AgentId::new("anna"),
                    Command::Reserve {
                        call: CallId::new("c1"),
                        edge,
                        ttl: Duration::from_millis(20_500),
                    }
                )
            );
        }
    }

    #[test]
    fn a_device_report_needs_extension_and_contact_and_may_name_its_edge() {
        let request = |extension: &str, contact: &str, edge_node: &str| pb::DeviceRequest {
            extension: extension.into(),
            contact: contact.into(),
            edge_node: edge_node.into(),
        };
        for (edge_node, edge) in [("", None), ("edge-1", Some(EdgeNode::new("edge-1")))] {
            assert_eq!(
                device(request("201", "sip:201@10.0.0.5:5060", edge_node)).unwrap(),
                Phone {
                    extension: "201".to_owned(),
                    contact: "sip:201@10.0.0.5:5060".to_owned(),
                    edge,
                }
            );
        }
        let cases = [("", "sip:x", "extension"), ("201", "", "contact")];
        for (extension, contact, name) in cases {
            let e = device(request(extension, contact, "edge-1")).unwrap_err();
            assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, name));
        }
    }

    #[test]
    fn empty_ids_are_refused_naming_the_field() {
        let cases = [("", "c1", "agent_id"), ("anna", "", "call_id")];
        for (agent, call, name) in cases {
            let e = agent_call(pb::AgentCall {
                agent_id: agent.into(),
                call_id: call.into(),
            })
            .unwrap_err();
            assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, name));
            let e = call_ended(pb::CallEndedRequest {
                agent_id: agent.into(),
                call_id: call.into(),
                wrap_up_seconds: 0,
            })
            .unwrap_err();
            assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, name));
            let e = reserve(pb::ReserveRequest {
                agent_id: agent.into(),
                call_id: call.into(),
                ttl_ms: 1000,
                edge_node: "edge-1".into(),
            })
            .unwrap_err();
            assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, name));
            let e = call_in_progress(pb::CallInProgressRequest {
                agent_id: agent.into(),
                call_id: call.into(),
                answered: true,
                edge_node: "edge-1".into(),
                replaces_call_id: String::new(),
            })
            .unwrap_err();
            assert_eq!((e.code(), field(&e)), (Code::InvalidArgument, name));
        }
    }
}
