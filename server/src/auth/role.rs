//! [`Role`]: what a user may do within their own organisation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Access;

/// A user's role in their organisation. The role caps what any document rule can grant
/// (see [`Role::max_access`]), so a viewer account stays read-only even when a document is
/// shared with its whole organisation for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Governs the documents their organisation owns: full access and the right to share.
    Admin,
    /// Reads and writes the documents their organisation can write; creates documents.
    Editor,
    /// Reads only.
    Viewer,
    /// Another passerelle server's link (federation): reads and writes as an editor, and may
    /// also state who made the changes it delivers (its users, recorded as users of that
    /// server). Only an admin gives this role, to the account a peer server dials in with.
    Peer,
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role: expected admin, editor, viewer or peer")]
pub struct RoleParseError(String);

impl Role {
    /// Every role, in decreasing order of power (a peer decides as an editor).
    pub const ALL: [Role; 4] = [Role::Admin, Role::Editor, Role::Viewer, Role::Peer];

    /// The most a user with this role can get on any document, whatever its rules say.
    pub fn max_access(self) -> Access {
        match self {
            Role::Admin | Role::Editor | Role::Peer => Access::Write,
            Role::Viewer => Access::Read,
        }
    }

    /// The lowercase name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Peer => "peer",
        }
    }
}

impl FromStr for Role {
    type Err = RoleParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        match input.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            "peer" => Ok(Role::Peer),
            _ => Err(RoleParseError(input.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
