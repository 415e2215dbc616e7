//! The dashboard: a web UI over the API, served at `/dashboard/` from files embedded in the binary
//! at build time (`server/dashboard/`), so it works with no `--site`, no other server and no
//! network. Plain ES modules, no build step: editing a file and rebuilding `hookline` is all.
//!
//! The pages only call the documented `/v1` API with the key the user signs in with; these routes
//! are not part of the API and are not in the OpenAPI document.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Every embedded file: name, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../dashboard/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../dashboard/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/api.js"),
    ),
    (
        "chart.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/chart.js"),
    ),
    (
        "kinds.js",
        "text/javascript; charset=utf-8",
        include_str!("../dashboard/kinds.js"),
    ),
];

/// Only the page's own files and the API on the same origin: no inline script, nothing fetched
/// from elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `/dashboard` (redirected to `/dashboard/`), `/dashboard/` and `/dashboard/{file}`.
pub fn router() -> Router {
    Router::new()
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent("/dashboard/") }),
        )
        .route("/dashboard/", get(|| async { file("index.html") }))
        .route(
            "/dashboard/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

/// The embedded file `name`, or the API's JSON `404`.
pub fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
                // Assets change with the binary; a reload after an upgrade must not mix versions.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => crate::api::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard file {name}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type() {
        for (name, content_type, body) in FILES {
            assert!(!body.is_empty(), "{name} is empty");
            let response = file(name);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CONTENT_TYPE], *content_type);
        }
        assert_eq!(file("nope.js").status(), StatusCode::NOT_FOUND);
        assert_eq!(file("../Cargo.toml").status(), StatusCode::NOT_FOUND);
    }
}
