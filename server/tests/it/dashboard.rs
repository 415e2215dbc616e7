//! The dashboard: the real binary, started with no `--site`, serves its embedded files at
//! `/dashboard/` with their content types, and nothing else changes for the API.

use std::time::Duration;

use crate::harness::{free_port, header_contains};
use crate::process::spawn_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_dashboard_without_a_site() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_with(&dir.path().join("d.db"), free_port(), &[]).await;
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |path: &str| c.get(format!("{}{path}", p.base)).send();

    let r = get("/dashboard").await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/dashboard/");

    let r = get("/dashboard/").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(header_contains(
        r.headers(),
        "content-security-policy",
        "default-src 'self'"
    ));
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="app.js">"#),
        "{html}"
    );

    for (path, content_type) in [
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/api.js", "text/javascript; charset=utf-8"),
        ("/dashboard/chart.js", "text/javascript; charset=utf-8"),
        ("/dashboard/kinds.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "text/css; charset=utf-8"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], content_type, "{path}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");
    }
    // Every module the page imports is served (a renamed file cannot go unnoticed).
    let app_js = get("/dashboard/app.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for import in app_js
        .lines()
        .filter_map(|l| l.split("from './").nth(1))
        .filter_map(|rest| rest.split('\'').next())
    {
        let r = get(&format!("/dashboard/{import}")).await.unwrap();
        assert_eq!(r.status(), 200, "app.js imports {import}");
    }

    // A file it does not have is the API's JSON 404; the API itself is unchanged.
    let r = get("/dashboard/nope.js").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/nope").await.unwrap().status(), 404);
    let doc = get("/openapi.json").await.unwrap().text().await.unwrap();
    assert!(
        !doc.contains("/dashboard"),
        "the dashboard is not part of the API"
    );

    let _ = p.child.kill();
    let _ = p.child.wait();
}
