//! Sending one rendered request to a receiver and classifying what happened; the redaction and
//! truncation that make an attempt safe to keep in logs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::DeliveryConfig;
use crate::request::RenderedRequest;
use crate::store::Outcome;

/// The HTTP client every attempt and test send goes through: one connection pool, so connections
/// to a receiver are reused across deliveries.
#[derive(Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    max_response_bytes: usize,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

/// A receiver's answer, with its body cut at `max_response_bytes`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// As received; turned into text only for a log that keeps them (see [`Response::header_pairs`]).
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub body_truncated: bool,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct SendResult {
    pub outcome: Outcome,
    /// Stable: `ok`, `http_status`, `timeout`, `connect_error`, `connection_reset`,
    /// `network_error`, `invalid_request`, `render_error`.
    pub error_code: &'static str,
    /// A human-readable reason for a failure.
    pub message: Option<String>,
    pub response: Option<Response>,
    pub duration: Duration,
    /// The receiver's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl SendResult {
    pub fn is_success(&self) -> bool {
        self.outcome == Outcome::Success
    }
}

const USER_AGENT: &str = concat!("hookline/", env!("CARGO_PKG_VERSION"));

impl HttpSender {
    pub fn new(config: &DeliveryConfig) -> Result<HttpSender, ClientError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(HttpSender {
            client,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// Sends `request` with `webhook-id: <webhook_id>` (the delivery's id: the same on every
    /// retry, so a receiver can drop duplicates).
    pub async fn send(&self, request: &RenderedRequest, webhook_id: &str) -> SendResult {
        let started = Instant::now();
        let method = match reqwest::Method::from_bytes(request.method.as_str().as_bytes()) {
            Ok(m) => m,
            Err(e) => return invalid(started, e.to_string()),
        };
        let mut builder = self.client.request(method, &request.url);
        let mut has_content_type = false;
        for (name, value) in &request.headers {
            has_content_type |= name.eq_ignore_ascii_case("content-type");
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = builder.header("webhook-id", webhook_id);
        if let Some(body) = &request.body {
            if !has_content_type {
                builder = builder.header("content-type", "application/json");
            }
            builder = builder.body(body.clone());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return failure(started, &e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::retry::parse_retry_after(v, unix_now()));
        let mut response = response;
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.max_response_bytes.saturating_sub(body.len());
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return failure(started, &e),
            }
        }
        let outcome = match status {
            200..=299 => Outcome::Success,
            500..=599 => Outcome::Server,
            _ => Outcome::Client,
        };
        SendResult {
            outcome,
            error_code: if outcome == Outcome::Success {
                "ok"
            } else {
                "http_status"
            },
            message: (outcome != Outcome::Success)
                .then(|| format!("the receiver answered {status}")),
            response: Some(Response {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                body_truncated: truncated,
            }),
            duration: started.elapsed(),
            retry_after,
        }
    }
}

impl Response {
    /// The headers as text, in order (a value that is not UTF-8 is shown lossily).
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn invalid(started: Instant, message: String) -> SendResult {
    SendResult {
        outcome: Outcome::Network,
        error_code: "invalid_request",
        message: Some(message),
        response: None,
        duration: started.elapsed(),
        retry_after: None,
    }
}

fn failure(started: Instant, e: &reqwest::Error) -> SendResult {
    let (outcome, code) = if e.is_timeout() {
        (Outcome::Timeout, "timeout")
    } else if e.is_connect() {
        (Outcome::Network, "connect_error")
    } else if e.is_builder() {
        (Outcome::Network, "invalid_request")
    } else if caused_by_reset(e) {
        (Outcome::Network, "connection_reset")
    } else {
        (Outcome::Network, "network_error")
    };
    SendResult {
        outcome,
        error_code: code,
        message: Some(error_chain(e)),
        response: None,
        duration: started.elapsed(),
        retry_after: None,
    }
}

fn caused_by_reset(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            )
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("connection reset")
            || text.contains("connection closed before message completed")
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// The error and its causes on one line, without the URL (it may carry secrets).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.without_url_ref()];
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    parts.dedup();
    parts.join(": ")
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text
                .replace(&format!(" ({url})"), "")
                .replace(url.as_str(), "<url>"),
            None => text,
        }
    }
}

/// Whether a header's value is a secret to hide in logs: credentials, tokens, keys, signatures,
/// cookies.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "authorization"
        || name == "proxy-authorization"
        || [
            "token",
            "key",
            "secret",
            "signature",
            "cookie",
            "password",
            "auth",
            "session",
        ]
        .iter()
        .any(|w| name.contains(w))
}

pub const REDACTED: &str = "[redacted]";

/// Headers as `[[name, value], ...]` with secret values replaced.
pub fn redact_headers(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(n, v)| {
                json!([
                    n,
                    if is_secret_header(n) {
                        REDACTED
                    } else {
                        v.as_str()
                    }
                ])
            })
            .collect(),
    )
}

/// `text` cut at `max` bytes on a character boundary, and whether it was cut.
pub fn truncate(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `url` with the values of secret-looking query parameters (`?api_key=`, `token=`...) redacted.
pub fn redact_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((name, _)) if is_secret_header(name) => format!("{name}={REDACTED}"),
            _ => p.to_string(),
        })
        .collect();
    let mut out = format!("{base}?{}", params.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The request as logs keep it: secret headers and query parameters redacted, body truncated.
pub fn request_log(request: &RenderedRequest, webhook_id: &str, max_body: usize) -> Value {
    let mut headers = request.headers.clone();
    headers.push(("webhook-id".into(), webhook_id.into()));
    let (body, cut) = match &request.body {
        Some(b) => {
            let (t, cut) = truncate(b, max_body);
            (Value::String(t.to_string()), cut)
        }
        None => (Value::Null, false),
    };
    json!({
        "method": request.method.as_str(),
        "url": redact_url(&request.url),
        "headers": redact_headers(&headers),
        "body": body,
        "body_truncated": cut,
    })
}

/// The response (or the failure) as logs keep it.
pub fn response_log(result: &SendResult, max_body: usize) -> Value {
    match &result.response {
        Some(r) => {
            let (body, cut) = truncate(&r.body, max_body);
            json!({
                "status": r.status,
                "headers": redact_headers(&r.header_pairs()),
                "body": body,
                "body_truncated": cut || r.body_truncated,
            })
        }
        None => json!({ "error": result.message }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let h = vec![
            ("Authorization".to_string(), "Bearer x".to_string()),
            ("X-Api-Key".to_string(), "k".to_string()),
            ("X-Hub-Signature-256".to_string(), "s".to_string()),
            ("Set-Cookie".to_string(), "c".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let v = redact_headers(&h);
        assert_eq!(v[0][1], REDACTED);
        assert_eq!(v[1][1], REDACTED);
        assert_eq!(v[2][1], REDACTED);
        assert_eq!(v[3][1], REDACTED);
        assert_eq!(v[4][1], "application/json");
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        assert_eq!(
            redact_url("https://h.test/p?api_key=abc&x=1#f"),
            "https://h.test/p?api_key=[redacted]&x=1#f"
        );
        assert_eq!(
            redact_url("https://h.test/p?token=t"),
            "https://h.test/p?token=[redacted]"
        );
        assert_eq!(redact_url("https://h.test/p"), "https://h.test/p");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), ("h", true));
        assert_eq!(truncate("héllo", 3), ("hé", true));
        assert_eq!(truncate("abc", 3), ("abc", false));
    }
}
