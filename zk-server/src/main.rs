//! `zk-server [zoo.cfg] [--truncate-corrupt-log]`: a ZooKeeper server. Without a file it runs
//! standalone on port 2181 with data directory `./zk-data`. `SERVER_JVMFLAGS`
//! (`-Dname=value ...`) is read as Java's zkServer.sh hands it to Java.
//!
//! This is argument parsing and logging around [`zk_server::server::run`], which recovers the
//! data directory and serves until SIGTERM or Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tracing::error;
use zk_server::config::Config;
use zk_server::server::{self, RunError, RunOptions};
use zk_server::storage::snapshot::{self, Compression};

/// A ZooKeeper server (standalone), wire-compatible with Apache ZooKeeper 3.8.
#[derive(Debug, Parser)]
#[command(name = "zk-server", version)]
struct Args {
    /// A Java zoo.cfg (Java's keys and defaults). Without one: standalone on port 2181, data in
    /// ./zk-data.
    config: Option<PathBuf>,
    /// Cut the transaction log at a corrupt record instead of refusing to start (what follows
    /// the record is lost).
    #[arg(long)]
    truncate_corrupt_log: bool,
    /// Rewrite every snapshot of DATADIR with METHOD (none, lz4, gz or snappy; none is what the
    /// Java server reads) and exit.
    #[arg(long, num_args = 2, value_names = ["METHOD", "DATADIR"], conflicts_with_all = ["config", "truncate_corrupt_log"])]
    convert_snapshots: Option<Vec<String>>,
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let jvm_flags = std::env::var("SERVER_JVMFLAGS").unwrap_or_default();
    match path {
        None => {
            let mut cfg = Config::standalone_default();
            cfg.properties
                .extend(zk_server::config::parse_jvm_flags(&jvm_flags));
            Ok(cfg)
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Config::parse(&text, &jvm_flags)
                .map_err(|e| format!("invalid configuration {}: {e}", path.display()))
        }
    }
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
    let args = Args::parse();
    if let Some([method, dir]) = args.convert_snapshots.as_deref() {
        return convert(method, dir);
    }
    let cfg = match load_config(args.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(message) => {
            eprintln!("zk-server: {message}");
            return ExitCode::from(2);
        }
    };
    let options = RunOptions {
        truncate_corrupt_log: args.truncate_corrupt_log,
        config_path: args.config.clone(),
    };
    match server::run(cfg, options, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        // A setting that does not work is a usage error, as before.
        Err(RunError::Config(message)) => {
            eprintln!("zk-server: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            error!(error = %e, "zk-server stopped");
            eprintln!("zk-server: {e}");
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
