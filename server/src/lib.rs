//! hookline's server half: event webhooks.
//!
//! # Layout
//! - [`event`]: the `event` and `message` objects templates see, parsed from producer JSON.
//! - [`webhook`]: a webhook definition, checked and compiled once when it is saved.
//! - [`request`]: the exact HTTP request a webhook renders to, and its cURL form.
//! - [`samples`]: a sample event for each known kind, for previews and test sends.
//! - [`template`]: Liquid templates with values escaped for where they land (JSON string, JSON
//!   value, URL), parsed once and rendered many times.
//! - [`render_cmd`]: `hookline render WEBHOOK.json EVENT.json`, the template debugger.
//!
//! - [`fuzz`]: properties that hold for any input, run by the fuzz targets and the tests.
//!
//! The core above is free of HTTP and storage, so the server, the dashboard's preview, the CLI and
//! the tests all render with the same code.
//!
//! `hookline serve`, on top of the core, in the order data flows:
//! - [`config`]: embedded commented defaults, then a file, then `HOOKLINE_*` environment variables.
//! - [`http`]: the API's connections, within the `[limits]` on connections and slow clients.
//! - [`secrets`]: secret header values: masked when shown, sealed at rest.
//! - [`api`]: the HTTP API, one file per resource (apps, webhooks, events, the browser bridge).
//! - [`queue`]: accepted events become deliveries, one bounded queue per webhook.
//! - [`worker`]: a webhook's workers: render, send ([`delivery`], only to addresses
//!   [`delivery::guard`] lets through), retry ([`retry`]), auto-disable.
//! - [`store`]: the durable store behind one trait; [`store::sqlite`] with group commit.
//! - [`stats`]: counts and latency series from the attempt records; [`metrics`] for Prometheus.
//! - [`retention`]: long operations in chunks: old data deleted in the background, deleted apps
//!   and webhooks purged, one user's events erased, all of a webhook's deliveries replayed.
//! - [`server`]: `run(listener, config, shutdown)`, which ties them together.

pub mod api;
pub mod config;
pub mod dashboard;
pub mod delivery;
pub mod event;
pub mod fuzz;
pub mod http;
pub mod metrics;
pub mod pacing;
pub mod queue;
pub mod render_cmd;
pub mod request;
pub mod retention;
pub mod retry;
pub mod samples;
pub mod secrets;
pub mod server;
pub mod signing;
pub mod stats;
pub mod store;
pub mod template;
pub mod webhook;
pub mod worker;
