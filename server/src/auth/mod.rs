//! Who is asking and what they may do: users, organisations, roles, bearer tokens, document
//! access control and authorship records.
//!
//! Everything persistent goes through [`AuthStore`], which keeps it in the server's
//! [`Storage`](passerelle_store::Storage) under these keys (values are JSON objects with a
//! format version `"v"`):
//!
//! | key | value |
//! | --- | --- |
//! | `auth/user/<name>` | [`User`] |
//! | `auth/token/<sha-256 hex>` | the token's hash and [`TokenInfo`] (never the token) |
//! | `auth/token-id/<id>` | the hash of the token with that id |
//! | `acl/<documentId>` | [`DocumentAcl`] |
//! | `authorship/<documentId>/<change hash hex>` | [`AuthorshipRecord`] |
//! | `tombstone/<documentId>` | [`Tombstone`]: the document was erased (when, by whom) |
//!
//! The access policy is written out, step by step, in the documentation of [`access_for`].

mod access;
mod authorship;
mod error;
mod name;
mod role;
mod store;
mod token;
mod user;

pub use access::{Access, DocumentAcl, Operation, Rule, Subject, access_for, allowed};
pub use authorship::{
    AuthorshipRecord, ChangeHash, ChangeHashError, MAX_ORIGIN_HOPS, author_label,
};
pub use error::{AuthError, Refusal};
pub use name::{MAX_NAME_CHARS, NameError, OrgName, UserName};
pub use role::{Role, RoleParseError};
pub use store::{AuthStore, NewUser, TOMBSTONE_SPACE, Tombstone};
pub(crate) use store::{acl_document, acl_prefix};
pub use token::{
    BearerToken, IssuedToken, TOKEN_ID_PREFIX, TOKEN_PREFIX, TokenId, TokenIdError, TokenInfo,
    TokenRef, TokenRefError,
};
pub use user::{Principal, User};
