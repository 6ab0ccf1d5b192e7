//! Four-letter words: builds an [`AdminSnapshot`] of the core's state and lets
//! [`admin::answer`] format it as Java does; applies the resets and the trace mask.

use std::time::Instant;

use zk_proto::frame::FourLetterWord;

use crate::admin::{
    self, AdminSnapshot, ConfInfo, ConnectionInfo, ExpiryBucket, HostEnv, ServerMode,
};
use crate::config::Config;
use crate::core::ServerCore;

/// What the four-letter words need beyond the core: configuration, environment, clocks.
#[derive(Debug, Clone)]
pub struct AdminContext {
    /// The enabled words.
    pub whitelist: Vec<String>,
    /// What `conf` prints.
    pub conf: ConfInfo,
    /// What `envi` prints after the version.
    pub env: Vec<(String, String)>,
    /// When the server started (for uptime and bucket dates).
    pub started: Instant,
    /// The trace mask `stmk` sets and `gtmk` shows (Java's default 306).
    pub trace_mask: i64,
    /// The role `srvr`, `stat` and `mntr` report.
    pub mode: ServerMode,
    /// What an ensemble member adds to `mntr`.
    pub quorum: Option<crate::admin::QuorumStats>,
    /// The server's metrics registry (read while no core serves).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The backup archiver, for the `backup_*` gauges.
    pub archiver: Option<crate::backup::archiver::ArchiverHandle>,
}

impl AdminContext {
    /// The archiver's gauges, when there is an archiver.
    fn backup_gauges(&self) -> Option<crate::backup::archiver::BackupGauges> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.archiver.as_ref().map(|a| a.gauges(now_ms))
    }
}

impl AdminContext {
    /// The context of a server started now with `cfg`, listening on `client_port`.
    pub fn new(cfg: &Config, client_port: u16) -> Self {
        let conf = ConfInfo {
            client_port: i32::from(client_port),
            data_dir: cfg.data_dir.join("version-2"),
            data_log_dir: cfg.data_log_dir.join("version-2"),
            tick_time_ms: cfg.tick_time_ms as i32,
            max_client_cnxns: cfg.max_client_cnxns as i32,
            min_session_timeout_ms: cfg.min_session_timeout_ms(),
            max_session_timeout_ms: cfg.max_session_timeout_ms(),
            client_port_listen_backlog: cfg.client_port_listen_backlog,
            server_id: 0,
            ..ConfInfo::default()
        };
        let env = HostEnv {
            host_name: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".to_owned()),
            tmp_dir: std::env::temp_dir().display().to_string(),
            os_name: HostEnv::java_os_name(std::env::consts::OS),
            os_arch: HostEnv::java_os_arch(std::env::consts::ARCH),
            os_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|v| v.trim().to_owned())
                .unwrap_or_default(),
            user_name: std::env::var("USER").unwrap_or_default(),
            user_home: std::env::var("HOME").unwrap_or_default(),
            user_dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            memory_mb: None,
        }
        .entries();
        AdminContext {
            whitelist: admin::whitelist_from_property(
                cfg.property("zookeeper.4lw.commands.whitelist"),
                false,
            ),
            conf,
            env,
            started: Instant::now(),
            trace_mask: 306,
            mode: ServerMode::Standalone,
            quorum: None,
            metrics: crate::metrics::Metrics::new(false),
            archiver: None,
        }
    }
}

/// The state the gauges read, without the per-connection, per-watch and per-session lists:
/// what a Prometheus scrape every few seconds asks for, cheap on any tree. The process'
/// descriptor counts are left for the reader to fill ([`crate::metrics::ProcessStats::fill`]),
/// off the core's task.
fn gauges_snapshot(core: &ServerCore, ctx: &AdminContext) -> AdminSnapshot {
    let tree = core.tree();
    AdminSnapshot {
        serving: true,
        version: admin::full_version(admin::build_date()),
        mode: ctx.mode,
        quorum: ctx.quorum.clone(),
        packets_received: core.counters().packets_received,
        packets_sent: core.counters().packets_sent,
        request_latency: core.counters().request_latency,
        client_response_sizes: core.counters().response_sizes,
        outstanding_requests: core.outstanding_requests(),
        approximate_data_size: tree.approximate_data_size().max(0) as u64,
        alive_connections: core.connection_count() as u64,
        last_zxid: core.last_zxid(),
        // Java's node map holds the root twice ("" and "/").
        node_count: tree.node_count() as u64 + 1,
        ephemerals_count: tree
            .sessions()
            .keys()
            .map(|id| tree.ephemerals(*id).count() as u64)
            .sum(),
        conf: ctx.conf.clone(),
        env: ctx.env.clone(),
        trace_mask: ctx.trace_mask,
        watch_count: core.watches().watch_count() as u64,
        global_sessions: tree.sessions().len() as u64,
        uptime_ms: ctx.started.elapsed().as_millis() as u64,
        backup: ctx.backup_gauges(),
        ..AdminSnapshot::default()
    }
}

/// Everything the words and commands read: the gauges, the lists (connections, watches,
/// ephemerals, expiry buckets) and the metrics registry.
fn snapshot(core: &ServerCore, ctx: &AdminContext, now_ms: u64, wall_ms: i64) -> AdminSnapshot {
    let tree = core.tree();
    let conns = core.connection_stats();
    let connections = conns
        .values()
        .filter_map(|(session_id, s)| {
            Some(ConnectionInfo {
                remote: s.peer?,
                packets_received: s.packets_received,
                packets_sent: s.packets_sent,
                session_id: *session_id,
                last_op: s.last_op.to_owned(),
                established_wall_ms: s.established_wall_ms,
                session_timeout_ms: s.session_timeout_ms,
                last_cxid: s.last_cxid,
                last_zxid: s.last_zxid,
                // Reading (OP_READ) with nothing queued: replies go out as they are made.
                interest_ops: 1,
                queued: 0,
                last_response_monotonic_ms: s.last_response_ms as i64,
                last_latency_ms: s.last_latency_ms,
                latency: s.latency,
            })
        })
        .collect();
    let data_watches = core
        .watches()
        .by_connection()
        .into_iter()
        .filter_map(|(conn, paths)| conns.get(&conn).map(|(session, _)| (*session, paths)))
        .collect();
    let ephemerals = tree
        .sessions()
        .keys()
        .map(|id| (*id, tree.ephemerals(*id).map(str::to_owned).collect()))
        .filter(|(_, paths): &(i64, std::collections::BTreeSet<String>)| !paths.is_empty())
        .collect::<std::collections::BTreeMap<_, _>>();
    let mut snapshot = AdminSnapshot {
        backup: ctx.backup_gauges(),
        now_wall_ms: wall_ms,
        now_monotonic_ms: now_ms,
        connections,
        data_watches,
        ephemerals,
        digest_log: core.digest_log().collect(),
        session_buckets: core
            .session_buckets()
            .into_iter()
            .map(|(at, members)| ExpiryBucket {
                expires_at_monotonic_ms: at,
                members,
            })
            .collect(),
        ..gauges_snapshot(core, ctx)
    };
    core.metrics().fill(&mut snapshot);
    snapshot
}

/// A four-letter word's answer: ready now, or a job that formats it off the core task (`dump`,
/// `wchp`, `cons` and the like format every session, watch or connection).
pub enum Answer {
    /// The bytes to send (the connection closes after them).
    Now(Vec<u8>),
    /// Runs on a blocking thread and returns the bytes to send.
    Later(Box<dyn FnOnce() -> Vec<u8> + Send>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Now(bytes) => f.debug_tuple("Now").field(&bytes.len()).finish(),
            Answer::Later(_) => f.write_str("Later"),
        }
    }
}

/// A four-letter word's answer while an ensemble member does not serve (no core: election or
/// sync): the words Java still answers then (ruok, conf, envi, isro, ...) come from the
/// settings, the others say the server is not serving.
pub fn answer_not_serving(
    ctx: &AdminContext,
    word: FourLetterWord,
    stmk_mask: Option<i64>,
) -> Vec<u8> {
    let snap = not_serving_snapshot(ctx);
    admin::answer(word, stmk_mask, &ctx.whitelist, &snap).bytes
}

/// What a four-letter word gets back. The server's state is read here, on the core task;
/// formatting it happens in [`Answer::Later`].
pub fn answer(
    core: &mut ServerCore,
    ctx: &mut AdminContext,
    word: FourLetterWord,
    stmk_mask: Option<i64>,
    now_ms: u64,
    wall_ms: i64,
) -> Answer {
    core.flush_metrics();
    let resets = matches!(word, FourLetterWord::Srst | FourLetterWord::Crst);
    if admin::needs_snapshot(word, &ctx.whitelist) && !resets {
        let mut snap = snapshot(core, ctx, now_ms, wall_ms);
        let whitelist = ctx.whitelist.clone();
        return Answer::Later(Box::new(move || {
            crate::metrics::ProcessStats::read().fill(&mut snap);
            admin::answer(word, stmk_mask, &whitelist, &snap).bytes
        }));
    }
    let snap = if admin::needs_snapshot(word, &ctx.whitelist) {
        snapshot(core, ctx, now_ms, wall_ms)
    } else {
        AdminSnapshot {
            trace_mask: ctx.trace_mask,
            ..AdminSnapshot::default()
        }
    };
    let answer = admin::answer(word, stmk_mask, &ctx.whitelist, &snap);
    if let Some(action) = answer.action {
        perform(core, ctx, action);
    }
    Answer::Now(answer.bytes)
}

/// A word's or command's side effect: a stats reset or a new trace mask.
fn perform(core: &mut ServerCore, ctx: &mut AdminContext, action: admin::Action) {
    match action {
        admin::Action::ResetServerStats => core.reset_counters(),
        admin::Action::ResetConnectionStats => core.reset_connection_stats(),
        admin::Action::SetTraceMask(mask) => ctx.trace_mask = mask,
    }
}

/// Answers a question of the AdminServer ([`crate::admin_http::CoreLink`]) while serving;
/// returns what the core must do for it (the online restore's txns).
pub fn admin_call(
    core: &mut ServerCore,
    ctx: &mut AdminContext,
    call: crate::admin_http::AdminCall,
    now_ms: u64,
    wall_ms: i64,
) -> Vec<crate::core::Action> {
    use crate::admin_http::{AdminAsk, AdminReply};
    core.flush_metrics();
    let reply = match call.ask {
        AdminAsk::Serving => AdminReply::Serving(true, ctx.mode),
        AdminAsk::Snapshot => AdminReply::Snapshot(Box::new(snapshot(core, ctx, now_ms, wall_ms))),
        AdminAsk::Gauges => AdminReply::Snapshot(Box::new(gauges_snapshot(core, ctx))),
        AdminAsk::Perform(action) => {
            perform(core, ctx, action);
            AdminReply::Done
        }
        AdminAsk::Tree => {
            let (zxid, tree) = core.snapshot_view();
            AdminReply::Tree(zxid, Box::new(tree))
        }
        AdminAsk::Watchers(path) => AdminReply::Watchers(core.watchers_of(&path)),
        AdminAsk::Committed => AdminReply::Committed(core.last_zxid()),
        AdminAsk::Restore(image, compared) => {
            match core.restore_online(&image, compared, wall_ms) {
                Ok((summary, actions)) => {
                    let _ = call.reply.send(AdminReply::Restore(Ok(summary)));
                    return actions;
                }
                Err(refused) => AdminReply::Restore(Err(refused)),
            }
        }
    };
    let _ = call.reply.send(reply);
    Vec::new()
}

/// What the words and commands see while an ensemble member does not serve: the settings,
/// the role and the metrics registry.
fn not_serving_snapshot(ctx: &AdminContext) -> AdminSnapshot {
    let mut snap = AdminSnapshot {
        backup: ctx.backup_gauges(),
        serving: false,
        version: admin::full_version(admin::build_date()),
        mode: ctx.mode,
        quorum: ctx.quorum.clone(),
        conf: ctx.conf.clone(),
        env: ctx.env.clone(),
        trace_mask: ctx.trace_mask,
        uptime_ms: ctx.started.elapsed().as_millis() as u64,
        ..AdminSnapshot::default()
    };
    ctx.metrics.fill(&mut snap);
    snap
}

/// Answers a question of the AdminServer while an ensemble member does not serve: the words
/// that need no tree answer from the settings.
pub fn admin_call_not_serving(ctx: &mut AdminContext, call: crate::admin_http::AdminCall) {
    use crate::admin_http::{AdminAsk, AdminReply};
    let reply = match call.ask {
        AdminAsk::Serving => AdminReply::Serving(false, ctx.mode),
        AdminAsk::Snapshot | AdminAsk::Gauges => {
            AdminReply::Snapshot(Box::new(not_serving_snapshot(ctx)))
        }
        AdminAsk::Perform(admin::Action::SetTraceMask(mask)) => {
            ctx.trace_mask = mask;
            AdminReply::Done
        }
        AdminAsk::Perform(_) => AdminReply::Done,
        AdminAsk::Tree | AdminAsk::Watchers(_) | AdminAsk::Restore(..) | AdminAsk::Committed => {
            AdminReply::NotServing
        }
    };
    let _ = call.reply.send(reply);
}
