//! Between the store's policy records and the API's messages.

use portcullis_policy::{Format, PolicyErrors};
use portcullis_proto::admin as pb;
use portcullis_store::{PolicyFormat, PolicyHistory, PolicyVersion};

/// The store's format for an API format; unspecified is guessed from the text.
pub fn format(format: i32, text: &str) -> PolicyFormat {
    match pb::PolicyFormat::try_from(format) {
        Ok(pb::PolicyFormat::Json) => PolicyFormat::Json,
        Ok(pb::PolicyFormat::Yaml) => PolicyFormat::Yaml,
        _ if text.trim_start().starts_with('{') => PolicyFormat::Json,
        _ => PolicyFormat::Yaml,
    }
}

/// The API's format for a stored one.
pub fn format_to_pb(format: PolicyFormat) -> pb::PolicyFormat {
    match format {
        PolicyFormat::Json => pb::PolicyFormat::Json,
        PolicyFormat::Yaml => pb::PolicyFormat::Yaml,
    }
}

/// The engine's format for a stored one.
pub fn engine(format: PolicyFormat) -> Format {
    format.engine_format()
}

/// Every compile error with its JSON path.
pub fn errors(errors: &PolicyErrors) -> Vec<pb::PolicyError> {
    errors
        .iter()
        .map(|error| pb::PolicyError {
            path: error.location.to_string(),
            message: error.message.clone(),
            hint: error.hint.clone(),
        })
        .collect()
}

/// One stored version as a message; `with_text: false` leaves the document out (histories).
pub fn policy(name: &str, history: &PolicyHistory, version: &PolicyVersion, with_text: bool) -> pb::Policy {
    pb::Policy {
        name: name.to_owned(),
        revision: version.revision,
        text: if with_text {
            version.text.clone()
        } else {
            String::new()
        },
        format: format_to_pb(version.format).into(),
        author: version.author.clone(),
        proposed_at_ms: version.proposed_at.0,
        log_index: version.log_index,
        shadow_revision: history.shadow.as_ref().map(|shadow| shadow.revision),
    }
}
