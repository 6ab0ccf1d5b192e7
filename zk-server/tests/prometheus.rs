//! `/metrics` with `metricsProvider.className=...PrometheusMetricsProvider`: the text parses
//! with real Prometheus parsers (the `prometheus-parse` crate, and Python's
//! `prometheus_client.parser`, which is strict about the format), every non-JVM metric that
//! Grafana dashboard 10465 and Java's documented alerts query is there with Java's type, the
//! values move under load, and `mntr`, `monitor` and `/metrics` read the same registry.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::http::request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zk_client::{Client, CreateOptions};

/// The metrics dashboard 10465 ("ZooKeeper by Prometheus") and the alert rules of Java's
/// `zookeeperMonitor.md` query, JVM panels left out, with the type Java exports.
const DASHBOARD: &[(&str, &str)] = &[
    ("znode_count", "gauge"),
    ("ephemerals_count", "gauge"),
    ("global_sessions", "gauge"),
    ("local_sessions", "gauge"),
    ("approximate_data_size", "gauge"),
    ("packets_received", "gauge"),
    ("packets_sent", "gauge"),
    ("response_packet_cache_hits", "counter"),
    ("response_packet_cache_misses", "counter"),
    ("response_packet_get_children_cache_hits", "counter"),
    ("response_packet_get_children_cache_misses", "counter"),
    ("unrecoverable_error_count", "counter"),
    ("digest_mismatches_count", "counter"),
    ("startup_snap_load_time", "summary"),
    ("startup_txns_loaded", "summary"),
    ("startup_txns_load_time", "summary"),
    ("dbinittime", "summary"),
    ("uptime", "gauge"),
    ("election_time", "summary"),
    ("learner_commit_received_count", "counter"),
    ("commit_count", "counter"),
    ("snap_count", "counter"),
    ("diff_count", "counter"),
    ("looking_count", "counter"),
    ("proposal_count", "counter"),
    ("follower_sync_time", "summary"),
    ("quit_leading_due_to_disloyal_voter", "counter"),
    ("om_proposal_process_time_ms", "summary"),
    ("om_commit_process_time_ms", "summary"),
    ("watch_count", "gauge"),
    ("node_created_watch_count", "summary"),
    ("node_deleted_watch_count", "summary"),
    ("node_changed_watch_count", "summary"),
    ("node_children_watch_count", "summary"),
    ("revalidate_count", "counter"),
    ("stale_sessions_expired", "counter"),
    ("dead_watchers_queued", "counter"),
    ("dead_watchers_cleared", "counter"),
    ("add_dead_watcher_stall_time", "counter"),
    ("outstanding_requests", "gauge"),
    ("last_client_response_size", "gauge"),
    ("max_client_response_size", "gauge"),
    ("min_client_response_size", "gauge"),
    ("bytes_received_count", "counter"),
    ("connection_request_count", "counter"),
    ("num_alive_connections", "gauge"),
    ("connection_rejected", "counter"),
    ("connection_drop_count", "counter"),
    ("connection_drop_probability", "gauge"),
    ("sessionless_connections_expired", "counter"),
    ("connection_token_deficit", "summary"),
    ("open_file_descriptor_count", "gauge"),
    ("max_file_descriptor_count", "gauge"),
    ("fsynctime", "summary"),
    ("snapshottime", "summary"),
    ("prep_processor_queue_time_ms", "summary"),
    ("sync_processor_queue_time_ms", "summary"),
    ("write_commitproc_time_ms", "summary"),
    ("read_commitproc_time_ms", "summary"),
    ("write_final_proc_time_ms", "summary"),
    ("read_final_proc_time_ms", "summary"),
    ("prep_processor_request_queued", "counter"),
    ("sync_processor_request_queued", "counter"),
    ("outstanding_changes_queued", "counter"),
    ("outstanding_changes_removed", "counter"),
    ("request_commit_queued", "counter"),
    ("readlatency", "summary"),
    ("updatelatency", "summary"),
    ("proposal_latency", "summary"),
    ("quorum_ack_latency", "summary"),
    ("propagation_latency", "summary"),
    ("commit_propagation_latency", "summary"),
    ("max_latency", "gauge"),
    ("min_latency", "gauge"),
    ("avg_latency", "gauge"),
    ("tls_handshake_exceeded", "counter"),
    ("outstanding_tls_handshake", "gauge"),
    ("ensemble_auth_success", "counter"),
    ("ensemble_auth_fail", "counter"),
    ("ensemble_auth_skip", "counter"),
];

/// A server exporting `/metrics` on a free loopback port.
async fn start() -> common::server::HttpServer {
    common::server::HttpServer::start(
        "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0\n",
    )
    .await
}

async fn scrape(addr: SocketAddr) -> String {
    let answer = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    answer.text()
}

/// The scrape parsed: metric name -> (type, value of the unlabelled sample or summary count).
fn parse(text: &str) -> (HashMap<String, String>, HashMap<String, f64>) {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("prometheus-parse reads it");
    let mut values = HashMap::new();
    for sample in &scrape.samples {
        let v = match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Summary(_) => continue,
            prometheus_parse::Value::Histogram(_) => panic!("no histograms in Java's export"),
        };
        values.insert(sample.metric.clone(), v);
    }
    let types = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    (types, values)
}

/// Python's `prometheus_client.parser` (strict), run on `text`: the families it read.
fn python_families(text: &str) -> usize {
    let script =
        "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                  print(len(list(text_string_to_metric_families(sys.stdin.read()))))\n";
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Debian's python3 (scripts/test.sh installs python3-prometheus-client)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client.parser refused the text (is python3-prometheus-client installed? \
         scripts/test.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn mntr(addr: SocketAddr) -> HashMap<String, String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"mntr").await.unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_cover_the_dashboard_and_move_under_load() {
    let server = start().await;
    let metrics = server.running().metrics_addr().expect("/metrics served");
    let before = scrape(metrics).await;
    let (types, values) = parse(&before);
    for (name, kind) in DASHBOARD {
        assert_eq!(types.get(*name).map(String::as_str), Some(*kind), "{name}");
    }
    // HELP is the name; no `_total` but the standard process counter.
    assert!(before.contains("# HELP commit_count commit_count\n"));
    for line in before.lines().filter(|l| l.contains("_total")) {
        assert!(line.contains("process_cpu_seconds_total"), "{line}");
    }
    for name in [
        "process_open_fds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(values[name] > 0.0, "{name}");
    }
    assert!(
        before.contains("fsynctime{quantile=\"0.5\",}"),
        "BASIC: the median"
    );
    assert!(
        before.contains("readlatency{quantile=\"0.99\",}"),
        "ADVANCED: 0.5, 0.9, 0.99"
    );
    assert!(python_families(&before) > 100);
    let znodes_before = values["znode_count"];
    assert_eq!(values["commit_count"], 0.0);

    // Load: writes and reads through a client.
    let zk = Client::builder(server.running().local_addr().to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    for i in 0..50 {
        zk.create(&format!("/p{i}"), b"v", &CreateOptions::persistent())
            .await
            .unwrap();
        zk.get_data(&format!("/p{i}")).await.unwrap();
    }
    let after = scrape(metrics).await;
    let (_, values) = parse(&after);
    assert_eq!(values["znode_count"], znodes_before + 50.0);
    // The session's createSession, then the 50 creates.
    assert_eq!(values["commit_count"], 51.0);
    assert_eq!(values["num_alive_connections"], 1.0);
    assert!(values["approximate_data_size"] > 0.0);
    assert!(values["open_file_descriptor_count"] > 0.0);
    assert!(values["max_file_descriptor_count"] >= values["open_file_descriptor_count"]);
    assert!(values["connection_request_count"] >= 1.0);
    let count = |name: &str| -> f64 {
        after
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_count ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(count("fsynctime") >= 1.0, "fsyncs of the writes");
    assert!(count("updatelatency") >= 50.0, "the creates");
    assert!(count("readlatency") >= 50.0);
    assert!(count("dbinittime") >= 1.0);
    assert!(values["max_client_response_size"] > 0.0);
    // Per namespace: each /p<i> is one, created once ("/p0" + "v") and read once (plus the
    // Stat's 68 bytes).
    assert!(after.contains("write_per_namespace_count{key=\"p0\",} 1.0\n"));
    assert!(after.contains("write_per_namespace_sum{key=\"p0\",} 4.0\n"));
    assert!(after.contains("read_per_namespace_sum{key=\"p7\",} 72.0\n"));

    // mntr and monitor read the same registry.
    let words = mntr(server.running().local_addr()).await;
    assert_eq!(words["zk_commit_count"], "51");
    assert_ne!(words["zk_open_file_descriptor_count"], "-1");
    let admin = server.running().admin_addr().unwrap();
    let monitor = request(admin, "GET", "/commands/monitor", &[], b"")
        .await
        .json();
    assert_eq!(monitor["commit_count"], 51);
    assert!(monitor["cnt_updatelatency"].as_i64().unwrap() >= 50);
    assert!(monitor["cnt_fsynctime"].as_i64().unwrap() >= 1);

    // srst leaves Prometheus' counters alone (they must not go down), as Java's provider.
    let mut s = tokio::net::TcpStream::connect(server.running().local_addr())
        .await
        .unwrap();
    s.write_all(b"srst").await.unwrap();
    let mut reset = String::new();
    s.read_to_string(&mut reset).await.unwrap();
    let (_, values) = parse(&scrape(metrics).await);
    assert_eq!(values["commit_count"], 51.0);
    // Only /metrics is served there.
    assert_eq!(request(metrics, "GET", "/", &[], b"").await.status, 404);
    assert_eq!(
        request(metrics, "TRACE", "/metrics", &[], b"").await.status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latencies_are_measured() {
    let server = start().await;
    let zk = Client::builder(server.running().local_addr().to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    for i in 0..20 {
        zk.create(&format!("/l{i}"), b"", &CreateOptions::persistent())
            .await
            .unwrap();
    }
    let admin = server.running().admin_addr().unwrap();
    let srvr = request(admin, "GET", "/commands/srvr", &[], b"")
        .await
        .json();
    let stats = &srvr["server_stats"];
    // Every request answered counts; a write waits for an fsync, so some take a millisecond
    // or more, but none takes long.
    assert!(stats["max_latency"].as_i64().unwrap() < 5_000, "{srvr:#}");
    assert!(srvr["client_response"]["max_buffer_size"].as_i64().unwrap() > 0);
    let cons = request(admin, "GET", "/commands/cons", &[], b"")
        .await
        .json();
    let conn = &cons["connections"][0];
    assert_eq!(conn["last_operation"], "CREA");
    assert_eq!(
        conn["last_cxid"].as_i64(),
        Some(20),
        "the 20th request (xids start at 1): {conn:#}"
    );
    assert!(conn["last_zxid"].as_i64().unwrap() > 20);
    assert!(conn["last_response_time"].as_i64().unwrap() > 0);
}
