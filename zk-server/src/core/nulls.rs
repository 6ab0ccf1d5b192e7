//! Requests with nulls where our records need values, answered as Java 3.8 answers them.
//!
//! Java's jute reads a null (-1) wherever a ustring, buffer or vector stands, and the server
//! goes on with the null until something uses it: a check that refuses it, a
//! NullPointerException (MARSHALLINGERROR, with the zxid prep had already taken for a write, none
//! for a read), or nothing at all. zk-proto's records hold a null only where one is legitimate,
//! so such a request fails [`RequestBody::decode`]; [`RequestBody::decode_nulls`] reads it with
//! the nulls as empty values and their places, and this module answers from both.
//!
//! What Java does with each null, in the order its code meets them (3.8, checked live by the
//! `null_fields` interop test):
//!
//! | request | null | Java |
//! |---|---|---|
//! | create, create2, createContainer, createTTL | path | flags and TTL checked first, then `lastIndexOf` throws: MARSHALLINGERROR, zxid |
//! | same, and setACL | an ACL entry's scheme or id | in `fixupACL`, see [`acl::fix_up_with_nulls`] |
//! | delete | path | `lastIndexOf` throws first: MARSHALLINGERROR, zxid |
//! | setData, setACL, check (top level) | path | `validatePath` first: BADARGUMENTS, zxid |
//! | multi | any sub-op's path | `getPendingChanges` throws before the header is set: MARSHALLINGERROR, no txn |
//! | multi | an ACL field of a sub-op | in that sub-op's prep; a throw fails the whole multi: MARSHALLINGERROR, zxid |
//! | exists, getData, getChildren(2), getACL, getAllChildrenNumber, checkWatches, multiRead | path | the lookup throws: MARSHALLINGERROR |
//! | removeWatches | path | nothing watches a null path: NOWATCHER (after the type check) |
//! | sync | path | OK, the null path echoed |
//! | addWatch | path | OK (after the mode check); the watch can never fire |
//! | setWatches, setWatches2 | a list, or an entry of the data, exist or child list | the lists are walked in order; the null throws: what came before it stands (watches set, events sent), MARSHALLINGERROR |
//! | setWatches2 | an entry of a persistent list | OK; the watch can never fire |
//! | auth | scheme, or data | no provider, or the provider throws: AUTHFAILED, connection closed |
//!
//! Not reproduced, because nothing in zk-rs can stand for it: the watches Java registers on a
//! null path (addWatch, persistent setWatches2 entries) never fire but show in the watch
//! four-letter words, and a removeWatches with a null path would remove them; and the zxid
//! Java's multi takes from its counter before throwing in `getPendingChanges` is never logged
//! (its next txn skips one), while zk-rs's log recovery rightly treats a zxid gap as a lost
//! txn.

use zk_proto::data::{Acl, Id};
use zk_proto::jute::{FieldPath, FieldStep};
use zk_proto::message::{RequestBody, ResponseBody};
use zk_proto::proto::{AddWatchRequest, ErrorResponse, SetWatches2};
use zk_proto::{AddWatchMode, ErrorCode, Jute};

use super::{last_op_code, Action, Conn, ServerCore};
use crate::acl::{self, EntryNulls};
use crate::watch::ConnId;

/// The places where a request (or one multi sub-op) sent nulls our records cannot hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Nulls(Vec<FieldPath>);

static NO_NULLS: Nulls = Nulls(Vec::new());

impl Nulls {
    /// No nulls: every well-formed request.
    pub(super) const NONE: &'static Nulls = &NO_NULLS;

    pub(super) fn new(places: Vec<FieldPath>) -> Self {
        Nulls(places)
    }

    fn has(&self, steps: &[FieldStep]) -> bool {
        self.0.iter().any(|p| p.is(steps))
    }

    /// `Err(code)` if the path was null: what the check that first reads it answers.
    pub(super) fn path_read_by(&self, code: ErrorCode) -> Result<(), ErrorCode> {
        if self.has(&[FieldStep::Field("path")]) {
            Err(code)
        } else {
            Ok(())
        }
    }

    /// The nulls of multi sub-op `index`, as if it were a request of its own.
    pub(super) fn sub_op(&self, index: usize) -> Nulls {
        Nulls(
            self.0
                .iter()
                .filter_map(|p| p.strip_prefix(&[FieldStep::Index(index)]))
                .map(FieldPath::of)
                .collect(),
        )
    }

    /// [`acl::fix_up`], with the null schemes and ids of the request's ACL entries and the
    /// server's registered auth providers.
    pub(super) fn fix_up(
        &self,
        acl: &[Acl],
        auth_ids: &[Id],
        providers: &acl::Providers,
    ) -> Result<Vec<Acl>, ErrorCode> {
        if self.0.is_empty() {
            return providers.fix_up(acl, auth_ids);
        }
        let mut entries = vec![EntryNulls::default(); acl.len()];
        for place in &self.0 {
            if let [FieldStep::Field("acl"), FieldStep::Index(i), FieldStep::Field("id"), FieldStep::Field(field)] =
                place.0.as_slice()
            {
                if let Some(entry) = entries.get_mut(*i) {
                    match *field {
                        "scheme" => entry.scheme = true,
                        "id" => entry.id = true,
                        _ => {}
                    }
                }
            }
        }
        providers.fix_up_with_nulls(acl, &entries, auth_ids)
    }

    /// Whether some multi sub-op's path was null.
    fn any_sub_op_path(&self) -> bool {
        self.0.iter().any(|p| {
            matches!(
                p.0.as_slice(),
                [FieldStep::Index(_), FieldStep::Field("path")]
            )
        })
    }
}

/// The watch lists of a setWatches in the order Java walks them.
const WATCH_LISTS: [&str; 5] = [
    "data_watches",
    "exist_watches",
    "child_watches",
    "persistent_watches",
    "persistent_recursive_watches",
];

/// What Java's walk over the lists does with their nulls: the request as far as it gets (with
/// the null entries of persistent lists, which it registers harmlessly, left out), and whether
/// it stopped at a null (a NullPointerException).
fn watches_before_null(mut request: SetWatches2, nulls: &Nulls) -> (SetWatches2, bool) {
    let lists = [
        &mut request.data_watches,
        &mut request.exist_watches,
        &mut request.child_watches,
        &mut request.persistent_watches,
        &mut request.persistent_recursive_watches,
    ];
    let mut stopped = false;
    for (k, name) in WATCH_LISTS.iter().enumerate() {
        if stopped {
            lists[k].clear();
            continue;
        }
        let list_step = FieldStep::Field(name);
        if nulls.has(&[list_step]) {
            lists[k].clear();
            stopped = true;
            continue;
        }
        let null_entry = |i: usize| nulls.has(&[list_step, FieldStep::Index(i)]);
        if k < 3 {
            if let Some(first) = (0..lists[k].len()).find(|&i| null_entry(i)) {
                lists[k].truncate(first);
                stopped = true;
            }
        } else {
            let mut i = 0;
            lists[k].retain(|_| {
                i += 1;
                !null_entry(i - 1)
            });
        }
    }
    (request, stopped)
}

impl ServerCore {
    /// Answers a request whose body held `nulls` (read as empty values in `body`) as Java does;
    /// see the module docs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn request_with_nulls(
        &mut self,
        conn: ConnId,
        c: &Conn,
        xid: i32,
        body: RequestBody,
        nulls: Nulls,
        out: &mut Vec<Action>,
        wall_ms: i64,
    ) {
        let op = body.op();
        tracing::debug!(conn, %op, nulls = ?nulls.0, "request with null fields");
        let last = self.last_zxid;
        match body {
            RequestBody::Auth(_) => {
                self.reply(out, conn, xid, 0, ErrorCode::AuthFailed, None);
                out.push(Action::Close { conn });
                return;
            }
            RequestBody::Multi(_) if nulls.any_sub_op_path() => {
                self.reply(out, conn, xid, last, ErrorCode::MarshallingError, None)
            }
            RequestBody::Delete(_) if nulls.path_read_by(ErrorCode::MarshallingError).is_err() => {
                self.error_txn(conn, c, xid, ErrorCode::MarshallingError, out, wall_ms)
            }
            RequestBody::SetData(_) | RequestBody::SetAcl(_) | RequestBody::Check(_)
                if nulls.path_read_by(ErrorCode::BadArguments).is_err() =>
            {
                self.error_txn(conn, c, xid, ErrorCode::BadArguments, out, wall_ms)
            }
            // The null is met in prep, in its place among the checks.
            body @ (RequestBody::Create(_)
            | RequestBody::Create2(_)
            | RequestBody::CreateContainer(_)
            | RequestBody::CreateTtl(_)
            | RequestBody::SetAcl(_)
            | RequestBody::Multi(_)) => self.write(conn, c, xid, body, &nulls, out, wall_ms),
            RequestBody::Sync(_) => {
                // SyncResponse with the request's (null) path.
                let echo = Option::<String>::None.to_jute_bytes();
                let body = ResponseBody::Unknown(echo.into());
                self.reply(out, conn, xid, last, ErrorCode::Ok, Some(body));
            }
            RequestBody::AddWatch(AddWatchRequest { mode, .. }) => {
                let (err, body) = match mode {
                    AddWatchMode::Persistent | AddWatchMode::PersistentRecursive => (
                        ErrorCode::Ok,
                        Some(ResponseBody::AddWatch(ErrorResponse { err: ErrorCode::Ok })),
                    ),
                    // 3.8 fails to map an unknown mode before it looks at the path.
                    _ => (ErrorCode::MarshallingError, None),
                };
                self.reply(out, conn, xid, last, err, body);
            }
            RequestBody::RemoveWatches(r) => {
                // 3.8 maps the type (known: 1..=3) before it looks at the path.
                let err = if (1..=3).contains(&r.r#type.code()) {
                    ErrorCode::NoWatcher
                } else {
                    ErrorCode::MarshallingError
                };
                self.reply(out, conn, xid, last, err, None);
            }
            RequestBody::SetWatches(r) => {
                self.set_watches_with_nulls(conn, xid, r.into(), &nulls, out)
            }
            RequestBody::SetWatches2(r) => self.set_watches_with_nulls(conn, xid, r, &nulls, out),
            // Reads look the null path up: a NullPointerException.
            _ => self.reply(out, conn, xid, last, ErrorCode::MarshallingError, None),
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.last_op = last_op_code(op);
        }
    }

    fn set_watches_with_nulls(
        &mut self,
        conn: ConnId,
        xid: i32,
        request: SetWatches2,
        nulls: &Nulls,
        out: &mut Vec<Action>,
    ) {
        let (request, stopped) = watches_before_null(request, nulls);
        self.set_watches(conn, &request, out);
        let err = if stopped {
            ErrorCode::MarshallingError
        } else {
            ErrorCode::Ok
        };
        let last = self.last_zxid;
        self.reply(out, conn, xid, last, err, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(steps: &[FieldStep]) -> FieldPath {
        FieldPath::of(steps)
    }

    fn watches() -> SetWatches2 {
        let list = |name: &str| vec![format!("/{name}0"), format!("/{name}1")];
        SetWatches2 {
            relative_zxid: 3,
            data_watches: list("d"),
            exist_watches: list("e"),
            child_watches: list("c"),
            persistent_watches: list("p"),
            persistent_recursive_watches: list("r"),
        }
    }

    #[test]
    fn set_watches_stop_at_the_first_null_java_throws_on() {
        use FieldStep::{Field, Index};
        // A null entry in the exist list: the data list and the entry before it stand.
        let nulls = Nulls::new(vec![place(&[Field("exist_watches"), Index(1)])]);
        let (r, stopped) = watches_before_null(watches(), &nulls);
        assert!(stopped);
        assert_eq!(r.data_watches, ["/d0", "/d1"]);
        assert_eq!(r.exist_watches, ["/e0"]);
        assert!(r.child_watches.is_empty() && r.persistent_recursive_watches.is_empty());
        // A null persistent list stops there; null persistent entries are skipped.
        let nulls = Nulls::new(vec![
            place(&[Field("persistent_watches"), Index(0)]),
            place(&[Field("persistent_recursive_watches")]),
        ]);
        let (r, stopped) = watches_before_null(watches(), &nulls);
        assert!(stopped);
        assert_eq!(r.child_watches, ["/c0", "/c1"]);
        assert_eq!(r.persistent_watches, ["/p1"]);
        assert!(r.persistent_recursive_watches.is_empty());
        let nulls = Nulls::new(vec![place(&[
            Field("persistent_recursive_watches"),
            Index(1),
        ])]);
        let (r, stopped) = watches_before_null(watches(), &nulls);
        assert!(!stopped);
        assert_eq!(r.persistent_recursive_watches, ["/r0"]);
    }

    #[test]
    fn acl_nulls_reach_fix_up_per_entry_and_sub_op() {
        use FieldStep::{Field, Index};
        let nulls = Nulls::new(vec![place(&[
            Index(2),
            Field("acl"),
            Index(0),
            Field("id"),
            Field("id"),
        ])]);
        assert_eq!(nulls.sub_op(1), Nulls::default());
        let sub = nulls.sub_op(2);
        let acl = [Acl::new(zk_proto::perms::ALL, Id::new("world", ""))];
        // world with a null id throws; with an empty one it is merely invalid.
        assert_eq!(
            sub.fix_up(&acl, &[], &acl::Providers::default()),
            Err(ErrorCode::MarshallingError)
        );
        assert_eq!(
            Nulls::NONE.fix_up(&acl, &[], &acl::Providers::default()),
            Err(ErrorCode::InvalidAcl)
        );
        assert!(!nulls.any_sub_op_path());
        assert!(Nulls::new(vec![place(&[Index(0), Field("path")])]).any_sub_op_path());
    }
}
