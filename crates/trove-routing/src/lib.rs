//! Routing rules: named rules in allow or block mode whose regex matchers are tested against a
//! request's `AssetPath` (the path inside the repository: docker `/v2/<name>/...`), and
//! [`RuleGuard`], a decorator that wraps any `Repository` and refuses blocked paths with
//! `ErrorKind::Blocked { rule }` before any I/O. Attachable to every repository kind (Nexus only
//! allows proxies); a group skips a member whose guard blocks the path.
//!
//! A matcher must match the whole path, as in Nexus (Java's `String.matches`): `^/v2/helloz/.*`
//! and `/v2/helloz/.*` mean the same, and `/v2/helloz` alone matches only that exact path.
//! Matchers run on the `regex` crate's finite automata, so no pattern can make a request take
//! super-linear time (no ReDoS). Paths are tested as given: the guard knows no format, so a
//! document that is not scoped to an image (docker `/v2/_catalog`) is allowed only by a matcher
//! that matches it.
//!
//! Depends on `trove-core` only; never on storage, HTTP or a particular kind or format.

mod guard;
mod rule;

pub use guard::RuleGuard;
pub use rule::{Decision, Mode, RoutingRule, RoutingRuleDecl};
