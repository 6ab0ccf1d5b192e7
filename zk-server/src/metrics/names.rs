//! Every counter and summary of Java 3.9's `ServerMetrics`, by Java's name, in the order a Java
//! 3.8 server's `mntr` prints them (its `ConcurrentHashMap` order, read off a real server),
//! 3.9's additions last. `mntr`, `monitor` and `/metrics` list them in this order.

/// How much a summary records (Java's `DetailLevel`): `Basic` gives count, sum, min, max and
/// the median; `Advanced` adds the 90th/95th/99th/99.9th percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Java's BASIC.
    Basic,
    /// Java's ADVANCED.
    Advanced,
}

/// A summary per key, label `key` (Java's `SummarySet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummarySet {
    /// `read_per_namespace` (BASIC), by top-level namespace (the first component of a path):
    /// path + data (or child names) + 68 bytes of Stat per read.
    ReadPerNamespace,
    /// `write_per_namespace` (BASIC): path + data per create, setData and delete applied.
    WritePerNamespace,
    /// `ack_latency` (ADVANCED), on the leader, by learner sid: ms from a proposal to that
    /// learner's ACK.
    AckLatency,
}

impl SummarySet {
    /// Every set, in Java's order.
    pub const ALL: &'static [SummarySet] = &[
        SummarySet::ReadPerNamespace,
        SummarySet::WritePerNamespace,
        SummarySet::AckLatency,
    ];

    /// Java's name.
    pub const fn name(self) -> &'static str {
        match self {
            SummarySet::ReadPerNamespace => "read_per_namespace",
            SummarySet::WritePerNamespace => "write_per_namespace",
            SummarySet::AckLatency => "ack_latency",
        }
    }

    /// Java's detail level.
    pub const fn detail(self) -> Detail {
        match self {
            SummarySet::AckLatency => Detail::Advanced,
            _ => Detail::Basic,
        }
    }
}

/// Java's `PathUtils.getTopNamespace`: the first component of `path` (`app` of `/app/a`);
/// `None` for `/`.
pub fn namespace(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let first = match rest.find('/') {
        Some(end) => &rest[..end],
        None => rest,
    };
    (!first.is_empty()).then_some(first)
}

macro_rules! counters {
    ($($id:ident => $name:literal,)*) => {
        /// A counter of Java's `ServerMetrics`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Counter { $(
            #[doc = concat!("`", $name, "`")]
            $id,
        )* }

        impl Counter {
            /// Every counter, in Java's order.
            pub const ALL: &'static [Counter] = &[$(Counter::$id),*];

            /// Java's name.
            pub const fn name(self) -> &'static str {
                match self { $(Counter::$id => $name),* }
            }
        }
    };
}

macro_rules! summaries {
    ($($id:ident => $name:literal, $detail:ident;)*) => {
        /// A summary of Java's `ServerMetrics` (a series of values, mostly milliseconds).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum SummaryKind { $(
            #[doc = concat!("`", $name, "`")]
            $id,
        )* }

        impl SummaryKind {
            /// Every summary, in Java's order.
            pub const ALL: &'static [SummaryKind] = &[$(SummaryKind::$id),*];

            /// Java's name.
            pub const fn name(self) -> &'static str {
                match self { $(SummaryKind::$id => $name),* }
            }

            /// Java's detail level.
            pub const fn detail(self) -> Detail {
                match self { $(SummaryKind::$id => Detail::$detail),* }
            }
        }
    };
}

counters! {
    ProposalCount => "proposal_count",
    WatchBytes => "watch_bytes",
    OutstandingChangesRemoved => "outstanding_changes_removed",
    ThrottledOps => "throttled_ops",
    StaleRequestsDropped => "stale_requests_dropped",
    LargeRequestsRejected => "large_requests_rejected",
    InsecureAdminCount => "insecure_admin_count",
    ConnectionRejected => "connection_rejected",
    CnxnClosedWithoutZkServerRunning => "cnxn_closed_without_zk_server_running",
    SessionlessConnectionsExpired => "sessionless_connections_expired",
    LookingCount => "looking_count",
    DeadWatchersQueued => "dead_watchers_queued",
    StaleRequests => "stale_requests",
    ConnectionDropCount => "connection_drop_count",
    LearnerProposalReceivedCount => "learner_proposal_received_count",
    DigestMismatchesCount => "digest_mismatches_count",
    DeadWatchersCleared => "dead_watchers_cleared",
    ResponsePacketCacheHits => "response_packet_cache_hits",
    BytesReceivedCount => "bytes_received_count",
    AddDeadWatcherStallTime => "add_dead_watcher_stall_time",
    RequestThrottleWaitCount => "request_throttle_wait_count",
    RequestsNotForwardedToCommitProcessor => "requests_not_forwarded_to_commit_processor",
    ResponsePacketCacheMisses => "response_packet_cache_misses",
    EnsembleAuthSuccess => "ensemble_auth_success",
    PrepProcessorRequestQueued => "prep_processor_request_queued",
    LearnerCommitReceivedCount => "learner_commit_received_count",
    StaleReplies => "stale_replies",
    ConnectionRequestCount => "connection_request_count",
    ResponseBytes => "response_bytes",
    EnsembleAuthFail => "ensemble_auth_fail",
    DiffCount => "diff_count",
    ResponsePacketGetChildrenCacheMisses => "response_packet_get_children_cache_misses",
    ConnectionRevalidateCount => "connection_revalidate_count",
    QuitLeadingDueToDisloyalVoter => "quit_leading_due_to_disloyal_voter",
    SnapCount => "snap_count",
    UnrecoverableErrorCount => "unrecoverable_error_count",
    UnsuccessfulHandshake => "unsuccessful_handshake",
    CommitCount => "commit_count",
    StaleSessionsExpired => "stale_sessions_expired",
    ResponsePacketGetChildrenCacheHits => "response_packet_get_children_cache_hits",
    SyncProcessorRequestQueued => "sync_processor_request_queued",
    OutstandingChangesQueued => "outstanding_changes_queued",
    RequestCommitQueued => "request_commit_queued",
    EnsembleAuthSkip => "ensemble_auth_skip",
    SkipLearnerRequestToNextProcessorCount => "skip_learner_request_to_next_processor_count",
    TlsHandshakeExceeded => "tls_handshake_exceeded",
    RevalidateCount => "revalidate_count",
    // 3.9
    SnapshotErrorCount => "snapshot_error_count",
    SnapshotRateLimitedCount => "snapshot_rate_limited_count",
    RestoreErrorCount => "restore_error_count",
    RestoreRateLimitedCount => "restore_rate_limited_count",
}

summaries! {
    SocketClosingTime => "socket_closing_time", Basic;
    ProposalProcessTime => "proposal_process_time", Basic;
    LeaderUnavailableTime => "leader_unavailable_time", Basic;
    NodeCreatedWatchCount => "node_created_watch_count", Basic;
    SessionQueuesDrained => "session_queues_drained", Basic;
    WriteCommitProcReqQueued => "write_commit_proc_req_queued", Basic;
    ConnectionTokenDeficit => "connection_token_deficit", Basic;
    ReadCommitProcReqQueued => "read_commit_proc_req_queued", Basic;
    NodeDeletedWatchCount => "node_deleted_watch_count", Basic;
    StartupTxnsLoadTime => "startup_txns_load_time", Basic;
    SyncProcessorQueueSize => "sync_processor_queue_size", Basic;
    FollowerSyncTime => "follower_sync_time", Basic;
    PrepProcessorQueueSize => "prep_processor_queue_size", Basic;
    FsyncTime => "fsynctime", Basic;
    InflightSnapCount => "inflight_snap_count", Basic;
    ReadsIssuedFromSessionQueue => "reads_issued_from_session_queue", Basic;
    LearnerRequestProcessorQueueSize => "learner_request_processor_queue_size", Basic;
    SnapshotTime => "snapshottime", Basic;
    UnavailableTime => "unavailable_time", Basic;
    StartupTxnsLoaded => "startup_txns_loaded", Basic;
    ReadsAfterWriteInSessionQueue => "reads_after_write_in_session_queue", Basic;
    RequestsInSessionQueue => "requests_in_session_queue", Basic;
    WriteCommitProcIssued => "write_commit_proc_issued", Basic;
    PrepProcessTime => "prep_process_time", Basic;
    PendingSessionQueueSize => "pending_session_queue_size", Basic;
    TimeWaitingEmptyPoolInCommitProcessorReadMs => "time_waiting_empty_pool_in_commit_processor_read_ms", Basic;
    CommitProcessTime => "commit_process_time", Basic;
    DbInitTime => "dbinittime", Basic;
    InflightDiffCount => "inflight_diff_count", Basic;
    NettyQueuedBufferCapacity => "netty_queued_buffer_capacity", Basic;
    ElectionTime => "election_time", Basic;
    CommitCommitProcReqQueued => "commit_commit_proc_req_queued", Basic;
    SyncProcessorBatchSize => "sync_processor_batch_size", Basic;
    NodeChildrenWatchCount => "node_children_watch_count", Basic;
    WriteBatchTimeInCommitProcessor => "write_batch_time_in_commit_processor", Basic;
    ReadCommitProcIssued => "read_commit_proc_issued", Basic;
    ConcurrentRequestProcessingInCommitProcessor => "concurrent_request_processing_in_commit_processor", Basic;
    ObserverSyncTime => "observer_sync_time", Basic;
    NodeChangedWatchCount => "node_changed_watch_count", Basic;
    SyncProcessTime => "sync_process_time", Basic;
    StartupSnapLoadTime => "startup_snap_load_time", Basic;
    PrepProcessorQueueTimeMs => "prep_processor_queue_time_ms", Advanced;
    JvmPauseTimeMs => "jvm_pause_time_ms", Advanced;
    CloseSessionPrepTime => "close_session_prep_time", Advanced;
    ReadCommitprocTimeMs => "read_commitproc_time_ms", Advanced;
    UpdateLatency => "updatelatency", Advanced;
    LocalWriteCommittedTimeMs => "local_write_committed_time_ms", Advanced;
    RequestThrottleQueueTimeMs => "request_throttle_queue_time_ms", Advanced;
    ReadLatency => "readlatency", Advanced;
    QuorumAckLatency => "quorum_ack_latency", Advanced;
    OmCommitProcessTimeMs => "om_commit_process_time_ms", Advanced;
    ReadFinalProcTimeMs => "read_final_proc_time_ms", Advanced;
    CommitPropagationLatency => "commit_propagation_latency", Advanced;
    DeadWatchersCleanerLatency => "dead_watchers_cleaner_latency", Advanced;
    WriteFinalProcTimeMs => "write_final_proc_time_ms", Advanced;
    ProposalAckCreationLatency => "proposal_ack_creation_latency", Advanced;
    ProposalLatency => "proposal_latency", Advanced;
    OmProposalProcessTimeMs => "om_proposal_process_time_ms", Advanced;
    SyncProcessorQueueAndFlushTimeMs => "sync_processor_queue_and_flush_time_ms", Advanced;
    PropagationLatency => "propagation_latency", Advanced;
    ServerWriteCommittedTimeMs => "server_write_committed_time_ms", Advanced;
    SyncProcessorQueueTimeMs => "sync_processor_queue_time_ms", Advanced;
    SyncProcessorQueueFlushTimeMs => "sync_processor_queue_flush_time_ms", Advanced;
    WriteCommitprocTimeMs => "write_commitproc_time_ms", Advanced;
    // 3.9
    RestoreTime => "restore_time", Basic;
}
