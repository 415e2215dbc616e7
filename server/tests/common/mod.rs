//! What the core's test binaries share (each includes this module; not every one uses all of it).
#![allow(dead_code)]

/// The seed's example body, as hookline renders it for the seed's example event.
pub const SEED_BODY: &str = r#"{
  "id": "6f24fcf2-0467-4d4f-9d62-567f8ed0deb9",
  "kind": "message.push.sent",
  "app_id": "3beb3078-e0f1-4629-af17-fde833b9f716",
  "subscription_id": "d1eec82d-453a-4a6d-8d26-622cf18584e6",
  "subscription_device_type": "iOS",
  "external_user_id": "THE EXTERNAL ID",
  "timestamp": 1708559416,
  "datetime": "2024-02-21T23:50:16.000Z"
}"#;

/// Percent-decodes a URL component.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Runs `f` on a thread of its own and fails the test when it has not finished within `deadline`,
/// so that a render that would run for hours fails instead of hanging the suite (the thread is
/// left behind; the test binary ends with the suite).
pub fn within<T: Send + 'static>(
    deadline: std::time::Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    match result.recv_timeout(deadline) {
        Ok(value) => value,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {deadline:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("the thread panicked"),
    }
}
