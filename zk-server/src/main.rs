//! `zk-server [zoo.cfg] [--truncate-corrupt-log]`: a ZooKeeper server. Without a file it runs
//! standalone on port 2181 with data directory `./zk-data`. `SERVER_JVMFLAGS`
//! (`-Dname=value ...`) is read as Java's zkServer.sh hands it to Java.
//!
//! On start it recovers the data directory: the newest valid snapshot, then the transaction
//! logs after it. A torn last record is cut off with a warning; a corrupt record in the middle
//! of the log stops startup with the file and offset, unless `--truncate-corrupt-log` says to
//! cut the log there (losing what follows).

use std::path::Path;
use std::process::ExitCode;

use tracing::{error, info, warn};
use zk_server::config::Config;
use zk_server::runtime::{self, SnapshotPolicy};
use zk_server::storage::snapshot::{self, Compression};
use zk_server::storage::txnlog::{self, CorruptionPolicy, TxnLogWriter};
use zk_server::tree::{DataTree, DataTreeBuilder};

struct Args {
    config: Option<String>,
    truncate_corrupt_log: bool,
    /// `--convert-snapshots METHOD DATADIR`: rewrite the snapshots and exit.
    convert: Option<(String, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        truncate_corrupt_log: false,
        convert: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--convert-snapshots" => {
                let (Some(method), Some(dir)) = (argv.next(), argv.next()) else {
                    return Err("usage: zk-server --convert-snapshots <none|lz4|gz|snappy> <dataDir>".into());
                };
                args.convert = Some((method, dir));
            }
            "-h" | "--help" => {
                return Err("usage: zk-server [zoo.cfg] [--truncate-corrupt-log]\n       zk-server --convert-snapshots <none|lz4|gz|snappy> <dataDir>\n  without a file: standalone on port 2181, data in ./zk-data\n  --truncate-corrupt-log: cut the transaction log at a corrupt record instead of refusing to start".into())
            }
            "--truncate-corrupt-log" => args.truncate_corrupt_log = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path if args.config.is_none() => args.config = Some(path.to_owned()),
            extra => return Err(format!("unexpected argument {extra}")),
        }
    }
    Ok(args)
}

fn load_config(args: &Args) -> Result<Config, String> {
    let jvm_flags = std::env::var("SERVER_JVMFLAGS").unwrap_or_default();
    match &args.config {
        None => {
            let mut cfg = Config::standalone_default();
            cfg.properties
                .extend(zk_server::config::parse_jvm_flags(&jvm_flags));
            Ok(cfg)
        }
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Config::parse(&text, &jvm_flags)
                .map_err(|e| format!("invalid configuration {path}: {e}"))
        }
    }
}

/// The tree as the data directory holds it, and how to keep it durable from here on.
/// The recovered tree, the thread writing the startup snapshot, and the snapshot policy.
type Recovered = (DataTree, std::thread::JoinHandle<()>, SnapshotPolicy);

fn recover(cfg: &Config, truncate_corrupt_log: bool) -> Result<Recovered, String> {
    let snap_dir = cfg.data_dir.join("version-2");
    let log_dir = cfg.data_log_dir.join("version-2");
    for dir in [&snap_dir, &log_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Snapshots cut off by a crash; nothing writes one yet.
    match snapshot::remove_leftover_tmp(&snap_dir, None) {
        Ok(deleted) => {
            for path in deleted {
                info!(path = %path.display(), "removed an unfinished snapshot");
            }
        }
        Err(e) => warn!(error = %e, "cannot remove unfinished snapshots"),
    }
    let extended = cfg.extended_types_enabled();
    let compression = Compression::from_config(cfg.snapshot_compression())
        .map_err(|e| format!("snapshot.compression.method: {e}"))?;
    let load_started = std::time::Instant::now();
    let loaded = snapshot::load_newest_into(&snap_dir, || DataTreeBuilder::new(extended))
        .map_err(|e| format!("reading snapshots: {e}"))?;
    let (mut tree, snap_zxid) = match loaded {
        Some((builder, _trailer, zxid, path)) => {
            let mut tree = builder.finish();
            tree.set_last_processed_zxid(zxid);
            info!(path = %path.display(), zxid = %format_args!("{:#x}", zxid), nodes = tree.node_count(), ms = load_started.elapsed().as_millis() as u64, "snapshot loaded");
            (tree, zxid)
        }
        None => {
            let logs =
                txnlog::logs_needed_after(&log_dir, 0).map_err(|e| format!("listing logs: {e}"))?;
            if !logs.is_empty() && cfg.property("zookeeper.snapshot.trust.empty") != Some("true") {
                return Err(format!(
                    "{} has transaction logs but no snapshot; refusing to start (set zookeeper.snapshot.trust.empty=true to replay them onto an empty tree)",
                    log_dir.display()
                ));
            }
            (DataTree::new(extended), 0)
        }
    };
    let policy = if truncate_corrupt_log {
        CorruptionPolicy::TruncateAtCorruption
    } else {
        CorruptionPolicy::Fail
    };
    let replay = txnlog::read_logs_after_limited(&log_dir, snap_zxid, policy, cfg.max_txn_bytes())
        .map_err(|e| format!("{e}"))?;
    for (file, offset) in &replay.truncated {
        warn!(file = %file.display(), offset, "transaction log truncated");
    }
    for entry in &replay.entries {
        tree.apply(&entry.header, &entry.txn);
    }
    info!(replayed = replay.entries.len(), ms = load_started.elapsed().as_millis() as u64, last_zxid = %format_args!("{:#x}", tree.last_processed_zxid()), "transaction logs replayed");
    // Like Java, start from a fresh snapshot of what was recovered. Unlike Java, it is written
    // while the server already serves: what it holds is on disk already (the older snapshot
    // and the logs), so nothing waits for it, and the tree clone it writes costs O(1).
    let image = tree.clone();
    let startup_snapshot_dir = snap_dir.clone();
    let startup_snapshot = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        match snapshot::write_tree_snapshot(
            &startup_snapshot_dir,
            image.last_processed_zxid(),
            &image,
            compression,
        ) {
            Ok(written) => {
                info!(path = %written.display(), nodes = image.node_count(), ms = started.elapsed().as_millis() as u64, "startup snapshot written")
            }
            Err(e) => {
                warn!(error = %e, "the startup snapshot failed; the older snapshot and the logs still hold everything")
            }
        }
    });
    let purge = (cfg.autopurge_purge_interval_hours > 0).then(|| {
        (
            std::time::Duration::from_secs(u64::from(cfg.autopurge_purge_interval_hours) * 3600),
            cfg.autopurge_snap_retain_count as usize,
        )
    });
    Ok((
        tree,
        startup_snapshot,
        SnapshotPolicy {
            dir: snap_dir,
            snap_count: cfg.snap_count(),
            compression,
            log_dir,
            purge,
        },
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Colour codes only on a terminal, so log files stay greppable.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("zk-server: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some((method, dir)) = &args.convert {
        return convert(method, dir);
    }
    let cfg = match load_config(&args) {
        Ok(cfg) => cfg,
        Err(message) => {
            eprintln!("zk-server: {message}");
            return ExitCode::from(2);
        }
    };
    // A JAAS file that does not parse stops startup before anything else, naming its line.
    if let Err(message) = zk_server::sasl::SaslConfig::load(&cfg) {
        eprintln!("zk-server: {message}");
        return ExitCode::from(2);
    }
    for key in &cfg.unknown_keys {
        info!(key, property = %format_args!("zookeeper.{key}"), "zoo.cfg key is not a setting; kept as a system property");
    }
    if let Ok(myid) = std::fs::read_to_string(cfg.data_dir.join("myid")) {
        info!(
            myid = myid.trim(),
            "myid found; this server runs standalone (ensembles are not implemented yet)"
        );
    }
    let (tree, startup_snapshot, policy) = match recover(&cfg, args.truncate_corrupt_log) {
        Ok(recovered) => recovered,
        Err(message) => {
            error!("{message}");
            eprintln!("zk-server: {message}");
            return ExitCode::FAILURE;
        }
    };
    let log_dir = cfg.data_log_dir.join("version-2");
    let log = match TxnLogWriter::open(
        Path::new(&log_dir),
        cfg.pre_alloc_size_kb(),
        cfg.force_sync(),
    ) {
        Ok(log) => log,
        Err(e) => {
            error!(error = %e, "cannot open the transaction log");
            return ExitCode::FAILURE;
        }
    };
    let server = match runtime::start_with_snapshots(cfg, tree, Box::new(log), Some(policy)).await {
        Ok(server) => server,
        Err(e) => {
            error!(error = %e, "cannot listen on the client port");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %server.local_addr(), "zk-server ready");
    let stopper = server.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        stopper.stop();
    });
    let served = server.wait().await;
    // A clean stop leaves the startup snapshot complete.
    let _ = tokio::task::spawn_blocking(move || startup_snapshot.join()).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "stopped: the transaction log or a snapshot failed");
            ExitCode::FAILURE
        }
    }
}

/// Rewrites every snapshot of `data_dir` with `method` (`none` is what the Java server reads).
fn convert(method: &str, data_dir: &str) -> ExitCode {
    let to = match Compression::from_config(Some(method)) {
        Ok(to) => to,
        Err(e) => {
            eprintln!("zk-server: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = Path::new(data_dir).join("version-2");
    match snapshot::convert_dir(&dir, to) {
        Ok(n) => {
            println!("converted {n} snapshot(s) in {} to {method}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zk-server: converting {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
