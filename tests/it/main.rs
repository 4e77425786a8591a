//! The one integration test binary (one link, as matklad's "Delete Cargo Integration Tests"
//! advises): the OCI spec suite against an in-process server, real clients (Docker, skopeo,
//! podman, oci-client) against the `berth` binary, and the tidy checks.

mod access;
mod cli;
mod clients;
mod images;
mod lifecycle;
mod lint;
mod server;
mod spec;
mod support;
mod tidy;
