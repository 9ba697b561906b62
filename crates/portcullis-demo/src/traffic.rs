//! The fake captured traffic the tools work on: a few seeded flows, global headers, charges.

use serde::Serialize;

/// The session token the seeded login flow hands out; `extract_session_variable` returns it.
pub const SEED_SESSION_TOKEN: &str = "tok_demo_5f2a9c71";

#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub id: String,
    pub method: String,
    pub url: String,
    pub host: String,
    pub status: u16,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
}

/// Everything the tools can change, behind one lock in the server.
#[derive(Debug)]
pub struct Traffic {
    pub flows: Vec<Flow>,
    pub global_headers: Vec<(String, String)>,
    /// Next number for a new flow id (`f<n>`), never reused after `clear_traffic`.
    pub next_flow: u64,
    pub charges: u64,
}

impl Traffic {
    pub fn seeded() -> Self {
        let flows = vec![
            flow(
                "f1",
                "GET",
                "https://shop.example/api/products?page=1",
                200,
                &[("accept", "application/json")],
                None,
                r#"{"products":[{"id":101,"name":"lamp","price":19.5},{"id":102,"name":"desk","price":240}]}"#,
                &[("content-type", "application/json")],
            ),
            flow(
                "f2",
                "POST",
                "https://shop.example/api/login",
                200,
                &[("content-type", "application/json")],
                Some(r#"{"user":"alice","password":"hunter2"}"#),
                &format!(r#"{{"session_token":"{SEED_SESSION_TOKEN}","expires_in":3600,"user_id":42}}"#),
                &[
                    ("content-type", "application/json"),
                    (
                        "set-cookie",
                        &format!("session={SEED_SESSION_TOKEN}; HttpOnly; Secure"),
                    ),
                ],
            ),
            flow(
                "f3",
                "GET",
                "https://shop.example/api/cart",
                200,
                &[("authorization", &format!("Bearer {SEED_SESSION_TOKEN}"))],
                None,
                r#"{"items":[{"id":101,"qty":2}],"total":39.0}"#,
                &[("content-type", "application/json")],
            ),
            flow(
                "f4",
                "POST",
                "https://payments.example/v1/charges",
                402,
                &[("content-type", "application/json")],
                Some(r#"{"amount":39.0,"currency":"USD"}"#),
                r#"{"error":"card_declined"}"#,
                &[("content-type", "application/json")],
            ),
        ];
        Self {
            flows,
            global_headers: Vec::new(),
            next_flow: 5,
            charges: 0,
        }
    }

    pub fn find(&self, id: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.id == id)
    }
}

#[allow(clippy::too_many_arguments)] // a table of seed data reads best as one call per flow
fn flow(
    id: &str,
    method: &str,
    url: &str,
    status: u16,
    request_headers: &[(&str, &str)],
    request_body: Option<&str>,
    response_body: &str,
    response_headers: &[(&str, &str)],
) -> Flow {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let pairs = |h: &[(&str, &str)]| {
        h.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    Flow {
        id: id.to_owned(),
        method: method.to_owned(),
        url: url.to_owned(),
        host: host.to_owned(),
        status,
        request_headers: pairs(request_headers),
        request_body: request_body.map(str::to_owned),
        response_headers: pairs(response_headers),
        response_body: Some(response_body.to_owned()),
    }
}
