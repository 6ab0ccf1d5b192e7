//! The archiver's gauges (`backup_*` in `mntr`, `monitor` and `/metrics`): present only with
//! `backup.target`; the lag and failures rise while the archive cannot be written and the lag
//! falls back once it can.

mod common;

use std::time::{Duration, Instant};

use common::http::request;
use common::server::HttpServer;
use serde_json::Value;
use zk_client::CreateOptions;

async fn monitor(server: &HttpServer) -> Value {
    request(server.admin(), "GET", "/commands/monitor", &[], b"")
        .await
        .json()
}

/// Polls the `monitor` command until `ok` holds for it (10 s at most).
async fn monitor_until(server: &HttpServer, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = monitor(server).await;
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: {m:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gauges_follow_the_archive() {
    let plain = HttpServer::start("").await;
    let m = monitor(&plain).await;
    assert!(
        !m.as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("backup_")),
        "a server without an archive lists what Java lists"
    );
    drop(plain);

    let archive = tempfile::tempdir().unwrap();
    let server = HttpServer::start(&format!(
        "backup.target={}\nbackup.maxLagMs=100\n\
         metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0\n",
        archive.path().display()
    ))
    .await;
    let zk = server.client().await;
    let (_, stat) = zk
        .create("/a", b"1", &CreateOptions::persistent())
        .await
        .unwrap();
    let m = monitor_until(&server, "archived", |m| {
        m["backup_archived_zxid"].as_i64() >= Some(stat.czxid)
    })
    .await;
    assert_eq!(m["backup_active"], 1);
    assert_eq!(m["backup_lag_ms"], 0, "{m:#}");
    assert_eq!(m["backup_failures"], 0);
    assert!(m["backup_archived_txns"].as_i64().unwrap() >= 1);
    assert!(m["backup_stored_bytes"].as_i64().unwrap() > 0);
    let metrics_addr = server.running().metrics_addr().expect("/metrics");
    let text = request(metrics_addr, "GET", "/metrics", &[], b"")
        .await
        .text();
    assert!(text.contains("# TYPE backup_lag_ms gauge"), "{text}");

    // The archive's log folder becomes a file: every store fails, and the lag grows.
    let logs = archive.path().join("logs");
    std::fs::rename(&logs, archive.path().join("logs.away")).unwrap();
    std::fs::write(&logs, b"in the way").unwrap();
    zk.create("/b", b"2", &CreateOptions::persistent())
        .await
        .unwrap();
    let m = monitor_until(&server, "failing", |m| {
        m["backup_failures"].as_i64() > Some(0) && m["backup_lag_ms"].as_i64() > Some(300)
    })
    .await;
    let stuck_at = m["backup_archived_zxid"].as_i64().unwrap();

    // Back in place: the archiver's retry stores what waited.
    std::fs::remove_file(&logs).unwrap();
    std::fs::rename(archive.path().join("logs.away"), &logs).unwrap();
    monitor_until(&server, "caught up", |m| {
        m["backup_lag_ms"] == 0 && m["backup_archived_zxid"].as_i64() > Some(stuck_at)
    })
    .await;
}
