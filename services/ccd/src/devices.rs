//! The one place where sip-edge and presence meet in `ccd all`: registrar events become
//! presence device inputs. Neither service crate knows the other (DESIGN.md section 2); in
//! one process the in-process handles stand in for their gRPC APIs.

use cc_common::Shutdown;
use cc_presence::ServiceError;
use cc_presence::adapters::SipDevices;
use cc_sip_edge::SipEdge;
use cc_sip_edge::registrar::RegistrarEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// Follows the edge's device events until shutdown, telling presence which agents have a
/// phone. Subscribes before reading the current registrations, so a phone that registers
/// in between is seen twice (harmless: a registration is idempotent) rather than never.
pub fn follow(edge: &SipEdge, devices: SipDevices, mut shutdown: Shutdown) -> JoinHandle<()> {
    let mut events = edge.subscribe();
    let edge = edge.handle();
    tokio::spawn(async move {
        seed(&edge, &devices).await;
        loop {
            let event = tokio::select! {
                _ = shutdown.wait() => break,
                event = events.recv() => event,
            };
            match event {
                Ok(RegistrarEvent::DeviceRegistered { aor, contact, .. }) => {
                    report("registered", &aor, devices.registered(&aor, &contact).await);
                }
                Ok(RegistrarEvent::DeviceGone { aor, contact, .. }) => {
                    report("gone", &aor, devices.gone(&aor, &contact).await);
                }
                Err(RecvError::Lagged(missed)) => {
                    // Re-reading the registrations restores every device still there; a
                    // device that went away among the missed events stays until restart.
                    tracing::warn!(
                        missed,
                        "presence missed device events; re-reading registrations"
                    );
                    seed(&edge, &devices).await;
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// Registers every current binding with presence.
async fn seed(edge: &cc_sip_edge::EdgeHandle, devices: &SipDevices) {
    let Ok(all) = edge.registrations().await else {
        return;
    };
    for (extension, bindings) in all {
        for binding in bindings {
            report(
                "registered",
                &extension,
                devices.registered(&extension, &binding.key).await,
            );
        }
    }
}

fn report(what: &str, extension: &str, result: Result<bool, ServiceError>) {
    match result {
        Ok(true) => tracing::debug!(extension, what, "presence: device"),
        Ok(false) => tracing::debug!(extension, what, "presence: not an agent's extension"),
        Err(e) => tracing::warn!(extension, what, error = %e, "presence refused a device"),
    }
}
