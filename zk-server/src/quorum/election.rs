//! Fast Leader Election (`FastLeaderElection.java`, electionAlg 3) as a sans-IO state machine.
//!
//! The runtime feeds it notifications read from the election connections, ticks and connection
//! changes, and carries out the [`Action`]s it returns; time is only an input (`now_ms`). One
//! [`Election`] lives as long as the server (like Java's FastLeaderElection object): the logical
//! clock carries over from one [`Election::look_for_leader`] to the next.
//!
//! What Java does in two threads is one call here: [`Election::on_notification`] is the
//! `WorkerReceiver` (replies to non-voters and to lagging or looking peers) followed at once by
//! the `lookForLeader` loop's handling of the message. Notifications to myself never leave the
//! core: Java loops them back through its receive queue, and so do we, before the call returns.

mod vote;

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use zk_proto::quorum::{Notification, ServerState};

pub use vote::{total_order, ElectionQuorum, MajorityQuorum, Proposal, Vote, NO_VOTE};

use crate::config::PeerType;

/// How long a server that has seen a quorum for its vote waits for a better one
/// (`FastLeaderElection.finalizeWait`, not configurable).
pub const FINALIZE_WAIT_MS: u64 = 200;
/// The default first notification timeout (`zookeeper.fastleader.minNotificationInterval`).
pub const MIN_NOTIFICATION_INTERVAL_MS: u64 = FINALIZE_WAIT_MS;
/// The default cap of the doubling notification timeout
/// (`zookeeper.fastleader.maxNotificationInterval`).
pub const MAX_NOTIFICATION_INTERVAL_MS: u64 = 60_000;

/// The election's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionTiming {
    /// Quiet time after a quorum is seen before deciding.
    pub finalize_wait_ms: u64,
    /// The first wait for a notification before resending.
    pub min_notification_interval_ms: u64,
    /// The longest wait for a notification before resending.
    pub max_notification_interval_ms: u64,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        ElectionTiming {
            finalize_wait_ms: FINALIZE_WAIT_MS,
            min_notification_interval_ms: MIN_NOTIFICATION_INTERVAL_MS,
            max_notification_interval_ms: MAX_NOTIFICATION_INTERVAL_MS,
        }
    }
}

/// The outcome of a round: whom to follow (or that I lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The elected leader's sid.
    pub leader: i64,
    /// The leader's last zxid as voted.
    pub zxid: i64,
    /// The round the decision belongs to.
    pub election_epoch: i64,
    /// The leader's epoch as voted.
    pub peer_epoch: i64,
    /// My new state: LEADING, FOLLOWING or OBSERVING.
    pub state: ServerState,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue `notification` for server `to` (connecting to it if there is no connection yet,
    /// as `QuorumCnxManager.toSend` does).
    Send {
        /// The recipient's sid.
        to: i64,
        /// The notification.
        notification: Notification,
    },
    /// Queue `notification` for every voter of the current and next configuration except me
    /// (`sendNotifications`; my own copy was already looped back).
    Broadcast {
        /// The notification.
        notification: Notification,
    },
    /// No notification came in time and nothing was delivered: connect to every server that
    /// has queued messages and no connection (`QuorumCnxManager.connectAll`).
    ConnectAll,
    /// The round is over; run ZAB in `decision.state`, then call
    /// [`Election::look_for_leader`] again when that ends.
    Decided(Decision),
    /// A peer sent a config with a higher version than mine while I was looking. Java then
    /// reconfigures and restarts the election (`processReconfig`); that is the runtime's job.
    NewerConfig {
        /// The sender.
        from: i64,
        /// Its config text.
        config: Bytes,
    },
}

/// The state of one `lookForLeader` call.
#[derive(Debug)]
struct Round {
    /// Votes of the current round from LOOKING peers (and same-round FOLLOWING/LEADING ones).
    recvset: BTreeMap<i64, Vote>,
    /// Votes of FOLLOWING/LEADING peers, any round.
    outofelection: BTreeMap<i64, Vote>,
    /// The current notification timeout (doubles on each timeout).
    notification_timeout_ms: u64,
    /// When the wait for the next notification ends.
    poll_deadline_ms: u64,
    /// Set while waiting `finalizeWait` for a better vote after seeing a quorum.
    finalize_deadline_ms: Option<u64>,
}

/// One server's Fast Leader Election.
#[derive(Debug)]
pub struct Election {
    my_id: i64,
    peer_type: PeerType,
    quorum: Box<dyn ElectionQuorum>,
    /// My config text as it travels in notifications (`QuorumVerifier.toString()`).
    config: Bytes,
    config_version: Option<i64>,
    timing: ElectionTiming,
    /// `logicalclock`: the round.
    logical_clock: i64,
    /// `proposedLeader`, `proposedZxid`, `proposedEpoch`.
    proposal: Proposal,
    /// My own vote at the start of a round (`getInitId` and friends).
    init: Proposal,
    /// `QuorumPeer.currentVote`: the last round's result, what I tell peers when not looking.
    current_vote: Option<Vote>,
    state: ServerState,
    round: Option<Round>,
    /// Peers with a live election connection (stands in for `haveDelivered`).
    connected: BTreeSet<i64>,
    /// My own notifications on their way back to me.
    loopback: VecDeque<Notification>,
}

impl Election {
    /// The election of server `my_id`. `config` is my config text, sent in every notification.
    pub fn new(
        my_id: i64,
        peer_type: PeerType,
        quorum: Box<dyn ElectionQuorum>,
        config: impl Into<Bytes>,
        timing: ElectionTiming,
    ) -> Self {
        let config = config.into();
        Election {
            my_id,
            peer_type,
            quorum,
            config_version: config_version(&config),
            config,
            timing,
            logical_clock: 0,
            proposal: Proposal {
                leader: -1,
                zxid: -1,
                peer_epoch: 0,
            },
            init: Proposal {
                leader: NO_VOTE,
                zxid: NO_VOTE,
                peer_epoch: NO_VOTE,
            },
            current_vote: None,
            state: ServerState::Looking,
            round: None,
            connected: BTreeSet::new(),
            loopback: VecDeque::new(),
        }
    }

    /// My sid.
    pub fn my_id(&self) -> i64 {
        self.my_id
    }

    /// My state: LOOKING until a round decides.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The round (`logicalclock`).
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// The vote I currently propose.
    pub fn proposal(&self) -> Proposal {
        self.proposal
    }

    /// The result of the last round (`QuorumPeer.getCurrentVote`); before the first decision,
    /// my own initial vote with round -1.
    pub fn current_vote(&self) -> Option<Vote> {
        self.current_vote
    }

    /// When the runtime must call [`Election::on_tick`] next, if a round is running.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let round = self.round.as_ref()?;
        Some(round.finalize_deadline_ms.unwrap_or(round.poll_deadline_ms))
    }

    /// An election connection to `sid` is up.
    pub fn peer_connected(&mut self, sid: i64) {
        self.connected.insert(sid);
    }

    /// The election connection to `sid` closed.
    pub fn peer_disconnected(&mut self, sid: i64) {
        self.connected.remove(&sid);
    }

    /// Replaces the quorum rules and config text (after a reconfiguration).
    pub fn set_quorum(&mut self, quorum: Box<dyn ElectionQuorum>, config: impl Into<Bytes>) {
        self.quorum = quorum;
        self.config = config.into();
        self.config_version = config_version(&self.config);
    }

    /// `QuorumPeer.updateElectionVote`: after ZAB settles a new epoch, peers that ask get it.
    pub fn update_election_vote(&mut self, new_epoch: i64) {
        if let Some(vote) = &mut self.current_vote {
            vote.peer_epoch = new_epoch;
        }
    }

    /// Starts a round (`lookForLeader`): I become LOOKING, advance the round, vote for myself
    /// (an observer votes for nobody) and tell every voter.
    pub fn look_for_leader(
        &mut self,
        now_ms: u64,
        last_logged_zxid: i64,
        current_epoch: i64,
    ) -> Vec<Action> {
        let participant = self.peer_type == PeerType::Participant;
        if self.current_vote.is_none() {
            // QuorumPeer.startLeaderElection.
            self.current_vote = Some(Vote::new(self.my_id, last_logged_zxid, -1, current_epoch));
        }
        self.init = Proposal {
            leader: if self.quorum.is_current_voter(self.my_id) {
                self.my_id
            } else {
                NO_VOTE
            },
            zxid: if participant {
                last_logged_zxid
            } else {
                NO_VOTE
            },
            peer_epoch: if participant { current_epoch } else { NO_VOTE },
        };
        self.state = ServerState::Looking;
        self.logical_clock += 1;
        self.proposal = self.init;
        self.loopback.clear();
        let timeout = self.timing.min_notification_interval_ms;
        self.round = Some(Round {
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            notification_timeout_ms: timeout,
            poll_deadline_ms: now_ms + timeout,
            finalize_deadline_ms: None,
        });
        let mut actions = Vec::new();
        self.send_notifications(&mut actions);
        self.drain_loopback(now_ms, &mut actions);
        actions
    }

    /// A notification from server `from` arrived on its election connection.
    pub fn on_notification(&mut self, now_ms: u64, from: i64, n: &Notification) -> Vec<Action> {
        let mut actions = Vec::new();
        self.receive(now_ms, from, n, &mut actions);
        self.drain_loopback(now_ms, &mut actions);
        actions
    }

    /// Time passed: decide after a quiet finalize wait, or resend (or reconnect) after a
    /// notification timeout, doubling it.
    pub fn on_tick(&mut self, now_ms: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(round) = &mut self.round else {
            return actions;
        };
        if let Some(deadline) = round.finalize_deadline_ms {
            if now_ms >= deadline {
                let decision = Decision {
                    leader: self.proposal.leader,
                    zxid: self.proposal.zxid,
                    election_epoch: self.logical_clock,
                    peer_epoch: self.proposal.peer_epoch,
                    state: self.state_for(self.proposal.leader),
                };
                self.decide(decision, &mut actions);
            }
            return actions;
        }
        if now_ms < round.poll_deadline_ms {
            return actions;
        }
        round.notification_timeout_ms =
            (round.notification_timeout_ms * 2).min(self.timing.max_notification_interval_ms);
        round.poll_deadline_ms = now_ms + round.notification_timeout_ms;
        // haveDelivered: some peer's send queue is drained, i.e. some connection is up.
        if self.connected.iter().any(|&sid| sid != self.my_id) {
            self.send_notifications(&mut actions);
        } else {
            actions.push(Action::ConnectAll);
        }
        self.drain_loopback(now_ms, &mut actions);
        actions
    }

    /// `WorkerReceiver`: answers whoever needs an answer, then hands the notification to the
    /// round if I am looking.
    fn receive(&mut self, now_ms: u64, from: i64, n: &Notification, actions: &mut Vec<Action>) {
        let Some(current) = self.current_vote else {
            // Not started: Java's receiver does not run before startLeaderElection.
            return;
        };
        if self.state == ServerState::Looking {
            if let (Some(config), Some(mine)) = (&n.config, self.config_version) {
                if config_version(config).is_some_and(|theirs| theirs > mine) {
                    actions.push(Action::NewerConfig {
                        from,
                        config: config.clone(),
                    });
                }
            }
        }
        if !self.quorum.is_voter(from) {
            // Non-voters (observers) get my current vote at once and are not counted.
            let reply =
                self.notification(self.state, current.leader, current.zxid, current.peer_epoch);
            actions.push(Action::Send {
                to: from,
                notification: reply,
            });
            return;
        }
        if self.state == ServerState::Looking {
            self.process(now_ms, from, n, actions);
            if n.state == ServerState::Looking && n.election_epoch < self.logical_clock {
                // The sender lags: tell it my vote in my round.
                let p = self.proposal;
                let reply = self.notification(ServerState::Looking, p.leader, p.zxid, p.peer_epoch);
                actions.push(Action::Send {
                    to: from,
                    notification: reply,
                });
            }
        } else if n.state == ServerState::Looking {
            // I am done with elections: tell the looking peer whom I follow or that I lead.
            let reply =
                self.notification(self.state, current.leader, current.zxid, current.peer_epoch);
            actions.push(Action::Send {
                to: from,
                notification: Notification {
                    election_epoch: current.election_epoch,
                    ..reply
                },
            });
        }
    }

    /// The `lookForLeader` loop's handling of one notification.
    fn process(&mut self, now_ms: u64, from: i64, n: &Notification, actions: &mut Vec<Action>) {
        let Some(round) = &mut self.round else {
            return;
        };
        let theirs = Proposal {
            leader: n.leader,
            zxid: n.zxid,
            peer_epoch: n.effective_peer_epoch(),
        };
        if round.finalize_deadline_ms.is_some() {
            // Finalize wait: a better vote reopens the round; anything else is dropped and
            // the quiet period starts over.
            if !total_order(self.quorum.as_ref(), theirs, self.proposal) {
                round.finalize_deadline_ms = Some(now_ms + self.timing.finalize_wait_ms);
                return;
            }
            round.finalize_deadline_ms = None;
        }
        round.poll_deadline_ms = now_ms + round.notification_timeout_ms;
        if !(self.quorum.is_voter(from) && self.quorum.is_voter(n.leader)) {
            return;
        }
        match n.state {
            ServerState::Looking => self.process_looking(now_ms, from, n, theirs, actions),
            ServerState::Following | ServerState::Leading => {
                self.process_out_of_election(from, n, actions)
            }
            // OBSERVING from a voter, or a state this build does not know: ignored.
            _ => {}
        }
    }

    fn process_looking(
        &mut self,
        now_ms: u64,
        from: i64,
        n: &Notification,
        theirs: Proposal,
        actions: &mut Vec<Action>,
    ) {
        if self.init.zxid == -1 || n.zxid == -1 {
            return;
        }
        let quorum = self.quorum.as_ref();
        let Some(round) = &mut self.round else {
            return;
        };
        if n.election_epoch > self.logical_clock {
            // A later round: join it, forget this round's votes, vote for the better of theirs
            // and my own initial vote.
            self.logical_clock = n.election_epoch;
            round.recvset.clear();
            self.proposal = if total_order(quorum, theirs, self.init) {
                theirs
            } else {
                self.init
            };
            self.send_notifications(actions);
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if total_order(quorum, theirs, self.proposal) {
            self.proposal = theirs;
            self.send_notifications(actions);
        }
        let Some(round) = &mut self.round else {
            return;
        };
        round.recvset.insert(
            from,
            Vote::new(n.leader, n.zxid, n.election_epoch, theirs.peer_epoch),
        );
        let mine = Vote::new(
            self.proposal.leader,
            self.proposal.zxid,
            self.logical_clock,
            self.proposal.peer_epoch,
        );
        if self.quorum.has_all_quorums(&acks(&round.recvset, &mine)) {
            round.finalize_deadline_ms = Some(now_ms + self.timing.finalize_wait_ms);
        }
    }

    /// `receivedFollowingNotification` (and the LEADING case, whose oracle part only applies to
    /// `QuorumOracleMaj`).
    fn process_out_of_election(&mut self, from: i64, n: &Notification, actions: &mut Vec<Action>) {
        let java_version = if n.config.is_some() {
            n.version.unwrap_or(0)
        } else {
            0
        };
        let theirs = Vote {
            version: java_version,
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.effective_peer_epoch(),
            state: n.state,
        };
        let decision = Decision {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: theirs.peer_epoch,
            state: self.state_for(n.leader),
        };
        let (my_id, clock) = (self.my_id, self.logical_clock);
        let Some(round) = &mut self.round else {
            return;
        };
        if n.election_epoch == self.logical_clock {
            round.recvset.insert(
                from,
                Vote {
                    version: 0,
                    ..theirs
                },
            );
            if self.quorum.has_all_quorums(&acks(&round.recvset, &theirs))
                && check_leader(my_id, clock, &round.recvset, n.leader, n.election_epoch)
            {
                self.decide(decision, actions);
                return;
            }
        }
        let Some(round) = &mut self.round else {
            return;
        };
        // Joining an established ensemble: a quorum must follow the same leader, whatever
        // round they were elected in, and the leader must say it leads.
        round.outofelection.insert(from, theirs);
        if self
            .quorum
            .has_all_quorums(&acks(&round.outofelection, &theirs))
            && check_leader(
                my_id,
                clock,
                &round.outofelection,
                n.leader,
                n.election_epoch,
            )
        {
            self.logical_clock = n.election_epoch;
            self.decide(decision, actions);
        }
    }

    fn state_for(&self, leader: i64) -> ServerState {
        if leader == self.my_id {
            ServerState::Leading
        } else if self.peer_type == PeerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        }
    }

    fn decide(&mut self, decision: Decision, actions: &mut Vec<Action>) {
        self.state = decision.state;
        self.round = None;
        self.loopback.clear();
        self.current_vote = Some(Vote::new(
            decision.leader,
            decision.zxid,
            decision.election_epoch,
            decision.peer_epoch,
        ));
        actions.push(Action::Decided(decision));
    }

    /// `sendNotifications`: my proposal to every voter; my own copy loops back.
    fn send_notifications(&mut self, actions: &mut Vec<Action>) {
        let p = self.proposal;
        let notification = self.notification(ServerState::Looking, p.leader, p.zxid, p.peer_epoch);
        if self.quorum.is_voter(self.my_id) {
            self.loopback.push_back(notification.clone());
        }
        actions.push(Action::Broadcast { notification });
    }

    fn drain_loopback(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        while let Some(n) = self.loopback.pop_front() {
            self.receive(now_ms, self.my_id, &n, actions);
        }
    }

    /// A version-2 notification in my round with my config.
    fn notification(
        &self,
        state: ServerState,
        leader: i64,
        zxid: i64,
        peer_epoch: i64,
    ) -> Notification {
        Notification::new(
            state,
            leader,
            zxid,
            self.logical_clock,
            peer_epoch,
            self.config.clone(),
        )
    }
}

/// `checkLeader`: the leader I would join has told me it leads; if that is me, only for my
/// current round (`logical_clock`).
fn check_leader(
    my_id: i64,
    logical_clock: i64,
    votes: &BTreeMap<i64, Vote>,
    leader: i64,
    election_epoch: i64,
) -> bool {
    if leader != my_id {
        votes
            .get(&leader)
            .is_some_and(|v| v.state == ServerState::Leading)
    } else {
        logical_clock == election_epoch
    }
}

/// The voters whose recorded vote equals `vote` (`getVoteTracker`).
fn acks(votes: &BTreeMap<i64, Vote>, vote: &Vote) -> BTreeSet<i64> {
    votes
        .iter()
        .filter(|(_, v)| vote.matches(v))
        .map(|(&sid, _)| sid)
        .collect()
}

/// The `version=<hex>` line of a config text.
fn config_version(config: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(config).ok()?;
    let hex = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("version="))?;
    u64::from_str_radix(hex.trim(), 16).ok().map(|v| v as i64)
}
