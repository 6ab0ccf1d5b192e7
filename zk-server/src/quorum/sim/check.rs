//! The invariants, checked as each step happens (the state they constrain only changes
//! through these calls), and the liveness condition of a healed ensemble.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use zk_proto::txn::TxnEntry;

/// What every node's committed sequence must agree with.
#[derive(Debug, Default)]
pub(super) struct Checker {
    /// Every txn committed anywhere (acknowledged to a client, or part of an established
    /// leader's history), by zxid.
    pub committed: BTreeMap<i64, Bytes>,
    /// Every txn any leader proposed: one zxid names one txn.
    proposed: BTreeMap<i64, Bytes>,
    /// The leader established in each epoch.
    pub leaders: BTreeMap<i64, i64>,
}

/// An invariant that does not hold.
pub(super) type Violation = String;

fn bytes(e: &TxnEntry) -> Bytes {
    Bytes::from(e.to_bytes())
}

impl Checker {
    /// A leader proposes `e`.
    pub(super) fn proposed(&mut self, sid: i64, e: &TxnEntry) -> Result<(), Violation> {
        let z = e.header.zxid;
        if let Some((&last, _)) = self
            .proposed
            .range(z >> 32 << 32..=z | 0xffff_ffff)
            .next_back()
        {
            if last >= z {
                return Err(format!(
                    "server {sid} proposed {z:#x}, not above {last:#x} of the same epoch"
                ));
            }
        }
        self.proposed.insert(z, bytes(e));
        Ok(())
    }

    /// A txn goes into a node's log or tree: it must be the txn its leader proposed.
    pub(super) fn known(&self, sid: i64, e: &TxnEntry) -> Result<(), Violation> {
        let z = e.header.zxid;
        match self.proposed.get(&z) {
            Some(b) if *b == bytes(e) => Ok(()),
            Some(_) => Err(format!("server {sid} holds a different txn at {z:#x}")),
            None => Err(format!("server {sid} holds {z:#x}, which nobody proposed")),
        }
    }

    /// `tree` must be a prefix of the committed history (a synced node).
    pub(super) fn tree_is_prefix(&self, sid: i64, tree: &[Arc<TxnEntry>]) -> Result<(), Violation> {
        let mut history = self.committed.iter();
        for e in tree {
            let z = e.header.zxid;
            match history.next() {
                Some((&hz, b)) if hz == z && *b == bytes(e) => {}
                Some((&hz, _)) if hz == z => {
                    return Err(format!("server {sid} committed another txn at {z:#x}"))
                }
                Some((&hz, _)) if hz < z => {
                    return Err(format!(
                        "server {sid} lacks committed {hz:#x} (its sequence goes on at {z:#x})"
                    ))
                }
                _ => {
                    return Err(format!(
                    "server {sid} has {z:#x} in its committed sequence, which was never committed"
                ))
                }
            }
        }
        Ok(())
    }

    /// A synced node whose tree ends at `prev` applies `e`: it must be the next committed txn,
    /// or (`may_extend`, a leader's commit) a new one after all of them.
    pub(super) fn applied(
        &mut self,
        sid: i64,
        prev: i64,
        e: &TxnEntry,
        may_extend: bool,
    ) -> Result<(), Violation> {
        let z = e.header.zxid;
        match self.committed.range(prev + 1..).next() {
            Some((&hz, b)) if hz == z => {
                if *b != bytes(e) {
                    return Err(format!("server {sid} committed another txn at {z:#x}"));
                }
            }
            Some((&hz, _)) => {
                return Err(format!(
                    "server {sid} commits {z:#x} after {prev:#x}, skipping committed {hz:#x}"
                ))
            }
            None if may_extend => {
                self.committed.insert(z, bytes(e));
            }
            None => {
                return Err(format!(
                    "server {sid} commits {z:#x}, which its leader did not commit"
                ))
            }
        }
        Ok(())
    }

    /// A txn applied during sync (not yet serving): it must be committed already.
    pub(super) fn applied_in_sync(&self, sid: i64, e: &TxnEntry) -> Result<(), Violation> {
        let z = e.header.zxid;
        match self.committed.get(&z) {
            Some(b) if *b == bytes(e) => Ok(()),
            Some(_) => Err(format!("server {sid} synced another txn at {z:#x}")),
            None => Err(format!(
                "server {sid} synced {z:#x}, which was never committed"
            )),
        }
    }

    /// A leader is established with `tree`: the only one of its epoch, holding every
    /// committed txn; its whole history is committed from now on.
    pub(super) fn established(
        &mut self,
        sid: i64,
        epoch: i64,
        tree: &[Arc<TxnEntry>],
    ) -> Result<(), Violation> {
        if let Some(other) = self.leaders.insert(epoch, sid) {
            return Err(format!(
                "two leaders established in epoch {epoch}: {other} and {sid}"
            ));
        }
        let mut mine = tree.iter();
        for (&hz, b) in &self.committed {
            match mine.next() {
                Some(e) if e.header.zxid == hz && bytes(e) == *b => {}
                Some(e) if e.header.zxid == hz => {
                    return Err(format!("leader {sid} has another txn at committed {hz:#x}"))
                }
                _ => {
                    return Err(format!(
                        "leader {sid} of epoch {epoch} lost committed {hz:#x}"
                    ))
                }
            }
        }
        for e in mine {
            self.committed.insert(e.header.zxid, bytes(e));
        }
        Ok(())
    }
}

/// An epoch file write: epochs never go backwards and `currentEpoch <= acceptedEpoch`.
pub(super) fn epoch_write(
    sid: i64,
    name: &str,
    old: i64,
    new: i64,
    accepted_after: i64,
    current_after: i64,
) -> Result<(), Violation> {
    if new < old {
        return Err(format!(
            "server {sid}: {name} went back from {old} to {new}"
        ));
    }
    if current_after > accepted_after {
        return Err(format!(
            "server {sid}: currentEpoch {current_after} above acceptedEpoch {accepted_after}"
        ));
    }
    Ok(())
}
