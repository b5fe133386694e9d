//! [`Sessions`]: who a browser is, kept in memory behind an HttpOnly, SameSite=Strict cookie,
//! each with its CSRF token.
//!
//! A session of the server holds the bearer token it signed in with (never sent back to the
//! browser), checked again on every request, so revoking the token ends the session. A
//! session of the local UI holds no token: it exists for its CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header;
use rand::RngCore as _;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "passerelle_session";
/// The language cookie's name (not a secret; readable by the page).
pub(crate) const LANG_COOKIE: &str = "passerelle_lang";

/// The most sessions kept; past it the oldest is dropped.
const MAX_SESSIONS: usize = 10_000;
/// A session ends this long after it began.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One browser's session.
#[derive(Clone)]
pub(crate) struct Session {
    /// The bearer token it signed in with (server), `None` in the local UI.
    pub(crate) token: Option<String>,
    /// The CSRF token every POST of this session must carry.
    pub(crate) csrf: String,
    started: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// The sessions, in memory (a restart signs everyone out).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session; returns its id (the cookie's value) and the session.
    pub(crate) fn start(&self, token: Option<String>) -> (String, Session) {
        let id = random_hex();
        let session = Session {
            token,
            csrf: random_hex(),
            started: Instant::now(),
        };
        let mut by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id.retain(|_, s| s.started.elapsed() < SESSION_LIFETIME);
        if by_id.len() >= MAX_SESSIONS
            && let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this id.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id
            .get(id)
            .filter(|s| s.started.elapsed() < SESSION_LIFETIME)
            .cloned()
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: &str) {
        let mut by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id.remove(id);
    }
}

/// 32 random bytes, hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value of a session cookie (`Secure` for a site served over https).
pub(crate) fn session_cookie(id: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}",
        secure_flag(secure)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn cleared_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_flag(secure)
    )
}

fn secure_flag(secure: bool) -> &'static str {
    if secure { "; Secure" } else { "" }
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; passerelle_session=abc; passerelle_lang=ar"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, LANG_COOKIE), Some("ar"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn cookies_are_secure_only_when_asked() {
        assert!(session_cookie("abc", true).ends_with("; Secure"));
        assert!(!session_cookie("abc", false).contains("Secure"));
        assert!(cleared_session_cookie(true).contains("Max-Age=0; Secure"));
    }

    #[test]
    fn sessions_have_distinct_ids_and_csrf_tokens_and_end() {
        let sessions = Sessions::default();
        let (a, sa) = sessions.start(Some("t".into()));
        let (b, sb) = sessions.start(None);
        assert_ne!(a, b);
        assert_ne!(sa.csrf, sb.csrf);
        assert_eq!(a.len(), 64);
        assert_eq!(sessions.get(&a).unwrap().token.as_deref(), Some("t"));
        sessions.end(&a);
        assert!(sessions.get(&a).is_none());
        assert!(same_secret(&sb.csrf, &sb.csrf.clone()));
        assert!(!same_secret(&sb.csrf, &sa.csrf));
        assert!(!same_secret("ab", "abc"));
    }
}
