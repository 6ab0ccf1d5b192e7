//! [`MetricsServer`]: Prometheus' `/metrics` on `metricsProvider.httpHost:httpPort`, as Java's
//! `PrometheusMetricsProvider` serves it (its own port, `/metrics` only, TRACE refused). The
//! text is [`crate::metrics::prometheus_text`] of the registry and the gauges the core reports
//! when scraped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{listener, CoreLink};
use crate::admin::gauge_values;
use crate::metrics::{prometheus_text, Metrics, ProcessStats, PrometheusSettings};

/// simpleclient's content type for the text format 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scraper may take to send its request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Scrape {
    link: CoreLink,
    metrics: Arc<Metrics>,
    export_process: bool,
}

/// A running `/metrics` endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `settings.host:settings.port` and serves until `stop` turns true.
    pub async fn start(
        settings: &PrometheusSettings,
        link: CoreLink,
        metrics: Arc<Metrics>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> std::io::Result<MetricsServer> {
        let listener =
            tokio::net::TcpListener::bind((settings.host.as_str(), settings.port)).await?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "serving Prometheus metrics at /metrics");
        let state = Arc::new(Scrape {
            link,
            metrics,
            export_process: settings.export_process,
        });
        let router = Router::new()
            .route("/metrics", get(scrape))
            .layer(middleware::from_fn(super::routes::refuse_trace))
            .with_state(state);
        let task = tokio::spawn(listener::serve(listener, router, IDLE_TIMEOUT, None, stop));
        Ok(MetricsServer { addr, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the accept loop to end (after the stop signal).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

async fn scrape(State(s): State<Arc<Scrape>>) -> Response {
    let Some(mut snapshot) = s.link.gauges().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping\n").into_response();
    };
    // Read once: the descriptor gauges and the process_* metrics.
    let process = ProcessStats::read();
    process.fill(&mut snapshot);
    // While an ensemble member does not serve, there is no tree: no gauges, only the registry.
    let gauges = if snapshot.serving {
        gauge_values(&snapshot)
    } else {
        Vec::new()
    };
    let text = prometheus_text(&s.metrics, &gauges, s.export_process.then_some(&process));
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
