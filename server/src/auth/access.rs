//! Who may do what to a document: [`DocumentAcl`], the decision [`access_for`], and
//! [`allowed`] for each [`Operation`].
//!
//! # The policy
//!
//! A document belongs to one organisation, its *owner*; by default that is the organisation
//! of the user who created it. Its [`Rule`]s grant (or deny) access to other organisations
//! and to single users. Sharing with another organisation is always an explicit rule.
//!
//! [`access_for`] decides, in this order (the first step that applies wins):
//!
//! 1. No ACL (the document does not exist yet): [`Access::None`].
//! 2. An **admin of the owner organisation**: [`Access::Write`], whatever the rules say. The
//!    owner's admins govern the document; a rule cannot lock them out of it.
//! 3. A **rule naming the user**: its access. A user rule overrides any organisation rule,
//!    so `User(x) = None` shuts one person out of a document their organisation can read,
//!    and `User(x) = Write` lets one person of a reading organisation edit.
//! 4. A **rule naming the user's organisation**: its access. This applies to the owner
//!    organisation too: `Org(owner) = Read` freezes a document (a submitted report) for its
//!    own editors, while its admins keep their access by step 2.
//! 5. The user is **in the owner organisation**: [`Access::Write`].
//! 6. Anyone else: [`Access::None`].
//!
//! The result is then **capped by the role** ([`Role::max_access`]): a viewer never gets more
//! than [`Access::Read`], whatever the rules. Steps 3 to 5 therefore give the owner's editors
//! write access and its viewers read access, as the issue asks.
//!
//! [`allowed`] turns that into a yes or no per [`Operation`]:
//!
//! | operation | allowed when |
//! | --- | --- |
//! | [`Operation::Read`] | access ≥ read |
//! | [`Operation::Write`] | access ≥ write |
//! | [`Operation::Create`] | there is no ACL yet, and the role is editor or admin |
//! | [`Operation::Share`] | there is an ACL, and the user is an admin of its owner organisation |
//!
//! Sharing (adding, changing or removing rules) is kept to the owner's admins: it widens who
//! sees a document, and for partners who "see only what concerns them" that is a decision of
//! the owning organisation, not of whoever happens to edit the document. Editors ask an admin.
//! Admins of *other* organisations have no special power over the document: a rule may give
//! them access like anyone else, capped at write.
//!
//! A missing document and a denied one must look the same on the wire (the protocol answers
//! `doc-unavailable` to both); this module only decides, the caller keeps that promise.

use serde::{Deserialize, Serialize};

use super::{OrgName, Principal, Role, UserName};

/// How much of a document someone may touch. Ordered: `None < Read < Write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Nothing: the document is as good as absent.
    None,
    /// Receive the document and its changes.
    Read,
    /// Read, and send changes that the server accepts.
    Write,
}

/// Whom a [`Rule`] is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// Every member of an organisation.
    Org(OrgName),
    /// One user, whatever their organisation.
    User(UserName),
}

/// One line of a document's ACL: `subject` gets `access`. `Access::None` is a deny.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// Who the rule is about.
    pub subject: Subject,
    /// What they get.
    pub access: Access,
}

/// The access control list of one document, stored under `["acl", <documentId>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentAcl {
    /// The organisation that owns the document: its admins govern it, its members have
    /// access by default.
    pub owner_org: OrgName,
    /// Who created the document (kept for the record; it grants nothing by itself).
    pub created_by: UserName,
    /// Grants and denials beyond the owner's default, at most one per subject.
    pub rules: Vec<Rule>,
}

impl DocumentAcl {
    /// The ACL of a document `creator` has just made: owned by their organisation, no rules.
    pub fn new_for(creator: &Principal) -> Self {
        Self {
            owner_org: creator.org.clone(),
            created_by: creator.user.clone(),
            rules: Vec::new(),
        }
    }

    /// Sets the rule for `rule.subject`, replacing any earlier rule for the same subject.
    pub fn set_rule(&mut self, rule: Rule) {
        match self.rules.iter_mut().find(|r| r.subject == rule.subject) {
            Some(existing) => existing.access = rule.access,
            None => self.rules.push(rule),
        }
    }

    /// Removes the rule for `subject`; returns whether there was one. Removing a rule is not
    /// the same as setting it to `None`: the subject falls back to the next step of the policy.
    pub fn remove_rule(&mut self, subject: &Subject) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| &r.subject != subject);
        self.rules.len() != before
    }

    /// The access the rules give `subject`, if any rule names it. Should the list hold
    /// several rules for one subject (this crate never writes that, but stored data may be
    /// edited by hand), the most restrictive counts: doubt denies.
    pub fn rule_for(&self, subject: &Subject) -> Option<Access> {
        self.rules
            .iter()
            .filter(|r| &r.subject == subject)
            .map(|r| r.access)
            .min()
    }
}

/// What a request wants to do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Receive the document.
    Read,
    /// Change the document.
    Write,
    /// Bring a document that does not exist yet into being (and own it).
    Create,
    /// Change the document's rules.
    Share,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [
        Operation::Read,
        Operation::Write,
        Operation::Create,
        Operation::Share,
    ];
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Create => "create",
            Operation::Share => "share",
        })
    }
}

/// The access `principal` has to a document with this ACL (`None`: the document does not
/// exist). See the module documentation for the policy, step by step.
pub fn access_for(principal: &Principal, acl: Option<&DocumentAcl>) -> Access {
    let Some(acl) = acl else {
        return Access::None;
    };
    let in_owner_org = principal.org == acl.owner_org;
    if in_owner_org && principal.role == Role::Admin {
        return Access::Write;
    }
    let granted = acl
        .rule_for(&Subject::User(principal.user.clone()))
        .or_else(|| acl.rule_for(&Subject::Org(principal.org.clone())))
        .unwrap_or(if in_owner_org {
            Access::Write
        } else {
            Access::None
        });
    granted.min(principal.role.max_access())
}

/// Whether `principal` may perform `operation` on a document with this ACL (`None`: the
/// document does not exist). See the table in the module documentation.
pub fn allowed(principal: &Principal, acl: Option<&DocumentAcl>, operation: Operation) -> bool {
    match operation {
        Operation::Read => access_for(principal, acl) >= Access::Read,
        Operation::Write => access_for(principal, acl) >= Access::Write,
        Operation::Create => acl.is_none() && principal.role != Role::Viewer,
        Operation::Share => {
            acl.is_some_and(|acl| principal.role == Role::Admin && principal.org == acl.owner_org)
        }
    }
}
