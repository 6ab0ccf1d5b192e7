//! The online restore against the core alone: after its txns commit, the tree outside
//! `/zookeeper` is the image's (persistent nodes, data, ACL, kind), live ephemerals stay under
//! surviving parents, and nothing is proposed when the change cannot be made.

use proptest::prelude::*;

use super::tests::{core, create, open, request};
use super::*;
use zk_proto::data::Id;
use zk_proto::proto::{GetDataRequest, SetAclRequest, SetDataRequest};

/// Runs `body` as a request of `conn` and commits everything proposed.
fn write(core: &mut ServerCore, conn: ConnId, body: RequestBody) {
    request(core, conn, 1, body);
    core.commit_through(core.last_proposed_zxid, 0);
}

/// A create of `mode` (containers with createContainer, as clients send them).
fn create_with(path: &str, data: &[u8], mode: CreateMode) -> RequestBody {
    let request = zk_proto::proto::CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Some(Acl::open_unsafe()),
        flags: mode.flags(),
    };
    if mode == CreateMode::Container {
        RequestBody::CreateContainer(request)
    } else {
        RequestBody::Create(request)
    }
}

/// Every node outside `/zookeeper` that is not a session's ephemeral: path, data, ACL and
/// kind.
fn persistent_state(tree: &DataTree) -> Vec<(String, Option<Bytes>, Vec<Acl>, OwnerKind)> {
    let mut out = Vec::new();
    let _ = tree.for_each_snapshot_node(|path, _| {
        if restore::is_system(path) {
            return Ok::<(), ()>(());
        }
        let node = tree.node(path).expect("visited");
        let kind = OwnerKind::of(node.stat.ephemeral_owner, tree.extended_types());
        if !matches!(kind, OwnerKind::Ephemeral(_)) {
            out.push((path.to_owned(), node.data.clone(), tree.acl(node), kind));
        }
        Ok(())
    });
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn restore_and_commit(core: &mut ServerCore, image: &DataTree) -> OnlineRestore {
    restore_and_commit_with(core, image, false)
}

/// [`restore_and_commit`], the trees compared off the core first when `off_core` (as the
/// AdminServer does): the same result, compared in the core only if writes came between.
fn restore_and_commit_with(
    core: &mut ServerCore,
    image: &DataTree,
    off_core: bool,
) -> OnlineRestore {
    let compared = off_core.then(|| {
        let (zxid, tree) = core.snapshot_view();
        compare_committed(zxid, &tree, image, false)
    });
    let (summary, actions) = core
        .restore_online(image, compared, 0)
        .expect("restore proposed");
    // Called with nothing in flight: an off-core comparison is used as it is.
    assert_eq!(summary.compared_in_core, !off_core);
    let logged = actions
        .iter()
        .filter(|a| matches!(a, Action::Log(_)))
        .count();
    assert_eq!(logged, summary.txns, "one log record per txn");
    core.commit_through(core.last_proposed_zxid, 0);
    assert!(core.is_idle());
    summary
}

#[test]
fn restore_makes_the_tree_the_image_and_keeps_live_ephemerals_under_surviving_parents() {
    let mut image_core = core();
    let c = 1;
    open(&mut image_core, c);
    for (path, data) in [
        ("/a", "old"),
        ("/a/keep", "k"),
        ("/gone-later", "g"),
        ("/n", ""),
    ] {
        write(
            &mut image_core,
            c,
            create_with(path, data.as_bytes(), CreateMode::Persistent),
        );
    }
    write(
        &mut image_core,
        c,
        create_with("/box", b"d", CreateMode::Container),
    );
    write(
        &mut image_core,
        c,
        create("/box/item", CreateMode::Persistent),
    );
    // An ephemeral in the image: its session is not this server's, so it is not restored.
    write(
        &mut image_core,
        c,
        create("/a/was-ephemeral", CreateMode::Ephemeral),
    );
    let digest_acl = vec![Acl {
        perms: perms::ALL,
        id: Id::new("digest", "bob:0123456789abcdefghijklmnopq="),
    }];
    write(
        &mut image_core,
        c,
        RequestBody::SetAcl(SetAclRequest {
            path: "/a/keep".into(),
            acl: Some(digest_acl),
            version: -1,
        }),
    );
    let image = image_core.snapshot_view().1;

    let mut live = core();
    let s = 1;
    open(&mut live, s);
    for (path, data) in [("/a", "new"), ("/a/keep", "k"), ("/x", "x"), ("/x/y", "")] {
        write(
            &mut live,
            s,
            create_with(path, data.as_bytes(), CreateMode::Persistent),
        );
    }
    // /box exists live as a plain node: its kind differs, so it is deleted and recreated.
    write(&mut live, s, create("/box", CreateMode::Persistent));
    write(&mut live, s, create("/a/mine", CreateMode::Ephemeral));
    write(&mut live, s, create("/x/mine", CreateMode::Ephemeral));
    // A watcher on /a sees the restore as a data change.
    open(&mut live, 2);
    request(
        &mut live,
        2,
        7,
        RequestBody::GetData(GetDataRequest {
            path: "/a".into(),
            watch: true,
        }),
    );
    // A write in flight: the restore is prepped after it and undoes it.
    request(
        &mut live,
        s,
        9,
        create("/in-flight", CreateMode::Persistent),
    );

    let (summary, _) = live.restore_online(&image, None, 0).expect("proposed");
    let actions = live.commit_through(live.last_proposed_zxid, 0);
    assert!(live.is_idle());
    assert_eq!(
        persistent_state(&live.tree),
        persistent_state(&image),
        "the persistent tree is the image's"
    );
    assert!(
        live.tree.node("/a/mine").is_some(),
        "a live ephemeral stays under /a"
    );
    assert!(
        live.tree.node("/x/mine").is_none(),
        "its parent /x went, so it went"
    );
    assert!(live.tree.node("/in-flight").is_none());
    assert_eq!(
        (
            summary.deleted,
            summary.created,
            summary.data_changed,
            summary.acl_changed
        ),
        // /x/mine /x/y /x /box /in-flight; /gone-later /n /box /box/item; /a; /a/keep.
        (5, 4, 1, 1)
    );
    assert_eq!(summary.ephemerals_kept, 1);
    assert_eq!(summary.txns, 2, "one multi and one setACL");
    let events = super::tests::seen(&actions, &[]);
    assert!(
        events.contains(&super::tests::Seen::Event {
            conn: 2,
            zxid: summary.first_zxid,
            kind: zk_proto::EventType::NodeDataChanged,
            path: "/a".into()
        }),
        "{events:?}"
    );
    // Nothing left to do: a second restore proposes nothing.
    let again = restore_and_commit(&mut live, &image);
    assert_eq!((again.txns, again.last_zxid), (0, 0));
}

#[test]
fn a_change_larger_than_one_record_is_cut_into_consecutive_multis() {
    let mut image_core = core();
    open(&mut image_core, 1);
    write(&mut image_core, 1, create("/big", CreateMode::Persistent));
    for i in 0..300 {
        let data = vec![b'a' + (i % 26) as u8; 200];
        write(
            &mut image_core,
            1,
            create_with(&format!("/big/n{i:04}"), &data, CreateMode::Persistent),
        );
    }
    let image = image_core.snapshot_view().1;
    let mut live = core();
    live.config.max_txn_bytes = 8 * 1024;
    open(&mut live, 1);
    let summary = restore_and_commit(&mut live, &image);
    assert!(summary.txns >= 8, "{} txns for ~60 KiB", summary.txns);
    assert_eq!(
        summary.last_zxid - summary.first_zxid + 1,
        summary.txns as i64
    );
    assert_eq!(persistent_state(&live.tree), persistent_state(&image));
}

#[test]
fn a_learner_and_a_refused_change_propose_nothing() {
    let mut image_core = core();
    image_core.config.extended_types = true;
    image_core.tree = DataTree::new(true);
    open(&mut image_core, 1);
    write(
        &mut image_core,
        1,
        RequestBody::CreateTtl(zk_proto::proto::CreateTtlRequest {
            path: "/ttl".into(),
            data: None,
            acl: Some(Acl::open_unsafe()),
            flags: CreateMode::PersistentWithTtl.flags(),
            ttl: 60_000,
        }),
    );
    assert!(image_core.tree.node("/ttl").is_some());
    let image = image_core.snapshot_view().1;

    // Extended types off: the TTL node cannot be created, and nothing is proposed.
    let mut live = core();
    open(&mut live, 1);
    write(&mut live, 1, create("/other", CreateMode::Persistent));
    let before = live.last_proposed_zxid;
    let refused = live.restore_online(&image, None, 0).unwrap_err();
    assert!(
        matches!(refused, RestoreRefused::Refused(ref p, _) if p == "/ttl"),
        "{refused}"
    );
    assert_eq!(live.last_proposed_zxid, before);
    assert!(live.tree.node("/other").is_some());

    let mut learner = core();
    learner.start_epoch(Role::Learner, 1 << 32);
    assert_eq!(
        learner.restore_online(&image, None, 0).unwrap_err(),
        RestoreRefused::NotLeader
    );
}

#[test]
fn a_comparison_made_before_a_write_is_made_again_in_the_core() {
    let mut image_core = core();
    open(&mut image_core, 1);
    write(&mut image_core, 1, create("/kept", CreateMode::Persistent));
    let image = image_core.snapshot_view().1;
    let mut live = core();
    open(&mut live, 1);
    let (zxid, tree) = live.snapshot_view();
    let stale = compare_committed(zxid, &tree, &image, false);
    let compared = compare_committed(zxid, &tree, &image, true);
    // A write lands between the comparison and the restore (still in flight).
    request(&mut live, 1, 5, create("/late", CreateMode::Persistent));
    let before = live.last_proposed_zxid;
    assert_eq!(
        live.restore_online(&image, Some(stale), 0).unwrap_err(),
        RestoreRefused::Stale(zxid)
    );
    assert_eq!(live.last_proposed_zxid, before, "nothing proposed");
    let (summary, _) = live
        .restore_online(&image, Some(compared), 0)
        .expect("proposed");
    assert!(summary.compared_in_core);
    live.commit_through(live.last_proposed_zxid, 0);
    assert_eq!(persistent_state(&live.tree), persistent_state(&image));
    assert!(live.tree.node("/late").is_none());
}

/// A small random tree: paths under a few names, data from a few values.
fn tree_ops() -> impl Strategy<Value = Vec<(u8, u8, u8, u8)>> {
    proptest::collection::vec((0u8..4, 0u8..4, 0u8..3, 0u8..4), 0..24)
}

/// Builds a tree from `ops` on `core`: (depth-1 name, depth-2 name, action, data).
fn build(core: &mut ServerCore, conn: ConnId, ops: &[(u8, u8, u8, u8)]) {
    for &(a, b, action, data) in ops {
        let path = if b == 0 {
            format!("/p{a}")
        } else {
            format!("/p{a}/q{b}")
        };
        let data = vec![b'v'; data as usize];
        let body = match action {
            0 => create_with(&path, &data, CreateMode::Persistent),
            1 => RequestBody::SetData(SetDataRequest {
                path,
                data: (data.len() != 3).then(|| Bytes::from(data)),
                version: -1,
            }),
            _ => create_with(
                &path,
                &data,
                if b == 0 {
                    CreateMode::Container
                } else {
                    CreateMode::Ephemeral
                },
            ),
        };
        // Failures (no parent, exists) are part of the randomness.
        write(core, conn, body);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_tree_restores_to_any_image(
        image_ops in tree_ops(),
        live_ops in tree_ops(),
        off_core in any::<bool>(),
    ) {
        let mut image_core = core();
        open(&mut image_core, 1);
        build(&mut image_core, 1, &image_ops);
        let image = image_core.snapshot_view().1;
        let mut live = core();
        open(&mut live, 1);
        build(&mut live, 1, &live_ops);
        restore_and_commit_with(&mut live, &image, off_core);
        prop_assert_eq!(persistent_state(&live.tree), persistent_state(&image));
        // A live ephemeral left stands where the image has no node to restore.
        let session = live.tree.sessions().keys().next().copied().unwrap_or(0);
        for path in live.tree.ephemerals_copy(session) {
            let restorable = image.node(&path).is_some_and(|n| {
                !matches!(OwnerKind::of(n.stat.ephemeral_owner, true), OwnerKind::Ephemeral(_))
            });
            prop_assert!(!restorable, "{}", path);
        }
    }
}
