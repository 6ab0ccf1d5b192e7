//! `zk-server [zoo.cfg]`: a ZooKeeper server. Without an argument it runs standalone on port 2181
//! with data directory `./zk-data`. `SERVER_JVMFLAGS` (`-Dname=value ...`) is read as Java's
//! zkServer.sh hands it to Java.

use std::process::ExitCode;

use tracing::{error, info, warn};
use zk_server::config::Config;
use zk_server::core::NoLog;
use zk_server::runtime;
use zk_server::tree::DataTree;

fn load_config() -> Result<Config, String> {
    let jvm_flags = std::env::var("SERVER_JVMFLAGS").unwrap_or_default();
    match std::env::args().nth(1) {
        None => {
            let mut cfg = Config::standalone_default();
            cfg.properties.extend(zk_server::config::parse_jvm_flags(&jvm_flags));
            Ok(cfg)
        }
        Some(path) if path == "-h" || path == "--help" => Err(
            "usage: zk-server [zoo.cfg]\n  without a file: standalone on port 2181, data in ./zk-data".into(),
        ),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Config::parse(&text, &jvm_flags).map_err(|e| format!("invalid configuration {path}: {e}"))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cfg = match load_config() {
        Ok(cfg) => cfg,
        Err(message) => {
            eprintln!("zk-server: {message}");
            return ExitCode::from(2);
        }
    };
    for key in &cfg.unknown_keys {
        info!(key, property = %format_args!("zookeeper.{key}"), "zoo.cfg key is not a setting; kept as a system property");
    }
    if let Err(e) = std::fs::create_dir_all(&cfg.data_dir) {
        error!(dir = %cfg.data_dir.display(), error = %e, "cannot create the data directory");
        return ExitCode::FAILURE;
    }
    if let Ok(myid) = std::fs::read_to_string(cfg.data_dir.join("myid")) {
        info!(
            myid = myid.trim(),
            "myid found; this server runs standalone (ensembles are not implemented yet)"
        );
    }
    warn!("transaction log and snapshots are not implemented yet: data lives in memory and is lost on restart");
    let tree = DataTree::new(cfg.extended_types_enabled());
    let server = match runtime::start(cfg, tree, Box::new(NoLog)).await {
        Ok(server) => server,
        Err(e) => {
            error!(error = %e, "cannot listen on the client port");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %server.local_addr(), "zk-server ready");
    shutdown_signal().await;
    info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
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
