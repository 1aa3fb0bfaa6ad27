//! Generates the gRPC code and a file descriptor set (for server reflection).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "cc/sip/v1/registrations.proto",
        "cc/sip/internal/v1/dialer.proto",
        "cc/media/internal/v1/media.proto",
        "cc/agents/v1/agents.proto",
        "cc/config/v1/config.proto",
        "cc/queues/v1/queues.proto",
        "cc/calls/v1/calls.proto",
        "cc/events/v1/events.proto",
        "cc/routing/internal/v1/routing.proto",
        "cc/queue/internal/v1/queue.proto",
        "cc/presence/internal/v1/presence.proto",
        "cc/callbacks/v1/callbacks.proto",
        "cc/messages/v1/messages.proto",
        "cc/reporting/v1/reporting.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("cc_descriptor.bin"))
        .compile_protos(&protos, &["."])?;
    Ok(())
}
