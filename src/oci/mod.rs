//! The OCI vocabulary every part of berth speaks, server and tools alike: digests, the grammar
//! of repository names, tags and references, and media types. A leaf: it imports nothing of
//! berth, so the tools (`image/`, `build/`, `analyze/`, `lint/`) need nothing of the server.

pub mod digest;
pub mod media;
pub mod names;
pub mod spec;
