//! The AdminServer's routes:
//! - `GET <commandURL>` (and `<commandURL>/`): Java's index, one link per command;
//! - `GET <commandURL>/<name>?k=v` and `POST <commandURL>/<name>`: a command;
//! - `GET /ready`: 200 while this server serves clients (in an ensemble: synced with a
//!   leader), 503 otherwise, for load balancers and Kubernetes readiness probes;
//! - `/browse`: the tree browser; `/` leads there.
//!
//! TRACE is refused with 403, as Jetty does for Java.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value};

use super::auth::{self, Limited, Refusal};
use super::commands::{self, Extras, Spec};
use super::listener::Transport;
use super::{browse, to_java_json, AdminState};
use crate::admin::{Action, NOT_SERVING};
use crate::metrics::Counter;

type Shared = Arc<AdminState>;

/// The router of one AdminServer.
pub(super) fn router(state: Shared) -> Router {
    let url = state.settings.command_url.clone();
    Router::new()
        .route(&url, get(index))
        .route(&format!("{url}/"), get(index))
        .route(&format!("{url}/{{name}}"), get(run_get).post(run_post))
        .route("/ready", get(ready))
        .route(
            "/backup/import",
            // An export of a large subtree is far larger than axum's default 2 MB body.
            axum::routing::post(super::import::import).layer(axum::extract::DefaultBodyLimit::max(
                super::import::MAX_EXPORT_BYTES,
            )),
        )
        .route("/", get(|| async { Redirect::to("/browse") }))
        .route("/browse/", get(|| async { Redirect::permanent("/browse") }))
        .nest("/browse", browse::router())
        .layer(middleware::from_fn(refuse_trace))
        .with_state(state)
}

/// Answers TRACE with 403, as Jetty does for Java (a middleware).
pub(super) async fn refuse_trace(request: Request, next: Next) -> Response {
    if request.method() == Method::TRACE {
        return StatusCode::FORBIDDEN.into_response();
    }
    next.run(request).await
}

/// Java's index: `<a href="/commands/NAME">NAME</a>` and `<br/>`, a line each.
async fn index(State(state): State<Shared>) -> Response {
    let url = &state.settings.command_url;
    let mut html = String::new();
    for name in commands::primary_names() {
        html.push_str(&format!("<a href=\"{url}/{name}\">{name}</a>\n<br/>\n"));
    }
    ([(header::CONTENT_TYPE, "text/html;charset=utf-8")], html).into_response()
}

/// A command's JSON answer.
pub(super) fn json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, to_java_json(&body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An answer with no data: `command` and `error` only.
pub(super) fn bare(status: StatusCode, command: &str, error: Option<&str>) -> Response {
    json(status, commands::response(command, error, Map::new()))
}

/// What every command checks first, in Java's order: that it exists, that the server serves
/// if it must, that the caller may run it. `Err` is the answer to send instead.
async fn admit(
    state: &AdminState,
    name: &str,
    headers: &HeaderMap,
    transport: &Transport,
) -> Result<&'static Spec, Response> {
    let Some(spec) = commands::find(name) else {
        let error = format!("Unknown command: {name}");
        return Err(bare(StatusCode::OK, name, Some(&error)));
    };
    let serving = match state.link.serving().await {
        Some((serving, _)) => serving,
        None => {
            return Err(bare(
                StatusCode::SERVICE_UNAVAILABLE,
                name,
                Some(NOT_SERVING),
            ))
        }
    };
    if spec.server_required && !serving {
        return Err(bare(StatusCode::OK, name, Some(NOT_SERVING)));
    }
    let perm = if spec.guarded {
        zk_proto::perms::ALL
    } else if state.settings.auth_required {
        zk_proto::perms::READ
    } else {
        return Ok(spec);
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let refused = |r: Refusal| bare(r.status(), name, Some(r.message()));
    let ids = auth::identify(
        authorization,
        transport.peer,
        &transport.certificate_ids,
        state.super_digest.as_deref(),
    )
    .map_err(refused)?;
    let Some((_, tree)) = state.link.tree().await else {
        // No tree to read the ACL of `/` from (an ensemble member in election).
        return Err(bare(StatusCode::OK, name, Some(NOT_SERVING)));
    };
    let root = tree.node("/").expect("every tree has a root");
    let acl = tree.acl(root);
    auth::authorize(&acl, perm, &ids).map_err(|r| {
        tracing::warn!(
            command = name,
            ?ids,
            "AdminServer command refused: not authorized"
        );
        refused(r)
    })?;
    Ok(spec)
}

async fn run_get(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    Extension(transport): Extension<Transport>,
    headers: HeaderMap,
) -> Response {
    let spec = match admit(&state, &name, &headers, &transport).await {
        Ok(spec) => spec,
        Err(answer) => return answer,
    };
    if spec.post {
        return bare(
            StatusCode::METHOD_NOT_ALLOWED,
            &name,
            Some("Invalid method"),
        );
    }
    let primary = spec.primary();
    let action = match primary {
        "connection_stat_reset" => Some(Action::ResetConnectionStats),
        "stat_reset" => Some(Action::ResetServerStats),
        "set_trace_mask" => query
            .get("traceMask")
            .and_then(|m| m.parse().ok())
            .map(Action::SetTraceMask),
        // Nothing kept per observer connection yet: nothing to reset.
        "observer_connection_stat_reset" => None,
        "snapshot" => return snapshot(&state, &query).await,
        _ => None,
    };
    if let Some(action) = action {
        state.link.perform(action).await;
    }
    if matches!(
        primary,
        "connection_stat_reset" | "stat_reset" | "ruok" | "observer_connection_stat_reset"
    ) {
        return bare(StatusCode::OK, primary, None);
    }
    let Some(mut snap) = state.link.snapshot().await else {
        return bare(StatusCode::SERVICE_UNAVAILABLE, primary, Some(NOT_SERVING));
    };
    let (snap_dir, log_dir) = (state.snap_dir.clone(), state.log_dir.clone());
    let needs_files = matches!(primary, "dirs" | "server_stats" | "stats" | "last_snapshot");
    let last_snapshot = if needs_files {
        let files = tokio::task::spawn_blocking(move || {
            (
                dir_size(&snap_dir),
                dir_size(&log_dir),
                last_snapshot(&snap_dir),
            )
        })
        .await
        .unwrap_or((0, 0, None));
        snap.data_dir_size = files.0;
        snap.log_dir_size = files.1;
        files.2
    } else {
        None
    };
    let extras = Extras {
        ensemble: state.ensemble.clone(),
        initial_config: state.initial_config.clone(),
        last_snapshot,
        system_properties: state.system_properties.clone(),
    };
    // Formatting `dump` or `watches` of a large server takes a while: off the async workers.
    let body = tokio::task::spawn_blocking(move || {
        crate::metrics::ProcessStats::read().fill(&mut snap);
        let data = commands::data(primary, &snap, &extras, &query);
        commands::response(primary, None, data)
    })
    .await;
    match body {
        Ok(body) => json(StatusCode::OK, body),
        Err(_) => bare(
            StatusCode::INTERNAL_SERVER_ERROR,
            primary,
            Some("internal error"),
        ),
    }
}

async fn run_post(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Extension(transport): Extension<Transport>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let spec = match admit(&state, &name, &headers, &transport).await {
        Ok(spec) => spec,
        Err(answer) => return answer,
    };
    if !spec.post {
        return bare(
            StatusCode::METHOD_NOT_ALLOWED,
            &name,
            Some("Invalid method"),
        );
    }
    super::restore::restore(&state, &query, body).await
}

/// Java's checks before `snapshot` or `restore` runs: its switch (`admin.snapshot.enabled`,
/// `admin.restore.enabled`; 503) and its rate limit (429, counted). The refusal to send, if
/// any.
pub(super) fn switch_and_rate_limit(state: &AdminState, which: Limited) -> Option<Response> {
    let (command, enabled, rate_limited) = match which {
        Limited::Snapshot => (
            "snapshot",
            state.settings.snapshot_enabled,
            Counter::SnapshotRateLimitedCount,
        ),
        Limited::Restore => (
            "restore",
            state.settings.restore_enabled,
            Counter::RestoreRateLimitedCount,
        ),
    };
    if !enabled {
        tracing::warn!("{command} command is disabled (admin.{command}.enabled=false)");
        return Some(bare(StatusCode::SERVICE_UNAVAILABLE, command, None));
    }
    if !state.limits.allow(which, Instant::now()) {
        state.metrics.add(rate_limited, 1);
        tracing::warn!("{command} request was rate limited");
        return Some(bare(StatusCode::TOO_MANY_REQUESTS, command, None));
    }
    None
}

/// `snapshot`: writes a snapshot of the committed tree to the data directory, as the periodic
/// ones are, and streams the file (`?streaming=false`: headers only).
async fn snapshot(state: &AdminState, query: &BTreeMap<String, String>) -> Response {
    const COMMAND: &str = "snapshot";
    if let Some(refused) = switch_and_rate_limit(state, Limited::Snapshot) {
        return refused;
    }
    // Java's Boolean.parseBoolean: "true" in any case is true, anything else false.
    let streaming = query
        .get("streaming")
        .is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let Some((zxid, tree)) = state.link.tree().await else {
        return bare(StatusCode::OK, COMMAND, Some(NOT_SERVING));
    };
    let dir = state.snap_dir.clone();
    let compression = state.snapshot_compression;
    let started = Instant::now();
    let metrics = state.metrics.clone();
    let written = tokio::task::spawn_blocking(move || {
        crate::storage::snapshot::write_timed_snapshot(&dir, zxid, &tree, compression, &metrics)
    })
    .await;
    let path = match written {
        Ok(Ok(path)) => path,
        failed => {
            if let Ok(Err(e)) = failed {
                tracing::warn!(error = %e, "the snapshot command could not write a snapshot");
            }
            state.metrics.add(Counter::SnapshotErrorCount, 1);
            return bare(StatusCode::INTERNAL_SERVER_ERROR, COMMAND, None);
        }
    };
    if let Some(archiver) = &state.archiver {
        archiver.snapshot_written(path.clone());
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot open the snapshot just written");
            return bare(StatusCode::INTERNAL_SERVER_ERROR, COMMAND, None);
        }
    };
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        path = %path.display(), zxid = %format_args!("{zxid:#x}"), bytes = size,
        ms = started.elapsed().as_millis() as u64, streaming,
        "snapshot taken for the snapshot command"
    );
    let mut response = if streaming {
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        let mut r = Body::from_stream(stream).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    } else {
        bare(StatusCode::OK, COMMAND, None)
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("0x{:x}", zxid as u64)) {
        h.insert("last_zxid", v);
    }
    h.insert("snapshot_size", HeaderValue::from(size));
    response
}

/// `/ready`: 200 while serving clients, else 503.
async fn ready(State(state): State<Shared>) -> Response {
    match state.link.serving().await {
        Some((true, mode)) => {
            (StatusCode::OK, format!("ready: {}\n", mode.as_str())).into_response()
        }
        Some((false, mode)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {} not serving\n", mode.as_str()),
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "not ready: stopping\n").into_response(),
    }
}

/// Bytes in the files of `dir` (Java's `getDataDirSize`), 0 if it cannot be read.
fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The newest snapshot's zxid and modification time, seconds (Java's `SnapshotInfo`).
fn last_snapshot(dir: &std::path::Path) -> Option<(i64, i64)> {
    let (path, zxid, _) = crate::storage::snapshot::list_snapshots(dir)
        .ok()?
        .into_iter()
        .next()?;
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let secs = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Some((zxid, secs))
}
