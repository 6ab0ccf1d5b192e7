//! A deterministic in-memory ensemble: N election cores, a seeded network that loses, delays,
//! reorders and duplicates notifications, and a crude stand-in for ZAB so that a wrongly
//! decided round is abandoned as in Java (a leader without a quorum of followers, or with a
//! follower more recent than itself, gives up; so do its followers).

use std::collections::{BTreeMap, BTreeSet};

use zk_proto::quorum::{Notification, ServerState};

use super::{Action, Decision, Election, ElectionTiming, MajorityQuorum};
use crate::config::PeerType;

/// splitmix64: enough randomness for a scheduler, and no dependency (the ensemble simulation,
/// `quorum::sim`, uses it too).
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `per_mille`/1000.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// How the network misbehaves.
#[derive(Debug, Clone, Copy)]
pub(super) struct Net {
    pub loss_per_mille: u64,
    pub dup_per_mille: u64,
    pub min_delay_ms: u64,
    pub max_delay_ms: u64,
}

/// One simulated server.
#[derive(Debug)]
pub(super) struct Node {
    pub election: Election,
    pub zxid: i64,
    pub epoch: i64,
    pub up: bool,
    pub start_ms: u64,
    /// When the stand-in for ZAB checks the current decision.
    pub zab_check_ms: Option<u64>,
    /// Set on a leader once a quorum has synced with it; later followers just join (and are
    /// truncated if they are ahead, as in Java's broadcast phase).
    pub established: bool,
}

/// The ensemble.
#[derive(Debug)]
pub(super) struct Cluster {
    pub nodes: BTreeMap<i64, Node>,
    pub voters: BTreeSet<i64>,
    /// In flight: (delivery time, sequence) -> (from, to, notification).
    queue: BTreeMap<(u64, u64), (i64, i64, Notification)>,
    seq: u64,
    pub now_ms: u64,
    rng: Rng,
    net: Net,
    /// Every decision: (time, sid, decision).
    pub decisions: Vec<(u64, i64, Decision)>,
    pub delivered: u64,
    /// How long a decision may stand without an established leader (ZAB's initLimit).
    pub zab_limit_ms: u64,
}

/// The config text every node sends.
pub(super) fn config_text(voters: &BTreeSet<i64>, observers: &BTreeSet<i64>) -> String {
    let mut text = String::new();
    for sid in voters {
        text.push_str(&format!(
            "server.{sid}=127.0.0.1:{}:{}:participant\n",
            2230 + sid,
            2240 + sid
        ));
    }
    for sid in observers {
        text.push_str(&format!(
            "server.{sid}=127.0.0.1:{}:{}:observer\n",
            2230 + sid,
            2240 + sid
        ));
    }
    text.push_str("version=0");
    text
}

impl Cluster {
    /// Servers given as (sid, participant?, last zxid, current epoch, start time); `down` never
    /// start and drop whatever reaches them.
    pub(super) fn new(
        servers: &[(i64, bool, i64, i64, u64)],
        down: &BTreeSet<i64>,
        net: Net,
        seed: u64,
    ) -> Self {
        let voters: BTreeSet<i64> = servers.iter().filter(|s| s.1).map(|s| s.0).collect();
        let observers: BTreeSet<i64> = servers.iter().filter(|s| !s.1).map(|s| s.0).collect();
        let config = config_text(&voters, &observers);
        let mut nodes = BTreeMap::new();
        for &(sid, participant, zxid, epoch, start_ms) in servers {
            let peer_type = if participant {
                PeerType::Participant
            } else {
                PeerType::Observer
            };
            let mut election = Election::new(
                sid,
                peer_type,
                Box::new(MajorityQuorum::new(voters.iter().copied())),
                config.clone(),
                ElectionTiming::default(),
            );
            for &(other, ..) in servers {
                if other != sid && !down.contains(&other) {
                    election.peer_connected(other);
                }
            }
            let node = Node {
                election,
                zxid,
                epoch,
                up: !down.contains(&sid),
                start_ms,
                zab_check_ms: None,
                established: false,
            };
            nodes.insert(sid, node);
        }
        Cluster {
            nodes,
            voters,
            queue: BTreeMap::new(),
            seq: 0,
            now_ms: 0,
            rng: Rng::new(seed),
            net,
            decisions: Vec::new(),
            delivered: 0,
            zab_limit_ms: 2_000,
        }
    }

    fn send(&mut self, from: i64, to: i64, n: &Notification) {
        if !self.nodes.get(&to).is_some_and(|node| node.up) {
            return;
        }
        let copies = if self.rng.chance(self.net.dup_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.rng.chance(self.net.loss_per_mille) {
                continue;
            }
            let at = self.now_ms + self.rng.range(self.net.min_delay_ms, self.net.max_delay_ms);
            self.seq += 1;
            self.queue.insert((at, self.seq), (from, to, n.clone()));
        }
    }

    fn apply(&mut self, sid: i64, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, notification } => self.send(sid, to, &notification),
                Action::Broadcast { notification } => {
                    let voters: Vec<i64> =
                        self.voters.iter().copied().filter(|&v| v != sid).collect();
                    for to in voters {
                        self.send(sid, to, &notification);
                    }
                }
                Action::ConnectAll | Action::NewerConfig { .. } => {}
                Action::Decided(d) => {
                    self.decisions.push((self.now_ms, sid, d));
                    let limit = self.zab_limit_ms;
                    let node = self.nodes.get_mut(&sid).unwrap();
                    node.zab_check_ms = Some(self.now_ms + limit);
                    node.established = false;
                }
            }
        }
    }

    /// The leader `sid` follows (or itself when leading), if it is done electing.
    fn following(&self, sid: i64) -> Option<i64> {
        let e = &self.nodes[&sid].election;
        (e.state() != ServerState::Looking).then(|| e.current_vote().unwrap().leader)
    }

    /// Whether `leader` leads: it did already, or it now has a quorum of followers none of
    /// which is more recent than it (what ZAB's discovery phase demands).
    pub(super) fn established(&self, leader: i64) -> bool {
        let Some(l) = self.nodes.get(&leader) else {
            return false;
        };
        if !l.up || l.election.state() != ServerState::Leading {
            return false;
        }
        if l.established {
            return true;
        }
        let followers: BTreeSet<i64> = self
            .voters
            .iter()
            .copied()
            .filter(|&s| self.nodes[&s].up && self.following(s) == Some(leader))
            .collect();
        let newest = followers
            .iter()
            .all(|s| (self.nodes[s].epoch, self.nodes[s].zxid) <= (l.epoch, l.zxid));
        followers.len() > self.voters.len() / 2 && newest
    }

    fn zab_check(&mut self, sid: i64) {
        let node = &self.nodes[&sid];
        let leader = node.election.current_vote().unwrap().leader;
        if self.established(leader) {
            let others: Vec<i64> = self
                .nodes
                .iter()
                .filter(|(&s, n)| {
                    s != leader && n.established && n.election.state() == ServerState::Leading
                })
                .map(|(&s, _)| s)
                .collect();
            assert!(
                others.is_empty(),
                "two leaders with a quorum: {leader} and {others:?}"
            );
            self.nodes.get_mut(&leader).unwrap().established = true;
        }
        if !self.established(leader) {
            let node = self.nodes.get_mut(&sid).unwrap();
            node.zab_check_ms = None;
            let (zxid, epoch) = (node.zxid, node.epoch);
            let actions = node.election.look_for_leader(self.now_ms, zxid, epoch);
            self.apply(sid, actions);
        } else {
            self.nodes.get_mut(&sid).unwrap().zab_check_ms = None;
        }
    }

    /// Runs until `until_ms` or until nothing is left to happen.
    pub(super) fn run(&mut self, until_ms: u64) {
        loop {
            let mut next = self.queue.keys().next().map(|k| k.0);
            for node in self.nodes.values().filter(|n| n.up) {
                let started = node.election.current_vote().is_some();
                let times = [
                    (!started).then_some(node.start_ms),
                    node.election.next_deadline_ms(),
                    node.zab_check_ms,
                ];
                for t in times.into_iter().flatten() {
                    next = Some(next.map_or(t, |n: u64| n.min(t)));
                }
            }
            let Some(at) = next else { return };
            if at > until_ms {
                self.now_ms = until_ms;
                return;
            }
            self.now_ms = self.now_ms.max(at);
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now_ms;
        let sids: Vec<i64> = self.nodes.keys().copied().collect();
        for &sid in &sids {
            let node = self.nodes.get_mut(&sid).unwrap();
            if node.up && node.election.current_vote().is_none() && node.start_ms <= now {
                let (zxid, epoch) = (node.zxid, node.epoch);
                let actions = node.election.look_for_leader(now, zxid, epoch);
                self.apply(sid, actions);
            }
        }
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (from, to, n) = entry.remove();
            // Through the codec, as on the wire.
            let n = Notification::parse(&n.to_bytes()).expect("our notifications parse");
            self.delivered += 1;
            let actions = self
                .nodes
                .get_mut(&to)
                .unwrap()
                .election
                .on_notification(now, from, &n);
            self.apply(to, actions);
        }
        for &sid in &sids {
            let node = &self.nodes[&sid];
            if !node.up {
                continue;
            }
            if node.election.next_deadline_ms().is_some_and(|t| t <= now) {
                let actions = self.nodes.get_mut(&sid).unwrap().election.on_tick(now);
                self.apply(sid, actions);
            }
            if self.nodes[&sid].zab_check_ms.is_some_and(|t| t <= now) {
                self.zab_check(sid);
            }
        }
    }

    /// The leader every up server follows (observers observe), if they all agree and it is
    /// established.
    pub(super) fn settled_leader(&self) -> Option<i64> {
        let leaders: BTreeSet<Option<i64>> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.up)
            .map(|(&sid, _)| self.following(sid))
            .collect();
        match leaders.into_iter().collect::<Vec<_>>()[..] {
            [Some(l)] if self.established(l) => Some(l),
            _ => None,
        }
    }
}

/// Timely network: no loss, every delay under finalizeWait, everyone starts at once. Then every
/// decision names the best (epoch, zxid, sid) of the up voters, and nobody needs a second round.
#[test]
fn timely_runs_agree_on_the_best_vote() {
    for seed in 0..300u64 {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let n = if seed % 2 == 0 { 3 } else { 5 };
        let mut servers = Vec::new();
        for sid in 1..=n {
            let epoch = rng.range(0, 2) as i64;
            let zxid = (epoch << 32) | rng.range(0, 3) as i64;
            servers.push((sid, true, zxid, epoch, 0));
        }
        if seed % 3 == 0 {
            servers.push((n + 1, false, 0, 0, 0));
        }
        let down: BTreeSet<i64> = if seed % 4 == 1 {
            [rng.range(1, n as u64) as i64].into()
        } else {
            BTreeSet::new()
        };
        let net = Net {
            loss_per_mille: 0,
            dup_per_mille: 100,
            min_delay_ms: 0,
            max_delay_ms: 150,
        };
        let mut cluster = Cluster::new(&servers, &down, net, seed);
        cluster.run(60_000);
        let best = servers
            .iter()
            .filter(|s| s.1 && !down.contains(&s.0))
            .map(|s| (s.3, s.2, s.0))
            .max()
            .unwrap();
        let ctx = format!(
            "seed {seed}: servers {servers:?} down {down:?} decisions {:?}",
            cluster.decisions
        );
        let up = servers.iter().filter(|s| !down.contains(&s.0)).count();
        assert_eq!(cluster.decisions.len(), up, "{ctx}");
        for (_, sid, d) in &cluster.decisions {
            assert_eq!((d.peer_epoch, d.zxid, d.leader), best, "{ctx}");
            assert_eq!(d.election_epoch, 1, "{ctx}");
            let role = match () {
                _ if *sid == best.2 => ServerState::Leading,
                _ if cluster.voters.contains(sid) => ServerState::Following,
                _ => ServerState::Observing,
            };
            assert_eq!(d.state, role, "{ctx}");
        }
        assert_eq!(cluster.settled_leader(), Some(best.2), "{ctx}");
    }
}

/// Lossy network, long delays, duplicates, staggered starts and a crashed minority: decisions
/// may be wrong for a while (as in Java), but the stand-in for ZAB rejects them, never two
/// leaders hold a quorum at once, and the up servers end up behind one leader.
#[test]
fn lossy_runs_settle_on_one_established_leader() {
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed ^ 0x1055);
        let n = [3, 5, 5, 7][seed as usize % 4];
        let mut servers = Vec::new();
        for sid in 1..=n {
            let epoch = rng.range(0, 2) as i64;
            let zxid = (epoch << 32) | rng.range(0, 3) as i64;
            servers.push((sid, true, zxid, epoch, rng.range(0, 2_000)));
        }
        if seed % 3 == 0 {
            servers.push((n + 1, false, 0, 0, rng.range(0, 2_000)));
        }
        let mut down = BTreeSet::new();
        for _ in 0..rng.range(0, (n as u64 - 1) / 2) {
            down.insert(rng.range(1, n as u64) as i64);
        }
        let net = Net {
            loss_per_mille: rng.range(0, 300),
            dup_per_mille: rng.range(0, 200),
            min_delay_ms: 0,
            max_delay_ms: rng.range(10, 1_000),
        };
        let mut cluster = Cluster::new(&servers, &down, net, seed);
        cluster.run(30 * 60_000);
        let last = &cluster.decisions[cluster.decisions.len().saturating_sub(12)..];
        let ctx = format!(
            "seed {seed}: servers {servers:?} down {down:?} net {net:?} last decisions {last:?}"
        );
        assert!(
            cluster.settled_leader().is_some(),
            "no settled leader: {ctx}"
        );
    }
}
