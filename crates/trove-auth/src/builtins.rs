//! Built-in roles and users, created on first use and never overwritten afterwards.

use trove_core::Result;
use trove_store::{ANONYMOUS_USER, MetadataStore, RoleDef};

use crate::model::{Action, ActionSet, Pattern, Privilege};

/// Holds `nx-all`: everything, everywhere.
pub const ADMIN_ROLE: &str = "admin";
/// Browse and read on every docker repository: give it to the anonymous user for a public
/// pull-only registry (S3).
pub const ANONYMOUS_READ_ROLE: &str = "docker-pull-anonymous";
/// Holds `nx-metrics-all`: reads `/metrics` and nothing else (give it to a scraper's user).
pub const METRICS_ROLE: &str = "metrics";
/// The user created at first start by the server (`managed_by = 'bootstrap'`).
pub const BOOTSTRAP_ADMIN_USER: &str = "admin";

const BOOTSTRAP_GRANTED: &str = "bootstrap_admin_granted";

pub(crate) fn builtin_roles() -> Vec<RoleDef> {
    let read = Privilege::repository_view(
        Some("docker"),
        Pattern::Any,
        ActionSet::of(&[Action::Browse, Action::Read]),
    )
    .expect("valid built-in privilege");
    vec![
        RoleDef {
            name: ADMIN_ROLE.into(),
            description: "Administrator: every action on every repository".into(),
            privileges: vec![Privilege::admin().to_def()],
            roles: vec![],
        },
        RoleDef {
            name: METRICS_ROLE.into(),
            description: "Read /metrics (Prometheus), nothing else".into(),
            privileges: vec![
                Privilege::application(crate::model::METRICS)
                    .expect("a known application")
                    .to_def(),
            ],
            roles: vec![],
        },
        RoleDef {
            name: ANONYMOUS_READ_ROLE.into(),
            description: "Browse and pull every docker repository".into(),
            privileges: vec![read.to_def()],
            roles: vec![],
        },
    ]
}

/// Creates what is missing: the built-in roles, the anonymous user (active, no password, no
/// role: anonymous access also stays off until switched on), and gives the first-start `admin`
/// user the `admin` role, once. Idempotent and safe for several nodes at once.
pub(crate) async fn ensure_builtins(meta: &MetadataStore) -> Result<()> {
    let sec = meta.security();
    for role in builtin_roles() {
        sec.ensure_role(&role, "builtin").await?;
    }
    sec.ensure_user(ANONYMOUS_USER, "builtin").await?;
    if sec.setting(BOOTSTRAP_GRANTED).await?.is_none()
        && let Some(admin) = sec.user(BOOTSTRAP_ADMIN_USER).await?
        && admin.managed_by == "bootstrap"
    {
        sec.grant_role(BOOTSTRAP_ADMIN_USER, ADMIN_ROLE).await?;
        sec.set_setting(BOOTSTRAP_GRANTED, "true", "builtin")
            .await?;
    }
    Ok(())
}
