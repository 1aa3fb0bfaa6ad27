//! Compiles the media control API client from the workspace's proto directory.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = "../../../proto";
    let proto = format!("{root}/cc/media/internal/v1/media.proto");
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&[proto.as_str()], &[root])?;
    Ok(())
}
