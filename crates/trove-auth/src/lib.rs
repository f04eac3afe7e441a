//! Security for Trove: password hashing now; users, roles, privileges, anonymous access, the
//! Basic and Docker bearer-token realms and authorization as the security model lands.
//!
//! Takes header strings, never HTTP framework types, and must never depend on a format or
//! repository kind.

pub mod password;
