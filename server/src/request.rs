//! The exact HTTP request a webhook renders to, and its copy-pasteable cURL form.
// CONTRACT STUB written by the lead: the core helper owns this file and fills it in; keep the
// public names below (the server is written against them).

/// HTTP methods a webhook may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A rendered request: what goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRequest {
    pub method: Method,
    pub url: String,
    /// In order, as templated; names are valid header names, values hold no CR/LF.
    pub headers: Vec<(String, String)>,
    /// The exact body text (valid JSON), or `None` when the webhook sends none.
    pub body: Option<String>,
}

impl RenderedRequest {
    /// A cURL command that sends exactly this request, safely shell-quoted.
    pub fn to_curl(&self) -> String {
        todo!()
    }
    /// `{"method", "url", "headers": [[name, value], ...], "body"}`.
    pub fn to_json(&self) -> serde_json::Value {
        todo!()
    }
}
