//! `POST /backup/import`: a subtree exported by `zk-backup export` written into this server.
//!
//! Nodes that are missing are created (with their data and ACL; containers as containers);
//! nodes that exist with the same data and ACL are left alone; the others are conflicts,
//! reported with both versions, and overwritten (setData at the version found) only with
//! `?force=true`. Ephemeral and TTL nodes are skipped and listed. `?dry_run=true` writes
//! nothing. The writes go through the client port as one session of the request's digest
//! identity, so ACLs, quotas, the log and the ensemble treat them as any client's; the
//! identity needs ALL on `/`, as for `snapshot`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use serde_json::json;
use std::collections::BTreeMap;

use super::browse::access::digest_credentials;
use super::browse::write::{run_many, Outcome, WriteOp};
use super::listener::Transport;
use super::AdminState;
use crate::backup::export::{Export, ExportedNode};
use crate::tree::DataTree;
use zk_proto::data::{Acl, Id};
use zk_proto::CreateMode;

type Shared = std::sync::Arc<AdminState>;

/// The largest export file accepted.
pub const MAX_EXPORT_BYTES: usize = 256 << 20;

/// What happens to one node.
enum Step {
    Create(WriteOp),
    Same,
    Conflict {
        exported_version: i32,
        current_version: i32,
        data_differs: bool,
        acl_differs: bool,
        /// The exported data, which `force` writes.
        data: Vec<u8>,
    },
    Skip(&'static str),
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn decode_data(node: &ExportedNode) -> Result<Option<Vec<u8>>, String> {
    node.data
        .as_ref()
        .map(|d| base64::engine::general_purpose::STANDARD.decode(d))
        .transpose()
        .map_err(|e| format!("{}: bad base64 data: {e}", node.path))
}

fn acl_of(node: &ExportedNode) -> Vec<Acl> {
    node.acl
        .iter()
        .map(|(perms, scheme, id)| Acl::new(*perms, Id::new(scheme.as_str(), id.as_str())))
        .collect()
}

/// What to do with each node of `export` in `tree`.
fn plan(tree: &DataTree, export: &Export) -> Result<Vec<(String, Step)>, String> {
    let mut steps = Vec::with_capacity(export.nodes.len());
    for node in &export.nodes {
        let data = decode_data(node)?;
        let acl = acl_of(node);
        let step = if node.kind == "ephemeral" {
            Step::Skip("ephemeral: it belongs to a session")
        } else if node.kind == "ttl" {
            Step::Skip("TTL node: not imported yet")
        } else if node.kind != "persistent" && node.kind != "container" {
            return Err(format!("{}: unknown kind {:?}", node.path, node.kind));
        } else {
            match tree.node(&node.path) {
                Some(current) => {
                    let data_differs = current.data.as_deref() != data.as_deref();
                    let acl_differs = tree.acl(current) != acl;
                    if data_differs || acl_differs {
                        Step::Conflict {
                            exported_version: node.stat.version,
                            current_version: current.stat.version,
                            data_differs,
                            acl_differs,
                            data: data.unwrap_or_default(),
                        }
                    } else {
                        Step::Same
                    }
                }
                None => Step::Create(WriteOp::Create {
                    path: node.path.clone(),
                    data: data.unwrap_or_default().into(),
                    acl,
                    mode: if node.kind == "container" {
                        CreateMode::Container
                    } else {
                        CreateMode::Persistent
                    },
                }),
            }
        };
        steps.push((node.path.clone(), step));
    }
    Ok(steps)
}

/// The handler.
pub async fn import(
    axum::extract::State(state): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
    Extension(transport): Extension<Transport>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let flag = |name: &str| {
        query
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let (force, dry_run) = (flag("force"), flag("dry_run"));
    let Some(user_password) = digest_credentials(&headers).map(str::to_owned) else {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "an Authorization: digest user:password header is needed (the writes are made as that identity)"}),
        );
    };
    let ids = match super::auth::identify(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        transport.peer,
        &transport.certificate_ids,
        state.super_digest.as_deref(),
    ) {
        Ok(ids) => ids,
        Err(r) => return answer(r.status(), json!({"error": r.message()})),
    };
    let Some((zxid, tree)) = state.link.tree().await else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": crate::admin::NOT_SERVING}),
        );
    };
    let root_acl = tree.acl(tree.node("/").expect("every tree has a root"));
    if let Err(r) = super::auth::authorize(&root_acl, zk_proto::perms::ALL, &ids) {
        return answer(r.status(), json!({"error": r.message()}));
    }
    let export: Export = match serde_json::from_slice(&body) {
        Ok(export) => export,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("not an export file: {e}")}),
            )
        }
    };
    if export.format != crate::backup::export::FORMAT {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("unknown export format {:?}", export.format)}),
        );
    }
    let steps = match plan(&tree, &export) {
        Ok(steps) => steps,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({"error": e})),
    };
    let mut ops = Vec::new();
    let mut report_steps: Vec<(String, &Step)> = Vec::new();
    for (path, step) in &steps {
        match step {
            Step::Create(op) => ops.push((path.clone(), op.clone())),
            Step::Conflict {
                data_differs: true,
                current_version,
                data,
                ..
            } if force => {
                ops.push((
                    path.clone(),
                    WriteOp::SetData {
                        path: path.clone(),
                        data: data.clone().into(),
                        version: *current_version,
                    },
                ));
            }
            _ => {}
        }
        report_steps.push((path.clone(), step));
    }
    let outcomes: Vec<Outcome> = if dry_run || ops.is_empty() {
        Vec::new()
    } else {
        let client = state.client_addr.ok_or("no plain client port");
        match client {
            Ok(addr) => {
                let write_ops: Vec<WriteOp> = ops.iter().map(|(_, op)| op.clone()).collect();
                run_many(addr, &user_password, &write_ops).await
            }
            Err(e) => return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e})),
        }
    };
    let mut written: BTreeMap<&str, &Outcome> = BTreeMap::new();
    for ((path, _), outcome) in ops.iter().zip(&outcomes) {
        written.insert(path.as_str(), outcome);
    }
    let (mut created, mut overwritten, mut same, mut conflicts, mut skipped, mut failed) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (path, step) in report_steps {
        let outcome = written.get(path.as_str());
        match (step, outcome) {
            (_, Some(Outcome::Refused(code))) => {
                failed.push(json!({"path": path, "error": code.name()}))
            }
            (_, Some(Outcome::Failed(e))) => failed.push(json!({"path": path, "error": e})),
            (Step::Create(_), _) => created.push(json!(path)),
            (Step::Same, _) => same.push(json!(path)),
            (Step::Skip(why), _) => skipped.push(json!({"path": path, "why": why})),
            (
                Step::Conflict {
                    exported_version,
                    current_version,
                    data_differs,
                    acl_differs,
                    ..
                },
                outcome,
            ) => {
                let entry = json!({
                    "path": path,
                    "exported_version": exported_version,
                    "current_version": current_version,
                    "data_differs": data_differs,
                    "acl_differs": acl_differs,
                });
                if outcome.is_some() || (force && dry_run && *data_differs) {
                    overwritten.push(entry);
                } else {
                    conflicts.push(entry);
                }
            }
        }
    }
    tracing::info!(
        user = super::browse::access::user_of(&user_password),
        root = %export.root, created = created.len(), overwritten = overwritten.len(),
        conflicts = conflicts.len(), dry_run, "subtree import"
    );
    answer(
        StatusCode::OK,
        json!({
            "root": export.root,
            "exported_zxid": export.zxid,
            "server_zxid": format!("{zxid:#x}"),
            "dry_run": dry_run,
            "force": force,
            "created": created,
            "overwritten": overwritten,
            "same": same,
            "conflicts": conflicts,
            "skipped": skipped,
            "failed": failed,
        }),
    )
}
