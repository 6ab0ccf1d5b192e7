//! One behaviour for every [`TxnLog`]: [`suite`] runs many small checks, each on a fresh log,
//! against an implementation (the idea of openraft's `testing/log/suite.rs`). The in-memory log
//! and the Java-file log both run it, so the simulated disks of ensemble tests behave as the
//! real ones do.

use bytes::Bytes;
use zk_proto::data::{Acl, Id};
use zk_proto::txn::{
    CreateSessionTxn, CreateTxn, DeleteTxn, SetDataTxn, Txn, TxnDigest, TxnEntry, TxnHeader,
};
use zk_proto::OpCode;

use super::{MemTxnLog, TxnLog};
use crate::storage::txnlog::TxnLogWriter;

/// Makes fresh logs and reopens them (the file log: a new writer on the same directory).
struct Harness<'a, L> {
    make: &'a mut dyn FnMut() -> L,
    reopen: &'a mut dyn FnMut(L) -> L,
}

/// One check: panics on a difference.
type Check<L> = fn(&mut Harness<L>);

/// Runs every check on logs from `make`; `reopen` stands for a restart of the process.
fn suite<L: TxnLog>(mut make: impl FnMut() -> L, mut reopen: impl FnMut(L) -> L) {
    let checks: &[(&str, Check<L>)] = &[
        ("empty", empty),
        ("append_flush", append_flush),
        ("unflushed_are_invisible", unflushed_are_invisible),
        ("partly_written_buffer", partly_written_buffer),
        ("roll_in_the_middle", roll_in_the_middle),
        ("read_from_everywhere", read_from_everywhere),
        ("truncate_inside_a_segment", truncate_inside_a_segment),
        ("truncate_at_segment_boundary", truncate_at_segment_boundary),
        ("truncate_before_everything", truncate_before_everything),
        ("truncate_after_everything", truncate_after_everything),
        ("truncate_drops_unflushed", truncate_drops_unflushed),
        ("reopen", reopen_keeps_everything),
        ("reopen_after_truncate", reopen_after_truncate),
        ("epoch_change", epoch_change),
    ];
    let mut harness = Harness {
        make: &mut make,
        reopen: &mut reopen,
    };
    for (name, check) in checks {
        eprintln!("txn log conformance: {name}");
        check(&mut harness);
    }
}

/// A real txn for `zxid`, its type cycling through create, setData, delete and createSession;
/// `tag` changes its content (a txn rewritten after a truncation differs from the one cut).
fn txn(zxid: i64, tag: u8) -> TxnEntry {
    txn_sized(zxid, tag, 20)
}

fn txn_sized(zxid: i64, tag: u8, data_len: usize) -> TxnEntry {
    let path = format!("/n{:x}", zxid & 0xff);
    let data = Some(Bytes::from(vec![tag; data_len]));
    let (r#type, txn) = match zxid % 4 {
        0 => (
            OpCode::Create,
            Txn::Create(CreateTxn {
                path,
                data,
                acl: vec![Acl {
                    perms: 31,
                    id: Id {
                        scheme: "world".into(),
                        id: "anyone".into(),
                    },
                }],
                ephemeral: false,
                parent_c_version: tag.into(),
            }),
        ),
        1 => (
            OpCode::SetData,
            Txn::SetData(SetDataTxn {
                path,
                data,
                version: tag.into(),
            }),
        ),
        2 => (OpCode::Delete, Txn::Delete(DeleteTxn { path })),
        _ => (
            OpCode::CreateSession,
            Txn::CreateSession(CreateSessionTxn {
                time_out: 30_000 + i32::from(tag),
            }),
        ),
    };
    TxnEntry {
        header: TxnHeader {
            client_id: 0x1000_0834_8fc0_0000 + i64::from(tag),
            cxid: (zxid & 0xffff) as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            r#type,
        },
        txn,
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: zxid ^ i64::from(tag),
        }),
    }
}

fn txns(zxids: impl IntoIterator<Item = i64>, tag: u8) -> Vec<TxnEntry> {
    zxids.into_iter().map(|z| txn(z, tag)).collect()
}

fn append_all(log: &mut impl TxnLog, entries: &[TxnEntry]) {
    for entry in entries {
        log.append(entry).unwrap();
    }
}

fn read(log: &impl TxnLog, zxid: i64) -> Vec<TxnEntry> {
    log.read_from(zxid).collect::<Result<_, _>>().unwrap()
}

/// 1..=5 in one segment, 6..=9 in the next, flushed.
fn two_segments<L: TxnLog>(h: &mut Harness<L>) -> (L, Vec<TxnEntry>) {
    let mut log = (h.make)();
    let all = txns(1..=9, 0);
    append_all(&mut log, &all[..5]);
    assert_eq!(log.flush().unwrap(), 5);
    log.roll().unwrap();
    append_all(&mut log, &all[5..]);
    assert_eq!(log.flush().unwrap(), 9);
    (log, all)
}

fn empty<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    assert_eq!(log.last_logged_zxid(), 0);
    assert_eq!(log.flush().unwrap(), 0);
    assert!(read(&log, 0).is_empty());
    assert!(read(&log, 5).is_empty());
    log.truncate_after(3).unwrap();
    assert_eq!(log.last_logged_zxid(), 0);
    let log = (h.reopen)(log);
    assert_eq!(log.last_logged_zxid(), 0);
}

fn append_flush<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    let all = txns(1..=4, 0);
    append_all(&mut log, &all[..3]);
    assert_eq!(log.last_logged_zxid(), 3);
    assert_eq!(log.flush().unwrap(), 3);
    assert_eq!(read(&log, 1), all[..3]);
    assert_eq!(
        log.flush().unwrap(),
        3,
        "nothing new: the same durable zxid"
    );
    log.append(&all[3]).unwrap();
    assert_eq!(log.last_logged_zxid(), 4);
    assert_eq!(log.flush().unwrap(), 4);
    assert_eq!(read(&log, 0), all);
}

fn unflushed_are_invisible<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    let all = txns(1..=6, 0);
    append_all(&mut log, &all[..2]);
    assert!(read(&log, 0).is_empty());
    log.flush().unwrap();
    append_all(&mut log, &all[2..]);
    assert_eq!(log.last_logged_zxid(), 6);
    assert_eq!(read(&log, 0), all[..2]);
    assert!(read(&log, 3).is_empty());
    // A roll hands the file log's buffer to the OS, but does not make it durable.
    log.roll().unwrap();
    assert_eq!(read(&log, 0), all[..2]);
    assert_eq!(log.flush().unwrap(), 6);
    assert_eq!(read(&log, 0), all);
}

/// More unflushed bytes than the file log's 8 KiB buffer: part of them is in the file, likely
/// ending inside a record; readers still stop at the durable end.
fn partly_written_buffer<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    let all: Vec<_> = (1..=120).map(|z| txn_sized(z, 7, 150)).collect();
    append_all(&mut log, &all[..50]);
    assert_eq!(log.flush().unwrap(), 50);
    append_all(&mut log, &all[50..]);
    assert_eq!(read(&log, 0), all[..50]);
    assert_eq!(read(&log, 50), all[49..50]);
    assert_eq!(log.flush().unwrap(), 120);
    assert_eq!(read(&log, 0), all);
}

fn roll_in_the_middle<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    let all = txns(1..=7, 0);
    append_all(&mut log, &all[..3]);
    log.roll().unwrap();
    append_all(&mut log, &all[3..5]);
    log.roll().unwrap();
    log.roll().unwrap(); // nothing in between: no empty segment trouble
    log.append(&all[5]).unwrap();
    assert_eq!(log.flush().unwrap(), 6);
    log.roll().unwrap();
    log.append(&all[6]).unwrap();
    assert_eq!(log.flush().unwrap(), 7);
    assert_eq!(read(&log, 0), all);
    assert_eq!(read(&log, 4), all[3..]);
}

fn read_from_everywhere<L: TxnLog>(h: &mut Harness<L>) {
    let (log, all) = two_segments(h);
    assert_eq!(read(&log, i64::MIN), all);
    assert_eq!(read(&log, -1), all);
    assert_eq!(read(&log, 0), all);
    for zxid in 1..=9 {
        assert_eq!(read(&log, zxid), all[zxid as usize - 1..], "from {zxid}");
    }
    assert!(read(&log, 10).is_empty());
    assert!(read(&log, i64::MAX).is_empty());
    // Reading is lazy and can stop early.
    let first_two: Vec<_> = log.read_from(4).take(2).map(Result::unwrap).collect();
    assert_eq!(first_two, all[3..5]);
}

/// Truncates a two-segment log after `zxid`, checks what is left, then appends after it.
fn truncate_then_append<L: TxnLog>(h: &mut Harness<L>, zxid: i64) {
    let (mut log, all) = two_segments(h);
    log.truncate_after(zxid).unwrap();
    let kept = &all[..zxid.clamp(0, 9) as usize];
    assert_eq!(log.last_logged_zxid(), zxid.clamp(0, 9), "after {zxid}");
    assert_eq!(read(&log, 0), kept, "after {zxid}");
    assert_eq!(log.flush().unwrap(), zxid.clamp(0, 9));
    // The cut txns are written again, differently (a new leader's history).
    let next = zxid.clamp(0, 9) + 1;
    let new = txns(next..=next + 2, 1);
    append_all(&mut log, &new);
    assert_eq!(log.flush().unwrap(), next + 2);
    let expected: Vec<_> = kept.iter().chain(&new).cloned().collect();
    assert_eq!(read(&log, 0), expected, "after {zxid}");
    assert_eq!(read(&log, next), new);
}

fn truncate_inside_a_segment<L: TxnLog>(h: &mut Harness<L>) {
    truncate_then_append(h, 3);
    truncate_then_append(h, 7);
    truncate_then_append(h, 1);
}

fn truncate_at_segment_boundary<L: TxnLog>(h: &mut Harness<L>) {
    truncate_then_append(h, 5); // the last of the first segment
    truncate_then_append(h, 6); // the first of the second
    truncate_then_append(h, 8);
}

fn truncate_before_everything<L: TxnLog>(h: &mut Harness<L>) {
    truncate_then_append(h, 0);
    truncate_then_append(h, -1);
}

fn truncate_after_everything<L: TxnLog>(h: &mut Harness<L>) {
    truncate_then_append(h, 9);
    truncate_then_append(h, 100);
}

fn truncate_drops_unflushed<L: TxnLog>(h: &mut Harness<L>) {
    let mut log = (h.make)();
    let all = txns(1..=8, 0);
    append_all(&mut log, &all[..5]);
    log.flush().unwrap();
    append_all(&mut log, &all[5..]);
    // Unflushed txns up to the cut are kept and durable; later ones are gone.
    log.truncate_after(7).unwrap();
    assert_eq!(log.last_logged_zxid(), 7);
    assert_eq!(read(&log, 0), all[..7]);
    log.append(&all[7]).unwrap();
    log.truncate_after(4).unwrap();
    assert_eq!(read(&log, 0), all[..4]);
    assert_eq!(log.flush().unwrap(), 4);
}

fn reopen_keeps_everything<L: TxnLog>(h: &mut Harness<L>) {
    let (log, all) = two_segments(h);
    let mut log = (h.reopen)(log);
    assert_eq!(log.last_logged_zxid(), 9);
    assert_eq!(log.flush().unwrap(), 9);
    assert_eq!(read(&log, 0), all);
    assert_eq!(read(&log, 7), all[6..]);
    let next = txn(10, 0);
    log.append(&next).unwrap();
    assert_eq!(log.flush().unwrap(), 10);
    let mut log = (h.reopen)(log);
    assert_eq!(log.last_logged_zxid(), 10);
    assert_eq!(read(&log, 9), [all[8].clone(), next]);
    log.truncate_after(2).unwrap();
    assert_eq!(read(&log, 0), all[..2]);
}

fn reopen_after_truncate<L: TxnLog>(h: &mut Harness<L>) {
    for zxid in [0, 3, 5, 6, 9] {
        let (mut log, all) = two_segments(h);
        log.truncate_after(zxid).unwrap();
        let mut log = (h.reopen)(log);
        assert_eq!(log.last_logged_zxid(), zxid, "after {zxid}");
        assert_eq!(read(&log, 0), all[..zxid as usize], "after {zxid}");
        let new = txn(zxid + 1, 2);
        log.append(&new).unwrap();
        assert_eq!(log.flush().unwrap(), zxid + 1);
        let log = (h.reopen)(log);
        assert_eq!(read(&log, zxid + 1), [new], "after {zxid}");
        assert_eq!(read(&log, 0).len(), zxid as usize + 1);
    }
}

fn epoch_change<L: TxnLog>(h: &mut Harness<L>) {
    const E1: i64 = 1 << 32;
    const E2: i64 = 2 << 32;
    for roll in [false, true] {
        let mut log = (h.make)();
        let old = txns(E1 + 1..=E1 + 5, 0);
        let new = txns(E2 + 1..=E2 + 3, 0);
        append_all(&mut log, &old);
        if roll {
            log.roll().unwrap();
        }
        append_all(&mut log, &new);
        assert_eq!(log.flush().unwrap(), E2 + 3);
        let all: Vec<_> = old.iter().chain(&new).cloned().collect();
        assert_eq!(read(&log, 0), all);
        assert_eq!(read(&log, E1 + 5), all[4..]);
        assert_eq!(read(&log, E1 + 6), new, "a zxid between the epochs");
        assert_eq!(read(&log, E2), new);
        assert_eq!(read(&log, E2 + 2), new[1..]);
        // A learner that took epoch 2 from a leader that lost: cut back to epoch 1.
        log.truncate_after(E1 + 7).unwrap();
        assert_eq!(log.last_logged_zxid(), E1 + 5);
        assert_eq!(read(&log, 0), old);
        let replaced = txns(E2 + 1..=E2 + 2, 3);
        append_all(&mut log, &replaced);
        assert_eq!(log.flush().unwrap(), E2 + 2);
        let log = (h.reopen)(log);
        assert_eq!(read(&log, E1 + 5)[1..], replaced);
    }
}

#[test]
fn mem_txn_log_conforms() {
    // Nothing survives a process: "reopening" is carrying on with the same log.
    suite(MemTxnLog::new, |log| log);
}

#[test]
fn file_txn_log_conforms() {
    let mut dirs = Vec::new();
    for (pre_alloc_kb, force_sync) in [(16, true), (0, false)] {
        suite(
            || {
                let dir = tempfile::tempdir().unwrap();
                let log = TxnLogWriter::open(dir.path(), pre_alloc_kb, force_sync).unwrap();
                dirs.push(dir);
                log
            },
            |log| {
                let dir = log.dir().to_path_buf();
                drop(log);
                TxnLogWriter::open(&dir, pre_alloc_kb, force_sync).unwrap()
            },
        );
    }
}
