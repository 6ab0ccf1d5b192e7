//! The fault injector, healing, and the liveness condition.

use super::check::Violation;
use super::net::{Event, NetFaults};
use super::node::Role;
use super::{Sim, ZabState};

impl Sim {
    /// One random fault: a crash, a partition, healing, or a disk turning slow or fast.
    pub(super) fn fault(&mut self) -> Result<(), Violation> {
        let sids: Vec<i64> = self.nodes.keys().copied().collect();
        let sid = self.net.rng.pick(&sids);
        match self.net.rng.range(0, 99) {
            0..=29 => {
                if self.nodes[&sid].up {
                    self.crash(sid);
                    let down = self.net.rng.range(100, 3000);
                    self.net.after(down, Event::Restart { sid });
                }
            }
            30..=44 => {
                // Isolate one node.
                self.partitions += 1;
                self.trace(format!("partition: {sid} isolated"));
                for &other in &sids {
                    if other != sid {
                        self.cut(sid, other);
                    }
                }
            }
            45..=59 => {
                // Split into two random sides.
                self.partitions += 1;
                let side: Vec<i64> = sids
                    .iter()
                    .copied()
                    .filter(|_| self.net.rng.chance(500))
                    .collect();
                self.trace(format!("partition: {side:?} | rest"));
                for &a in &side {
                    for &b in sids.iter().filter(|b| !side.contains(b)) {
                        self.cut(a, b);
                    }
                }
            }
            60..=64 => {
                // One link only (asymmetric views of who is reachable).
                let other = self.net.rng.pick(&sids);
                if other != sid {
                    self.partitions += 1;
                    self.trace(format!("partition: link {sid}-{other}"));
                    self.cut(sid, other);
                }
            }
            65..=84 => {
                if self.net.cut_links() > 0 {
                    self.trace("partitions heal".into());
                    self.net.heal_all();
                }
            }
            _ => {
                let node = self.nodes.get_mut(&sid).expect("node");
                let slow = node.disk_latency_ms.1 < 50;
                node.disk_latency_ms = if slow { (50, 800) } else { (1, 5) };
                self.trace(format!("{sid} disk {}", if slow { "slow" } else { "fast" }));
            }
        }
        Ok(())
    }

    /// Cuts a link: its quorum connections die, each end told (a reset) or not.
    fn cut(&mut self, a: i64, b: i64) {
        self.net.cut_link(a, b);
        self.link_cut(a, b);
        let conns: Vec<_> = self
            .net
            .conns
            .iter()
            .filter(|(_, c)| (c.learner, c.leader) == (a, b) || (c.learner, c.leader) == (b, a))
            .map(|(&id, _)| id)
            .collect();
        for conn in conns {
            let (l, r) = (self.net.rng.chance(500), self.net.rng.chance(500));
            self.net.sever(conn, l, r);
        }
    }

    /// The faults stop: links heal, the network only delays, disks are fast, every node is
    /// (re)started.
    pub(super) fn heal(&mut self) {
        self.trace("HEAL: faults stop".into());
        self.healed_at = Some(self.net.now_ms);
        self.net.heal_all();
        self.net.faults = NetFaults::healthy();
        let sids: Vec<i64> = self.nodes.keys().copied().collect();
        for sid in sids {
            let node = self.nodes.get_mut(&sid).expect("node");
            node.disk_latency_ms = (1, 5);
            if !node.up {
                let d = self.net.rng.range(0, 500);
                self.net.after(d, Event::Restart { sid });
            }
        }
    }

    /// One established leader, everyone else serving under it, nothing outstanding, and
    /// every node holding the whole committed history.
    pub(super) fn converged(&self) -> Result<bool, Violation> {
        if self.not_converged().is_some() {
            return Ok(false);
        }
        for node in self.nodes.values() {
            self.check.tree_is_prefix(node.sid, &node.tree)?;
        }
        Ok(true)
    }

    /// Why the ensemble has not converged, if it has not.
    pub(super) fn not_converged(&self) -> Option<String> {
        let leaders = self.established_leaders();
        let [leader] = leaders[..] else {
            return Some(format!("established leaders: {leaders:?}"));
        };
        let Role::Leading(l) = &self.nodes[&leader].role else {
            unreachable!()
        };
        if l.core.last_committed() != l.core.last_proposed() {
            return Some(format!(
                "leader {leader} has proposals up to {:#x} committed up to {:#x}",
                l.core.last_proposed(),
                l.core.last_committed()
            ));
        }
        let history = self.check.committed.len();
        for node in self.nodes.values() {
            if !node.up {
                return Some(format!("{} is down", node.sid));
            }
            if node.sid != leader {
                match &node.role {
                    Role::Following(f)
                        if f.leader == leader && f.core.zab_state() == ZabState::Broadcast => {}
                    Role::Following(f) => {
                        return Some(format!(
                            "{} follows {} in {:?}",
                            node.sid,
                            f.leader,
                            f.core.zab_state()
                        ))
                    }
                    _ => return Some(format!("{} is not following", node.sid)),
                }
            }
            if node.tree.len() != history {
                return Some(format!(
                    "{} has {} of {history} committed txns",
                    node.sid,
                    node.tree.len()
                ));
            }
        }
        None
    }
}
