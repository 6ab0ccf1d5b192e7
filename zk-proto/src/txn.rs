//! Transaction records (`org.apache.zookeeper.txn` in `zookeeper.jute`) and the "txn bytes" that
//! fill a txn-log record and a PROPOSAL packet.
//!
//! The txn bytes are a [`TxnHeader`], then the record its `type` selects (see [`Txn`]), then a
//! [`TxnDigest`] when at least 12 bytes remain. [`TxnEntry`] decodes and re-encodes all three, and
//! gives Java's bytes back unchanged.
//!
//! ```
//! use zk_proto::txn::{CreateSessionTxn, Txn, TxnEntry, TxnHeader};
//! use zk_proto::OpCode;
//! let entry = TxnEntry {
//!     header: TxnHeader { client_id: 7, cxid: 0, zxid: 1, time: 1_700_000_000_000, r#type: OpCode::CreateSession },
//!     txn: Txn::CreateSession(CreateSessionTxn { time_out: 30_000 }),
//!     digest: None,
//! };
//! let bytes = entry.to_bytes();
//! assert_eq!(bytes.len(), 32 + 4);
//! assert_eq!(TxnEntry::decode(&bytes).unwrap(), entry);
//! ```

use crate::data::Acl;
use crate::jute::{jute_record, DecodeError, Jute};
use crate::types::{ErrorCode, OpCode};
use bytes::{BufMut, Bytes};

/// The header of every transaction (32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnHeader {
    /// The session that issued the request (`clientId`).
    pub client_id: i64,
    /// The client's xid for the request.
    pub cxid: i32,
    /// The zxid the leader assigned.
    pub zxid: i64,
    /// The leader's wall clock when it prepared the txn, in ms since the epoch.
    pub time: i64,
    /// The txn type: the opcode of the request, or `Error` for a failed one.
    pub r#type: OpCode,
}

impl Jute for TxnHeader {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.client_id.write(out);
        self.cxid.write(out);
        self.zxid.write(out);
        self.time.write(out);
        self.r#type.write(out);
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(TxnHeader {
            client_id: i64::read(input)?,
            cxid: i32::read(input)?,
            zxid: i64::read(input)?,
            time: i64::read(input)?,
            r#type: OpCode::read(input)?,
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for TxnHeader {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        Ok(TxnHeader {
            client_id: u.arbitrary()?,
            cxid: u.arbitrary()?,
            zxid: u.arbitrary()?,
            time: u.arbitrary()?,
            r#type: crate::jute::Arb::arb(u)?,
        })
    }
}

#[cfg(test)]
mod txn_header_jute_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(TxnHeader);
}

jute_record! {
    /// `CreateSessionTxn`: the negotiated session timeout.
    pub struct CreateSessionTxn {
        /// Session timeout in ms.
        pub time_out: i32,
    }
}

jute_record! {
    /// `CloseSessionTxn` (3.6+): the ephemerals the session owned when the close was prepared.
    pub struct CloseSessionTxn {
        /// Paths to delete with the session.
        pub paths2_delete: Vec<String>,
    }
}

jute_record! {
    /// `CreateTxn`: a create (type 1) or create2 (type 15), ACLs already resolved.
    pub struct CreateTxn {
        /// The final path, sequence suffix included.
        pub path: String,
        /// The node data (null allowed).
        pub data: Option<Bytes>,
        /// The resolved ACL.
        pub acl: Vec<Acl>,
        /// Whether the node is ephemeral (owned by `TxnHeader::client_id`).
        pub ephemeral: bool,
        /// The parent's stored cversion after this create; -1 means "current + 1".
        pub parent_c_version: i32,
    }
}

jute_record! {
    /// `CreateTxnV0`: the pre-3.3 create record, without `parentCVersion`.
    pub struct CreateTxnV0 {
        /// The final path.
        pub path: String,
        /// The node data (null allowed).
        pub data: Option<Bytes>,
        /// The resolved ACL.
        pub acl: Vec<Acl>,
        /// Whether the node is ephemeral.
        pub ephemeral: bool,
    }
}

impl From<CreateTxnV0> for CreateTxn {
    /// The upgrade Java applies when reading a legacy create: `parentCVersion` becomes -1.
    fn from(v0: CreateTxnV0) -> Self {
        CreateTxn {
            path: v0.path,
            data: v0.data,
            acl: v0.acl,
            ephemeral: v0.ephemeral,
            parent_c_version: -1,
        }
    }
}

jute_record! {
    /// `CreateContainerTxn` (type 19).
    pub struct CreateContainerTxn {
        /// The container's path.
        pub path: String,
        /// The node data (null allowed).
        pub data: Option<Bytes>,
        /// The resolved ACL.
        pub acl: Vec<Acl>,
        /// The parent's stored cversion after this create.
        pub parent_c_version: i32,
    }
}

jute_record! {
    /// `CreateTTLTxn` (type 21).
    pub struct CreateTtlTxn {
        /// The final path.
        pub path: String,
        /// The node data (null allowed).
        pub data: Option<Bytes>,
        /// The resolved ACL.
        pub acl: Vec<Acl>,
        /// The parent's stored cversion after this create.
        pub parent_c_version: i32,
        /// Time to live in ms.
        pub ttl: i64,
    }
}

jute_record! {
    /// `DeleteTxn`: delete (type 2) or deleteContainer (type 20).
    pub struct DeleteTxn {
        /// The deleted path.
        pub path: String,
    }
}

jute_record! {
    /// `SetDataTxn`: setData (type 5) or reconfig (type 16).
    pub struct SetDataTxn {
        /// The node.
        pub path: String,
        /// The new data (null allowed).
        pub data: Option<Bytes>,
        /// The new data version (absolute, not an increment).
        pub version: i32,
    }
}

jute_record! {
    /// `SetACLTxn` (type 7).
    pub struct SetAclTxn {
        /// The node.
        pub path: String,
        /// The new, resolved ACL.
        pub acl: Vec<Acl>,
        /// The new ACL version (absolute).
        pub version: i32,
    }
}

jute_record! {
    /// `ErrorTxn` (type -1): a write that failed while being prepared.
    pub struct ErrorTxn {
        /// The error code (see [`ErrorTxn::code`]).
        pub err: i32,
    }
}

impl ErrorTxn {
    /// The error as an [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::from_code(self.err)
    }
}

jute_record! {
    /// `CheckVersionTxn` (type 13): a version check, valid only inside a multi.
    pub struct CheckVersionTxn {
        /// The checked node.
        pub path: String,
        /// The expected version.
        pub version: i32,
    }
}

jute_record! {
    /// `SetMaxChildrenTxn`: declared in `zookeeper.jute` but never logged by any server.
    pub struct SetMaxChildrenTxn {
        /// The node.
        pub path: String,
        /// The limit.
        pub max: i32,
    }
}

jute_record! {
    /// `TxnDigest`: the tree digest after the txn was applied (3.6+).
    pub struct TxnDigest {
        /// Digest algorithm version (2).
        pub version: i32,
        /// The digest of the whole tree.
        pub tree_digest: i64,
    }
}

/// One entry of a [`MultiTxn`] (`Txn` in `zookeeper.jute`): a type and the sub-record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubTxn {
    /// The sub-txn type (`Error` for the failed op and the ones after it).
    pub r#type: OpCode,
    /// The encoded sub-record.
    pub data: Bytes,
}

impl Jute for SubTxn {
    fn write<B: BufMut>(&self, out: &mut B) {
        self.r#type.write(out);
        self.data.write(out);
    }
    fn read(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(SubTxn {
            r#type: OpCode::read(input)?,
            data: Bytes::read(input)?,
        })
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for SubTxn {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        Ok(SubTxn {
            r#type: crate::jute::Arb::arb(u)?,
            data: crate::jute::Arb::arb(u)?,
        })
    }
}

#[cfg(test)]
mod sub_txn_jute_roundtrip {
    use super::*;
    crate::jute::roundtrip_property!(SubTxn);
}

impl SubTxn {
    /// A sub-txn holding the encoding of `txn` under `type`.
    pub fn new(r#type: OpCode, txn: &Txn) -> Self {
        let mut data = Vec::new();
        txn.write(&mut data);
        SubTxn {
            r#type,
            data: Bytes::from(data),
        }
    }

    /// Decodes the sub-record by its type, as `DataTree.processTxn` does for a multi: creates,
    /// deletes, setData, check and error are allowed; anything else is invalid. The record must
    /// use all of `data`.
    pub fn decode(&self) -> Result<Txn, DecodeError> {
        let what = "multi sub-txn";
        let mut input = &self.data[..];
        let txn = match self.r#type {
            OpCode::Create | OpCode::Create2 => Txn::Create(CreateTxn::read(&mut input)?),
            OpCode::CreateContainer => Txn::CreateContainer(CreateContainerTxn::read(&mut input)?),
            OpCode::CreateTtl => Txn::CreateTtl(CreateTtlTxn::read(&mut input)?),
            OpCode::Delete | OpCode::DeleteContainer => Txn::Delete(DeleteTxn::read(&mut input)?),
            OpCode::SetData => Txn::SetData(SetDataTxn::read(&mut input)?),
            OpCode::Check => Txn::CheckVersion(CheckVersionTxn::read(&mut input)?),
            OpCode::Error => Txn::Error(ErrorTxn::read(&mut input)?),
            other => {
                return Err(DecodeError::invalid(
                    what,
                    format!("type {} is not allowed in a multi", other.code()),
                ))
            }
        };
        if !input.is_empty() {
            return Err(DecodeError::invalid(
                what,
                format!("{} bytes left over", input.len()),
            ));
        }
        Ok(txn)
    }
}

jute_record! {
    /// `MultiTxn` (type 14): the sub-txns of a multi, sharing one zxid.
    pub struct MultiTxn {
        /// The sub-txns in request order.
        pub txns: Vec<SubTxn>,
    }
}

impl MultiTxn {
    /// Every sub-txn decoded by its type, paired with that type.
    pub fn decode_all(&self) -> Result<Vec<(OpCode, Txn)>, DecodeError> {
        self.txns
            .iter()
            .map(|sub| Ok((sub.r#type, sub.decode()?)))
            .collect()
    }

    /// Whether the multi failed (some sub-txn has type `Error`): replay then applies nothing.
    pub fn failed(&self) -> bool {
        self.txns.iter().any(|sub| sub.r#type == OpCode::Error)
    }
}

/// A transaction record, as selected by [`TxnHeader::type`](TxnHeader).
///
/// Several types share a record: create and create2 use [`CreateTxn`], delete and deleteContainer
/// use [`DeleteTxn`], setData and reconfig use [`SetDataTxn`]. The header keeps the exact type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// createSession (-10).
    CreateSession(CreateSessionTxn),
    /// closeSession (-11); `None` when the log has no record (before 3.6, or with
    /// `closeSessionTxn.enabled=false`).
    CloseSession(Option<CloseSessionTxn>),
    /// create (1) or create2 (15).
    Create(CreateTxn),
    /// A legacy create (1) without `parentCVersion`, read when [`CreateTxn`] runs out of bytes.
    CreateV0(CreateTxnV0),
    /// createContainer (19).
    CreateContainer(CreateContainerTxn),
    /// createTTL (21).
    CreateTtl(CreateTtlTxn),
    /// delete (2) or deleteContainer (20).
    Delete(DeleteTxn),
    /// setData (5) or reconfig (16).
    SetData(SetDataTxn),
    /// setACL (7).
    SetAcl(SetAclTxn),
    /// error (-1).
    Error(ErrorTxn),
    /// multi (14).
    Multi(MultiTxn),
    /// check (13); only valid inside a multi.
    CheckVersion(CheckVersionTxn),
}

impl Txn {
    /// Appends the record (nothing for a closeSession without one).
    pub fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            Txn::CreateSession(t) => t.write(out),
            Txn::CloseSession(Some(t)) => t.write(out),
            Txn::CloseSession(None) => {}
            Txn::Create(t) => t.write(out),
            Txn::CreateV0(t) => t.write(out),
            Txn::CreateContainer(t) => t.write(out),
            Txn::CreateTtl(t) => t.write(out),
            Txn::Delete(t) => t.write(out),
            Txn::SetData(t) => t.write(out),
            Txn::SetAcl(t) => t.write(out),
            Txn::Error(t) => t.write(out),
            Txn::Multi(t) => t.write(out),
            Txn::CheckVersion(t) => t.write(out),
        }
    }

    /// Decodes the top-level record of a txn of type `op` from the front of `input`, as Java's
    /// `SerializeUtils.deserializeTxn` does: a create that runs out of bytes is re-read as
    /// [`CreateTxnV0`], and a closeSession that runs out of bytes has no record. `input` must be
    /// the rest of a complete txn (a log record or a PROPOSAL), so running out of bytes elsewhere
    /// is [`DecodeError::Invalid`]. Types without a top-level record (check, reads, unknown
    /// numbers) are invalid: Java 3.8 fails with "Unsupported Txn" on them.
    pub fn read(op: OpCode, input: &mut &[u8]) -> Result<Txn, DecodeError> {
        let start = *input;
        let result = match op {
            OpCode::CreateSession => CreateSessionTxn::read(input).map(Txn::CreateSession),
            OpCode::CloseSession => match CloseSessionTxn::read(input) {
                Ok(t) => Ok(Txn::CloseSession(Some(t))),
                Err(DecodeError::Incomplete { .. }) => {
                    *input = start;
                    Ok(Txn::CloseSession(None))
                }
                Err(e) => Err(e),
            },
            OpCode::Create => match CreateTxn::read(input) {
                Ok(t) => Ok(Txn::Create(t)),
                Err(DecodeError::Incomplete { .. }) => {
                    *input = start;
                    CreateTxnV0::read(input).map(Txn::CreateV0)
                }
                Err(e) => Err(e),
            },
            OpCode::Create2 => CreateTxn::read(input).map(Txn::Create),
            OpCode::CreateContainer => CreateContainerTxn::read(input).map(Txn::CreateContainer),
            OpCode::CreateTtl => CreateTtlTxn::read(input).map(Txn::CreateTtl),
            OpCode::Delete | OpCode::DeleteContainer => DeleteTxn::read(input).map(Txn::Delete),
            OpCode::SetData | OpCode::Reconfig => SetDataTxn::read(input).map(Txn::SetData),
            OpCode::SetAcl => SetAclTxn::read(input).map(Txn::SetAcl),
            OpCode::Error => ErrorTxn::read(input).map(Txn::Error),
            OpCode::Multi => MultiTxn::read(input).map(Txn::Multi),
            other => {
                return Err(DecodeError::invalid(
                    "txn type",
                    format!("unsupported txn type {}", other.code()),
                ))
            }
        };
        result.map_err(|e| e.complete_input("txn record"))
    }

    /// The txn type Java uses for this record when there is a single choice (`Create` for
    /// [`Txn::Create`], `Delete` for [`Txn::Delete`], `SetData` for [`Txn::SetData`]).
    pub fn default_type(&self) -> OpCode {
        match self {
            Txn::CreateSession(_) => OpCode::CreateSession,
            Txn::CloseSession(_) => OpCode::CloseSession,
            Txn::Create(_) | Txn::CreateV0(_) => OpCode::Create,
            Txn::CreateContainer(_) => OpCode::CreateContainer,
            Txn::CreateTtl(_) => OpCode::CreateTtl,
            Txn::Delete(_) => OpCode::Delete,
            Txn::SetData(_) => OpCode::SetData,
            Txn::SetAcl(_) => OpCode::SetAcl,
            Txn::Error(_) => OpCode::Error,
            Txn::Multi(_) => OpCode::Multi,
            Txn::CheckVersion(_) => OpCode::Check,
        }
    }

    /// Whether a txn of type `op` may carry this record at the top level of a log record.
    pub fn matches_type(&self, op: OpCode) -> bool {
        match self {
            Txn::Create(_) => matches!(op, OpCode::Create | OpCode::Create2),
            Txn::Delete(_) => matches!(op, OpCode::Delete | OpCode::DeleteContainer),
            Txn::SetData(_) => matches!(op, OpCode::SetData | OpCode::Reconfig),
            Txn::CheckVersion(_) => false,
            other => other.default_type() == op,
        }
    }
}

/// The complete txn bytes of a log record or PROPOSAL: header, record, optional digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry {
    /// The header; its `type` selects the record.
    pub header: TxnHeader,
    /// The record.
    pub txn: Txn,
    /// The tree digest after the txn; absent for ErrorTxns and on servers without digests.
    pub digest: Option<TxnDigest>,
}

impl TxnEntry {
    /// Decodes complete txn bytes (STORAGE.md 3.2): the header, the record for its type, and a
    /// [`TxnDigest`] if at least 12 bytes remain. Bytes after that, or 1 to 11 stray bytes where
    /// a digest would be, are invalid.
    ///
    /// Ambiguities of the format itself: a legacy create or a record-less closeSession followed by
    /// a digest is read as Java would read it (a full record that swallows part of the digest),
    /// which then leaves stray bytes; Java's writers never produce those combinations.
    pub fn decode(bytes: &[u8]) -> Result<TxnEntry, DecodeError> {
        let mut input = bytes;
        let header = TxnHeader::read(&mut input).map_err(|e| e.complete_input("txn header"))?;
        let txn = Txn::read(header.r#type, &mut input)?;
        let digest = if input.len() >= 12 {
            Some(TxnDigest::read(&mut input)?)
        } else {
            None
        };
        if !input.is_empty() {
            return Err(DecodeError::invalid(
                "txn bytes",
                format!("{} bytes left over after the txn", input.len()),
            ));
        }
        Ok(TxnEntry {
            header,
            txn,
            digest,
        })
    }

    /// Appends the txn bytes.
    pub fn write<B: BufMut>(&self, out: &mut B) {
        self.header.write(out);
        self.txn.write(out);
        if let Some(digest) = &self.digest {
            digest.write(out);
        }
    }

    /// The txn bytes as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for Txn {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::jute::Arb;
        Ok(match u.int_in_range(0..=11)? {
            0 => Txn::CreateSession(Arb::arb(u)?),
            1 => Txn::CloseSession(Arb::arb(u)?),
            2 => Txn::Create(Arb::arb(u)?),
            3 => Txn::CreateV0(Arb::arb(u)?),
            4 => Txn::CreateContainer(Arb::arb(u)?),
            5 => Txn::CreateTtl(Arb::arb(u)?),
            6 => Txn::Delete(Arb::arb(u)?),
            7 => Txn::SetData(Arb::arb(u)?),
            8 => Txn::SetAcl(Arb::arb(u)?),
            9 => Txn::Error(Arb::arb(u)?),
            10 => Txn::Multi(Arb::arb(u)?),
            _ => Txn::CheckVersion(Arb::arb(u)?),
        })
    }
}

/// Builds entries that Java could have written: the header type fits the record, there is no
/// top-level check, and a legacy create or record-less closeSession has no digest.
#[cfg(any(test, feature = "arbitrary"))]
impl crate::jute::Arb for TxnEntry {
    fn arb(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<Self> {
        use crate::jute::Arb;
        let mut txn = Txn::arb(u)?;
        if let Txn::CheckVersion(_) = txn {
            txn = Txn::Delete(DeleteTxn::arb(u)?);
        }
        let choices: &[OpCode] = match &txn {
            Txn::Create(_) => &[OpCode::Create, OpCode::Create2],
            Txn::Delete(_) => &[OpCode::Delete, OpCode::DeleteContainer],
            Txn::SetData(_) => &[OpCode::SetData, OpCode::Reconfig],
            _ => &[],
        };
        let r#type = if choices.is_empty() {
            txn.default_type()
        } else {
            *u.choose(choices)?
        };
        let digest_allowed = !matches!(txn, Txn::CreateV0(_) | Txn::CloseSession(None));
        let digest = if digest_allowed { Arb::arb(u)? } else { None };
        Ok(TxnEntry {
            header: TxnHeader {
                r#type,
                ..TxnHeader::arb(u)?
            },
            txn,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Id;
    use crate::jute::Arb;

    fn header(r#type: OpCode) -> TxnHeader {
        TxnHeader {
            client_id: 0x0100_0081_6e3b_0000,
            cxid: 1,
            zxid: 2,
            time: 1_790_000_000_000,
            r#type,
        }
    }

    #[test]
    fn first_record_of_the_fixture_log_decodes() {
        // The 48 txn bytes of log.1's first record (STORAGE.md 3.1).
        let bytes = hex_bytes(
            "010000816e3b0000 00000000 0000000000000001 000001a20f2fcfa1 fffffff6 \
             00007530 00000002 0000000051c6d660",
        );
        let entry = TxnEntry::decode(&bytes).unwrap();
        assert_eq!(entry.header.r#type, OpCode::CreateSession);
        assert_eq!(entry.header.client_id, 0x0100_0081_6e3b_0000);
        assert_eq!(entry.header.zxid, 1);
        assert_eq!(
            entry.txn,
            Txn::CreateSession(CreateSessionTxn { time_out: 30000 })
        );
        assert_eq!(
            entry.digest,
            Some(TxnDigest {
                version: 2,
                tree_digest: 0x51c6_d660
            })
        );
        assert_eq!(entry.to_bytes(), bytes);
    }

    #[test]
    fn legacy_create_without_parent_cversion_is_read_as_v0() {
        let v0 = CreateTxnV0 {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
        };
        let entry = TxnEntry {
            header: header(OpCode::Create),
            txn: Txn::CreateV0(v0.clone()),
            digest: None,
        };
        let bytes = entry.to_bytes();
        let back = TxnEntry::decode(&bytes).unwrap();
        assert_eq!(back, entry);
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(CreateTxn::from(v0).parent_c_version, -1);
        // create2 has no legacy form.
        let mut as_create2 = bytes.clone();
        as_create2[28..32].copy_from_slice(&15i32.to_be_bytes());
        assert!(matches!(
            TxnEntry::decode(&as_create2),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn close_session_without_record_round_trips() {
        let entry = TxnEntry {
            header: header(OpCode::CloseSession),
            txn: Txn::CloseSession(None),
            digest: None,
        };
        let bytes = entry.to_bytes();
        assert_eq!(bytes.len(), 32);
        assert_eq!(TxnEntry::decode(&bytes).unwrap(), entry);
        let with_paths = TxnEntry {
            txn: Txn::CloseSession(Some(CloseSessionTxn {
                paths2_delete: vec!["/e".into()],
            })),
            digest: Some(TxnDigest {
                version: 2,
                tree_digest: -5,
            }),
            ..entry
        };
        assert_eq!(
            TxnEntry::decode(&with_paths.to_bytes()).unwrap(),
            with_paths
        );
    }

    #[test]
    fn top_level_check_and_unknown_types_are_errors() {
        let mut bytes = header(OpCode::Check).to_jute_bytes();
        CheckVersionTxn {
            path: "/a".into(),
            version: 1,
        }
        .write(&mut bytes);
        let err = TxnEntry::decode(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Invalid {
                    what: "txn type",
                    ..
                }
            ),
            "{err:?}"
        );
        let bytes = header(OpCode::Unknown(999)).to_jute_bytes();
        assert!(matches!(
            TxnEntry::decode(&bytes),
            Err(DecodeError::Invalid {
                what: "txn type",
                ..
            })
        ));
        assert!(matches!(
            TxnEntry::decode(&bytes[..10]),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn stray_bytes_after_the_record_are_invalid() {
        let mut bytes = TxnEntry {
            header: header(OpCode::Delete),
            txn: Txn::Delete(DeleteTxn { path: "/x".into() }),
            digest: None,
        }
        .to_bytes();
        bytes.extend_from_slice(&[0; 5]);
        assert!(matches!(
            TxnEntry::decode(&bytes),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn multi_sub_txns_decode_by_type() {
        let create = Txn::Create(CreateTxn {
            path: "/m1".into(),
            data: Some(Bytes::from_static(b"m1")),
            acl: vec![Acl::new(31, Id::anyone())],
            ephemeral: false,
            parent_c_version: 3,
        });
        let check = Txn::CheckVersion(CheckVersionTxn {
            path: "/m1".into(),
            version: 0,
        });
        let failed = Txn::Error(ErrorTxn { err: -101 });
        let multi = MultiTxn {
            txns: vec![
                SubTxn::new(OpCode::Create, &create),
                SubTxn::new(OpCode::Check, &check),
                SubTxn::new(OpCode::Error, &failed),
            ],
        };
        assert!(multi.failed());
        let decoded = multi.decode_all().unwrap();
        assert_eq!(
            decoded,
            vec![
                (OpCode::Create, create),
                (OpCode::Check, check),
                (OpCode::Error, failed)
            ]
        );
        let bad = SubTxn {
            r#type: OpCode::CreateSession,
            data: Bytes::from_static(&[0, 0, 0, 1]),
        };
        assert!(bad.decode().is_err());
    }

    #[test]
    fn types_match_records() {
        let del = Txn::Delete(DeleteTxn::default());
        assert!(del.matches_type(OpCode::DeleteContainer));
        assert!(!del.matches_type(OpCode::Create));
        assert!(!Txn::CheckVersion(CheckVersionTxn::default()).matches_type(OpCode::Check));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn entries_round_trip(seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut u = arbitrary::Unstructured::new(&seed);
            if let Ok(entry) = TxnEntry::arb(&mut u) {
                let bytes = entry.to_bytes();
                let back = TxnEntry::decode(&bytes);
                proptest::prop_assert_eq!(back, Ok(entry));
            }
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Ok(entry) = TxnEntry::decode(&bytes) {
                if let Txn::Multi(m) = &entry.txn {
                    let _ = m.decode_all();
                }
            }
        }
    }

    pub(crate) fn hex_bytes(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }
}
