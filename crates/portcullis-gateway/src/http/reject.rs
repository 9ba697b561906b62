//! Requests refused before they reach a session, as HTTP responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// An early refusal.
#[derive(Debug)]
pub enum Reject {
    /// A plain HTTP error with a short text body, optionally with `WWW-Authenticate`.
    Status {
        /// The status.
        status: StatusCode,
        /// Why, for the client.
        message: String,
        /// A `WWW-Authenticate` challenge.
        challenge: Option<&'static str>,
    },
    /// A JSON-RPC error body with an HTTP status.
    Rpc(StatusCode, Value),
}

impl Reject {
    /// A plain HTTP error.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            message: message.into(),
            challenge: None,
        }
    }

    /// 401 with a bearer challenge.
    pub fn unauthorized(message: &str, challenge: &'static str) -> Self {
        Self::Status {
            status: StatusCode::UNAUTHORIZED,
            message: message.to_owned(),
            challenge: Some(challenge),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Self::Status {
                status,
                message,
                challenge,
            } => {
                let mut response = (status, format!("{message}\n")).into_response();
                if let Some(challenge) = challenge {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
                }
                response
            }
            Self::Rpc(status, body) => super::json_response(status, &body),
        }
    }
}
