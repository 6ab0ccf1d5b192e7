//! Prep (Java's PrepRequestProcessor): validates a write against the tree of every txn
//! proposed so far, checks ACLs and quotas, and builds its txn, or the error an ErrorTxn logs.

use super::*;

/// PrepRequestProcessor over the committed tree and the changes of the txns in flight (with
/// a multi's earlier ops, for a multi).
pub(super) struct Prep<'a> {
    /// The committed tree. Java checks quotas against it alone.
    pub(super) tree: &'a DataTree,
    /// What the txns in flight change.
    pub(super) outstanding: &'a Outstanding,
    pub(super) config: &'a CoreConfig,
    /// Where the request (or this multi sub-op) sent nulls our records cannot hold.
    pub(super) nulls: &'a Nulls,
}

impl Prep<'_> {
    pub(super) fn check_acl(&self, c: &Conn, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        if self.config.skip_acl {
            return Ok(());
        }
        self.config.providers.check(acl, perm, &c.auth_ids)
    }

    /// `checkQuota` of a create (`count_diff` 1) or setData (0) replacing `last` by `data`.
    pub(super) fn check_quota(
        &self,
        path: &str,
        last: Option<&Bytes>,
        data: Option<&Bytes>,
        count_diff: i64,
    ) -> Result<(), ErrorCode> {
        if !self.config.enforce_quota {
            return Ok(());
        }
        let len = |d: Option<&Bytes>| d.map_or(0, |d| d.len() as i64);
        self.tree
            .check_quota(path, len(data) - len(last), count_diff)
    }

    /// The node at a path (`""` is the root), or NONODE.
    pub(super) fn record(&self, path: &str) -> Result<NodeRef<'_>, ErrorCode> {
        self.outstanding
            .node(self.tree, path)
            .ok_or(ErrorCode::NoNode)
    }

    /// A node's ACL.
    fn acl(&self, node: NodeRef<'_>) -> Vec<Acl> {
        Outstanding::acl(self.tree, node)
    }

    pub(super) fn is_session_ephemeral(&self, owner: i64) -> bool {
        matches!(
            OwnerKind::of(owner, self.config.extended_types),
            OwnerKind::Ephemeral(_)
        )
    }

    /// One write: its txn, or the error to log as an ErrorTxn. The order of the checks is
    /// Java's, since it decides which error a client sees.
    pub(super) fn prep(&self, c: &Conn, body: &RequestBody) -> PrepResult {
        match body {
            RequestBody::Create(r) | RequestBody::Create2(r) | RequestBody::CreateContainer(r) => {
                self.create(
                    c,
                    body.op(),
                    &r.path,
                    r.data.clone(),
                    acl_list(&r.acl),
                    r.flags,
                    -1,
                )
            }
            RequestBody::CreateTtl(r) => self.create(
                c,
                OpCode::CreateTtl,
                &r.path,
                r.data.clone(),
                acl_list(&r.acl),
                r.flags,
                r.ttl,
            ),
            RequestBody::Delete(r) => {
                let parent_path = parent_of_deletable(&r.path)?;
                let parent = self.record(&parent_path)?;
                // 3.8 checks the parent's ACL before looking the node up.
                self.check_acl(c, &self.acl(parent), perms::DELETE)?;
                let node = self.record(&r.path)?;
                check_version(node.stat().version, r.version)?;
                if node.child_count() != 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                Ok(Txn::Delete(DeleteTxn {
                    path: r.path.clone(),
                }))
            }
            RequestBody::DeleteContainer(path) => {
                let parent_path = parent_of_deletable(path)?;
                self.record(&parent_path)?;
                let node = self.record(path)?;
                if node.child_count() != 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                if self.is_session_ephemeral(node.stat().ephemeral_owner) {
                    return Err(ErrorCode::BadVersion);
                }
                Ok(Txn::Delete(DeleteTxn { path: path.clone() }))
            }
            RequestBody::SetData(r) => {
                validate(&r.path)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.acl(node), perms::WRITE)?;
                self.check_quota(&r.path, node.data(), r.data.as_ref(), 0)?;
                let version = check_version(node.stat().version, r.version)?;
                Ok(Txn::SetData(SetDataTxn {
                    path: r.path.clone(),
                    data: r.data.clone(),
                    version,
                }))
            }
            RequestBody::SetAcl(r) => {
                validate(&r.path)?;
                let acl =
                    self.nulls
                        .fix_up(acl_list(&r.acl), &c.auth_ids, &self.config.providers)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.acl(node), perms::ADMIN)?;
                let version = check_version(node.stat().aversion, r.version)?;
                Ok(Txn::SetAcl(SetAclTxn {
                    path: r.path.clone(),
                    acl,
                    version,
                }))
            }
            RequestBody::Check(r) => {
                validate(&r.path)?;
                let node = self.record(&r.path)?;
                self.check_acl(c, &self.acl(node), perms::READ)?;
                let version = check_version(node.stat().version, r.version)?;
                Ok(Txn::CheckVersion(CheckVersionTxn {
                    path: r.path.clone(),
                    version,
                }))
            }
            RequestBody::Reconfig(_) => Err(ErrorCode::ReconfigDisabled),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn create(
        &self,
        c: &Conn,
        op: OpCode,
        path: &str,
        data: Option<Bytes>,
        acl_list: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> PrepResult {
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        // validateCreateRequest: TTL modes need extended types and a TTL in range.
        if mode.is_ttl() && !self.config.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        // EphemeralType.validateTTL: a TTL mode needs 1..=max; any other mode must not carry
        // one (createTTL sends a ttl, the other creates -1).
        if mode.is_ttl() && !(1..=MAX_TTL_MS).contains(&ttl) || !mode.is_ttl() && ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        // validatePathForCreate: only the slash and NUL here; the full check comes later.
        self.nulls.path_read_by(ErrorCode::MarshallingError)?;
        let Some(slash) = path.rfind('/') else {
            return Err(ErrorCode::BadArguments);
        };
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = &path[..slash];
        let acl_list = self
            .nulls
            .fix_up(acl_list, &c.auth_ids, &self.config.providers)?;
        let parent_node = self.record(parent_path)?;
        self.check_acl(c, &self.acl(parent_node), perms::CREATE)?;
        let parent_cversion = parent_node.stat().cversion;
        let path = if mode.is_sequential() {
            sequential_name(path, parent_cversion)
        } else {
            path.to_owned()
        };
        validate(&path)?;
        if self.record(&path).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        if self.is_session_ephemeral(parent_node.stat().ephemeral_owner) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        self.check_quota(&path, None, data.as_ref(), 1)?;
        let parent_c_version = parent_cversion + 1;
        Ok(match op {
            OpCode::CreateContainer => Txn::CreateContainer(CreateContainerTxn {
                path,
                data,
                acl: acl_list,
                parent_c_version,
            }),
            OpCode::CreateTtl => Txn::CreateTtl(CreateTtlTxn {
                path,
                data,
                acl: acl_list,
                parent_c_version,
                ttl,
            }),
            _ => Txn::Create(CreateTxn {
                path,
                data,
                acl: acl_list,
                ephemeral: mode.is_ephemeral(),
                parent_c_version,
            }),
        })
    }

    /// A multi: each op is prepped against the changes of the ops before it too (a scratch
    /// copy of the records in flight); after the first failure the rest become RUNTIMEINCONSISTENCY errors, and the
    /// apply stage then applies nothing. MARSHALLINGERROR from an op is what Java answers when
    /// prep throws, and fails the whole request instead.
    pub(super) fn multi(&self, c: &Conn, multi: &MultiRequest, zxid: i64) -> PrepResult {
        let mut scratch = self.outstanding.clone();
        let mut txns = Vec::with_capacity(multi.ops.len());
        let mut failed = false;
        for (index, op) in multi.ops.iter().enumerate() {
            if failed {
                txns.push(error_sub(ErrorCode::RuntimeInconsistency));
                continue;
            }
            match self.sub_op(c, op, index, zxid, &mut scratch) {
                Ok(sub) => txns.push(sub),
                Err(ErrorCode::MarshallingError) => return Err(ErrorCode::MarshallingError),
                Err(code) => {
                    failed = true;
                    txns.push(error_sub(code));
                }
            }
        }
        Ok(Txn::Multi(MultiTxn { txns }))
    }

    /// Sub-op `index` of a multi of `zxid`, prepped against `scratch` (not this view's
    /// records) and recorded into it: its sub-txn. The online restore builds its many multis
    /// on one scratch this way, without a copy of the records in flight per multi.
    pub(super) fn sub_op(
        &self,
        c: &Conn,
        op: &MultiOp,
        index: usize,
        zxid: i64,
        scratch: &mut Outstanding,
    ) -> Result<SubTxn, ErrorCode> {
        let nulls = self.nulls.sub_op(index);
        let view = Prep {
            tree: self.tree,
            outstanding: scratch,
            config: self.config,
            nulls: &nulls,
        };
        let txn = view.prep(c, &multi_op_body(op))?;
        // create2 sub-ops are logged as plain creates, as Java re-parses them.
        let sub_type = match &txn {
            Txn::Create(_) => OpCode::Create,
            Txn::CreateContainer(_) => OpCode::CreateContainer,
            Txn::CreateTtl(_) => OpCode::CreateTtl,
            Txn::Delete(_) => OpCode::Delete,
            Txn::SetData(_) => OpCode::SetData,
            Txn::CheckVersion(_) => OpCode::Check,
            _ => OpCode::Error,
        };
        let header = TxnHeader {
            client_id: c.session_id,
            cxid: 0,
            zxid,
            time: 0,
            r#type: sub_type,
        };
        scratch.propose(self.tree, &header, &txn);
        let mut data = Vec::new();
        txn.write(&mut data);
        Ok(SubTxn {
            r#type: sub_type,
            data: data.into(),
        })
    }
}

/// Java's getParentPathAndValidate: a `/`, no NUL, and not one of the special paths.
pub(super) fn parent_of_deletable(path: &str) -> Result<String, ErrorCode> {
    let Some(slash) = path.rfind('/') else {
        return Err(ErrorCode::BadArguments);
    };
    if path.contains('\0')
        || matches!(
            path,
            "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
        )
    {
        return Err(ErrorCode::BadArguments);
    }
    Ok(path[..slash].to_owned())
}

pub(super) fn multi_op_body(op: &MultiOp) -> RequestBody {
    match op.clone() {
        MultiOp::Create(r) => RequestBody::Create(r),
        MultiOp::Create2(r) => RequestBody::Create(r),
        MultiOp::CreateContainer(r) => RequestBody::CreateContainer(r),
        MultiOp::CreateTtl(r) => RequestBody::CreateTtl(r),
        MultiOp::Delete(r) => RequestBody::Delete(r),
        MultiOp::SetData(r) => RequestBody::SetData(r),
        MultiOp::Check(r) => RequestBody::Check(r),
        MultiOp::GetData(r) => RequestBody::GetData(r),
        MultiOp::GetChildren(r) => RequestBody::GetChildren(r),
    }
}

pub(super) fn error_sub(code: ErrorCode) -> SubTxn {
    SubTxn {
        r#type: OpCode::Error,
        data: ErrorTxn { err: code.code() }.to_jute_bytes().into(),
    }
}

pub(super) fn validate(path: &str) -> Result<(), ErrorCode> {
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

pub(super) fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// A request's ACL list; Java's null list is refused like an empty one (INVALIDACL).
pub(super) fn acl_list(acl: &Option<Vec<Acl>>) -> &[Acl] {
    acl.as_deref().unwrap_or_default()
}

/// A request that failed in prep: the code, logged as an ErrorTxn.
pub(super) type PrepResult = Result<Txn, ErrorCode>;
