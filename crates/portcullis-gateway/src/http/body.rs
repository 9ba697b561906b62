//! Reading a request body under the configured cap.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::Reject;

/// Reads the whole body, refusing more than `cap` bytes with 413.
///
/// # Errors
/// 413 when too large, 400 when the body breaks off.
pub async fn read(body: Body, headers: &HeaderMap, cap: usize) -> Result<Bytes, Reject> {
    let too_large = || {
        Reject::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds {cap} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(Reject::status(
            StatusCode::BAD_REQUEST,
            format!("cannot read request body: {e}"),
        )),
    }
}
