//! Signatures as a receiver checks them: every request a webhook sends (deliveries and test
//! sends) is verified by a Standard Webhooks verifier written here, apart from the server's
//! (HMAC-SHA256 built from `sha2`, ed25519 from `ed25519-dalek`, not `ring`), which also refuses a
//! tampered body, a wrong key and a stale timestamp. Rotation signs with both keys through its
//! grace period, and so does a change of scheme; the key is the same after a restart.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestServer, event, test_config};
use crate::receiver::{Received, TestReceiver};

/// How far a timestamp may be from now, as Standard Webhooks' libraries allow.
const TOLERANCE_S: i64 = 300;

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// What a receiver does with a request: `Ok` when the timestamp is within the tolerance of `now`
/// (unix seconds) and one of `webhook-signature`'s entries signs `id.timestamp.body`: a `v1`
/// entry the HMAC under a `whsec_` secret, a `v1a` entry an ed25519 signature by a `whpk_` key.
fn verify(secret: &str, headers: &[(String, String)], body: &[u8], now: i64) -> Result<(), String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .ok_or(format!("no {name}"))
    };
    let (id, timestamp, signatures) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let timestamp: i64 = timestamp.parse().map_err(|_| "a bad timestamp")?;
    if (now - timestamp).abs() > TOLERANCE_S {
        return Err(format!(
            "stale: {timestamp} is {}s from now",
            now - timestamp
        ));
    }
    let signed = [
        id.as_bytes(),
        b".",
        timestamp.to_string().as_bytes(),
        b".",
        body,
    ]
    .concat();
    let matches = if let Some(public) = secret.strip_prefix("whpk_") {
        let public: [u8; 32] = STANDARD
            .decode(public)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|_| "a public key is 32 bytes")?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|e| e.to_string())?;
        signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1a,"))
            .filter_map(|s| STANDARD.decode(s).ok()?.try_into().ok())
            .any(|s: [u8; 64]| {
                key.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&s))
                    .is_ok()
            })
    } else {
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").ok_or("not a whsec_ secret")?)
            .map_err(|e| e.to_string())?;
        let expected = STANDARD.encode(hmac_sha256(&key, &signed));
        signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|s| s == expected)
    };
    matches
        .then_some(())
        .ok_or_else(|| "no signature matches".to_owned())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verify_received(secret: &str, r: &Received) -> Result<(), String> {
    verify(secret, &r.headers, r.body.as_bytes(), now())
}

async fn secret(s: &TestServer, app: &(String, String), webhook: &str) -> Value {
    s.get(app, &format!("/webhooks/{webhook}/secret")).await
}

/// What a receiver verifies `webhook`'s requests with.
async fn key_of(s: &TestServer, app: &(String, String), webhook: &str) -> String {
    secret(s, app, webhook).await["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A server, a receiver, an app named `name` and its webhook to the receiver's `/hook` for
/// `message.push.sent`.
async fn signed_webhook(name: &str) -> (TestServer, TestReceiver, (String, String), String) {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let app = s.app(name).await;
    let id = s
        .webhook(&app, &r.url("/hook"), &["message.push.sent"])
        .await;
    (s, r, app, id)
}

#[tokio::test]
async fn the_verifier_agrees_with_the_specifications_vector() {
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]
    .map(|(n, v)| (n.to_owned(), v.to_owned()));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(verify(secret, &headers, body, 1614265330), Ok(()));
    assert!(verify(secret, &headers, br#"{"test": 2432232315}"#, 1614265330).is_err());
    assert!(verify(secret, &headers, body, 1614265330 + TOLERANCE_S + 1).is_err());
}

#[tokio::test]
async fn every_delivery_is_signed_with_the_webhooks_secret() {
    let (s, r, app, id) = signed_webhook("signed").await;
    let key = key_of(&s, &app, &id).await;
    assert!(key.starts_with("whsec_"), "{key}");
    s.ingest(&app, event("e1", "message.push.sent")).await;
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    let req = &got[0];
    verify_received(&key, req).unwrap();
    // What a receiver refuses: another body, another secret, an old timestamp.
    let tampered = format!("{} ", req.body);
    assert!(verify(&key, &req.headers, tampered.as_bytes(), now()).is_err());
    let other = secret(
        &s,
        &app,
        &s.webhook(&app, &r.url("/other"), &["other.kind"]).await,
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, key, "each webhook has a secret of its own");
    assert!(verify_received(&other, req).is_err());
    assert!(
        verify(
            &key,
            &req.headers,
            req.body.as_bytes(),
            now() + TOLERANCE_S + 5
        )
        .is_err()
    );
    // The delivery id signed is the one the receiver deduplicates on.
    let deliveries = s
        .eventually(&app, &format!("/webhooks/{id}/deliveries"), |v| {
            v["deliveries"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    assert_eq!(
        req.header("webhook-id"),
        deliveries["deliveries"][0]["id"].as_str()
    );
    s.stop().await;
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_until_its_grace_ends() {
    let (s, r, app, id) = signed_webhook("rotating").await;
    let old = key_of(&s, &app, &id).await;
    let (status, rotated) = s
        .app_call(
            "POST",
            &app,
            &format!("/webhooks/{id}/secret/rotate"),
            Some(json!({"grace": "1h"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until = rotated["previous_key_expires_at"].as_i64().unwrap();
    assert!((until / 1000 - now() - 3600).abs() < 60, "{rotated}");
    assert_eq!(secret(&s, &app, &id).await, rotated);

    s.ingest(&app, event("e1", "message.push.sent")).await;
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    let signatures = got[0].header("webhook-signature").unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    verify_received(&new, &got[0]).unwrap();
    verify_received(&old, &got[0]).unwrap();

    // A rotation with no grace: only the newest secret signs.
    let (status, again) = s
        .app_call(
            "POST",
            &app,
            &format!("/webhooks/{id}/secret/rotate"),
            Some(json!({"grace": "0s"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["previous_key_expires_at"], Value::Null);
    let newest = again["key"].as_str().unwrap().to_owned();
    s.ingest(&app, event("e2", "message.push.sent")).await;
    let got = r.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(
        got[1]
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    verify_received(&newest, &got[1]).unwrap();
    assert!(verify_received(&new, &got[1]).is_err());
    assert!(verify_received(&old, &got[1]).is_err());

    // Bad input changes nothing.
    let (status, refused) = s
        .app_call(
            "POST",
            &app,
            &format!("/webhooks/{id}/secret/rotate"),
            Some(json!({"grace": "soon"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(secret(&s, &app, &id).await["key"], newest.as_str());
    s.stop().await;
}

#[tokio::test]
async fn test_sends_are_signed_and_previews_show_the_signature() {
    let (s, r, app, id) = signed_webhook("previewed").await;
    let key = key_of(&s, &app, &id).await;

    let (status, sent) = s
        .app_call("POST", &app, &format!("/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    verify_received(&key, &got[0]).unwrap();
    assert!(
        sent["request"]["curl"]
            .as_str()
            .unwrap()
            .contains(got[0].header("webhook-signature").unwrap()),
        "{sent:#}"
    );

    let preview = s.get(&app, &format!("/webhooks/{id}/preview")).await;
    let headers: Vec<(String, String)> = preview["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    let body = preview["request"]["body"].as_str().unwrap();
    verify(&key, &headers, body.as_bytes(), now()).unwrap();
    let curl = preview["curl"].as_str().unwrap();
    assert!(curl.contains("webhook-signature: v1,"), "{curl}");
    assert!(!curl.contains(&key[6..]), "the secret is not shown: {curl}");
    s.stop().await;
}

#[tokio::test]
async fn the_secret_is_kept_across_a_restart_and_sealed_at_rest() {
    let s = TestServer::start().await;
    let app = s.app("kept").await;
    let id = s
        .webhook(&app, "http://127.0.0.1:9/hook", &["message.push.sent"])
        .await;
    let before = secret(&s, &app, &id).await;
    let dir = s.stop().await;
    let config = test_config(dir.path());
    let key = before["key"].as_str().unwrap();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "key") {
            stored.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    let encoded = &key["whsec_".len()..];
    assert!(
        !stored
            .windows(encoded.len())
            .any(|w| w == encoded.as_bytes()),
        "the secret is sealed in the database"
    );
    let s = TestServer::start_config(dir, config).await;
    assert_eq!(secret(&s, &app, &id).await, before);
    s.stop().await;
}

#[tokio::test]
async fn a_webhook_stored_before_signatures_gets_a_secret_at_start() {
    let (s, r, app, id) = signed_webhook("older").await;
    let dir = s.stop().await;
    // As a database from before signatures has it: no keys.
    rusqlite::Connection::open(dir.path().join("hookline.db"))
        .unwrap()
        .execute("UPDATE webhooks SET signing = '[]'", [])
        .unwrap();
    let config = test_config(dir.path());
    let s = TestServer::start_config(dir, config).await;
    let key = key_of(&s, &app, &id).await;
    assert!(key.starts_with("whsec_"), "{key}");
    s.ingest(&app, event("e1", "message.push.sent")).await;
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    verify_received(&key, &got[0]).unwrap();
    s.stop().await;
}

#[tokio::test]
async fn an_ed25519_webhook_signs_with_a_key_pair_and_a_change_of_scheme_keeps_both() {
    let s = TestServer::start().await;
    let r = TestReceiver::start().await;
    let app = s.app("asymmetric").await;
    let mut definition = crate::harness::webhook_body(&r.url("/hook"), &["message.push.sent"]);
    definition["signing"] = json!("ed25519");
    let (status, created) = s
        .app_call("POST", &app, "/webhooks", Some(definition.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["signing"], "ed25519");
    let id = created["id"].as_str().unwrap().to_owned();
    let public = key_of(&s, &app, &id).await;
    assert!(
        public.starts_with("whpk_"),
        "only the public key is shown: {public}"
    );

    s.ingest(&app, event("e1", "message.push.sent")).await;
    let got = r.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        got[0]
            .header("webhook-signature")
            .unwrap()
            .starts_with("v1a,")
    );
    verify_received(&public, &got[0]).unwrap();
    let tampered = format!("{} ", got[0].body);
    assert!(verify(&public, &got[0].headers, tampered.as_bytes(), now()).is_err());
    let other = {
        let mut d = definition.clone();
        d["url"] = json!(r.url("/other"));
        let (_, w) = s.app_call("POST", &app, "/webhooks", Some(d)).await;
        key_of(&s, &app, w["id"].as_str().unwrap()).await
    };
    assert!(verify_received(&other, &got[0]).is_err());

    // Back to symmetric: a whsec_ secret signs first, the ed25519 key beside it for the grace.
    definition["signing"] = json!("symmetric");
    let (status, updated) = s
        .app_call("PUT", &app, &format!("/webhooks/{id}"), Some(definition))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let now_secret = secret(&s, &app, &id).await;
    let symmetric = now_secret["key"].as_str().unwrap().to_owned();
    assert!(symmetric.starts_with("whsec_"), "{now_secret}");
    assert!(
        now_secret["previous_key_expires_at"].is_i64(),
        "{now_secret}"
    );
    s.ingest(&app, event("e2", "message.push.sent")).await;
    // e2 goes to both webhooks: this one's request is the one to /hook.
    let got = r.wait_for(3, Duration::from_secs(5)).await;
    let e2 = got[1..].iter().find(|g| g.path == "/hook").unwrap();
    verify_received(&symmetric, e2).unwrap();
    verify_received(&public, e2).unwrap();

    // A scheme that does not exist is refused, naming the field.
    let (status, refused) = s
        .app_call(
            "POST",
            &app,
            "/webhooks",
            Some(json!({"name": "x", "events": ["k"], "url": "http://127.0.0.1:9/", "signing": "rsa"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("signing:"),
        "{refused}"
    );
    s.stop().await;
}
