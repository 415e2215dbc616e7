//! A sample event for each known event kind, for previews and test sends.

use serde_json::json;

use crate::event::Event;

/// The event kinds hookline knows (triggers may still name others).
pub const KINDS: &[&str] = &[
    "message.push.sent",
    "message.push.received",
    "message.push.displayed",
    "message.push.clicked",
    "message.push.dismissed",
    "message.push.failed",
    "message.email.sent",
    "message.email.received",
    "message.email.opened",
    "message.email.clicked",
    "message.email.unsubscribed",
    "message.email.failed",
    "message.sms.sent",
    "message.sms.delivered",
    "message.sms.failed",
    "message.inapp.displayed",
    "message.inapp.clicked",
];

/// The seed's example timestamp: 2024-02-21T23:50:16Z.
pub const SAMPLE_TIMESTAMP: i64 = 1_708_559_416;

/// A realistic sample event of `kind` (any kind string is accepted; one that is not a valid kind,
/// like an empty string, gives a `message.push.sent` sample).
pub fn sample_event(kind: &str) -> Event {
    let device_type = match kind.split('.').nth(1) {
        Some("email") => "Email",
        Some("sms") => "SMS",
        Some("push") if kind.ends_with("displayed") || kind.ends_with("dismissed") => "ChromeLinux",
        _ => "iOS",
    };
    let value = json!({
        "id": "6f24fcf2-0467-4d4f-9d62-567f8ed0deb9",
        "kind": kind,
        "app_id": "3beb3078-e0f1-4629-af17-fde833b9f716",
        "subscription_device_type": device_type,
        "timestamp": SAMPLE_TIMESTAMP,
        "subscription_id": "d1eec82d-453a-4a6d-8d26-622cf18584e6",
        "onesignal_id": "0e2ba5b4-4ac8-4c5e-bf3e-6e3bd1f7d0a5",
        "external_id": "THE EXTERNAL ID",
        "message": {
            "id": "f3c9cd09-10d7-4f59-b9bc-66e16607f1d5",
            "name": "Discount Message 50% Off XYZ",
            "title": "Claim 50% Off Today",
            "contents": "Go to our website to claim 50% off",
            "template_id": "a6d8bc10-b9bc-4f59-10d7-66e16607f1d5",
        },
    });
    Event::from_json(&value).unwrap_or_else(|_| {
        let mut value = value;
        value["kind"] = json!("message.push.sent");
        Event::from_json(&value).expect("the built-in sample event is valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_kind_has_a_sample() {
        for kind in KINDS {
            let event = sample_event(kind);
            assert_eq!(event.kind(), *kind);
            assert_eq!(event.datetime(), "2024-02-21T23:50:16.000Z");
        }
        assert_eq!(sample_event("").kind(), "message.push.sent");
    }
}
