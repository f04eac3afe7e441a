//! How registry API calls map onto Trove actions and docker token actions.
//!
//! | call | Trove action | token action |
//! |---|---|---|
//! | `GET /v2/_catalog`, `GET /v2/<name>/tags/list` | browse | pull |
//! | `GET`/`HEAD` manifests, blobs, referrers | read | pull |
//! | blob upload (POST/PATCH/PUT), cross-repo mount | add | push |
//! | `PUT` manifest under a new tag or digest | add | push |
//! | `PUT` manifest moving an existing tag | edit | push |
//! | `DELETE` manifest or blob | delete | delete |
//!
//! So a `docker push` needs **read + add + edit**: docker checks which blobs exist (read),
//! uploads the missing ones (add) and moves the tag when it already exists (edit). A token's
//! `push` is granted only to callers holding all three.

use crate::model::{Action, ActionSet};

pub const PULL: &str = "pull";
pub const PUSH: &str = "push";
pub const DELETE: &str = "delete";
/// What `*` expands to in a token request.
pub const ALL_ACTIONS: [&str; 3] = [PULL, PUSH, DELETE];

/// A registry API call, as far as authorization cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryOp {
    /// `GET /v2/_catalog`.
    Catalog,
    /// `GET /v2/<name>/tags/list`.
    ListTags,
    /// `GET`/`HEAD` of a manifest, blob or the referrers list.
    Pull,
    /// Starting, continuing or finishing a blob upload, or mounting a blob from elsewhere.
    PushBlob,
    /// `PUT` of a manifest; `overwrite` when the tag already points at other content.
    PushManifest { overwrite: bool },
    /// `DELETE` of a manifest, tag or blob.
    Delete,
}

impl RegistryOp {
    /// The Trove action the call needs.
    pub fn action(self) -> Action {
        match self {
            RegistryOp::Catalog | RegistryOp::ListTags => Action::Browse,
            RegistryOp::Pull => Action::Read,
            RegistryOp::PushBlob | RegistryOp::PushManifest { overwrite: false } => Action::Add,
            RegistryOp::PushManifest { overwrite: true } => Action::Edit,
            RegistryOp::Delete => Action::Delete,
        }
    }

    /// The docker token action that must be in a bearer token's scope for the call.
    pub fn token_action(self) -> &'static str {
        token_action(self.action())
    }
}

/// The docker token action covering a Trove action: browse and read → `pull`, add and edit →
/// `push`, delete → `delete`.
pub fn token_action(action: Action) -> &'static str {
    match action {
        Action::Browse | Action::Read => PULL,
        Action::Add | Action::Edit => PUSH,
        Action::Delete => DELETE,
    }
}

/// The Trove actions a caller must hold for a token to carry docker action `docker_action`;
/// `None` for an action Trove never grants.
pub fn required_actions(docker_action: &str) -> Option<ActionSet> {
    match docker_action {
        PULL => Some(ActionSet::of(&[Action::Read])),
        PUSH => Some(ActionSet::of(&[Action::Read, Action::Add, Action::Edit])),
        DELETE => Some(ActionSet::of(&[Action::Delete])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(RegistryOp::Pull.action(), Action::Read);
        assert_eq!(RegistryOp::ListTags.action(), Action::Browse);
        assert_eq!(RegistryOp::Catalog.token_action(), PULL);
        assert_eq!(RegistryOp::PushBlob.action(), Action::Add);
        assert_eq!(
            RegistryOp::PushManifest { overwrite: true }.action(),
            Action::Edit
        );
        assert_eq!(
            RegistryOp::PushManifest { overwrite: false }.token_action(),
            PUSH
        );
        assert_eq!(RegistryOp::Delete.token_action(), DELETE);
        assert_eq!(
            required_actions(PUSH).unwrap().to_list_string(),
            "read,add,edit"
        );
        assert_eq!(required_actions("*"), None);
        assert_eq!(required_actions("admin"), None);
    }
}
