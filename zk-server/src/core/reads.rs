//! Reads: answered from the committed tree, watches registered as they are answered.

use super::*;

impl ServerCore {
    pub(super) fn check_acl(&self, c: &Conn, acl: &[Acl], perm: i32) -> Result<(), ErrorCode> {
        Prep {
            tree: &self.tree,
            outstanding: &self.outstanding,
            config: &self.config,
            nulls: Nulls::NONE,
        }
        .check_acl(c, acl, perm)
    }

    pub(super) fn read(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        body: RequestBody,
        out: &mut Vec<Action>,
    ) {
        let last = self.last_zxid;
        if let Some(result) = self.virtual_read(conn, &body) {
            match result {
                Ok(body) => self.reply(out, conn, xid, last, ErrorCode::Ok, body),
                Err(code) => self.reply(out, conn, xid, last, code, None),
            }
            return;
        }
        let result: Result<Option<ResponseBody>, ErrorCode> = match body {
            RequestBody::Exists(r) => {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                match self.tree.node(&r.path) {
                    Some(n) => {
                        self.local_metrics.read(&r.path, 0);
                        Ok(Some(ResponseBody::Exists(
                            zk_proto::proto::ExistsResponse {
                                stat: self.listed_stat(&r.path, self.tree.client_stat(n)),
                            },
                        )))
                    }
                    None => Err(ErrorCode::NoNode),
                }
            }
            RequestBody::GetData(r) => self.get_data(c, &r.path).map(|(data, stat)| {
                if r.watch {
                    self.watches.add_data_watch(&r.path, conn);
                }
                Some(ResponseBody::GetData(GetDataResponse { data, stat }))
            }),
            RequestBody::GetChildren(r) => self.get_children(c, &r.path).map(|(children, _)| {
                if r.watch {
                    self.watches.add_child_watch(&r.path, conn);
                }
                Some(ResponseBody::GetChildren(GetChildrenResponse { children }))
            }),
            RequestBody::GetChildren2(r) => {
                self.get_children(c, &r.path).map(|(children, stat)| {
                    if r.watch {
                        self.watches.add_child_watch(&r.path, conn);
                    }
                    Some(ResponseBody::GetChildren2(GetChildren2Response {
                        children,
                        stat,
                    }))
                })
            }
            RequestBody::GetAcl(r) => match self.tree.node(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) => {
                    let node_acl = self.tree.acl(n);
                    let stat = self.tree.client_stat(n);
                    match self.check_acl(c, &node_acl, perms::READ | perms::ADMIN) {
                        Err(e) => Err(e),
                        Ok(()) => {
                            let admin = self.check_acl(c, &node_acl, perms::ADMIN).is_ok();
                            Ok(Some(ResponseBody::GetAcl(GetAclResponse {
                                acl: acl::mask_for_reader(&node_acl, admin),
                                stat,
                            })))
                        }
                    }
                }
            },
            RequestBody::GetAllChildrenNumber(r) => match self.tree.node(&r.path) {
                None => Err(ErrorCode::NoNode),
                Some(n) => self.check_acl(c, &self.tree.acl(n), perms::READ).map(|()| {
                    Some(ResponseBody::GetAllChildrenNumber(
                        GetAllChildrenNumberResponse {
                            total_number: match r.path.as_str() {
                                // Java counts the map keys starting with "" + "/": every
                                // node, the root's "/" key included.
                                "" => self.tree.node_count() as i32,
                                // Java answers from its map's size: every node but the root.
                                "/" => self.tree.node_count() as i32 - 1,
                                _ => n.descendant_count() as i32,
                            },
                        },
                    ))
                }),
            },
            RequestBody::GetEphemerals(r) => {
                let prefix = r.prefix_path.unwrap_or_default();
                let mut ephemerals = self.tree.ephemerals_copy(c.session_id);
                // Java trims the prefix only to see whether it names the root.
                if !(prefix.trim().is_empty() || prefix.trim() == "/") {
                    ephemerals.retain(|p| p.starts_with(&prefix));
                }
                Ok(Some(ResponseBody::GetEphemerals(GetEphemeralsResponse {
                    ephemerals,
                })))
            }
            RequestBody::WhoAmI => Ok(Some(ResponseBody::WhoAmI(WhoAmIResponse {
                client_info: acl::java_order(&c.auth_ids)
                    .into_iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: user_name(id),
                    })
                    .collect(),
            }))),
            RequestBody::Sync(r) => Ok(Some(ResponseBody::Sync(SyncResponse { path: r.path }))),
            RequestBody::MultiRead(multi) => {
                let results = multi
                    .ops
                    .iter()
                    .map(|op| match op {
                        MultiOp::GetData(r) => match self.get_data(c, &r.path) {
                            Ok((data, stat)) => {
                                MultiResult::GetData(GetDataResponse { data, stat })
                            }
                            Err(e) => MultiResult::Error(e),
                        },
                        MultiOp::GetChildren(r) => match self.get_children(c, &r.path) {
                            Ok((children, _)) => {
                                MultiResult::GetChildren(GetChildrenResponse { children })
                            }
                            Err(e) => MultiResult::Error(e),
                        },
                        _ => MultiResult::Error(ErrorCode::MarshallingError),
                    })
                    .collect();
                Ok(Some(ResponseBody::Multi(MultiResponse { results })))
            }
            RequestBody::SetWatches(r) => {
                self.set_watches(conn, &r.into(), out);
                Ok(None)
            }
            RequestBody::SetWatches2(r) => {
                self.set_watches(conn, &r, out);
                Ok(None)
            }
            RequestBody::AddWatch(r) => {
                let recursive = r.mode == AddWatchMode::PersistentRecursive;
                if !recursive && r.mode != AddWatchMode::Persistent {
                    // 3.8 fails to map an unknown mode: a marshalling error.
                    Err(ErrorCode::MarshallingError)
                } else {
                    self.watches.add_persistent_watch(&r.path, conn, recursive);
                    Ok(Some(ResponseBody::AddWatch(ErrorResponse {
                        err: ErrorCode::Ok,
                    })))
                }
            }
            // 3.8 knows watcher types 1..=3 only; others fail to decode there.
            RequestBody::CheckWatches(r) if !(1..=3).contains(&r.r#type.code()) => {
                Err(ErrorCode::MarshallingError)
            }
            RequestBody::RemoveWatches(r) if !(1..=3).contains(&r.r#type.code()) => {
                Err(ErrorCode::MarshallingError)
            }
            RequestBody::CheckWatches(r) => {
                if self.watches.contains(conn, &r.path, r.r#type) {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            RequestBody::RemoveWatches(r) => {
                if self.watches.remove(conn, &r.path, r.r#type) {
                    Ok(None)
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            _ => Err(ErrorCode::Unimplemented),
        };
        match result {
            Ok(body) => self.reply(out, conn, xid, last, ErrorCode::Ok, body),
            Err(code) => self.reply(out, conn, xid, last, code, None),
        }
    }

    /// Re-registers a reconnected client's watches; what it missed fires now (zxid -1, as
    /// these events come from no txn), before the reply.
    pub(super) fn set_watches(
        &mut self,
        conn: ConnId,
        request: &zk_proto::proto::SetWatches2,
        out: &mut Vec<Action>,
    ) {
        let tree = &self.tree;
        let events = self.watches.set_watches(conn, request, |p| {
            tree.node(p).map(|n| (n.stat.mzxid, n.stat.pzxid))
        });
        for e in events {
            self.send(out, conn, notification(-1, e));
        }
    }

    pub(super) fn get_data(
        &mut self,
        c: &Conn,
        path: &str,
    ) -> Result<(Option<Bytes>, Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(c, &self.tree.acl(n), perms::READ)?;
        let bytes = n.data.as_ref().map_or(0, |d| d.len());
        self.local_metrics.read(path, bytes);
        Ok((
            n.data.clone(),
            self.listed_stat(path, self.tree.client_stat(n)),
        ))
    }

    pub(super) fn get_children(
        &mut self,
        c: &Conn,
        path: &str,
    ) -> Result<(Vec<String>, Stat), ErrorCode> {
        let n = self.tree.node(path).ok_or(ErrorCode::NoNode)?;
        self.check_acl(c, &self.tree.acl(n), perms::READ)?;
        let mut children: Vec<String> = n.children().map(str::to_owned).collect();
        if path == "/zookeeper" && self.virtual_tree.listed {
            children.extend(["snapshots".to_owned(), "backups".to_owned()]);
        }
        let bytes = children.iter().map(String::len).sum();
        self.local_metrics.read(path, bytes);
        Ok((children, self.listed_stat(path, self.tree.client_stat(n))))
    }

    /// `/zookeeper`'s Stat counts the virtual folders it lists.
    pub(super) fn listed_stat(&self, path: &str, mut stat: Stat) -> Stat {
        if path == "/zookeeper" && self.virtual_tree.listed {
            stat.num_children += 2;
        }
        stat
    }
}

/// The user name `whoAmI` reports: digest ids without their hash, nothing for `super` (no
/// provider has that scheme), others as they are.
pub(super) fn user_name(id: &Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
        "super" => String::new(),
        _ => id.id.clone(),
    }
}
