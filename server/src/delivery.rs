//! Sending one rendered request to a receiver and classifying what happened; the redaction and
//! truncation that make an attempt safe to keep in logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::header::{
    ACCEPT, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT as USER_AGENT_HEADER,
};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;

pub mod guard;
mod pool;
use guard::{AddressPolicy, Blocked, GuardedConnector, GuardedResolver, Resolve, SystemResolver};
use pool::{Pool, PoolError};

use crate::config::DeliveryConfig;
use crate::request::RenderedRequest;
use crate::secrets::MASK;
use crate::store::Outcome;

/// The HTTP client every attempt and test send goes through: one connection pool, so connections
/// to a receiver are reused across deliveries.
///
/// hyper's HTTP/1.1 connections over TCP or rustls (the Mozilla root store, as browsers trust),
/// kept in our own pool (`delivery/pool.rs`): a request is sent as rendered, redirects are not
/// followed, no proxy is used, and only addresses the guard (`delivery/guard.rs`) lets through
/// are connected to. (A general client such as reqwest parsed each URL three times
/// and ran a redirect layer per request: 12% of the server's instructions per delivery.)
#[derive(Clone)]
pub struct HttpSender {
    pool: Arc<Pool>,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
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
    pub headers: HeaderMap,
    pub body: String,
    pub body_truncated: bool,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct SendResult {
    pub outcome: Outcome,
    /// Stable: `ok`, `http_status`, `timeout`, `connect_error`, `connection_reset`,
    /// `network_error`, `blocked_address` (the address guard refused the receiver's address:
    /// nothing was sent), `invalid_request`, `render_error`.
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

/// How a request went wrong before a whole response was read.
enum Failure {
    Invalid(String),
    Connect(Box<dyn std::error::Error + Send + Sync>),
    Send(hyper::Error),
    Body(hyper::Error),
}

impl HttpSender {
    /// A client that resolves names with the system's resolver.
    pub fn new(config: &DeliveryConfig) -> Result<HttpSender, ClientError> {
        HttpSender::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A client that resolves names with `resolver`; every address it answers is checked against
    /// `config.allow_networks` and the blocked networks before any is connected to.
    pub fn with_resolver(
        config: &DeliveryConfig,
        resolver: Arc<dyn Resolve>,
    ) -> Result<HttpSender, ClientError> {
        let policy = Arc::new(AddressPolicy::new(config.allow_networks.clone()));
        let mut http =
            HttpConnector::new_with_resolver(GuardedResolver::new(policy.clone(), resolver));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(GuardedConnector::new(http, policy.clone()));
        Ok(HttpSender {
            pool: Arc::new(Pool::new(connector, Duration::from_secs(60))),
            policy,
            timeout: config.request_timeout,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// The address policy every connection is checked against.
    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Sends `request` with `webhook-id: <webhook_id>` (the delivery's id: the same on every
    /// retry, so a receiver can drop duplicates). The timeout covers the whole exchange: connecting,
    /// sending, and reading the response to its end.
    pub async fn send(&self, request: &RenderedRequest, webhook_id: &str) -> SendResult {
        let started = Instant::now();
        match tokio::time::timeout(self.timeout, self.exchange(request, webhook_id)).await {
            Ok(Ok((status, headers, body, truncated))) => {
                let retry_after = headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::retry::parse_retry_after(v, unix_now()));
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
            Ok(Err(Failure::Invalid(message))) => invalid(started, message),
            Ok(Err(Failure::Connect(e))) => failure(started, true, &*e),
            Ok(Err(Failure::Send(e))) => failure(started, false, &e),
            Ok(Err(Failure::Body(e))) => failure(started, false, &e),
            Err(_) => SendResult {
                outcome: Outcome::Timeout,
                error_code: "timeout",
                message: Some(format!(
                    "no complete answer within {} ms (request_timeout)",
                    self.timeout.as_millis()
                )),
                response: None,
                duration: started.elapsed(),
                retry_after: None,
            },
        }
    }

    /// The request on the wire and the response read up to `max_response_bytes`:
    /// `(status, headers, body, truncated)`.
    async fn exchange(
        &self,
        request: &RenderedRequest,
        webhook_id: &str,
    ) -> Result<(u16, HeaderMap, Vec<u8>, bool), Failure> {
        let uri = parse_uri(&request.url).map_err(Failure::Invalid)?;
        // On the wire: the path and query, and the host in `Host`.
        let target = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(Uri::from(target));
        let headers = builder
            .headers_mut()
            .ok_or_else(|| Failure::Invalid("the request is not valid".into()))?;
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| Failure::Invalid(format!("header {name}: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| Failure::Invalid(format!("header {name}: {e}")))?;
            headers.append(name, value);
        }
        let id = HeaderValue::from_str(webhook_id)
            .map_err(|e| Failure::Invalid(format!("header webhook-id: {e}")))?;
        headers.insert(HeaderName::from_static("webhook-id"), id);
        if !headers.contains_key(HOST) {
            headers.insert(HOST, host_header(&uri)?);
        }
        if !headers.contains_key(USER_AGENT_HEADER) {
            headers.insert(USER_AGENT_HEADER, HeaderValue::from_static(USER_AGENT));
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        let body = match &request.body {
            Some(body) => {
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Bytes::copy_from_slice(body.as_bytes())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|e| Failure::Invalid(e.to_string()))?;
        let (response, connection) = self.pool.send(&uri, request).await.map_err(|e| match e {
            PoolError::Connect(e) => Failure::Connect(e),
            PoolError::Send(e) => Failure::Send(e),
        })?;
        let (parts, mut incoming) = response.into_parts();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(frame) = incoming.frame().await {
            let Ok(chunk) = frame.map_err(Failure::Body)?.into_data() else {
                continue;
            };
            let room = self.max_response_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        // Read to its end: the connection can carry the next request (not when the rest of a
        // long body is still on it).
        if !truncated {
            self.pool.put(connection);
        }
        Ok((parts.status.as_u16(), parts.headers, body, truncated))
    }
}

/// `Host` for a request to `uri`: the host, and the port when it is not the scheme's default.
fn host_header(uri: &Uri) -> Result<HeaderValue, Failure> {
    let authority = uri
        .authority()
        .ok_or_else(|| Failure::Invalid("the URL has no host".into()))?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    // The authority without its user info, and without the port when it is the default.
    let text = authority.as_str();
    let text = text
        .rsplit_once('@')
        .map_or(text, |(_, host_port)| host_port);
    let text = match authority.port_u16() {
        Some(port) if port == default_port => authority.host(),
        _ => text,
    };
    HeaderValue::from_str(text).map_err(|e| Failure::Invalid(format!("header host: {e}")))
}

/// A rendered URL as a request target. Most parse as they are; one that is not in the strict
/// form HTTP wants (a space, a non-ASCII host or path) is normalised as a browser would first, and
/// so is a host that is an IPv4 address in another spelling than four decimal numbers
/// (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1` are all 127.0.0.1), so that the address the
/// guard checks and the one connected to are the address a browser would read.
fn parse_uri(url: &str) -> Result<Uri, String> {
    if let Ok(uri) = Uri::try_from(url)
        && uri.host().is_some_and(|host| !is_unusual_ipv4(host))
        && url.is_ascii()
        && !url.contains(' ')
    {
        return Ok(uri);
    }
    let normal = url::Url::parse(url).map_err(|e| format!("the URL is not valid: {e}"))?;
    Uri::try_from(normal.as_str()).map_err(|e| format!("the URL is not valid: {e}"))
}

/// Whether `host` may be an IPv4 address in a spelling other than the usual one: not an IPv6
/// address in brackets, its last label starts with a digit (WHATWG URL parsing reads such a host
/// as an IPv4 address, or refuses it), and it is not four decimal numbers already.
fn is_unusual_ipv4(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    let last = name.rsplit('.').next().unwrap_or(name);
    !host.starts_with('[')
        && last.starts_with(|c: char| c.is_ascii_digit())
        && (name.len() != host.len() || host.parse::<std::net::Ipv4Addr>().is_err())
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

fn failure(started: Instant, connect: bool, e: &(dyn std::error::Error + 'static)) -> SendResult {
    if let Some(blocked) = blocked_cause(e) {
        // Nothing was sent; the reason alone says why, without the connector's wording around it.
        return SendResult {
            outcome: Outcome::Network,
            error_code: "blocked_address",
            message: Some(blocked.to_string()),
            response: None,
            duration: started.elapsed(),
            retry_after: None,
        };
    }
    let (outcome, code) = if caused_by(e, |io| io.kind() == std::io::ErrorKind::TimedOut) {
        (Outcome::Timeout, "timeout")
    } else if connect {
        (Outcome::Network, "connect_error")
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

/// The address guard's refusal, when it is among `e`'s causes.
fn blocked_cause<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e Blocked> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        source = err.source();
    }
    None
}

/// Whether an I/O error for which `test` holds is among `e`'s causes.
fn caused_by(
    e: &(dyn std::error::Error + 'static),
    test: impl Fn(&std::io::Error) -> bool,
) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<std::io::Error>().is_some_and(&test) {
            return true;
        }
        source = err.source();
    }
    false
}

fn caused_by_reset(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset};
    caused_by(e, |io| {
        matches!(io.kind(), ConnectionReset | ConnectionAborted)
    }) || {
        let text = error_chain(e);
        text.contains("connection reset")
            || text.contains("connection closed before message completed")
    }
}

/// The error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    parts.dedup();
    parts.join(": ")
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

/// Headers as `[[name, value], ...]` with secret values replaced.
pub fn redact_headers(headers: &[(String, String)]) -> Vec<[String; 2]> {
    headers
        .iter()
        .map(|(n, v)| {
            let value = if is_secret_header(n) { MASK } else { v };
            [n.clone(), value.to_owned()]
        })
        .collect()
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
            Some((name, _)) if is_secret_header(name) => format!("{name}={MASK}"),
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

/// A request as logs and test sends show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedRequest {
    pub method: &'static str,
    /// Secret-looking query parameters (`?api_key=`, `token=`...) shown as `********`
    pub url: String,
    /// `[name, value]` pairs in order, `webhook-id` last; secret values (Authorization,
    /// *token*, *key*, *secret*, *signature*, *cookie*...) shown as `********`
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<[String; 2]>,
    /// Cut at `logs.max_body_bytes`
    pub body: Option<String>,
    pub body_truncated: bool,
}

/// A receiver's answer as logs and test sends show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoggedAnswer {
    pub status: u16,
    /// `[name, value]` pairs; secret values shown as `********`
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<[String; 2]>,
    /// Cut at `logs.max_body_bytes` (or at `delivery.max_response_body_bytes` when read)
    pub body: String,
    pub body_truncated: bool,
}

/// What came back from an attempt: the answer, or why there was none.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoggedResponse {
    Answer(LoggedAnswer),
    Failure {
        /// Why no answer came (timeout, connection refused, blocked address...)
        error: Option<String>,
    },
}

/// The request as logs keep it: secret headers and query parameters redacted, body truncated.
pub fn request_log(request: &RenderedRequest, webhook_id: &str, max_body: usize) -> LoggedRequest {
    let mut headers = request.headers.clone();
    headers.push(("webhook-id".into(), webhook_id.into()));
    let (body, body_truncated) = match &request.body {
        Some(b) => {
            let (t, cut) = truncate(b, max_body);
            (Some(t.to_string()), cut)
        }
        None => (None, false),
    };
    LoggedRequest {
        method: request.method.as_str(),
        url: redact_url(&request.url),
        headers: redact_headers(&headers),
        body,
        body_truncated,
    }
}

/// The response (or the failure) as logs keep it.
pub fn response_log(result: &SendResult, max_body: usize) -> LoggedResponse {
    match &result.response {
        Some(r) => {
            let (body, cut) = truncate(&r.body, max_body);
            LoggedResponse::Answer(LoggedAnswer {
                status: r.status,
                headers: redact_headers(&r.header_pairs()),
                body: body.to_string(),
                body_truncated: cut || r.body_truncated,
            })
        }
        None => LoggedResponse::Failure {
            error: result.message.clone(),
        },
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
        assert_eq!(v[0][1], MASK);
        assert_eq!(v[1][1], MASK);
        assert_eq!(v[2][1], MASK);
        assert_eq!(v[3][1], MASK);
        assert_eq!(v[4][1], "application/json");
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        assert_eq!(
            redact_url("https://h.test/p?api_key=abc&x=1#f"),
            "https://h.test/p?api_key=********&x=1#f"
        );
        assert_eq!(
            redact_url("https://h.test/p?token=t"),
            "https://h.test/p?token=********"
        );
        assert_eq!(redact_url("https://h.test/p"), "https://h.test/p");
    }

    #[test]
    fn urls_in_http_strict_form_pass_as_they_are_others_are_normalised() {
        let uri = parse_uri("https://h.test:8443/a/b?x=1%202").unwrap();
        assert_eq!(uri.to_string(), "https://h.test:8443/a/b?x=1%202");
        assert_eq!(
            parse_uri("http://h.test/a b/é").unwrap().to_string(),
            "http://h.test/a%20b/%C3%A9"
        );
        assert_eq!(
            parse_uri("http://bücher.test/").unwrap().host(),
            Some("xn--bcher-kva.test")
        );
        assert!(parse_uri("http://").is_err());
    }

    #[test]
    fn numeric_hosts_are_the_address_a_browser_would_read() {
        // As WHATWG URL parsing reads them: one number, hexadecimal and octal parts, short forms.
        for (url, host) in [
            ("http://2130706433/h", "127.0.0.1"),
            ("http://0x7f.1/h", "127.0.0.1"),
            ("http://0x7F000001:8080/h?x=1", "127.0.0.1"),
            ("http://017700000001/h", "127.0.0.1"),
            ("http://0177.0.0.1/h", "127.0.0.1"),
            ("http://127.1/h", "127.0.0.1"),
            ("http://127.0.1/h", "127.0.0.1"),
            ("http://127.0.0.1./h", "127.0.0.1"),
            ("http://0/h", "0.0.0.0"),
            ("http://10.0.0.010/h", "10.0.0.8"),
            ("http://169.254.43518/h", "169.254.169.254"),
            // Already in their plain form (an IPv6 address is read as it is written).
            ("http://127.0.0.1/h", "127.0.0.1"),
            ("http://[::1]/h", "[::1]"),
            ("http://[::ffff:127.0.0.1]/h", "[::ffff:127.0.0.1]"),
            ("http://h.test/h", "h.test"),
            ("http://1password.example/h", "1password.example"),
        ] {
            let uri = parse_uri(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(uri.host(), Some(host), "{url}");
        }
        // The port, path and query are kept.
        assert_eq!(
            parse_uri("http://0x7F000001:8080/h?x=1")
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/h?x=1"
        );
        // A host that ends in a number but is no address is not a URL.
        assert!(parse_uri("http://1.2.3.4.5/").is_err());
        assert!(parse_uri("http://h.123/").is_err());
    }

    fn config(allow: &[&str]) -> DeliveryConfig {
        let mut config = crate::config::Config::default().delivery;
        config.request_timeout = Duration::from_secs(2);
        config.allow_networks = allow.iter().map(|n| n.parse().unwrap()).collect();
        config
    }

    /// A client that may reach the test receivers on loopback.
    fn sender() -> HttpSender {
        HttpSender::new(&config(&["127.0.0.0/8"])).unwrap()
    }

    fn post(url: String) -> RenderedRequest {
        RenderedRequest {
            method: crate::request::Method::Post,
            url,
            headers: vec![],
            body: Some("{}".into()),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let r = sender()
            .send(&post(format!("http://127.0.0.1:{port}/")), "d1")
            .await;
        assert_eq!(
            (r.outcome, r.error_code),
            (Outcome::Network, "connect_error")
        );
        assert!(r.message.is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn https_speaks_tls() {
        // A plain-TCP peer gets a TLS ClientHello, not an HTTP request, and the attempt fails.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 1];
            socket.read_exact(&mut first).await.unwrap();
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await;
            first[0]
        });
        let r = sender()
            .send(&post(format!("https://127.0.0.1:{port}/")), "d1")
            .await;
        // 0x16: a TLS handshake record.
        assert_eq!(peer.await.unwrap(), 0x16);
        assert_eq!(r.outcome, Outcome::Network, "{r:?}");
    }

    /// A receiver on raw TCP that answers each request 200 and reports, per request, its head
    /// and the number of the connection it came on; with `close_after_one`, it closes every
    /// connection after its first response (as a server with a short keep-alive would).
    async fn raw_receiver(
        close_after_one: bool,
    ) -> (u16, tokio::sync::mpsc::UnboundedReceiver<(usize, String)>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for n in 0.. {
                let (mut socket, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // A request: its head, then its content-length body ("{}").
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        while buf.len() < end + 2 {
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 2);
                        let _ = tx.send((n, head));
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                        if close_after_one {
                            return;
                        }
                    }
                });
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn connections_are_reused_and_requests_are_in_origin_form() {
        let (port, mut seen) = raw_receiver(false).await;
        let s = sender();
        for _ in 0..3 {
            let r = s
                .send(&post(format!("http://127.0.0.1:{port}/h?x=1")), "d1")
                .await;
            assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        }
        let mut connections = Vec::new();
        for _ in 0..3 {
            let (n, head) = seen.recv().await.unwrap();
            assert!(head.starts_with("POST /h?x=1 HTTP/1.1\r\n"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
                "{head}"
            );
            connections.push(n);
        }
        assert_eq!(connections, vec![0, 0, 0]);
    }

    #[tokio::test]
    async fn a_connection_the_receiver_closed_is_replaced() {
        let (port, mut seen) = raw_receiver(true).await;
        let s = sender();
        for _ in 0..3 {
            let r = s
                .send(&post(format!("http://127.0.0.1:{port}/")), "d1")
                .await;
            assert_eq!(r.outcome, Outcome::Success, "{r:?}");
            // Let the close reach the client, as between two deliveries.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut connections = Vec::new();
        for _ in 0..3 {
            connections.push(seen.recv().await.unwrap().0);
        }
        assert_eq!(connections, vec![0, 1, 2]);
    }

    /// Whether a connection is waiting on `listener` (none was made when there is not).
    async fn was_connected_to(listener: &tokio::net::TcpListener) -> bool {
        tokio::time::timeout(Duration::from_millis(50), listener.accept())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_blocked_address_in_the_url_is_refused_before_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let guarded = HttpSender::new(&config(&[])).unwrap();
        for (url, address) in [
            (format!("http://127.0.0.1:{port}/"), "127.0.0.1"),
            (format!("http://2130706433:{port}/"), "127.0.0.1"),
            (format!("http://0x7f.1:{port}/"), "127.0.0.1"),
            (format!("http://127.1:{port}/"), "127.0.0.1"),
            // An IPv6 socket to this address reaches 127.0.0.1.
            (
                format!("http://[::ffff:127.0.0.1]:{port}/"),
                "::ffff:127.0.0.1",
            ),
        ] {
            let r = guarded.send(&post(url.clone()), "d1").await;
            assert_eq!(
                (r.outcome, r.error_code),
                (Outcome::Network, "blocked_address"),
                "{url}: {r:?}"
            );
            let message = r.message.unwrap();
            assert!(
                message.starts_with(&format!("address {address} is in a blocked network (")),
                "{url}: {message}"
            );
            assert!(!was_connected_to(&listener).await, "{url}");
        }
    }

    /// Answers the addresses it is given, one list per lookup, and counts the lookups.
    struct ScriptedResolver {
        answers: std::sync::Mutex<std::collections::VecDeque<Vec<std::net::IpAddr>>>,
        lookups: std::sync::atomic::AtomicUsize,
    }

    impl ScriptedResolver {
        fn new(answers: &[&[&str]]) -> Arc<ScriptedResolver> {
            Arc::new(ScriptedResolver {
                answers: std::sync::Mutex::new(
                    answers
                        .iter()
                        .map(|a| a.iter().map(|ip| ip.parse().unwrap()).collect())
                        .collect(),
                ),
                lookups: Default::default(),
            })
        }
    }

    #[async_trait::async_trait]
    impl Resolve for ScriptedResolver {
        async fn resolve(&self, host: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
            assert_eq!(host, "receiver.test");
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = self.answers.lock().unwrap().pop_front();
            next.ok_or_else(|| std::io::Error::other("no more answers"))
        }
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked_and_only_checked_ones_are_connected_to() {
        // The receiver on 127.0.0.1, allowed, stands for a public address (a test cannot reach
        // one); 127.0.0.2, not allowed, for an internal one, with a listener on the same port
        // that would take any connection made to it.
        let (port, mut seen) = raw_receiver(true).await;
        let internal = tokio::net::TcpListener::bind(("127.0.0.2", port))
            .await
            .unwrap();
        let resolver = ScriptedResolver::new(&[
            // A rebinding DNS server: the outside address first, the inside one next time.
            &["127.0.0.1"],
            &["127.0.0.2"],
            // Both in one answer, the outside one first.
            &["127.0.0.1", "127.0.0.2"],
            // Back outside.
            &["127.0.0.1"],
        ]);
        let s = HttpSender::with_resolver(&config(&["127.0.0.1/32"]), resolver.clone()).unwrap();
        let url = format!("http://receiver.test:{port}/h");
        let mut results = Vec::new();
        for _ in 0..4 {
            let r = s.send(&post(url.clone()), "d1").await;
            results.push((r.error_code, r.message));
            // The receiver closes each connection: let the close arrive, so each request needs
            // a new connection, and a new lookup.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let blocked = Some(
            "address 127.0.0.2 is in a blocked network (loopback, 127.0.0.0/8); \
             the server's delivery.allow_networks can allow it"
                .to_string(),
        );
        assert_eq!(
            results,
            vec![
                ("ok", None),
                ("blocked_address", blocked.clone()),
                ("blocked_address", blocked),
                ("ok", None),
            ]
        );
        assert_eq!(
            resolver.lookups.load(std::sync::atomic::Ordering::SeqCst),
            4
        );
        assert!(!was_connected_to(&internal).await);
        // The outside address took exactly the two requests that were allowed.
        assert_eq!(seen.recv().await.unwrap().0, 0);
        assert_eq!(seen.recv().await.unwrap().0, 1);
        assert!(seen.try_recv().is_err());
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("http://{}/", elsewhere.local_addr().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let answer =
                format!("HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
        });
        let r = sender()
            .send(&post(format!("http://127.0.0.1:{port}/")), "d1")
            .await;
        assert_eq!(
            (r.outcome, r.error_code, r.response.map(|r| r.status)),
            (Outcome::Client, "http_status", Some(302))
        );
        assert!(!was_connected_to(&elsewhere).await);
    }

    #[test]
    fn host_is_the_authority_without_user_info_or_default_port() {
        let host = |url: &str| {
            let Ok(value) = host_header(&parse_uri(url).unwrap()) else {
                panic!("{url}");
            };
            value.to_str().unwrap().to_string()
        };
        assert_eq!(host("http://a.example/x"), "a.example");
        assert_eq!(host("http://a.example:80/x"), "a.example");
        assert_eq!(host("https://a.example:443/"), "a.example");
        assert_eq!(host("https://a.example:8443/"), "a.example:8443");
        assert_eq!(host("http://u:p@a.example:81/"), "a.example:81");
        assert_eq!(host("http://[::1]:8080/"), "[::1]:8080");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), ("h", true));
        assert_eq!(truncate("héllo", 3), ("hé", true));
        assert_eq!(truncate("abc", 3), ("abc", false));
    }
}
