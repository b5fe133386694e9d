//! The access policy, exhaustively: a hand-written table of every role × organisation ×
//! rule set × operation, then a sweep over every small ACL checking that nothing grants more
//! than the policy's bounds (no leak to outsiders, no write for viewers, no share for
//! non-admins, rules about other people change nothing).

use passerelle_server::auth::{
    Access, DocumentAcl, Operation, OrgName, Principal, Role, Rule, Subject, UserName, access_for,
    allowed,
};

const OWNER: &str = "ville-de-lille";
const OTHER: &str = "commune-oujda";
const ME: &str = "pat";

fn org(name: &str) -> Subject {
    Subject::Org(OrgName::new(name).unwrap())
}

fn user(name: &str) -> Subject {
    Subject::User(UserName::new(name).unwrap())
}

fn rule(subject: Subject, access: Access) -> Rule {
    Rule { subject, access }
}

/// The rule sets of the table, by name. `None` is a document that does not exist yet.
fn case(name: &str) -> Option<Vec<Rule>> {
    use Access::{None as No, Read, Write};
    let rules = match name {
        "missing" => return None,
        "no rules" => vec![],
        "other=read" => vec![rule(org(OTHER), Read)],
        "other=write" => vec![rule(org(OTHER), Write)],
        "other=none" => vec![rule(org(OTHER), No)],
        "owner=read" => vec![rule(org(OWNER), Read)],
        "owner=none" => vec![rule(org(OWNER), No)],
        "me=read" => vec![rule(user(ME), Read)],
        "me=write" => vec![rule(user(ME), Write)],
        "me=none" => vec![rule(user(ME), No)],
        "other=write me=none" => vec![rule(org(OTHER), Write), rule(user(ME), No)],
        "other=none me=write" => vec![rule(org(OTHER), No), rule(user(ME), Write)],
        "owner=none me=read" => vec![rule(org(OWNER), No), rule(user(ME), Read)],
        "strangers=write" => vec![rule(org("tanger"), Write), rule(user("sam"), Write)],
        unknown => panic!("no case {unknown}"),
    };
    Some(rules)
}

/// One row: a principal of `role` in the owner organisation (`"owner"`) or in the other one
/// (`"other"`), a rule set, the expected access, and the expected decision for each
/// operation as four characters: `R` read, `W` write, `C` create, `S` share, `-` refused.
type Row = (Role, &'static str, &'static str, Access, &'static str);

#[rustfmt::skip]
const TABLE: &[Row] = {
    use Access::{None as No, Read, Write};
    use Role::{Admin, Editor, Viewer};
    &[
        // A document that does not exist: only editors and admins may create it.
        (Admin,  "owner", "missing",             No,    "--C-"),
        (Editor, "owner", "missing",             No,    "--C-"),
        (Viewer, "owner", "missing",             No,    "----"),
        (Admin,  "other", "missing",             No,    "--C-"),
        (Editor, "other", "missing",             No,    "--C-"),
        (Viewer, "other", "missing",             No,    "----"),

        // Admins of the owner organisation: everything but create, whatever the rules.
        (Admin,  "owner", "no rules",            Write, "RW-S"),
        (Admin,  "owner", "other=read",          Write, "RW-S"),
        (Admin,  "owner", "other=write",         Write, "RW-S"),
        (Admin,  "owner", "other=none",          Write, "RW-S"),
        (Admin,  "owner", "owner=read",          Write, "RW-S"),
        (Admin,  "owner", "owner=none",          Write, "RW-S"),
        (Admin,  "owner", "me=read",             Write, "RW-S"),
        (Admin,  "owner", "me=write",            Write, "RW-S"),
        (Admin,  "owner", "me=none",             Write, "RW-S"),
        (Admin,  "owner", "other=write me=none", Write, "RW-S"),
        (Admin,  "owner", "other=none me=write", Write, "RW-S"),
        (Admin,  "owner", "owner=none me=read",  Write, "RW-S"),
        (Admin,  "owner", "strangers=write",     Write, "RW-S"),

        // Editors of the owner organisation: write by default; an owner-org rule or a
        // user rule changes that; never share.
        (Editor, "owner", "no rules",            Write, "RW--"),
        (Editor, "owner", "other=read",          Write, "RW--"),
        (Editor, "owner", "other=write",         Write, "RW--"),
        (Editor, "owner", "other=none",          Write, "RW--"),
        (Editor, "owner", "owner=read",          Read,  "R---"),
        (Editor, "owner", "owner=none",          No,    "----"),
        (Editor, "owner", "me=read",             Read,  "R---"),
        (Editor, "owner", "me=write",            Write, "RW--"),
        (Editor, "owner", "me=none",             No,    "----"),
        (Editor, "owner", "other=write me=none", No,    "----"),
        (Editor, "owner", "other=none me=write", Write, "RW--"),
        (Editor, "owner", "owner=none me=read",  Read,  "R---"),
        (Editor, "owner", "strangers=write",     Write, "RW--"),

        // Viewers of the owner organisation: as editors, capped at read.
        (Viewer, "owner", "no rules",            Read,  "R---"),
        (Viewer, "owner", "other=read",          Read,  "R---"),
        (Viewer, "owner", "other=write",         Read,  "R---"),
        (Viewer, "owner", "other=none",          Read,  "R---"),
        (Viewer, "owner", "owner=read",          Read,  "R---"),
        (Viewer, "owner", "owner=none",          No,    "----"),
        (Viewer, "owner", "me=read",             Read,  "R---"),
        (Viewer, "owner", "me=write",            Read,  "R---"),
        (Viewer, "owner", "me=none",             No,    "----"),
        (Viewer, "owner", "other=write me=none", No,    "----"),
        (Viewer, "owner", "other=none me=write", Read,  "R---"),
        (Viewer, "owner", "owner=none me=read",  Read,  "R---"),
        (Viewer, "owner", "strangers=write",     Read,  "R---"),

        // Admins of another organisation: no special power; only explicit rules count.
        (Admin,  "other", "no rules",            No,    "----"),
        (Admin,  "other", "other=read",          Read,  "R---"),
        (Admin,  "other", "other=write",         Write, "RW--"),
        (Admin,  "other", "other=none",          No,    "----"),
        (Admin,  "other", "owner=read",          No,    "----"),
        (Admin,  "other", "owner=none",          No,    "----"),
        (Admin,  "other", "me=read",             Read,  "R---"),
        (Admin,  "other", "me=write",            Write, "RW--"),
        (Admin,  "other", "me=none",             No,    "----"),
        (Admin,  "other", "other=write me=none", No,    "----"),
        (Admin,  "other", "other=none me=write", Write, "RW--"),
        (Admin,  "other", "owner=none me=read",  Read,  "R---"),
        (Admin,  "other", "strangers=write",     No,    "----"),

        // Editors of another organisation: the same.
        (Editor, "other", "no rules",            No,    "----"),
        (Editor, "other", "other=read",          Read,  "R---"),
        (Editor, "other", "other=write",         Write, "RW--"),
        (Editor, "other", "other=none",          No,    "----"),
        (Editor, "other", "owner=read",          No,    "----"),
        (Editor, "other", "owner=none",          No,    "----"),
        (Editor, "other", "me=read",             Read,  "R---"),
        (Editor, "other", "me=write",            Write, "RW--"),
        (Editor, "other", "me=none",             No,    "----"),
        (Editor, "other", "other=write me=none", No,    "----"),
        (Editor, "other", "other=none me=write", Write, "RW--"),
        (Editor, "other", "owner=none me=read",  Read,  "R---"),
        (Editor, "other", "strangers=write",     No,    "----"),

        // Viewers of another organisation: the same, capped at read.
        (Viewer, "other", "no rules",            No,    "----"),
        (Viewer, "other", "other=read",          Read,  "R---"),
        (Viewer, "other", "other=write",         Read,  "R---"),
        (Viewer, "other", "other=none",          No,    "----"),
        (Viewer, "other", "owner=read",          No,    "----"),
        (Viewer, "other", "owner=none",          No,    "----"),
        (Viewer, "other", "me=read",             Read,  "R---"),
        (Viewer, "other", "me=write",            Read,  "R---"),
        (Viewer, "other", "me=none",             No,    "----"),
        (Viewer, "other", "other=write me=none", No,    "----"),
        (Viewer, "other", "other=none me=write", Read,  "R---"),
        (Viewer, "other", "owner=none me=read",  Read,  "R---"),
        (Viewer, "other", "strangers=write",     No,    "----"),
    ]
};

const CASES: [&str; 14] = [
    "missing",
    "no rules",
    "other=read",
    "other=write",
    "other=none",
    "owner=read",
    "owner=none",
    "me=read",
    "me=write",
    "me=none",
    "other=write me=none",
    "other=none me=write",
    "owner=none me=read",
    "strangers=write",
];

fn principal(role: Role, org: &str) -> Principal {
    Principal {
        user: UserName::new(ME).unwrap(),
        org: OrgName::new(org).unwrap(),
        role,
    }
}

fn acl_with(owner: &str, rules: Vec<Rule>) -> DocumentAcl {
    DocumentAcl {
        owner_org: OrgName::new(owner).unwrap(),
        created_by: UserName::new("someone").unwrap(),
        rules,
    }
}

fn decisions(principal: &Principal, acl: Option<&DocumentAcl>) -> String {
    Operation::ALL
        .iter()
        .zip(['R', 'W', 'C', 'S'])
        .map(|(&op, letter)| {
            if allowed(principal, acl, op) {
                letter
            } else {
                '-'
            }
        })
        .collect()
}

/// The roles of people; a peer (a federation link) decides as an editor (checked below).
const PERSON_ROLES: [Role; 3] = [Role::Admin, Role::Editor, Role::Viewer];

#[test]
fn the_table_covers_every_role_organisation_and_case_once() {
    for role in PERSON_ROLES {
        for relation in ["owner", "other"] {
            for name in CASES {
                let rows = TABLE
                    .iter()
                    .filter(|(r, rel, c, _, _)| *r == role && *rel == relation && *c == name)
                    .count();
                assert_eq!(rows, 1, "{role} {relation} {name}: {rows} rows");
            }
        }
    }
    assert_eq!(TABLE.len(), PERSON_ROLES.len() * 2 * CASES.len());
}

#[test]
fn a_peer_decides_as_an_editor() {
    for relation in [OWNER, OTHER] {
        for name in CASES {
            let acl = case(name).map(|rules| acl_with(OWNER, rules));
            let peer = principal(Role::Peer, relation);
            let editor = principal(Role::Editor, relation);
            assert_eq!(
                access_for(&peer, acl.as_ref()),
                access_for(&editor, acl.as_ref()),
                "{relation} {name}"
            );
            assert_eq!(
                decisions(&peer, acl.as_ref()),
                decisions(&editor, acl.as_ref()),
                "{relation} {name}"
            );
        }
    }
}

#[test]
fn every_decision_matches_the_table() {
    let mut failures = Vec::new();
    for &(role, relation, name, access, ops) in TABLE {
        let org = if relation == "owner" { OWNER } else { OTHER };
        let who = principal(role, org);
        let acl = case(name).map(|rules| acl_with(OWNER, rules));
        let got_access = access_for(&who, acl.as_ref());
        let got_ops = decisions(&who, acl.as_ref());
        if got_access != access || got_ops != ops {
            failures.push(format!(
                "{role} of {relation} org, {name}: expected {access:?} {ops}, \
                 got {got_access:?} {got_ops}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every ACL over a small universe: two owners, and each of five subjects absent or ruled
/// none/read/write (4^5 rule sets), for every role and both organisations of the principal.
#[test]
fn no_acl_grants_more_than_the_policy_bounds() {
    let subjects = [org(OWNER), org(OTHER), org("tanger"), user(ME), user("sam")];
    let levels = [
        None,
        Some(Access::None),
        Some(Access::Read),
        Some(Access::Write),
    ];
    let mut checked = 0;
    for owner in [OWNER, OTHER] {
        for combination in 0..4usize.pow(subjects.len() as u32) {
            let mut rules = Vec::new();
            let mut digits = combination;
            for subject in &subjects {
                if let Some(access) = levels[digits % 4] {
                    rules.push(rule(subject.clone(), access));
                }
                digits /= 4;
            }
            let acl = acl_with(owner, rules.clone());
            // The same ACL without the rules about strangers ("tanger", "sam").
            let relevant = acl_with(
                owner,
                rules
                    .iter()
                    .filter(|r| r.subject != org("tanger") && r.subject != user("sam"))
                    .cloned()
                    .collect(),
            );
            for role in Role::ALL {
                for my_org in [OWNER, OTHER] {
                    let who = principal(role, my_org);
                    let access = access_for(&who, Some(&acl));
                    let context = format!("{role} of {my_org}, owner {owner}, rules {rules:?}");
                    let owner_admin = role == Role::Admin && my_org == owner;

                    assert!(access <= role.max_access(), "role cap broken: {context}");
                    assert_eq!(
                        allowed(&who, Some(&acl), Operation::Share),
                        owner_admin,
                        "share: {context}"
                    );
                    assert!(
                        !allowed(&who, Some(&acl), Operation::Create),
                        "create: {context}"
                    );
                    assert_eq!(
                        allowed(&who, Some(&acl), Operation::Read),
                        access >= Access::Read
                    );
                    assert_eq!(
                        allowed(&who, Some(&acl), Operation::Write),
                        access >= Access::Write
                    );
                    if owner_admin {
                        assert_eq!(access, Access::Write, "owner admin: {context}");
                    }
                    // Rules about other people never change anything.
                    assert_eq!(
                        access,
                        access_for(&who, Some(&relevant)),
                        "strangers: {context}"
                    );
                    // An explicit deny for the user wins, except over the owner's admins.
                    if acl.rule_for(&user(ME)) == Some(Access::None) && !owner_admin {
                        assert_eq!(access, Access::None, "user deny: {context}");
                    }
                    // Outsiders get in only through a rule naming them or their organisation.
                    if my_org != owner {
                        let by_rule = acl
                            .rule_for(&user(ME))
                            .or_else(|| acl.rule_for(&org(my_org)))
                            .unwrap_or(Access::None);
                        assert!(access <= by_rule, "leak to an outsider: {context}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 2 * 1024 * Role::ALL.len() * 2);
}

#[test]
fn a_missing_document_grants_nothing_but_creation() {
    for role in Role::ALL {
        let who = principal(role, OWNER);
        assert_eq!(access_for(&who, None), Access::None);
        assert_eq!(allowed(&who, None, Operation::Create), role != Role::Viewer);
        for op in [Operation::Read, Operation::Write, Operation::Share] {
            assert!(!allowed(&who, None, op), "{role} {op:?}");
        }
    }
}

#[test]
fn rules_are_one_per_subject_and_doubt_denies() {
    let mut acl = acl_with(OWNER, vec![]);
    acl.set_rule(rule(org(OTHER), Access::Read));
    acl.set_rule(rule(org(OTHER), Access::Write));
    assert_eq!(acl.rules.len(), 1);
    assert_eq!(acl.rule_for(&org(OTHER)), Some(Access::Write));
    assert!(acl.remove_rule(&org(OTHER)));
    assert!(!acl.remove_rule(&org(OTHER)));
    // Two rules for one subject (only possible by editing stored data): the stricter counts.
    let doubled = acl_with(
        OWNER,
        vec![rule(user(ME), Access::Write), rule(user(ME), Access::None)],
    );
    assert_eq!(
        access_for(&principal(Role::Editor, OTHER), Some(&doubled)),
        Access::None
    );
}
