//! DNS-rebinding defence: `Host` and `Origin` must be on the allow-list (loopback names when empty).

use axum::http::{HeaderMap, StatusCode, header};

use super::Reject;
use crate::config::Settings;

/// Refuses a request whose `Host` or `Origin` is not allowed, with 403.
///
/// # Errors
/// [`Reject`] with 403 naming the header at fault.
pub fn check(headers: &HeaderMap, settings: &Settings) -> Result<(), Reject> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &settings.allowed_hosts) {
        return Err(Reject::status(
            StatusCode::FORBIDDEN,
            format!("host {host:?} is not allowed"),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, &settings.allowed_origins) {
            return Err(Reject::status(
                StatusCode::FORBIDDEN,
                format!("origin {origin:?} is not allowed"),
            ));
        }
    }
    Ok(())
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    if host.is_empty() {
        return false;
    }
    if allowed.is_empty() {
        return is_loopback(host_name(host));
    }
    let name = host_name(host);
    allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        return is_loopback(host_name(rest));
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// The host without its port: `[::1]:80` -> `[::1]`, `localhost:80` -> `localhost`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

fn is_loopback(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost") || name == "[::1]" || name.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_the_default_and_lists_are_exact() {
        assert!(host_allowed("127.0.0.1:8080", &[]));
        assert!(host_allowed("[::1]:8080", &[]));
        assert!(!host_allowed("evil.example:8080", &[]));
        assert!(!host_allowed("", &[]));
        let hosts = vec!["gw.internal".to_owned()];
        assert!(host_allowed("gw.internal:443", &hosts));
        assert!(!host_allowed("127.0.0.1:80", &hosts));
        assert!(origin_allowed("http://localhost:3000", &[]));
        assert!(!origin_allowed("http://evil.example", &[]));
        assert!(!origin_allowed("null", &[]));
        let origins = vec!["https://app.example".to_owned()];
        assert!(origin_allowed("https://app.example", &origins));
        assert!(!origin_allowed("http://localhost", &origins));
    }
}
