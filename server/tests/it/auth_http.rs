//! The router without sockets (`tower::ServiceExt::oneshot`): health, the bearer-token
//! extractor, the admin endpoint's guards, and the shape of error responses.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use passerelle_server::admin::{ADMIN_SECRET_HEADER, AdminSecret};
use passerelle_server::auth::{OrgName, Role, TokenRef, UserName};
use passerelle_server::{AppState, ServerConfig, app};
use passerelle_store::{Batch, MemoryStorage, Storage, StorageError, StorageKey};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const SECRET: &str = "the-admin-secret-of-this-test";

fn state() -> AppState {
    AppState::new(Arc::new(MemoryStorage::new()), ServerConfig::default())
        .with_admin_secret(AdminSecret::from_secret(SECRET))
}

/// A user and their token, added straight to the store.
fn add_user(state: &AppState, name: &str, role: Role) -> String {
    state
        .auth()
        .add_user(
            &UserName::new(name).unwrap(),
            &OrgName::new("ville-de-lille").unwrap(),
            role,
        )
        .unwrap()
        .unwrap()
        .token
        .token
        .expose_secret()
        .to_owned()
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, www_authenticate, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn get_with_token(uri: &str, token: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn admin_request(from: Option<&str>, secret: Option<&str>, body: Value) -> Request<Body> {
    let mut builder =
        Request::post("/v1/admin/command").header(header::CONTENT_TYPE, "application/json");
    if let Some(secret) = secret {
        builder = builder.header(ADMIN_SECRET_HEADER, secret);
    }
    let mut request = builder.body(Body::from(body.to_string())).unwrap();
    if let Some(from) = from {
        let address: SocketAddr = from.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(address));
    }
    request
}

#[tokio::test]
async fn healthz_answers_ok_with_the_version() {
    let (status, _, body) = send(&state(), get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn whoami_needs_a_valid_token() {
    let state = state();
    let token = add_user(&state, "youssef", Role::Editor);

    let (status, challenge, body) = send(&state, get("/v1/whoami")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert!(body["error"].as_str().unwrap().contains("missing token"));

    for bad in [
        "garbage",
        "psl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &format!("{token}x"),
    ] {
        let (status, _, body) = send(&state, get_with_token("/v1/whoami", bad)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(body["error"], "invalid or revoked token");
    }

    let wrong_scheme = Request::get("/v1/whoami")
        .header(header::AUTHORIZATION, format!("Basic {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(&state, wrong_scheme).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _, body) = send(&state, get_with_token("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"user": "youssef", "org": "ville-de-lille", "role": "editor"})
    );

    // The query form, for WebSocket clients that cannot set headers.
    let (status, _, body) = send(&state, get(&format!("/v1/whoami?token={token}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], "youssef");
    let (status, _, _) = send(&state, get("/v1/whoami?token=")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_the_next_request() {
    let state = state();
    let token = add_user(&state, "youssef", Role::Editor);
    let (status, _, _) = send(&state, get_with_token("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::OK);

    let revoke: TokenRef = token.parse().unwrap();
    state.auth().revoke_token(&revoke).unwrap().unwrap();
    let (status, _, body) = send(&state, get_with_token("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid or revoked token");
    let (status, _, _) = send(&state, get(&format!("/v1/whoami?token={token}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_admin_endpoint_wants_loopback_and_the_secret() {
    let state = state();
    let add =
        json!({"command": "add-user", "name": "karim", "org": "commune-oujda", "role": "viewer"});

    for (from, secret, expected) in [
        (Some("127.0.0.1:5000"), Some("wrong"), StatusCode::FORBIDDEN),
        (Some("127.0.0.1:5000"), Some(""), StatusCode::FORBIDDEN),
        (Some("127.0.0.1:5000"), None, StatusCode::FORBIDDEN),
        // Right secret, but not from this machine (or from nowhere known).
        (Some("192.0.2.7:5000"), Some(SECRET), StatusCode::FORBIDDEN),
        (None, Some(SECRET), StatusCode::FORBIDDEN),
    ] {
        let (status, _, body) = send(&state, admin_request(from, secret, add.clone())).await;
        assert_eq!(status, expected, "from {from:?} with {secret:?}");
        assert!(body["error"].is_string());
    }
    assert!(
        state.auth().list_users().unwrap().is_empty(),
        "a refused command ran"
    );

    // IPv6 loopback and the right secret.
    let (status, _, body) = send(
        &state,
        admin_request(Some("[::1]:5000"), Some(SECRET), add.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "user-added");
    assert_eq!(body["user"]["name"], "karim");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, _, body) = send(&state, get_with_token("/v1/whoami", &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["role"], "viewer");

    // A refusal is a 4xx with the reason.
    let (status, _, body) = send(
        &state,
        admin_request(Some("127.0.0.1:1"), Some(SECRET), add),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("already exists"));

    let (status, _, body) = send(
        &state,
        admin_request(
            Some("127.0.0.1:1"),
            Some(SECRET),
            json!({"command": "reboot"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not an admin command")
    );
}

#[tokio::test]
async fn the_admin_endpoint_is_absent_without_a_secret() {
    let state = AppState::new(Arc::new(MemoryStorage::new()), ServerConfig::default());
    let (status, _, _) = send(
        &state,
        admin_request(
            Some("127.0.0.1:1"),
            Some(""),
            json!({"command": "list-users"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let (status, _, body) = send(&state(), get("/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

/// A backend whose disk is gone, with a detail that must not reach clients.
#[derive(Debug)]
struct BrokenStorage;

impl Storage for BrokenStorage {
    fn get(&self, _: &StorageKey) -> Result<Option<Vec<u8>>, StorageError> {
        Err(StorageError::Io(
            "/srv/secret/path: input/output error".to_owned(),
        ))
    }
    fn scan_prefix(&self, _: &StorageKey) -> Result<Vec<(StorageKey, Vec<u8>)>, StorageError> {
        Err(StorageError::Io(
            "/srv/secret/path: input/output error".to_owned(),
        ))
    }
    fn keys_with_prefix(&self, _: &StorageKey) -> Result<Vec<StorageKey>, StorageError> {
        Err(StorageError::Io(
            "/srv/secret/path: input/output error".to_owned(),
        ))
    }
    fn apply_deferred(&self, _: Batch) -> Result<(), StorageError> {
        Err(StorageError::Io(
            "/srv/secret/path: input/output error".to_owned(),
        ))
    }
    fn flush(&self) -> Result<(), StorageError> {
        Err(StorageError::Io(
            "/srv/secret/path: input/output error".to_owned(),
        ))
    }
}

#[tokio::test]
async fn internal_errors_are_generic_500s() {
    let state = AppState::new(Arc::new(BrokenStorage), ServerConfig::default());
    let token = "psl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (status, _, body) = send(&state, get_with_token("/v1/whoami", token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, json!({"error": "internal server error"}));
}
