//! [`AuthStore`] over the in-memory backend: users, tokens, revocation, ACLs, authorship,
//! stored formats, and the read-then-write races the store's locks are there for.

use std::sync::Arc;

use passerelle_core::DocumentId;
use passerelle_server::auth::{
    Access, AuthError, AuthStore, ChangeHash, OrgName, Principal, Refusal, Role, Rule, Subject,
    TokenRef, UserName,
};
use passerelle_store::{Batch, MemoryStorage, Storage, StorageKey};

fn name(n: &str) -> UserName {
    UserName::new(n).unwrap()
}

fn org(o: &str) -> OrgName {
    OrgName::new(o).unwrap()
}

fn store() -> (Arc<MemoryStorage>, AuthStore) {
    let storage = Arc::new(MemoryStorage::new());
    let auth = AuthStore::new(storage.clone());
    (storage, auth)
}

fn principal(user: &str, o: &str, role: Role) -> Principal {
    Principal {
        user: name(user),
        org: org(o),
        role,
    }
}

#[test]
fn a_new_user_signs_in_with_their_first_token() {
    let (_, auth) = store();
    let new = auth
        .add_user(&name("amina"), &org("ville-de-lille"), Role::Admin)
        .unwrap()
        .unwrap();
    assert_eq!(new.user.name, name("amina"));
    let secret = new.token.token.expose_secret().to_owned();
    assert!(secret.starts_with("psl_"));
    assert_eq!(
        auth.check_token(&secret).unwrap(),
        Some(principal("amina", "ville-de-lille", Role::Admin))
    );
    assert_eq!(
        auth.add_user(&name("amina"), &org("elsewhere"), Role::Viewer)
            .unwrap()
            .unwrap_err(),
        Refusal::UserExists(name("amina"))
    );
    assert_eq!(
        auth.user(&name("amina")).unwrap().unwrap().org,
        org("ville-de-lille")
    );
    assert_eq!(auth.user(&name("nobody")).unwrap(), None);
}

#[test]
fn malformed_and_unknown_tokens_sign_in_as_nobody() {
    let (_, auth) = store();
    auth.add_user(&name("amina"), &org("lille"), Role::Admin)
        .unwrap()
        .unwrap();
    for bad in [
        "",
        "psl_",
        "Bearer x",
        "psl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"psl_".repeat(1000),
    ] {
        assert_eq!(auth.check_token(bad).unwrap(), None, "{bad}");
    }
}

#[test]
fn only_hashes_of_tokens_are_stored() {
    let (storage, auth) = store();
    let new = auth
        .add_user(&name("amina"), &org("lille"), Role::Admin)
        .unwrap()
        .unwrap();
    let extra = auth.create_token(&name("amina")).unwrap().unwrap();
    let everything = storage.scan_prefix(&StorageKey::root()).unwrap();
    for secret in [new.token.token.expose_secret(), extra.token.expose_secret()] {
        let random_part = &secret["psl_".len()..];
        for (key, value) in &everything {
            assert!(!key.to_string().contains(random_part), "token in key {key}");
            let value = String::from_utf8_lossy(value);
            assert!(!value.contains(random_part), "token in value at {key}");
        }
    }
}

#[test]
fn revocation_by_secret_or_id_applies_to_the_next_check() {
    let (_, auth) = store();
    let first = auth
        .add_user(&name("youssef"), &org("oujda"), Role::Editor)
        .unwrap()
        .unwrap()
        .token;
    let second = auth.create_token(&name("youssef")).unwrap().unwrap();
    let third = auth.create_token(&name("youssef")).unwrap().unwrap();
    assert_ne!(first.info.id, second.info.id);

    // By secret.
    let by_secret: TokenRef = first.token.expose_secret().parse().unwrap();
    let revoked = auth.revoke_token(&by_secret).unwrap().unwrap();
    assert_eq!(revoked.id, first.info.id);
    assert!(revoked.is_revoked());
    assert_eq!(auth.check_token(first.token.expose_secret()).unwrap(), None);
    assert!(
        auth.check_token(second.token.expose_secret())
            .unwrap()
            .is_some()
    );

    // By id; revoking again keeps the first revocation time.
    let by_id: TokenRef = second.info.id.as_str().parse().unwrap();
    let once = auth.revoke_token(&by_id).unwrap().unwrap();
    let twice = auth.revoke_token(&by_id).unwrap().unwrap();
    assert_eq!(once.revoked_at, twice.revoked_at);
    assert_eq!(
        auth.check_token(second.token.expose_secret()).unwrap(),
        None
    );

    // The third still works; the list says which is which.
    assert!(
        auth.check_token(third.token.expose_secret())
            .unwrap()
            .is_some()
    );
    let tokens = auth.list_tokens(Some(&name("youssef"))).unwrap();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens.iter().filter(|t| t.is_revoked()).count(), 2);

    let unknown: TokenRef = "tok_0123456789abcdef".parse().unwrap();
    assert_eq!(
        auth.revoke_token(&unknown).unwrap().unwrap_err(),
        Refusal::UnknownToken
    );
    let malformed: TokenRef = "psl_short".parse().unwrap();
    assert_eq!(
        auth.revoke_token(&malformed).unwrap().unwrap_err(),
        Refusal::UnknownToken
    );
}

#[test]
fn tokens_are_only_issued_to_existing_users() {
    let (_, auth) = store();
    assert_eq!(
        auth.create_token(&name("ghost")).unwrap().unwrap_err(),
        Refusal::UnknownUser(name("ghost"))
    );
    assert!(auth.list_tokens(None).unwrap().is_empty());
}

#[test]
fn users_are_listed_by_name() {
    let (_, auth) = store();
    for (user, role) in [
        ("youssef", Role::Editor),
        ("amina", Role::Admin),
        ("fatima", Role::Viewer),
    ] {
        auth.add_user(&name(user), &org("lille"), role)
            .unwrap()
            .unwrap();
    }
    let names: Vec<String> = auth
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.name.to_string())
        .collect();
    assert_eq!(names, ["amina", "fatima", "youssef"]);
}

#[test]
fn a_document_is_created_once_and_shared_by_the_owners_admins_only() {
    let (storage, auth) = store();
    let doc = DocumentId::random();
    let editor = principal("youssef", "lille", Role::Editor);
    let viewer = principal("fatima", "lille", Role::Viewer);
    let admin = principal("amina", "lille", Role::Admin);
    let partner = principal("karim", "oujda", Role::Editor);

    assert_eq!(auth.acl(&doc).unwrap(), None);
    assert_eq!(
        auth.create_document(&doc, &viewer).unwrap().unwrap_err(),
        Refusal::NotAllowed(passerelle_server::auth::Operation::Create)
    );
    let acl = auth.create_document(&doc, &editor).unwrap().unwrap();
    assert_eq!(acl.owner_org, org("lille"));
    assert_eq!(acl.created_by, name("youssef"));
    assert_eq!(
        auth.create_document(&doc, &admin).unwrap().unwrap_err(),
        Refusal::DocumentExists(doc)
    );
    assert_eq!(auth.access(&doc, &partner).unwrap(), Access::None);

    let share = Rule {
        subject: Subject::Org(org("oujda")),
        access: Access::Write,
    };
    assert!(
        auth.set_rule(&doc, &editor, share.clone())
            .unwrap()
            .is_err()
    );
    assert!(
        auth.set_rule(&doc, &partner, share.clone())
            .unwrap()
            .is_err()
    );
    let acl = auth.set_rule(&doc, &admin, share).unwrap().unwrap();
    assert_eq!(acl.rules.len(), 1);
    assert_eq!(auth.access(&doc, &partner).unwrap(), Access::Write);

    // Persisted: a new store over the same storage sees it.
    let reopened = AuthStore::new(storage);
    assert_eq!(reopened.acl(&doc).unwrap(), Some(acl));
    assert!(
        reopened
            .is_allowed(&doc, &partner, passerelle_server::auth::Operation::Write)
            .unwrap()
    );
    let acl = reopened
        .remove_rule(&doc, &admin, &Subject::Org(org("oujda")))
        .unwrap()
        .unwrap();
    assert!(acl.rules.is_empty());
    assert_eq!(reopened.access(&doc, &partner).unwrap(), Access::None);

    let other = DocumentId::random();
    assert_eq!(
        auth.remove_rule(&other, &admin, &Subject::Org(org("oujda")))
            .unwrap()
            .unwrap_err(),
        Refusal::UnknownDocument(other)
    );
}

#[test]
fn the_first_deliverer_of_a_change_stays_its_author() {
    let (_, auth) = store();
    let doc = DocumentId::random();
    let youssef = principal("youssef", "oujda", Role::Editor);
    let amina = principal("amina", "lille", Role::Admin);
    let h = |b: u8| ChangeHash::from_bytes([b; 32]);

    assert!(auth.record_change(&doc, h(1), &youssef, 2_000).unwrap());
    assert!(!auth.record_change(&doc, h(1), &amina, 1_000).unwrap());
    assert_eq!(
        auth.record_changes(&doc, [h(1), h(2), h(3), h(3)], &amina, 3_000)
            .unwrap(),
        2
    );
    assert!(auth.record_change(&doc, h(0), &amina, 1_000).unwrap());

    let history = auth.history(&doc).unwrap();
    let summary: Vec<(u8, &str, i64)> = history
        .iter()
        .map(|r| {
            (
                r.change_hash.as_bytes()[0],
                r.user.as_str(),
                r.at.as_millisecond(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, "amina", 1_000),
            (1, "youssef", 2_000),
            (2, "amina", 3_000),
            (3, "amina", 3_000)
        ]
    );
    assert_eq!(history[1].org, org("oujda"));
    assert!(auth.history(&DocumentId::random()).unwrap().is_empty());

    // The sync engine hands over automerge's own hashes.
    let from_automerge = vec![
        automerge::ChangeHash([9; 32]),
        automerge::ChangeHash([1; 32]),
    ];
    assert_eq!(
        auth.record_changes(&doc, from_automerge, &youssef, 4_000)
            .unwrap(),
        1
    );
}

#[test]
fn concurrent_writers_get_exactly_one_winner() {
    let (_, auth) = store();
    let auth = Arc::new(auth);
    let doc = DocumentId::random();
    let hash = ChangeHash::from_bytes([7; 32]);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let auth = Arc::clone(&auth);
            std::thread::spawn(move || {
                let who = principal(&format!("user{i}"), "lille", Role::Editor);
                let added = auth
                    .add_user(&name("same-name"), &org("lille"), Role::Editor)
                    .unwrap()
                    .is_ok();
                let created = auth.create_document(&doc, &who).unwrap().is_ok();
                let recorded = auth.record_change(&doc, hash, &who, 1).unwrap();
                (added, created, recorded)
            })
        })
        .collect();
    let results: Vec<(bool, bool, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 1);
    assert_eq!(results.iter().filter(|r| r.1).count(), 1);
    assert_eq!(results.iter().filter(|r| r.2).count(), 1);
    assert_eq!(auth.history(&doc).unwrap().len(), 1);
}

#[test]
fn unreadable_records_are_errors_never_absences() {
    let (storage, auth) = store();
    let doc = DocumentId::random();
    let key = StorageKey::try_new(["acl".to_owned(), doc.to_string()]).unwrap();
    let mut batch = Batch::new();
    batch.put(key.clone(), b"not json".to_vec());
    storage.apply(batch).unwrap();
    assert!(matches!(auth.acl(&doc), Err(AuthError::Corrupt { .. })));
    // A corrupt ACL must not let anyone re-create (and so take over) the document.
    let editor = principal("youssef", "lille", Role::Editor);
    assert!(auth.create_document(&doc, &editor).unwrap().is_err());

    let mut batch = Batch::new();
    batch.put(
        key,
        br#"{"v":2,"owner_org":"lille","created_by":"x","rules":[]}"#.to_vec(),
    );
    storage.apply(batch).unwrap();
    assert!(matches!(
        auth.acl(&doc),
        Err(AuthError::UnsupportedFormat { version: 2, .. })
    ));
}

#[test]
fn records_carry_a_format_version() {
    let (storage, auth) = store();
    auth.add_user(&name("amina"), &org("lille"), Role::Admin)
        .unwrap()
        .unwrap();
    let key = StorageKey::try_new(["auth", "user", "amina"]).unwrap();
    let value: serde_json::Value =
        serde_json::from_slice(&storage.get(&key).unwrap().unwrap()).unwrap();
    assert_eq!(value["v"], 1);
    assert_eq!(value["role"], "admin");
    assert_eq!(value["org"], "lille");
}

#[test]
fn a_deleted_user_signs_in_no_more() {
    let (storage, auth) = store();
    let token = auth
        .add_user(&name("amina"), &org("lille"), Role::Admin)
        .unwrap()
        .unwrap()
        .token;
    let mut batch = Batch::new();
    batch.delete(StorageKey::try_new(["auth", "user", "amina"]).unwrap());
    storage.apply(batch).unwrap();
    assert_eq!(auth.check_token(token.token.expose_secret()).unwrap(), None);
}

/// Two processes on one PostgreSQL database (two `AuthStore`s over two connections): a rule
/// one of them sets or removes applies at once on the other, which keeps no ACL cache on a
/// shared store. (On sled one process owns the store and the cache is coherent.)
#[test]
fn on_a_shared_store_another_processs_acl_change_applies_at_once() {
    let Some(db) = passerelle_store::testing::TestDatabase::create(
        "on_a_shared_store_another_processs_acl_change_applies_at_once",
    ) else {
        return;
    };
    let here = AuthStore::new(Arc::new(db.storage()));
    let there = AuthStore::new(Arc::new(db.storage()));
    let doc = DocumentId::random();
    let admin = principal("amina", "lille", Role::Admin);
    let partner = principal("karim", "oujda", Role::Editor);
    here.create_document(&doc, &admin).unwrap().unwrap();
    here.flush().unwrap();
    // `there` reads the ACL (filling a cache, if it kept one).
    assert_eq!(there.access(&doc, &partner).unwrap(), Access::None);
    assert_eq!(there.cached_acl(&doc), None, "no cache on a shared store");
    let share = Rule {
        subject: Subject::Org(org("oujda")),
        access: Access::Write,
    };
    here.set_rule(&doc, &admin, share).unwrap().unwrap();
    assert_eq!(there.access(&doc, &partner).unwrap(), Access::Write);
    here.remove_rule(&doc, &admin, &Subject::Org(org("oujda")))
        .unwrap()
        .unwrap();
    assert_eq!(there.access(&doc, &partner).unwrap(), Access::None);
}
