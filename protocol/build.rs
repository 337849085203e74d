//! Compiles `spec/proto/secours.proto` with protox (pure Rust, no protoc needed)
//! and generates the message types with prost.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: `env!` would freeze the path of the checkout that first
    // built this script, and a build cache shared by clones would look there.
    let spec = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../spec/proto");
    let schema = spec.join("secours.proto");
    println!("cargo:rerun-if-changed={}", schema.display());
    let descriptors = protox::compile([&schema], [&spec])?;
    prost_build::Config::new()
        // Every `bytes` field is a `bytes::Bytes`, so decoding a frame held in a
        // `Bytes` slices the payload out of it instead of copying (video, files).
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
