//! The exact HTTP request a webhook renders to, and its copy-pasteable cURL form.

/// HTTP methods a webhook may use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Every method, in the order the docs list them.
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    /// Parses an upper-case method name.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }

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
    ///
    /// One option per line; every value is single-quoted (a `'` inside becomes `'\''`), so nothing in
    /// it is expanded by the shell; `--globoff` keeps curl from reading `[]` or `{}` in the URL as a
    /// pattern; `--data-raw` sends the body as it is (no `@file`).
    pub fn to_curl(&self) -> String {
        let mut out = String::from("curl --globoff -X ");
        out.push_str(self.method.as_str());
        out.push(' ');
        out.push_str(&shell_quote(&self.url));
        for (name, value) in &self.headers {
            out.push_str(" \\\n  -H ");
            // curl drops a header given as `Name:` with nothing after it; `Name;` sends it empty.
            let header = if value.trim().is_empty() {
                format!("{name};")
            } else {
                format!("{name}: {value}")
            };
            out.push_str(&shell_quote(&header));
        }
        if let Some(body) = &self.body {
            out.push_str(" \\\n  --data-raw ");
            out.push_str(&shell_quote(body));
        }
        out
    }

    /// `{"method", "url", "headers": [[name, value], ...], "body"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method.as_str(),
            "url": self.url,
            "headers": self.headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
            "body": self.body,
        })
    }

    /// This request as it may be shown: the values of the headers `is_secret` names and the
    /// URL's password as [`crate::secrets::MASK`].
    pub fn masked(&self, is_secret: impl Fn(&str) -> bool) -> RenderedRequest {
        RenderedRequest {
            method: self.method,
            url: crate::secrets::mask_url(&self.url),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| {
                    let v = if is_secret(n) {
                        crate::secrets::MASK.to_string()
                    } else {
                        v.clone()
                    };
                    (n.clone(), v)
                })
                .collect(),
            body: self.body.clone(),
        }
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `s` as one shell word: single-quoted, each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}
