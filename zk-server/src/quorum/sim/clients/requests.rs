//! What a client sends, what the leader makes of it, and what a read returns.

use std::sync::Arc;

use bytes::Bytes;
use zk_proto::jute::Jute;
use zk_proto::proto::{CheckVersionRequest, SetDataRequest, SyncRequest};
use zk_proto::quorum::LearnerRequest;
use zk_proto::txn::{CheckVersionTxn, MultiTxn, SetDataTxn, SubTxn, Txn, TxnEntry};
use zk_proto::OpCode;

use super::super::linearizable::Value;
use super::key_path;

/// The request a client sends for an op on `key` (`value`: a write; else a check, or a
/// sync with `sync`).
pub(super) fn request(
    session_id: i64,
    cxid: i32,
    key: usize,
    value: Option<Value>,
    sync: bool,
) -> LearnerRequest {
    let path = key_path(key);
    let mut body = Vec::new();
    let r#type = match value {
        None if sync => {
            SyncRequest { path }.write(&mut body);
            OpCode::Sync
        }
        Some(v) => {
            SetDataRequest {
                path,
                data: Some(Bytes::from(v.to_string())),
                version: -1,
            }
            .write(&mut body);
            OpCode::SetData
        }
        None => {
            CheckVersionRequest { path, version: -1 }.write(&mut body);
            OpCode::Check
        }
    };
    LearnerRequest {
        session_id,
        cxid,
        r#type,
        body: body.into(),
    }
}

/// The txn the leader makes of a client request (PrepRequestProcessor's part): a SetData, or
/// a multi of one check. `None`: not a request of the sim's clients.
pub(super) fn request_txn(request: &LearnerRequest) -> Option<(OpCode, Txn)> {
    let mut body = &request.body[..];
    match request.r#type {
        OpCode::SetData => {
            let r = SetDataRequest::read(&mut body).ok()?;
            let txn = SetDataTxn {
                path: r.path,
                data: r.data,
                version: 1,
            };
            Some((OpCode::SetData, Txn::SetData(txn)))
        }
        OpCode::Check => {
            let r = CheckVersionRequest::read(&mut body).ok()?;
            let mut data = Vec::new();
            CheckVersionTxn {
                path: r.path,
                version: r.version,
            }
            .write(&mut data);
            let sub = SubTxn {
                r#type: OpCode::Check,
                data: data.into(),
            };
            Some((OpCode::Multi, Txn::Multi(MultiTxn { txns: vec![sub] })))
        }
        _ => None,
    }
}

/// The value of `key` in a database: the data of its last setData.
pub(super) fn value_in(tree: &[Arc<TxnEntry>], key: usize) -> Option<Value> {
    let path = key_path(key);
    tree.iter().rev().find_map(|e| match &e.txn {
        Txn::SetData(t) if t.path == path => {
            let data = t.data.as_deref().unwrap_or_default();
            Some(std::str::from_utf8(data).ok()?.parse().ok()?)
        }
        _ => None,
    })
}
