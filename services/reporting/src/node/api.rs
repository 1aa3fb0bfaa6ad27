//! `cc.reporting.v1.Reporting` over the node's store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use cc_common::Config;
use cc_proto::reporting::v1 as pb;
use cc_proto::reporting::v1::reporting_server::{Reporting, ReportingServer};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{NodeError, Stores, convert};
use crate::core::{AgentId, AgentScope, CallRecord};

/// A recording is sent in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// The Reporting service.
#[derive(Debug, Clone)]
pub struct ReportingApi {
    stores: Stores,
    /// The organisation (which agents a department's occupancy counts).
    organization: watch::Receiver<Arc<Config>>,
}

impl ReportingApi {
    pub fn new(stores: Stores, organization: watch::Receiver<Arc<Config>>) -> Self {
        Self {
            stores,
            organization,
        }
    }

    pub fn server(self) -> ReportingServer<ReportingApi> {
        ReportingServer::new(self)
    }
}

fn status(e: NodeError) -> Status {
    tracing::warn!(error = %e, "reporting: a query failed");
    Status::internal(format!("the report store failed: {e}"))
}

type Chunks = Pin<Box<dyn Stream<Item = Result<pb::RecordingChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Reporting for ReportingApi {
    async fn get_scenario_report(
        &self,
        request: Request<pb::ScenarioReportRequest>,
    ) -> Result<Response<pb::ScenarioReport>, Status> {
        let query = convert::scenario_query(request.get_ref())?;
        let report = self
            .stores
            .read(move |s| s.scenario_report(&query))
            .await
            .map_err(status)?;
        Ok(Response::new(convert::scenario_report(&report)))
    }

    async fn get_kpis(
        &self,
        request: Request<pb::KpisRequest>,
    ) -> Result<Response<pb::Kpis>, Status> {
        let mut query = convert::kpi_query(request.get_ref())?;
        if let Some(d) = &query.department {
            let config = self.organization.borrow().clone();
            let department = config
                .department(d.as_str())
                .ok_or_else(|| Status::not_found(format!("department_id: {d} is no department")))?;
            let members: BTreeSet<AgentId> = department
                .members
                .iter()
                .map(|m| AgentId::from(m.as_str()))
                .collect();
            query.agents = AgentScope::Only(members);
        }
        query.now = Some(now_ms());
        let kpis = self
            .stores
            .read(move |s| s.kpis(&query))
            .await
            .map_err(status)?;
        Ok(Response::new(convert::kpis(&kpis)))
    }

    async fn list_calls(
        &self,
        request: Request<pb::ListCallsRequest>,
    ) -> Result<Response<pb::ListCallsResponse>, Status> {
        let query = convert::call_list_query(request.get_ref())?;
        let calls = self
            .stores
            .read(move |s| s.calls(&query))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListCallsResponse {
            calls: calls.iter().map(convert::call_summary).collect(),
        }))
    }

    async fn get_call(
        &self,
        request: Request<pb::GetCallRequest>,
    ) -> Result<Response<pb::CallDetail>, Status> {
        let call = convert::call_id(&request.get_ref().call_id)?;
        let (record, events) = self.call(call).await?;
        Ok(Response::new(pb::CallDetail {
            call: Some(convert::call_summary(&record)),
            events: events.iter().map(convert::timeline_event).collect(),
        }))
    }

    type DownloadRecordingStream = Chunks;

    async fn download_recording(
        &self,
        request: Request<pb::DownloadRecordingRequest>,
    ) -> Result<Response<Chunks>, Status> {
        let request = request.into_inner();
        let call = convert::call_id(&request.call_id)?;
        let (record, _) = self.call(call).await?;
        let path = pick_recording(&record, &request.recording)?;
        let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
            Status::not_found(format!(
                "recording: {} is not on this node ({e})",
                convert::recording_name(&path.to_string_lossy())
            ))
        })?;
        let stream = async_stream(move |tx| async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match file.read(&mut buf).await {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = pb::RecordingChunk {
                            data: buf[..n].to_vec(),
                        };
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx
                            .send(Err(Status::internal(format!("reading the recording: {e}"))))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }
}

impl ReportingApi {
    /// A call's record and events; NOT_FOUND for a call never heard of.
    async fn call(
        &self,
        call: crate::core::CallId,
    ) -> Result<(CallRecord, Vec<crate::core::CallEvent>), Status> {
        let id = call.clone();
        let events = self
            .stores
            .read(move |s| s.call_events(&id))
            .await
            .map_err(status)?;
        if events.is_empty() {
            return Err(Status::not_found(format!(
                "call_id: {call} is no call reported"
            )));
        }
        Ok((CallRecord::fold(&call, &events), events))
    }
}

/// The recording asked for by name (the first without one), among the call's.
#[allow(clippy::result_large_err)]
fn pick_recording(record: &CallRecord, name: &str) -> Result<PathBuf, Status> {
    let found = record
        .recordings
        .iter()
        .find(|p| name.is_empty() || convert::recording_name(p) == name);
    match found {
        Some(p) => Ok(Path::new(p).to_owned()),
        None if name.is_empty() => Err(Status::not_found(format!(
            "call_id: {} has no recording",
            record.call
        ))),
        None => Err(Status::not_found(format!(
            "recording: {name:?} is not one of call {}'s",
            record.call
        ))),
    }
}

/// A stream fed by a task that sends into it.
fn async_stream<F, Fut>(produce: F) -> Chunks
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::RecordingChunk, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
