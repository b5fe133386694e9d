//! The ACL cache on a shared database, kept coherent by notifications.
//!
//! Every write of an ACL key (`["acl", <documentId>]` in `passerelle_kv`), whoever makes it
//! (an instance, an admin command, a restore, plain SQL), notifies [`CHANNEL`] with the key
//! in hex: row-level triggers on the table fire only for keys in the ACL key range (a `WHEN`
//! clause, so the writes of documents do not call the function), and a statement-level one
//! tells of a `TRUNCATE` (payload `*`). The cluster's listener LISTENs on the same
//! connection as the changes feed and [forgets](AuthStore::forget_acl) the document's cached
//! ACL as each notification arrives; while it is not listening, the cache is off
//! ([`AuthStore::acl_listening`], [`AuthStore::acl_unheard`]).

use passerelle_store::StorageKey;

use crate::auth::{AuthStore, acl_document, acl_prefix};

/// The notification channel of ACL writes.
pub(super) const CHANNEL: &str = "passerelle_acl";

/// The longest payload read (a key is at most a few hundred bytes; PostgreSQL caps payloads
/// at 8,000 bytes anyway).
const MAX_PAYLOAD: usize = 8_000;

/// The SQL that creates the notifying function (replaced at every start) and the triggers
/// (if missing), run in the cluster's schema transaction under its advisory lock, so that
/// instances starting together do not race. `passerelle_kv` exists: the server opened its
/// storage before starting the cluster.
pub(super) fn trigger_sql() -> String {
    let (low, high) = acl_prefix().ordered_range();
    let high = high.expect("a non-empty prefix's range has an end");
    // Literals of our own bytes, in hex: nothing from outside goes into this SQL.
    let (low, high) = (
        format!("E'\\\\x{}'::bytea", hex::encode(low)),
        format!("E'\\\\x{}'::bytea", hex::encode(high)),
    );
    let in_range = |row: &str| format!("({row}.key >= {low} AND {row}.key < {high})");
    let (new, old) = (in_range("NEW"), in_range("OLD"));
    // Each trigger created if missing: (name, event, what fires it).
    let triggers: String = [
        ("insert", "INSERT", format!("FOR EACH ROW WHEN {new}")),
        ("update", "UPDATE", format!("FOR EACH ROW WHEN ({new} OR {old})")),
        ("delete", "DELETE", format!("FOR EACH ROW WHEN {old}")),
        ("truncate", "TRUNCATE", "FOR EACH STATEMENT".to_owned()),
    ]
    .iter()
    .map(|(name, event, when)| {
        format!(
            "             IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'passerelle_kv'::regclass
                            AND tgname = 'passerelle_acl_{name}') THEN
                 CREATE TRIGGER passerelle_acl_{name} AFTER {event} ON passerelle_kv
                 {when} EXECUTE FUNCTION passerelle_acl_notify();
             END IF;\n"
        )
    })
    .collect();
    format!(
        "CREATE OR REPLACE FUNCTION passerelle_acl_notify() RETURNS trigger
         LANGUAGE plpgsql AS $fn$
         BEGIN
             IF TG_OP = 'TRUNCATE' THEN
                 PERFORM pg_notify('{CHANNEL}', '*');
                 RETURN NULL;
             END IF;
             IF TG_OP IN ('UPDATE', 'DELETE') THEN
                 IF {old} THEN
                     PERFORM pg_notify('{CHANNEL}', encode(OLD.key, 'hex'));
                 END IF;
             END IF;
             IF TG_OP IN ('INSERT', 'UPDATE') THEN
                 IF {new} THEN
                     PERFORM pg_notify('{CHANNEL}', encode(NEW.key, 'hex'));
                 END IF;
             END IF;
             RETURN NULL;
         END
         $fn$;
         DO $do$
         BEGIN
{triggers}
         END
         $do$;"
    )
}

/// A notification of [`CHANNEL`]: forgets the cached ACL of the document whose key it
/// names, or every cached ACL when it names none (a `TRUNCATE`, or a key under `acl` that
/// is not a document's, written by hand: forgetting too much is only slower).
pub(super) fn heard(auth: &AuthStore, payload: &str) {
    let document = (payload.len() <= MAX_PAYLOAD)
        .then(|| hex::decode(payload).ok())
        .flatten()
        .and_then(|bytes| StorageKey::from_ordered_bytes(&bytes).ok())
        .and_then(|key| acl_document(&key));
    auth.forget_acl(document.as_ref());
}

#[cfg(test)]
mod tests {
    use passerelle_core::DocumentId;

    use super::*;

    #[test]
    fn the_trigger_range_holds_every_acl_key_and_no_other() {
        let (low, high) = acl_prefix().ordered_range();
        let high = high.unwrap();
        let doc = DocumentId::random();
        let inside = StorageKey::try_new(["acl", &doc.to_string()])
            .unwrap()
            .to_ordered_bytes();
        assert!(low <= inside && inside < high);
        for other in [
            vec!["ac".to_owned()],
            vec!["acl-x".to_owned(), doc.to_string()],
            vec!["aclx".to_owned()],
            vec!["auth".to_owned(), "user".to_owned(), "amina".to_owned()],
            vec![doc.to_string(), "snapshot".to_owned(), "00".to_owned()],
        ] {
            let bytes = StorageKey::try_new(other.clone())
                .unwrap()
                .to_ordered_bytes();
            assert!(!(low <= bytes && bytes < high), "{other:?} is in the range");
        }
        let sql = trigger_sql();
        assert!(sql.contains(&hex::encode(&low)) && sql.contains(&hex::encode(&high)));
    }

    #[test]
    fn a_payload_names_its_document_or_nothing() {
        let doc = DocumentId::random();
        let key = StorageKey::try_new(["acl", &doc.to_string()]).unwrap();
        let decoded = hex::decode(hex::encode(key.to_ordered_bytes())).unwrap();
        assert_eq!(
            acl_document(&StorageKey::from_ordered_bytes(&decoded).unwrap()),
            Some(doc)
        );
        let odd = StorageKey::try_new(["acl", "not-an-id"]).unwrap();
        assert_eq!(acl_document(&odd), None);
    }

    #[test]
    fn a_notification_forgets_its_document_or_everything() {
        let auth = AuthStore::new(std::sync::Arc::new(passerelle_store::MemoryStorage::new()));
        let creator = crate::auth::Principal {
            user: "amina".parse().unwrap(),
            org: "ville-de-lille".parse().unwrap(),
            role: crate::auth::Role::Admin,
        };
        let (a, b) = (DocumentId::random(), DocumentId::random());
        for doc in [a, b] {
            auth.create_document(&doc, &creator).unwrap().unwrap();
        }
        let payload = |doc: &DocumentId| {
            let key = StorageKey::try_new(["acl", &doc.to_string()]).unwrap();
            hex::encode(key.to_ordered_bytes())
        };
        heard(&auth, &payload(&a));
        assert_eq!(auth.cached_acl(&a), None);
        assert!(auth.cached_acl(&b).is_some(), "only the document named");
        for everything in ["*", "zz", &"00".repeat(MAX_PAYLOAD)] {
            auth.acl(&a).unwrap();
            heard(&auth, everything);
            assert_eq!(auth.cached_acl(&a), None, "{everything:.8}");
            assert_eq!(auth.cached_acl(&b), None, "{everything:.8}");
        }
    }
}
