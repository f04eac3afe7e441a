//! Routing rules (to come with the groups-and-connectors layer): named rules in allow or block
//! mode whose regex matchers are tested against a request's `AssetPath`, and a `RuleGuard`
//! decorator that wraps any `Repository` and refuses blocked paths with `ErrorKind::Blocked`
//! before any I/O. Attachable to every repository kind.
//!
//! Depends on `trove-core` only; never on storage, HTTP or a particular kind or format.
