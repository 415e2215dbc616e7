//! hookline's server half: event webhooks.
//!
//! # Layout
//! - [`event`]: the `event` and `message` objects templates see, parsed from producer JSON.
//! - [`webhook`]: a webhook definition, checked and compiled once when it is saved.
//! - [`request`]: the exact HTTP request a webhook renders to, and its cURL form.
//! - [`samples`]: a sample event for each known kind, for previews and test sends.
//!
//! The core above is free of HTTP and storage, so the server, the dashboard's preview, the CLI and
//! the tests all render with the same code.

pub mod event;
pub mod request;
pub mod samples;
pub mod webhook;
