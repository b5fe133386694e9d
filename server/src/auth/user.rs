//! [`User`] (an account as stored) and [`Principal`] (who is making a request).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{OrgName, Role, UserName};

/// An account on the server, as stored under `["auth", "user", <name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique login name.
    pub name: UserName,
    /// The organisation the user acts for: documents are owned by and shared with
    /// organisations.
    pub org: OrgName,
    /// What the user may do within that organisation.
    pub role: Role,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// The identity this account acts as.
    pub fn principal(&self) -> Principal {
        Principal {
            user: self.name.clone(),
            org: self.org.clone(),
            role: self.role,
        }
    }
}

/// The authenticated identity behind a request or a connection: what access decisions are
/// made on. Built from the *current* user record at every token check, so a change of role or
/// organisation applies to the next check, like a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    /// The user's name.
    pub user: UserName,
    /// The user's organisation.
    pub org: OrgName,
    /// The user's role in that organisation.
    pub role: Role,
}
