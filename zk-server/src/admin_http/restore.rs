//! `restore` (`POST /commands/restore`): the online restore.
//!
//! The image comes either from the request body, a snapshot file as Java's `restore` takes
//! it (what the `snapshot` command streams; LZ4, gzip or snappy files are recognised by their
//! first bytes), or, with `?zxid=`, `?time=` or `?latest=true` and no body, from this server's
//! backup archive (`backup.target`). The core then proposes the txns that turn the tree into
//! the image ([`crate::core::ServerCore::restore_online`]); the answer waits for the last one
//! to commit, so a 200 means the ensemble holds the restored state durably.
//!
//! Java answers `last_zxid` (its in-memory database's zxid after the swap); ours is the zxid
//! of the restore's last txn, with what was restored beside it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::auth::Limited;
use super::routes::{bare, json, switch_and_rate_limit};
use super::AdminState;
use crate::backup::restore::{self, RestorePoint, RestoreReport};
use crate::core::RestoreRefused;
use crate::metrics::Counter;
use crate::tree::DataTree;

const COMMAND: &str = "restore";

/// The largest snapshot a request body may carry.
const MAX_BODY_BYTES: usize = 4 << 30;

/// Comparisons made off the core before the core compares itself.
const OFF_CORE_ATTEMPTS: u32 = 2;

/// How long the answer waits for the restore's last txn to commit.
const COMMIT_WAIT: Duration = Duration::from_secs(120);

/// Runs `restore` after the checks every command makes.
pub(super) async fn restore(
    state: &AdminState,
    query: &BTreeMap<String, String>,
    body: Body,
) -> Response {
    if let Some(refused) = switch_and_rate_limit(state, Limited::Restore) {
        return refused;
    }
    let started = Instant::now();
    let (image, source) = match image(state, query, body).await {
        Ok(found) => found,
        Err((status, error)) => return failed(state, status, &error),
    };
    let nodes = image.node_count();
    // The comparison is the slow part on a large tree: made off the core against the
    // committed tree, so the core serves on meanwhile. A write in between makes it stale:
    // compared again, and on the last attempt by the core itself (which serves nothing
    // meanwhile).
    let mut image = image;
    let mut attempt = 0;
    let summary = loop {
        attempt += 1;
        let last = attempt == OFF_CORE_ATTEMPTS;
        let Some((zxid, tree)) = state.link.tree().await else {
            return failed(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "this server does not serve now",
            );
        };
        let (back, compared) = tokio::task::spawn_blocking(move || {
            let compared = crate::core::compare_committed(zxid, &tree, &image, last);
            (image, compared)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        image = back;
        match state.link.restore(image.clone(), Some(compared)).await {
            Some(Ok(summary)) => break summary,
            Some(Err(RestoreRefused::Stale(_))) if !last => continue,
            Some(Err(refused @ RestoreRefused::NotLeader)) => {
                return failed(state, StatusCode::CONFLICT, &refused.to_string())
            }
            Some(Err(refused)) => {
                return failed(
                    state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &refused.to_string(),
                )
            }
            None => {
                return failed(
                    state,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this server does not serve now",
                )
            }
        }
    };
    if let Err(error) = wait_committed(state, summary.last_zxid).await {
        return failed(state, StatusCode::INTERNAL_SERVER_ERROR, &error);
    }
    tracing::info!(
        source = %source,
        txns = summary.txns,
        last_zxid = %format_args!("{:#x}", summary.last_zxid),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "online restore committed"
    );
    let mut data = Map::new();
    data.insert("last_zxid".into(), summary.last_zxid.into());
    data.insert("source".into(), source.into());
    data.insert("image_nodes".into(), nodes.into());
    data.insert("first_zxid".into(), summary.first_zxid.into());
    data.insert("txns".into(), summary.txns.into());
    data.insert("deleted".into(), summary.deleted.into());
    data.insert("created".into(), summary.created.into());
    data.insert("data_changed".into(), summary.data_changed.into());
    data.insert("acl_changed".into(), summary.acl_changed.into());
    data.insert("ephemerals_kept".into(), summary.ephemerals_kept.into());
    data.insert("compared_in_core".into(), summary.compared_in_core.into());
    data.insert(
        "elapsed_ms".into(),
        Value::from(started.elapsed().as_millis() as u64),
    );
    json(
        StatusCode::OK,
        super::commands::response(COMMAND, None, data),
    )
}

/// An error answer, counted as Java counts its restore errors.
fn failed(state: &AdminState, status: StatusCode, error: &str) -> Response {
    tracing::warn!(%error, "restore command failed");
    if status.is_server_error() {
        state.metrics.add(Counter::RestoreErrorCount, 1);
    }
    bare(status, COMMAND, Some(error))
}

/// The image to restore and a description of where it came from.
async fn image(
    state: &AdminState,
    query: &BTreeMap<String, String>,
    body: Body,
) -> Result<(DataTree, String), (StatusCode, String)> {
    let latest = query
        .get("latest")
        .is_some_and(|v| v.is_empty() || v == "true");
    let point = RestorePoint::parse(
        latest,
        query.get("zxid").map(String::as_str),
        query.get("time").map(String::as_str),
    )
    .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
    match (point, bytes.is_empty()) {
        (Some(point), true) => from_archive(state, point).await,
        (None, false) => {
            let size = bytes.len();
            let tree = tokio::task::spawn_blocking(move || {
                let stream = crate::storage::snapshot::stream_of_bytes(&bytes)
                    .map_err(|e| format!("the body is not a snapshot: {e}"))?;
                restore::tree_from_stream(&stream, "the body").map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            // Java answers a stream it cannot read with 500.
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
            Ok((tree, format!("snapshot in the request ({size} bytes)")))
        }
        (Some(_), false) => Err((
            StatusCode::BAD_REQUEST,
            "send either a snapshot in the body or zxid, time or latest, not both".into(),
        )),
        (None, true) => Err((
            StatusCode::BAD_REQUEST,
            "nothing to restore: send a snapshot in the body, or one of zxid, time or latest=true to restore from the backup archive".into(),
        )),
    }
}

/// The state of the backup archive at `point`.
async fn from_archive(
    state: &AdminState,
    point: RestorePoint,
) -> Result<(DataTree, String), (StatusCode, String)> {
    let Some(archiver) = &state.archiver else {
        return Err((
            StatusCode::BAD_REQUEST,
            "this server has no backup archive (backup.target)".into(),
        ));
    };
    let archive = archiver.archive();
    let unavailable =
        |e: crate::backup::BackupError| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
    let catalog = archive.catalog().await.map_err(unavailable)?;
    let plan = restore::plan(archive, &catalog, point)
        .await
        .map_err(unavailable)?;
    let mut report = RestoreReport::default();
    let tree = restore::build_tree(archive, &plan.plan, &mut report, &mut |_| {})
        .await
        .map_err(unavailable)?;
    Ok((
        tree,
        format!("{} at {:#x}", archive.target(), plan.plan.zxid),
    ))
}

/// Waits until `last_zxid` commits. A later epoch seen first means the leader changed with
/// the restore in flight: whether its txns survived cannot be told from here.
async fn wait_committed(state: &AdminState, last_zxid: i64) -> Result<(), String> {
    if last_zxid == 0 {
        return Ok(());
    }
    let deadline = Instant::now() + COMMIT_WAIT;
    loop {
        match state.link.committed().await {
            Some(zxid) if zxid >= last_zxid && zxid >> 32 == last_zxid >> 32 => return Ok(()),
            Some(zxid) if zxid >> 32 > last_zxid >> 32 => {
                return Err(format!(
                    "the leader changed before {last_zxid:#x} was seen committed (now at {zxid:#x}); read the tree to see whether the restore took effect"
                ))
            }
            None => {
                return Err(format!(
                    "this server stopped serving before {last_zxid:#x} was seen committed; read the tree to see whether the restore took effect"
                ))
            }
            Some(_) if Instant::now() > deadline => {
                return Err(format!(
                    "{last_zxid:#x} was not committed within {} s",
                    COMMIT_WAIT.as_secs()
                ))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
