//! Keys that rotate: a new app key with the old one valid for a grace period (or revoked at
//! once), and an admin key changed through the configuration without losing apps.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ADMIN_KEY, TestServer, test_config};

async fn status_with(s: &TestServer, app: &str, key: &str) -> StatusCode {
    s.call("GET", &format!("/v1/apps/{app}"), Some(key), None)
        .await
        .0
}

async fn rotate(s: &TestServer, app: &str, key: &str, body: Option<Value>) -> Value {
    let (status, v) = s
        .call("POST", &format!("/v1/apps/{app}/keys"), Some(key), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

#[tokio::test]
async fn a_new_app_key_leaves_the_old_one_valid_for_its_grace_or_revokes_it() {
    let s = TestServer::start().await;
    let (app, k1) = s.app("a").await;
    // Default grace: 24 hours.
    let v = rotate(&s, &app, &k1, None).await;
    let k2 = v["api_key"].as_str().unwrap().to_string();
    let expires = v["previous_key_expires_at"].as_i64().unwrap();
    let hours = (expires - hookline::store::now_ms()) as f64 / 3_600_000.0;
    assert!((23.9..=24.0).contains(&hours), "{hours} h");
    assert_eq!(status_with(&s, &app, &k1).await, StatusCode::OK);
    assert_eq!(status_with(&s, &app, &k2).await, StatusCode::OK);
    // A short grace: the old key stops working when it ends.
    let v = rotate(&s, &app, &k2, Some(json!({"grace": "300ms"}))).await;
    let k3 = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(status_with(&s, &app, &k2).await, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(status_with(&s, &app, &k2).await, StatusCode::UNAUTHORIZED);
    // Revoked at once, by the admin.
    let v = rotate(&s, &app, ADMIN_KEY, Some(json!({"grace": "0s"}))).await;
    assert!(v["previous_key_expires_at"].is_null(), "{v}");
    let k4 = v["api_key"].as_str().unwrap().to_string();
    assert_eq!(status_with(&s, &app, &k3).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(&s, &app, &k4).await, StatusCode::OK);
    // The first key's grace outlives the rotations after it.
    assert_eq!(status_with(&s, &app, &k1).await, StatusCode::OK);
}

#[tokio::test]
async fn keys_and_their_grace_survive_a_restart() {
    let s = TestServer::start().await;
    let (app, k1) = s.app("a").await;
    let k2 = rotate(&s, &app, &k1, Some(json!({"grace": "1h"}))).await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = s.stop().await;
    let config = test_config(dir.path());
    let s = TestServer::start_config(dir, config).await;
    assert_eq!(status_with(&s, &app, &k1).await, StatusCode::OK);
    assert_eq!(status_with(&s, &app, &k2).await, StatusCode::OK);
}

#[tokio::test]
async fn bad_rotations_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    let (app, key) = s.app("a").await;
    let (other, other_key) = s.app("b").await;
    for (body, says) in [
        (json!({"grace": "soon"}), "grace:"),
        (json!({"grace": 5}), "grace: expected a duration"),
        (json!({"grace": "1h", "extra": 1}), "extra: unknown field"),
    ] {
        let (status, v) = s
            .call(
                "POST",
                &format!("/v1/apps/{app}/keys"),
                Some(&key),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{v}"
        );
    }
    // Another app's key cannot rotate this one's.
    let (status, _) = s
        .call(
            "POST",
            &format!("/v1/apps/{app}/keys"),
            Some(&other_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(status_with(&s, &app, &key).await, StatusCode::OK);
    assert_eq!(status_with(&s, &other, &other_key).await, StatusCode::OK);
}

#[tokio::test]
async fn the_admin_key_changes_through_the_configuration_and_apps_stay() {
    let s = TestServer::start().await;
    let (app, key) = s.app("a").await;
    let dir = s.stop().await;
    let mut config = test_config(dir.path());
    config.admin_key = Some("a-new-admin-key".into());
    let s = TestServer::start_config(dir, config).await;
    let (old, _) = s.call("GET", "/v1/apps", Some(ADMIN_KEY), None).await;
    assert_eq!(old, StatusCode::UNAUTHORIZED);
    let (new, v) = s
        .call("GET", "/v1/apps", Some("a-new-admin-key"), None)
        .await;
    assert_eq!(new, StatusCode::OK);
    assert_eq!(v["apps"][0]["id"], app.as_str());
    assert_eq!(status_with(&s, &app, &key).await, StatusCode::OK);
}

#[tokio::test]
async fn a_key_tells_what_it_opens() {
    let s = TestServer::start().await;
    let a = s.app("a").await;
    let (status, admin) = s.call("GET", "/v1/key", Some(ADMIN_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin, json!({"admin": true, "app_id": null}));
    let (status, app) = s.call("GET", "/v1/key", Some(&a.1), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app, json!({"admin": false, "app_id": a.0}));
    for key in [Some("hk_not_a_key"), None] {
        let (status, refused) = s.call("GET", "/v1/key", key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    }
}
