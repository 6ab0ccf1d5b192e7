//! Unit tests of the browser's routes on a core that is not serving, and of its write
//! routes' refusals.

use super::*;

/// The browser, mounted as the AdminServer mounts it, on a core that answers every
/// question with "not serving" (an ensemble member in leader election).
fn browser_of_a_member_not_serving() -> Router {
    let (link, mut calls) = super::super::CoreLink::new(4);
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            let _ = call.reply.send(super::super::AdminReply::NotServing);
        }
    });
    let cfg = crate::config::Config::parse("dataDir=/tmp/zk-browse-unit\n", "").unwrap();
    let metrics = crate::metrics::Metrics::new(false);
    let state = Arc::new(AdminState::new(&cfg, link, None, metrics).unwrap());
    Router::new().nest("/browse", router()).with_state(state)
}

#[tokio::test]
async fn a_server_not_serving_answers_503() {
    use tower::ServiceExt as _;
    for target in [
        "/browse",
        "/browse/app",
        "/browse?search=x",
        "/browse?session=0x1",
    ] {
        let request = axum::http::Request::get(target)
            .body(Body::empty())
            .unwrap();
        let response = browser_of_a_member_not_serving()
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{target}"
        );
        assert!(response
            .headers()
            .contains_key(header::CONTENT_SECURITY_POLICY));
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Not serving"));
    }
    // Bad input is refused before the core is asked.
    let request = axum::http::Request::get("/browse/a/../b")
        .body(Body::empty())
        .unwrap();
    let response = browser_of_a_member_not_serving()
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

fn browser_with(cfg: &str, client_addr: Option<std::net::SocketAddr>) -> Router {
    let (link, _calls) = super::super::CoreLink::new(4);
    let cfg = crate::config::Config::parse(cfg, "").unwrap();
    let metrics = crate::metrics::Metrics::new(false);
    let mut state = AdminState::new(&cfg, link, None, metrics).unwrap();
    state.client_addr = client_addr;
    Router::new()
        .nest("/browse", router())
        .with_state(Arc::new(state))
}

#[tokio::test]
async fn writes_are_refused_when_off_or_without_a_client_port() {
    use tower::ServiceExt as _;
    let post = || {
        axum::http::Request::post("/browse/_write/set")
            .header(header::HOST, "zk")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, "digest al:pw")
            .body(Body::from("path=/a&version=0&data=x"))
            .unwrap()
    };
    let base = "dataDir=/tmp/zk-browse-unit\n";
    let addr = Some("127.0.0.1:1".parse().unwrap());
    let off = browser_with(base, addr).oneshot(post()).await.unwrap();
    assert_eq!(off.status(), StatusCode::FORBIDDEN);
    let writable = format!("{base}admin.browser.writable=true\n");
    let tls_only = browser_with(&writable, None).oneshot(post()).await.unwrap();
    assert_eq!(tls_only.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(tls_only.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("no plain client port"));
    // Other methods and unknown writes.
    let get = axum::http::Request::put("/browse/_write/set")
        .body(Body::empty())
        .unwrap();
    let put = browser_with(&writable, addr).oneshot(get).await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn typed_paths_are_made_absolute() {
    assert_eq!(typed_path(""), "/");
    assert_eq!(typed_path(" app/a/ "), "/app/a");
    assert_eq!(typed_path("/"), "/");
    assert_eq!(typed_path("/x"), "/x");
}

#[test]
fn downloads_are_named_after_the_node() {
    let r = download("/app/<x> y.bin", bytes::Bytes::from_static(b"\x00\x01"));
    assert_eq!(
        r.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"_x__y.bin\""
    );
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let root = download("/", bytes::Bytes::new());
    assert_eq!(
        root.headers()[header::CONTENT_DISPOSITION],
        "attachment; filename=\"root\""
    );
}
