//! Serving the API's HTTP/1.1 connections within `[limits]`: at most `max_connections` open at
//! once (more wait in the kernel's accept queue), a request's headers within `header_timeout`
//! (else the connection is closed), and its body within `body_timeout` (the body extractors
//! answer `408`; see [`Deadlines`]).
//!
//! axum's own `serve` gives hyper no timer, so a client that sends its headers a byte at a time
//! could hold a connection for ever; this loop is that one with the limits added.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::config::LimitsConfig;

/// Put in every request's extensions: how long its body may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub body: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets the requests under way finish
/// (idle connections close at once) and returns when every connection is closed. Each request
/// carries the client's address (`ConnectInfo<SocketAddr>`) and the [`Deadlines`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let deadlines = Deadlines {
        body: limits.body_timeout,
    };
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // keep serving the others.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(deadlines);
            req.map(axum::body::Body::new)
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|stop| *stop) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
    let _ = stop.send(true);
    // Every connection holds a permit until it is closed.
    let _all = open
        .acquire_many(limits.max_connections as u32)
        .await
        .expect("the semaphore is never closed");
    Ok(())
}

/// The client's address, when the request came through [`serve`].
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}
