//! `cc.calls.v1.Calls`: the calls in progress on this node, seen and steered from gRPC.
//! Handlers only convert and forward to the call actors.

use std::sync::Arc;

use cc_proto::calls::v1 as pb;
use cc_proto::calls::v1::calls_server::{Calls, CallsServer};
use ractor::{RactorErr, call_t};
use tonic::{Request, Response, Status};

use super::{
    AnnouncementError, CallContext, CallInfo, CallMsg, CallState, HoldError, TransferError,
};

#[derive(Debug, Clone)]
pub struct CallsApi {
    ctx: Arc<CallContext>,
}

impl CallsApi {
    pub fn server(ctx: Arc<CallContext>) -> CallsServer<CallsApi> {
        CallsServer::new(CallsApi { ctx })
    }

    fn actor(&self, call_id: &str) -> Result<ractor::ActorRef<CallMsg>, Status> {
        if call_id.is_empty() {
            return Err(Status::invalid_argument("call_id is required"));
        }
        self.ctx
            .registry
            .by_id(call_id)
            .ok_or_else(|| Status::not_found(format!("call_id: no call {call_id:?} in progress")))
    }
}

impl CallsApi {
    /// Holds (`on`) or resumes a call for the one who took it.
    async fn hold(&self, call_id: &str, on: bool) -> Result<(), Status> {
        let actor = self.actor(call_id)?;
        let timeout_ms = self.ctx.timings.rpc_timeout.as_millis() as u64 * 4;
        match call_t!(actor, |reply| CallMsg::Hold { on, reply }, timeout_ms) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e @ HoldError::NotConnected)) => Err(Status::failed_precondition(e.to_string())),
            Ok(Err(HoldError::Gone))
            | Err(RactorErr::Actor(_) | RactorErr::Messaging(_) | RactorErr::Spawn(_)) => {
                Err(Status::not_found("call_id: the call has ended"))
            }
            Err(RactorErr::Timeout) => {
                Err(Status::deadline_exceeded("the call did not answer in time"))
            }
        }
    }
}

fn call(info: CallInfo) -> pb::Call {
    let state = match info.state {
        CallState::Routing => pb::CallState::Routing,
        CallState::Queued => pb::CallState::Queued,
        CallState::Dialing => pb::CallState::Dialing,
        CallState::Talking => pb::CallState::Talking,
        CallState::Ending => pb::CallState::Ending,
    };
    pb::Call {
        call_id: info.id,
        dialed: info.dialed,
        caller: info.caller,
        state: state.into(),
        department_id: info.department.unwrap_or_default(),
        agent_id: info.agent.unwrap_or_default(),
        started_unix_ms: info.started_unix_ms,
        connected_unix_ms: info.connected_unix_ms.unwrap_or(0),
        held_since_unix_ms: info.held_since_unix_ms.unwrap_or(0),
    }
}

#[tonic::async_trait]
impl Calls for CallsApi {
    async fn list_calls(
        &self,
        _: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        let calls = self.ctx.registry.list().into_iter().map(call).collect();
        Ok(Response::new(pb::ListCallsResponse { calls }))
    }

    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::Call>, Status> {
        let id = request.into_inner().call_id;
        if id.is_empty() {
            return Err(Status::invalid_argument("call_id is required"));
        }
        self.ctx
            .registry
            .info(&id)
            .map(|i| Response::new(call(i)))
            .ok_or_else(|| Status::not_found(format!("call_id: no call {id:?} in progress")))
    }

    async fn hangup_call(
        &self,
        request: Request<pb::HangupCallRequest>,
    ) -> Result<Response<pb::HangupCallResponse>, Status> {
        let actor = self.actor(&request.into_inner().call_id)?;
        actor
            .cast(CallMsg::Hangup)
            .map_err(|_| Status::not_found("call_id: the call has just ended"))?;
        Ok(Response::new(pb::HangupCallResponse {}))
    }

    async fn answer_announcement(
        &self,
        request: Request<pb::AnswerAnnouncementRequest>,
    ) -> Result<Response<pb::AnswerAnnouncementResponse>, Status> {
        let r = request.into_inner();
        let actor = self.actor(&r.call_id)?;
        let timeout_ms = self.ctx.timings.rpc_timeout.as_millis() as u64 * 4;
        let result = call_t!(
            actor,
            |reply| CallMsg::AnswerAnnouncement {
                accept: r.accept,
                reply
            },
            timeout_ms
        );
        match result {
            Ok(Ok(())) => Ok(Response::new(pb::AnswerAnnouncementResponse {})),
            Ok(Err(e @ AnnouncementError::NotPresented)) => {
                Err(Status::failed_precondition(e.to_string()))
            }
            Err(RactorErr::Actor(_) | RactorErr::Messaging(_) | RactorErr::Spawn(_)) => {
                Err(Status::not_found("call_id: the call has ended"))
            }
            Err(RactorErr::Timeout) => {
                Err(Status::deadline_exceeded("the call did not answer in time"))
            }
        }
    }

    async fn hold_call(
        &self,
        request: Request<pb::HoldCallRequest>,
    ) -> Result<Response<pb::HoldCallResponse>, Status> {
        self.hold(&request.into_inner().call_id, true).await?;
        Ok(Response::new(pb::HoldCallResponse {}))
    }

    async fn resume_call(
        &self,
        request: Request<pb::ResumeCallRequest>,
    ) -> Result<Response<pb::ResumeCallResponse>, Status> {
        self.hold(&request.into_inner().call_id, false).await?;
        Ok(Response::new(pb::ResumeCallResponse {}))
    }

    async fn transfer_call(
        &self,
        request: Request<pb::TransferCallRequest>,
    ) -> Result<Response<pb::TransferCallResponse>, Status> {
        let r = request.into_inner();
        if r.target.is_empty() {
            return Err(Status::invalid_argument("target is required"));
        }
        let actor = self.actor(&r.call_id)?;
        let timeout_ms = self.ctx.timings.rpc_timeout.as_millis() as u64 * 4;
        let result = call_t!(
            actor,
            |reply| CallMsg::Transfer {
                target: r.target,
                announced: r.announced,
                reply
            },
            timeout_ms
        );
        transfer_outcome(result)?;
        Ok(Response::new(pb::TransferCallResponse {}))
    }

    async fn run_scenario(
        &self,
        request: Request<pb::RunScenarioRequest>,
    ) -> Result<Response<pb::RunScenarioResponse>, Status> {
        let r = request.into_inner();
        if r.scenario_id.is_empty() {
            return Err(Status::invalid_argument("scenario_id is required"));
        }
        let actor = self.actor(&r.call_id)?;
        let timeout_ms = self.ctx.timings.rpc_timeout.as_millis() as u64 * 4;
        let by = (!r.agent_id.is_empty()).then_some(r.agent_id);
        let result = call_t!(
            actor,
            |reply| CallMsg::RunScenario {
                scenario: r.scenario_id,
                by,
                reply
            },
            timeout_ms
        );
        transfer_outcome(result)?;
        Ok(Response::new(pb::RunScenarioResponse {}))
    }
}

/// What a transfer's (or a scenario run's) answer from the call actor means to the API.
#[allow(clippy::result_large_err)]
fn transfer_outcome(
    result: Result<Result<(), TransferError>, RactorErr<CallMsg>>,
) -> Result<(), Status> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e @ TransferError::NotConnected)) => Err(Status::failed_precondition(e.to_string())),
        Ok(Err(
            e @ (TransferError::Unreachable(_)
            | TransferError::NotAnnounceable(_)
            | TransferError::NoScenario(_)),
        )) => Err(Status::invalid_argument(e.to_string())),
        // Only a phone's attended transfer gets these.
        Ok(Err(e @ (TransferError::NoSuchDialog | TransferError::Unsupported(_)))) => {
            Err(Status::failed_precondition(e.to_string()))
        }
        Ok(Err(TransferError::Gone))
        | Err(RactorErr::Actor(_) | RactorErr::Messaging(_) | RactorErr::Spawn(_)) => {
            Err(Status::not_found("call_id: the call has ended"))
        }
        Err(RactorErr::Timeout) => {
            Err(Status::deadline_exceeded("the call did not answer in time"))
        }
    }
}
