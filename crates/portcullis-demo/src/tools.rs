//! What each tool does. A tool returns its text output or a message for an `isError` result.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::traffic::{Flow, Traffic};

type Args = Map<String, Value>;
pub type ToolOutcome = Result<String, String>;

/// Runs tool `name` (known to exist in the catalog) on `traffic`.
pub fn call(traffic: &mut Traffic, name: &str, args: &Args) -> ToolOutcome {
    match name {
        "echo" => text_arg(args, "text").map(str::to_owned),
        "get_traffic_summary" => Ok(summary(traffic)),
        "inspect_flow" => {
            let id = text_arg(args, "flow_id")?;
            let flow = traffic.find(id).ok_or_else(|| no_flow(id))?;
            Ok(to_text(&json!(flow)))
        }
        "search_traffic" => Ok(search(traffic, text_arg(args, "query")?)),
        "extract_session_variable" => {
            let id = text_arg(args, "flow_id")?;
            let variable = text_arg(args, "variable")?;
            let flow = traffic.find(id).ok_or_else(|| no_flow(id))?;
            extract(flow, variable).ok_or_else(|| format!("variable '{variable}' not found in flow {id}"))
        }
        "set_global_header" => set_header(traffic, text_arg(args, "key")?, text_arg(args, "value")?),
        "replay_flow" => replay(traffic, text_arg(args, "flow_id")?),
        "clear_traffic" => {
            let cleared = traffic.flows.len();
            traffic.flows.clear();
            Ok(to_text(&json!({"cleared": cleared})))
        }
        "charge" => charge(traffic, args),
        other => Err(format!("tool '{other}' has no implementation")),
    }
}

fn text_arg<'a>(args: &'a Args, name: &str) -> Result<&'a str, String> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("argument '{name}' must be a string")),
        None => Err(format!("missing required argument '{name}'")),
    }
}

fn no_flow(id: &str) -> String {
    format!("no flow with id '{id}'")
}

fn to_text(value: &Value) -> String {
    value.to_string()
}

fn summary(traffic: &Traffic) -> String {
    let mut hosts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut methods: BTreeMap<&str, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for f in &traffic.flows {
        *hosts.entry(&f.host).or_default() += 1;
        *methods.entry(&f.method).or_default() += 1;
        *statuses.entry(f.status.to_string()).or_default() += 1;
    }
    to_text(&json!({
        "total_flows": traffic.flows.len(),
        "hosts": hosts,
        "methods": methods,
        "status_codes": statuses,
        "global_headers": traffic.global_headers.len(),
    }))
}

fn search(traffic: &Traffic, query: &str) -> String {
    let needle = query.to_lowercase();
    let contains = |s: &str| s.to_lowercase().contains(&needle);
    let matches: Vec<Value> = traffic
        .flows
        .iter()
        .filter(|f| {
            contains(&f.url)
                || f.request_body.as_deref().is_some_and(contains)
                || f.response_body.as_deref().is_some_and(contains)
        })
        .map(|f| json!({"id": f.id, "method": f.method, "url": f.url, "status": f.status}))
        .collect();
    to_text(&json!({"query": query, "matches": matches}))
}

/// Looks for `variable` as a JSON body field (response, then request), a cookie, then a header.
fn extract(flow: &Flow, variable: &str) -> Option<String> {
    let from_body = |body: &Option<String>| {
        let parsed: Value = serde_json::from_str(body.as_deref()?).ok()?;
        match parsed.get(variable)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    };
    let from_cookie = || {
        flow.response_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                let first = v.split(';').next()?;
                let (name, value) = first.split_once('=')?;
                (name.trim() == variable).then(|| value.trim().to_owned())
            })
    };
    let from_header = || {
        flow.request_headers
            .iter()
            .chain(&flow.response_headers)
            .find(|(k, _)| k.eq_ignore_ascii_case(variable))
            .map(|(_, v)| v.clone())
    };
    from_body(&flow.response_body)
        .or_else(|| from_body(&flow.request_body))
        .or_else(from_cookie)
        .or_else(from_header)
}

fn set_header(traffic: &mut Traffic, key: &str, value: &str) -> ToolOutcome {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(format!("'{key}' is not a valid header name"));
    }
    if value.chars().any(char::is_control) {
        return Err("header value must not contain control characters".to_owned());
    }
    let key = key.to_ascii_lowercase();
    traffic.global_headers.retain(|(k, _)| *k != key);
    traffic.global_headers.push((key.clone(), value.to_owned()));
    Ok(to_text(
        &json!({"set": key, "value": value, "global_headers": traffic.global_headers.len()}),
    ))
}

fn replay(traffic: &mut Traffic, id: &str) -> ToolOutcome {
    let original = traffic.find(id).ok_or_else(|| no_flow(id))?;
    let mut copy = original.clone();
    copy.id = format!("f{}", traffic.next_flow);
    for (key, value) in &traffic.global_headers {
        copy.request_headers.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        copy.request_headers.push((key.clone(), value.clone()));
    }
    traffic.next_flow += 1;
    let out = json!({"replayed": id, "new_flow_id": copy.id, "status": copy.status,
        "request_headers": copy.request_headers});
    traffic.flows.push(copy);
    Ok(to_text(&out))
}

fn charge(traffic: &mut Traffic, args: &Args) -> ToolOutcome {
    let amount = match args.get("amount") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(_) => return Err("argument 'amount' must be a number".to_owned()),
        None => return Err("missing required argument 'amount'".to_owned()),
    };
    if !(amount > 0.0 && amount <= 1_000_000.0) {
        return Err(format!(
            "amount must be greater than 0 and at most 1000000, got {amount}"
        ));
    }
    let currency = text_arg(args, "currency")?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "currency must be a 3-letter ISO 4217 code like USD, got '{currency}'"
        ));
    }
    traffic.charges += 1;
    Ok(to_text(&json!({
        "charge_id": format!("ch_{:06}", traffic.charges),
        "amount": amount,
        "currency": currency,
        "status": "succeeded",
    })))
}
