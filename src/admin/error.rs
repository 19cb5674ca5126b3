//! Errors from the homeserver, typed so callers can branch on the cause.

use reqwest::StatusCode;

/// What went wrong talking to the homeserver. Messages are written for the
/// admin reading them; none of them contains the access token.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Connection refused, DNS failure, TLS error or timeout, after retries.
    #[error("cannot reach the homeserver at {base}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    /// The homeserver answered before, then stopped answering for longer
    /// than the patience allows.
    #[error(
        "the homeserver at {base} stopped answering and was not back within {waited_secs} s ({last})"
    )]
    Outage {
        base: String,
        waited_secs: u64,
        last: String,
    },
    /// 401: the token is missing, expired or logged out.
    #[error("the homeserver refused the access token ({errcode}: {message})")]
    BadToken { errcode: String, message: String },
    /// The password login was refused.
    #[error("the homeserver refused the password login ({errcode}: {message})")]
    LoginRefused { errcode: String, message: String },
    /// 403 from the Admin API.
    #[error("the access token is not a server admin's ({errcode}: {message})")]
    NotAdmin { errcode: String, message: String },
    /// Any other non-2xx answer, after retries for 429 and 5xx.
    #[error("{endpoint} answered {status} {errcode}: {message}")]
    Api {
        endpoint: String,
        status: StatusCode,
        errcode: String,
        message: String,
    },
    /// 404 `M_UNRECOGNIZED` on an Admin API path: the process that answered
    /// does not serve the Admin API at all (a Synapse worker behind a proxy
    /// that routes it there), which is not "no such room".
    #[error(
        "{endpoint} answered 404 M_UNRECOGNIZED: the process that answered does not serve \
         Synapse's Admin API. Behind a reverse proxy with Synapse workers, route \
         /_synapse/admin/ to the main process (Synapse's docs/workers.md); or this Synapse \
         is too old for this endpoint"
    )]
    Unrouted { endpoint: String },
    /// A 2xx answer that is not the JSON Synapse sends.
    #[error("{endpoint} answered something that is not Synapse's JSON: {detail}")]
    Decode { endpoint: String, detail: String },
}

impl AdminError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::BadToken { .. } => Some(StatusCode::UNAUTHORIZED),
            Self::LoginRefused { .. } => Some(StatusCode::FORBIDDEN),
            Self::NotAdmin { .. } => Some(StatusCode::FORBIDDEN),
            Self::Api { status, .. } => Some(*status),
            Self::Unrouted { .. } => Some(StatusCode::NOT_FOUND),
            Self::Unreachable { .. } | Self::Outage { .. } | Self::Decode { .. } => None,
        }
    }

    /// "No such thing" from the endpoint itself; never an endpoint that
    /// is not served ([`Self::Unrouted`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// Errors that will not go away by moving on to the next room: the whole
    /// run should stop rather than record the same failure for every room.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::BadToken { .. }
                | Self::NotAdmin { .. }
                | Self::LoginRefused { .. }
                | Self::Outage { .. }
                | Self::Unrouted { .. }
        )
    }
}

/// The `{errcode, error}` body of a Matrix error answer.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub errcode: String,
    #[serde(default)]
    pub error: String,
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// Parses an error body; a body that is not Matrix JSON (a proxy's HTML
    /// page, say) is kept as a short, printable excerpt.
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Self {
            errcode: "(no errcode)".into(),
            error: excerpt(bytes),
            retry_after_ms: None,
        })
    }
}

/// At most 200 characters of a body, control characters removed, for messages.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out.trim().to_owned()
}

/// Why a 2xx body did not decode, told without quoting any of its values: a
/// successful answer may carry a secret (`/login` and `/refresh` hand out
/// tokens), and serde's own message quotes the value it could not read. Only
/// a body that is not JSON at all (a proxy's HTML page) is quoted.
pub(crate) fn undecodable(e: &serde_json::Error, bytes: &[u8]) -> String {
    use serde_json::error::Category;
    // Only a body that cannot hold a JSON string (no quote, no brace: a
    // proxy's plain page) is quoted, whatever comes before its first byte.
    let text = String::from_utf8_lossy(bytes);
    if e.classify() == Category::Syntax && !text.contains(['{', '"']) && !text.trim().is_empty() {
        return format!("not JSON (body: {})", excerpt(bytes));
    }
    let what = match e.classify() {
        Category::Eof => "the JSON ends early".to_owned(),
        Category::Syntax | Category::Io => "malformed JSON".to_owned(),
        // Only these name a field of ours and no value.
        Category::Data
            if ["missing field", "duplicate field"]
                .iter()
                .any(|m| e.to_string().starts_with(m)) =>
        {
            strip_position(&e.to_string())
        }
        Category::Data => "a field of the wrong type or value".to_owned(),
    };
    let shape = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(fields)) => {
            let keys: Vec<&str> = fields.keys().map(String::as_str).take(20).collect();
            format!("an object with the keys {}", keys.join(", "))
        }
        Ok(other) => format!("a JSON {}", kind(&other)),
        Err(_) => format!("{} bytes", bytes.len()),
    };
    format!(
        "{what} at line {}, column {} ({shape}; the body is not quoted, as it may hold a secret)",
        e.line(),
        e.column()
    )
}

fn strip_position(message: &str) -> String {
    message
        .split_once(" at line ")
        .map_or(message, |(m, _)| m)
        .to_owned()
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(body: &[u8]) -> String {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Login {
            access_token: String,
            device_id: String,
        }
        let e = serde_json::from_slice::<Login>(body).unwrap_err();
        undecodable(&e, body)
    }

    #[test]
    fn a_body_that_may_hold_a_token_is_never_quoted() {
        let secret = "syt_c2VjcmV0_leak";
        let bodies = [
            format!(r#"{{"access_token": "{secret}", "device_id": 7}}"#),
            format!(r#"{{"access_token": "{secret}""#),
            format!(r#"{{"access_token": "{secret}", "device_id": "D", }}"#),
            format!(r#"{{"access_token": "{secret}"}}"#),
            format!(r#"["{secret}"]"#),
            format!(r#""{secret}""#),
            format!("\u{feff}{{\"access_token\": \"{secret}\"}}"),
            format!(r#")]}}'{{"access_token": "{secret}"}}"#),
        ];
        for body in &bodies {
            let text = told(body.as_bytes());
            assert!(!text.contains(secret), "{body} -> {text}");
            assert!(!text.contains("c2Vj"), "{body} -> {text}");
        }
        assert_eq!(
            told(bodies[0].as_bytes()),
            "a field of the wrong type or value at line 1, column 52 (an object with the keys \
             access_token, device_id; the body is not quoted, as it may hold a secret)"
        );
        assert!(told(bodies[3].as_bytes()).starts_with("missing field `device_id` at line"));
        assert!(told(bodies[1].as_bytes()).starts_with("the JSON ends early"));
    }

    #[test]
    fn a_page_that_is_not_json_is_quoted() {
        assert_eq!(
            told(b"<html><h1>Welcome to nginx</h1></html>"),
            "not JSON (body: <html><h1>Welcome to nginx</h1></html>)"
        );
    }

    #[test]
    fn garbage_bodies_become_short_printable_text() {
        let body = ErrorBody::parse(b"<html>\n<h1>502 Bad Gateway</h1></html>");
        assert_eq!(body.error, "<html> <h1>502 Bad Gateway</h1></html>");
        let long = vec![b'x'; 1000];
        assert_eq!(excerpt(&long).chars().count(), 201);
        assert_eq!(excerpt(&[0xff, 0xfe]), "\u{fffd}\u{fffd}");
    }

    #[test]
    fn matrix_error_bodies_are_read() {
        let body = ErrorBody::parse(
            br#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many","retry_after_ms":1500}"#,
        );
        assert_eq!(body.errcode, "M_LIMIT_EXCEEDED");
        assert_eq!(body.retry_after_ms, Some(1500));
    }
}
