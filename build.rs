//! Generates the BWS 3 gRPC server code from `Protos/` (BioID's published proto files), with
//! the `protoc` of the `protoc-bin-vendored` crate, so the build needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY of the build: prost-build reads PROTOC; the build script is single-threaded here.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=Protos");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .compile_protos(&["Protos/bws.proto", "Protos/bwsmessages.proto"], &["."])?;
    // The ONNX protobuf (Protos/onnx/onnx.proto, from the `onnx` package): the model loader
    // rewrites the MiniFASNet graphs (src/models/prelu.rs).
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_protos(&["Protos/onnx/onnx.proto"], &["Protos/onnx"])?;
    Ok(())
}
