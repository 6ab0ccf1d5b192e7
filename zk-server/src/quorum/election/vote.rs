//! Votes, their order and the quorum rules the election counts them with.

use std::collections::BTreeSet;
use std::fmt::Debug;

use zk_proto::quorum::ServerState;

/// The sid (and zxid and epoch) an observer votes with: `Long.MIN_VALUE`, below every real vote.
pub const NO_VOTE: i64 = i64::MIN;

/// A vote as FastLeaderElection records it (`Vote.java`): the proposed leader, its last zxid
/// and epoch, the round it was cast in and the sender's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The notification format version the vote came with (0 for votes built locally).
    pub version: i32,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The round (logical clock) the vote belongs to; -1 for the vote a server starts with.
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
    /// The state of the server that cast it.
    pub state: ServerState,
}

impl Vote {
    /// A locally built vote (version 0, state LOOKING), as `new Vote(id, zxid, electionEpoch,
    /// peerEpoch)`.
    pub fn new(leader: i64, zxid: i64, election_epoch: i64, peer_epoch: i64) -> Self {
        Vote {
            version: 0,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            state: ServerState::Looking,
        }
    }

    /// `Vote.equals`: when either side is LOOKING, leader, zxid, round and peer epoch must
    /// match. Between two out-of-election votes the zxid and round are skipped (they drift
    /// after sync, ZOOKEEPER-1805), and the peer epoch too when exactly one of the two has
    /// version 0 (mixed ensembles, ZOOKEEPER-1732).
    pub fn matches(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else if (self.version > 0) != (other.version > 0) {
            self.leader == other.leader
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

/// The part of a vote the order compares: who, and how recent its history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// The proposed leader's sid.
    pub leader: i64,
    /// Its last zxid.
    pub zxid: i64,
    /// Its epoch.
    pub peer_epoch: i64,
}

/// The quorum rules of the current (and, during a reconfiguration, the next) configuration, as
/// the election needs them. [`MajorityQuorum`] is the default `QuorumMaj`; hierarchical
/// quorums plug in here.
pub trait ElectionQuorum: Debug + Send + Sync {
    /// Whether `sid` votes in the current configuration (`getVotingMembers().containsKey`).
    fn is_current_voter(&self, sid: i64) -> bool;
    /// Whether `sid` votes in the current or the next configuration (`validVoter`).
    fn is_voter(&self, sid: i64) -> bool;
    /// The sid's voting weight (`QuorumVerifier.getWeight`); 0 makes its votes lose always.
    fn weight(&self, sid: i64) -> u64;
    /// Whether `acks` holds a quorum of every configuration in force
    /// (`SyncedLearnerTracker.hasAllQuorums`).
    fn has_all_quorums(&self, acks: &BTreeSet<i64>) -> bool;
}

/// `QuorumMaj`: a strict majority of the voters; every sid weighs 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MajorityQuorum {
    voters: BTreeSet<i64>,
}

impl MajorityQuorum {
    /// The quorum of `voters` (the participants of the `server.N` lines).
    pub fn new(voters: impl IntoIterator<Item = i64>) -> Self {
        MajorityQuorum {
            voters: voters.into_iter().collect(),
        }
    }

    /// The voters.
    pub fn voters(&self) -> &BTreeSet<i64> {
        &self.voters
    }
}

impl ElectionQuorum for MajorityQuorum {
    fn is_current_voter(&self, sid: i64) -> bool {
        self.voters.contains(&sid)
    }

    fn is_voter(&self, sid: i64) -> bool {
        self.voters.contains(&sid)
    }

    fn weight(&self, _sid: i64) -> u64 {
        // QuorumMaj.getWeight answers 1 for any sid, members or not.
        1
    }

    fn has_all_quorums(&self, acks: &BTreeSet<i64>) -> bool {
        // SyncedLearnerTracker only counts voting members; QuorumMaj wants more than half.
        acks.intersection(&self.voters).count() > self.voters.len() / 2
    }
}

/// `totalOrderPredicate`: whether `new` beats `current`: a higher epoch, then a higher zxid,
/// then a higher sid; a proposed leader of weight 0 never wins.
pub fn total_order(quorum: &dyn ElectionQuorum, new: Proposal, current: Proposal) -> bool {
    if quorum.weight(new.leader) == 0 {
        return false;
    }
    (new.peer_epoch, new.zxid, new.leader) > (current.peer_epoch, current.zxid, current.leader)
}
