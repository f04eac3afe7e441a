//! Proxy repositories (to come with the pull-through-cache layer): a local cache in the shared
//! metadata and blob stores in front of a remote registry, with TTLs for mutable metadata,
//! single-flight fetches that outlive the client that started them, verified digests, upstream
//! credentials and the upstream's own token dance.
//!
//! The only crate that makes outbound HTTP requests. Generic over the format through
//! `FormatSpec`; never depends on an HTTP server framework or on other kinds.
