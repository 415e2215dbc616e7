//! A real HTTP receiver on 127.0.0.1 whose behaviour can be switched per request: 200, any
//! status, 429 with Retry-After, 410, slower than the timeout, or a reset connection. It records
//! every request it reads (time, method, path, headers, body).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub enum Mode {
    /// `200 OK`.
    Ok,
    /// That status, empty body.
    Status(u16),
    /// `429` with `Retry-After: secs`.
    TooMany(u64),
    /// Answers 200 after this long (longer than the server's timeout: a timeout).
    Slow(Duration),
    /// Reads the request, then resets the connection (RST) without answering.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct Inner {
    script: VecDeque<Mode>,
    default: Mode,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct TestReceiver {
    pub addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
}

impl TestReceiver {
    pub async fn start() -> TestReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            script: VecDeque::new(),
            default: Mode::Ok,
            received: Vec::new(),
        }));
        let arrived = Arc::new(Notify::new());
        let r = TestReceiver {
            addr,
            inner,
            arrived,
        };
        let server = r.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = server.clone();
                tokio::spawn(async move { s.serve(stream).await });
            }
        });
        r
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The behaviour for requests with no scripted behaviour left.
    pub fn set_default(&self, mode: Mode) {
        self.inner.lock().unwrap().default = mode;
    }

    /// Behaviours for the next requests, in order.
    pub fn script(&self, modes: impl IntoIterator<Item = Mode>) {
        self.inner.lock().unwrap().script.extend(modes);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The `id` of each request's JSON body (the event's, for the default body), sorted.
    pub fn event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .received()
            .iter()
            .map(|q| q.json()["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Waits until `n` requests have arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "expected {n} requests within {within:?}, got {}: {got:#?}",
                    got.len()
                );
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Asserts that no more than `n` requests arrive during `wait`.
    pub async fn assert_stays_at(&self, n: usize, wait: Duration) {
        tokio::time::sleep(wait).await;
        let got = self.received();
        assert_eq!(
            got.len(),
            n,
            "expected exactly {n} requests, got {}: {got:#?}",
            got.len()
        );
    }

    async fn serve(&self, mut stream: TcpStream) {
        let mut buf = Vec::new();
        loop {
            let Some((req, rest)) = read_request(&mut stream, std::mem::take(&mut buf)).await
            else {
                return;
            };
            buf = rest;
            let mode = {
                let mut inner = self.inner.lock().unwrap();
                inner.received.push(req);
                inner
                    .script
                    .pop_front()
                    .unwrap_or_else(|| inner.default.clone())
            };
            self.arrived.notify_waiters();
            let response = match mode {
                Mode::Ok => respond(200, "OK", &[]),
                Mode::Status(code) => respond(code, "Status", &[]),
                Mode::TooMany(secs) => respond(
                    429,
                    "Too Many Requests",
                    &[("Retry-After", secs.to_string())],
                ),
                Mode::Slow(d) => {
                    tokio::time::sleep(d).await;
                    respond(200, "OK", &[])
                }
                Mode::Reset => {
                    let std = stream.into_std().unwrap();
                    let sock = socket_linger_zero(std);
                    drop(sock);
                    return;
                }
            };
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// Closing with SO_LINGER 0 sends RST instead of FIN.
fn socket_linger_zero(s: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct Linger {
        l_onoff: i32,
        l_linger: i32,
    }
    unsafe extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const Linger, len: u32) -> i32;
    }
    const SOL_SOCKET: i32 = 1;
    const SO_LINGER: i32 = 13;
    let l = Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid fd and a correctly sized linger struct (Linux layout).
    unsafe {
        setsockopt(
            s.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            &l,
            std::mem::size_of::<Linger>() as u32,
        );
    }
    s
}

fn respond(code: u16, reason: &str, headers: &[(&str, String)]) -> String {
    let body = "{\"ok\":true}";
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

/// Reads one request (head and `Content-Length` body); returns it and any bytes after it.
async fn read_request(stream: &mut TcpStream, mut buf: Vec<u8>) -> Option<(Received, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let at = Instant::now();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buf.len() < body_start + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).into_owned();
    let rest = buf[body_start + len..].to_vec();
    Some((
        Received {
            at,
            method,
            path,
            headers,
            body,
        },
        rest,
    ))
}
