//! Compiles our own Baton-compatible `.proto` files with prost/tonic.
//!
//! protoc comes from `$PROTOC` when set, otherwise from the vendored binary of
//! `protoc-bin-vendored`, so a fresh machine needs no system package and no
//! download at build time.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "proto/c1/connector/v2/resource.proto",
    "proto/c1/connector/v2/entitlement.proto",
    "proto/c1/connector/v2/grant.proto",
    "proto/c1/connector/v2/annotation.proto",
    "proto/c1/connector/v2/connector.proto",
    "proto/c1/connectorapi/baton/v1/baton.proto",
    "proto/google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");

    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let well_known_includes = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // Deterministic encoding: map fields iterate in key order, as Baton's
    // `MarshalOptions{Deterministic: true}` requires for sync diffs.
    config.btree_map(["."]);
    // `prost::Name` on every message, so annotations pack into `Any` with
    // Baton's `type.googleapis.com/<package>.<Message>` type URLs.
    config.enable_type_names();
    config.type_name_domain(["."], "type.googleapis.com");

    // The BatonService stubs need tonic; only the `services` feature (the
    // ConductorOne client and the simulator) asks for them.
    let services = std::env::var_os("CARGO_FEATURE_SERVICES").is_some();
    let protos: Vec<PathBuf> = PROTOS.iter().map(PathBuf::from).collect();
    tonic_prost_build::configure()
        .build_server(services)
        .build_client(services)
        .build_transport(false)
        .compile_with_config(
            config,
            &protos,
            &[PathBuf::from("proto"), well_known_includes],
        )?;
    Ok(())
}
