//! How children scale, to compare builds by hand (nothing here asserts a speed):
//! `cargo test --release -p zk-server --test children_scale -- --ignored --nocapture`.
//!
//! - `a_million_children_under_one_node`: creates under one parent (`ZK_CHILDREN=<n>` for
//!   another count; `ZK_NAMES=seq` for names in creation order, as sequential nodes get),
//!   listing them, looking them up, the first writes after a snapshot clone, a snapshot round
//!   trip, deleting them all, and the memory they took.
//! - `many_small_directories`: 200000 (`ZK_PARENTS`) nodes with two children each.

use std::time::Instant;

use bytes::Bytes;
use zk_proto::data::Acl;
use zk_proto::txn::{CreateTxn, DeleteTxn, Txn, TxnHeader};
use zk_proto::{ErrorCode, OpCode};
use zk_server::tree::DataTree;

fn header(zxid: i64, op: OpCode) -> TxnHeader {
    TxnHeader {
        client_id: 1,
        cxid: 0,
        zxid,
        time: 0,
        r#type: op,
    }
}

fn create(path: String) -> Txn {
    Txn::Create(CreateTxn {
        path,
        data: Some(Bytes::new()),
        acl: Acl::open_unsafe(),
        ephemeral: false,
        parent_c_version: -1,
    })
}

fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// A count from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore]
fn a_million_children_under_one_node() {
    let n = env_count("ZK_CHILDREN", 1_000_000);
    // `ZK_NAMES=seq`: names in creation order (sequential nodes); otherwise a permutation.
    let sequential = std::env::var("ZK_NAMES").is_ok_and(|v| v == "seq");
    let name = |i: usize| {
        let n = if sequential { i } else { i * 7919 % 10_000_019 };
        format!("lock-{n:010}")
    };
    let mut tree = DataTree::new(false);
    let mut zxid = 1;
    tree.apply(&header(zxid, OpCode::Create), &create("/p".into()));
    let rss_before = rss_mb();

    let t = Instant::now();
    for i in 0..n {
        zxid += 1;
        let r = tree.apply(
            &header(zxid, OpCode::Create),
            &create(format!("/p/{}", name(i))),
        );
        assert_eq!(r.err, ErrorCode::Ok);
    }
    let create_ms = t.elapsed().as_millis();
    let rss_after = rss_mb();

    let t = Instant::now();
    let counted = tree.node("/p").unwrap().children().count();
    let iterate_ms = t.elapsed().as_millis();
    assert_eq!(counted, n);
    let t = Instant::now();
    let listed: Vec<String> = tree
        .node("/p")
        .unwrap()
        .children()
        .map(str::to_owned)
        .collect();
    let list_ms = t.elapsed().as_millis();
    assert_eq!(listed.len(), n);

    let t = Instant::now();
    for i in (0..n).step_by(10) {
        assert!(tree.node(&format!("/p/{}", name(i))).is_some());
    }
    let lookup_ms = t.elapsed().as_millis();

    // A snapshot clone, then writes to the original: the first ones copy what they touch.
    let t = Instant::now();
    let image = tree.clone();
    let clone_us = t.elapsed().as_micros();
    let t = Instant::now();
    zxid += 1;
    tree.apply(
        &header(zxid, OpCode::Create),
        &create("/p/after-clone".into()),
    );
    let first_write_us = t.elapsed().as_micros();
    let t = Instant::now();
    for i in 0..1000 {
        zxid += 1;
        tree.apply(
            &header(zxid, OpCode::Create),
            &create(format!("/p/after-{i}")),
        );
    }
    let next_writes_us = t.elapsed().as_micros();

    let t = Instant::now();
    let snapshot = image.to_snapshot();
    let snapshot_ms = t.elapsed().as_millis();
    drop(image);
    let t = Instant::now();
    let loaded = DataTree::from_snapshot(&snapshot, false).unwrap();
    let load_ms = t.elapsed().as_millis();
    assert_eq!(loaded.node_count(), n + 5);
    drop((loaded, snapshot));

    let t = Instant::now();
    for i in 0..n {
        zxid += 1;
        let path = format!("/p/{}", name(i));
        let r = tree.apply(
            &header(zxid, OpCode::Delete),
            &Txn::Delete(DeleteTxn { path }),
        );
        assert_eq!(r.err, ErrorCode::Ok);
    }
    let delete_ms = t.elapsed().as_millis();

    eprintln!(
        "{n} children: create {create_ms} ms (+{} MB RSS), iterate {iterate_ms} ms, \
         getChildren (names copied) {list_ms} ms, \
         {} lookups {lookup_ms} ms, clone {clone_us} us, first write after clone \
         {first_write_us} us, next 1000 writes {next_writes_us} us, to_snapshot {snapshot_ms} ms, \
         from_snapshot {load_ms} ms, delete all {delete_ms} ms",
        rss_after.saturating_sub(rss_before),
        n / 10
    );
}

#[test]
#[ignore]
fn many_small_directories() {
    let parents = env_count("ZK_PARENTS", 200_000);
    let mut tree = DataTree::new(false);
    let mut zxid = 0;
    let rss_before = rss_mb();
    let t = Instant::now();
    for i in 0..parents {
        for path in [format!("/d{i}"), format!("/d{i}/a"), format!("/d{i}/b")] {
            zxid += 1;
            let r = tree.apply(&header(zxid, OpCode::Create), &create(path));
            assert_eq!(r.err, ErrorCode::Ok);
        }
    }
    let create_ms = t.elapsed().as_millis();
    let rss_after = rss_mb();
    let t = Instant::now();
    let snapshot = tree.to_snapshot();
    let snapshot_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let loaded = DataTree::from_snapshot(&snapshot, false).unwrap();
    let load_ms = t.elapsed().as_millis();
    assert_eq!(loaded.node_count(), tree.node_count());
    eprintln!(
        "{parents} directories of 2 children: create {create_ms} ms (+{} MB RSS), to_snapshot \
         {snapshot_ms} ms, from_snapshot {load_ms} ms",
        rss_after.saturating_sub(rss_before)
    );
}
