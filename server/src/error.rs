//! [`AppError`]: the one error type of the HTTP handlers, and how it becomes a response.
//!
//! Client errors become a 4xx status with a JSON body `{"error": "<what to fix>"}`. Server
//! errors become a 500 with a generic message: their details (storage paths, record keys,
//! I/O errors) go to the log only, because they help an attacker more than a user.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_store::StorageError;

use crate::auth::{AuthError, Operation, Refusal};

/// The message of every 500 response.
const INTERNAL_MESSAGE: &str = "internal server error";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No credentials, or credentials that are not valid (401). The message says which
    /// credential is wanted, never whether a token exists.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, not enough rights (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing here, or nothing the caller may know about (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is over the configured limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The request body did not arrive in time (408; see [`crate::body_deadline`]).
    #[error("{0}")]
    TooSlow(String),
    /// The server failed (500). Shown to the client as a generic message.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// An internal error from anything that is an error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AppError::Internal(error.into())
    }

    /// The status code of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooSlow(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(error) => {
                tracing::error!(error = %error, "request failed");
                INTERNAL_MESSAGE.to_owned()
            }
            client_error => client_error.to_string(),
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<axum::extract::rejection::BytesRejection> for AppError {
    /// A body that could not be read: over the limit (413), too slow (408), or cut off (400).
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if crate::body_deadline::is_too_slow(&rejection) {
            AppError::TooSlow(format!("could not read the request body: {rejection}"))
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(
                "the request body is larger than this server accepts (see its \
                 --max-message-bytes); send fewer documents per request"
                    .to_owned(),
            )
        } else {
            AppError::BadRequest(format!("could not read the request body: {rejection}"))
        }
    }
}

/// Turns the plain-text 4xx answers of axum's own extractors and fallbacks into this API's
/// JSON error bodies (`{"error": "..."}`), so that every client error has the same shape.
/// Responses that are already JSON, or encoded (gzip), or not client errors pass untouched.
pub(crate) async fn json_client_errors(response: Response) -> Response {
    let is_plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !response.status().is_client_error()
        || !is_plain_text
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // axum's rejection texts are one line; anything longer is cut.
    let text = axum::body::to_bytes(body, 4 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_else(|_| "bad request".to_owned());
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = Json(serde_json::json!({ "error": text.trim() }));
    (parts, json).into_response()
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        AppError::internal(error)
    }
}

impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        AppError::internal(error)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(error: tokio::task::JoinError) -> Self {
        AppError::internal(error)
    }
}

impl From<Refusal> for AppError {
    /// Refusals about documents follow the protocol's rule that a denied document and a
    /// missing one look the same: both are 404, except a refused creation (the document does
    /// not exist, so there is nothing to hide).
    fn from(refusal: Refusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            Refusal::UserExists(_) | Refusal::DocumentExists(_) => AppError::Conflict(message),
            Refusal::UnknownUser(_) | Refusal::UnknownToken => AppError::NotFound(message),
            Refusal::NotAllowed(Operation::Create) => AppError::Forbidden(message),
            Refusal::UnknownDocument(_) | Refusal::NotAllowed(_) => {
                AppError::NotFound("document not found".to_owned())
            }
        }
    }
}
