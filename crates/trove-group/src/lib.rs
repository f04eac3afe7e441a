//! Group repositories (to come with the groups-and-connectors layer): ordered members, first
//! hit wins, documents merged through `FormatSpec::merge` (docker tag lists), writes forwarded
//! to an optional writable member.
//!
//! Members arrive as `Arc<dyn Repository>`, so this crate depends on `trove-core` only: never
//! on the hosted or proxy crates, storage, or HTTP.
