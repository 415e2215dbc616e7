//! `hookline render WEBHOOK.json EVENT.json [--format curl|json]`: prints the exact request a webhook
//! sends for an event, so users can debug their templates. Either file may be `-` (standard input).

use std::path::Path;

use crate::event::Event;
use crate::webhook::Webhook;

/// How `render` prints the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A copy-pasteable cURL command.
    #[default]
    Curl,
    /// `{"method", "url", "headers": [[name, value], ...], "body"}`.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "curl" => Ok(Format::Curl),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?} (expected curl or json)")),
        }
    }
}

/// Why `render` failed; the message names the file and the field. The command exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderCmdError(pub String);

/// Reads a JSON file; `-` is standard input.
fn read_json(path: &Path) -> Result<serde_json::Value, RenderCmdError> {
    let shown = path.display();
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| RenderCmdError(format!("{shown}: cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| RenderCmdError(format!("{shown}: not valid JSON: {e}")))
}

/// Renders the webhook in `webhook_path` for the event in `event_path`; returns the text to print.
pub fn run(
    webhook_path: &Path,
    event_path: &Path,
    format: Format,
) -> Result<String, RenderCmdError> {
    let webhook = Webhook::from_json(&read_json(webhook_path)?)
        .map_err(|e| RenderCmdError(format!("{}: {e}", webhook_path.display())))?;
    let event = Event::from_json(&read_json(event_path)?)
        .map_err(|e| RenderCmdError(format!("{}: {e}", event_path.display())))?;
    let request = webhook
        .render(&event)
        .map_err(|e| RenderCmdError(format!("rendering for this event: {e}")))?;
    let mut out = match format {
        Format::Curl => request.to_curl(),
        Format::Json => serde_json::to_string_pretty(&request.to_json())
            .map_err(|e| RenderCmdError(format!("cannot print the request: {e}")))?,
    };
    out.push('\n');
    Ok(out)
}
