//! Connections to receivers, kept open between deliveries: per origin (scheme, host, port), a
//! stack of idle HTTP/1.1 connections, the most recently used on top. A connection goes back on
//! the stack only once its response has been read to the end.
//!
//! hyper's general pooled client did the same with waiters, per-pool timers and locks around every
//! checkout, and hashed its key byte by byte: 5% of the server's instructions per delivery.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use tower_service::Service;

use super::guard::GuardedConnector;

type Sender = SendRequest<Full<Bytes>>;

/// Idle connections kept per origin, at most.
const MAX_IDLE_PER_ORIGIN: usize = 64;

pub(super) struct Pool {
    /// Every connection is made through the address guard.
    connector: HttpsConnector<GuardedConnector>,
    idle: Mutex<HashMap<String, Vec<(Sender, Instant)>>>,
    idle_timeout: Duration,
}

/// Why a request got no response.
pub(super) enum PoolError {
    /// Connecting (TCP, TLS) failed, or the address guard refused the address.
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The connection failed while sending the request or reading the response head.
    Send(hyper::Error),
}

/// A connection lent for one exchange: give it back with [`Pool::put`] once the response body
/// has been read to its end, or drop it.
pub(super) struct Lent {
    origin: String,
    sender: Sender,
}

impl Pool {
    pub(super) fn new(connector: HttpsConnector<GuardedConnector>, idle_timeout: Duration) -> Pool {
        Pool {
            connector,
            idle: Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    /// Sends `request` (origin-form, `Host` set) to the origin of `uri`, on an idle connection
    /// when there is one. A request an idle connection could not take (the receiver closed it)
    /// goes once more on a new connection.
    pub(super) async fn send(
        &self,
        uri: &Uri,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lent), PoolError> {
        let origin = origin(uri);
        if let Some(mut sender) = self.take(&origin)
            && sender.ready().await.is_ok()
        {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lent { origin, sender })),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => return self.send_new(uri, origin, unsent).await,
                    None => return Err(PoolError::Send(e.into_error())),
                },
            }
        }
        self.send_new(uri, origin, request).await
    }

    async fn send_new(
        &self,
        uri: &Uri,
        origin: String,
        request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lent), PoolError> {
        let mut sender = self.connect(uri).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(PoolError::Send)?;
        Ok((response, Lent { origin, sender }))
    }

    async fn connect(&self, uri: &Uri) -> Result<Sender, PoolError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(PoolError::Connect)?;
        let io = connector
            .call(uri.clone())
            .await
            .map_err(PoolError::Connect)?;
        let (sender, connection) = http1::handshake(io).await.map_err(PoolError::Send)?;
        tokio::spawn(async move {
            // Ends when either side closes; the sender then reports itself closed.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The most recently used idle connection to `origin` that is still open and fresh.
    fn take(&self, origin: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let stack = idle.get_mut(origin)?;
        while let Some((sender, since)) = stack.pop() {
            if !sender.is_closed() && since.elapsed() < self.idle_timeout {
                return Some(sender);
            }
        }
        None
    }

    /// Gives a connection back after its response was read to the end.
    pub(super) fn put(&self, lent: Lent) {
        if lent.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let stack = idle.entry(lent.origin).or_default();
        if stack.len() >= MAX_IDLE_PER_ORIGIN {
            // The oldest go first.
            stack.remove(0);
        }
        stack.push((lent.sender, Instant::now()));
    }
}

/// `scheme://authority` of an absolute URI: the pool's key.
fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let mut key = String::with_capacity(scheme.len() + 3 + authority.len());
    key.push_str(scheme);
    key.push_str("://");
    key.push_str(authority);
    key
}
