//! `zk-backup`: what a backup archive holds, whether it is sound, and restoring from it.
//!
//! Exit codes: 0 success, 1 failure (including a verification that found problems), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use zk_server::backup::catalog::{describe_windows, Catalog};
use zk_server::backup::restore::{self, format_time, RestoreOptions, RestorePoint};
use zk_server::backup::retain;
use zk_server::backup::{verify, Archive, ArchiveKey, BackupError, Manifest, S3Settings, Target};
use zk_server::storage::snapshot::Compression;

#[derive(Parser, Debug)]
#[command(
    name = "zk-backup",
    version,
    about = "Lists, verifies and restores zk-server backup archives"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The archive's snapshots and segments, restorable windows, gaps and sizes.
    List {
        #[command(flatten)]
        target: TargetArgs,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Checks every object (checksums, records, continuity) and replays the logs onto the
    /// snapshots, comparing digests.
    Verify {
        #[command(flatten)]
        target: TargetArgs,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Writes a data directory holding the committed state at a point.
    Restore {
        #[command(flatten)]
        target: TargetArgs,
        /// The data directory to write (its version-2 must be empty, unless --force).
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        point: PointArgs,
        /// Keep sessions and their ephemeral nodes (they expire unless their clients return).
        #[arg(long)]
        keep_sessions: bool,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replace what the data directory holds.
        #[arg(long)]
        force: bool,
        /// Snapshot format: zk-rs (LZ4) or java (uncompressed, for the Java server).
        #[arg(long, value_enum, default_value_t = Format::ZkRs)]
        format: Format,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Writes a subtree as it was at a point (data, ACL, Stat of every node) as JSON.
    Export {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        point: PointArgs,
        /// The subtree's root.
        #[arg(long)]
        path: String,
        /// Where to write it (`-`: standard output).
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes an exported subtree into a running server (its AdminServer): creates what is
    /// missing, reports what exists with other data or ACL, overwrites only with --force.
    Import {
        /// The export file (`-`: standard input).
        file: PathBuf,
        /// The AdminServer: host:port, or a URL.
        #[arg(long)]
        server: String,
        /// `user:password`: the writes are made as this digest identity (ALL on / is needed).
        #[arg(long)]
        auth: String,
        /// Overwrite the data of nodes that differ (at the version found).
        #[arg(long)]
        force: bool,
        /// Report what would happen and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Deletes what no restore point inside the kept window (or count of snapshots) needs.
    Retain {
        #[command(flatten)]
        target: TargetArgs,
        /// Keep every restore point this far back: 7d, 12h, 30m, 90s.
        #[arg(long)]
        keep_window: Option<String>,
        /// Keep this many of the newest snapshots (and the logs after the oldest of them).
        #[arg(long)]
        keep_count: Option<usize>,
        /// Print what would be deleted and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Takes a snapshot on a running server (its AdminServer's `snapshot` command) and saves
    /// it to a file or into an archive.
    Snapshot {
        /// The AdminServer: host:port, or a URL (https://host:port).
        #[arg(long)]
        server: String,
        /// `user:password` for the command's digest authentication (ALL on / is needed).
        #[arg(long)]
        auth: Option<String>,
        /// Save the file as the server wrote it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Or store it in this archive (a directory, file:///dir or s3://bucket/prefix).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Which state: one of these.
#[derive(Args, Debug)]
struct PointArgs {
    /// The last archived txn.
    #[arg(long, group = "point")]
    latest: bool,
    /// The state right after this zxid (0x hex or decimal).
    #[arg(long, group = "point")]
    zxid: Option<String>,
    /// The state at this time (RFC 3339, e.g. 2026-12-02T10:00:00Z).
    #[arg(long, group = "point")]
    time: Option<String>,
}

#[derive(Args, Debug)]
struct TargetArgs {
    /// A directory, file:///dir or s3://bucket/prefix.
    target: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Debug)]
struct StoreArgs {
    /// An S3-compatible endpoint (MinIO, Ceph, ...); credentials come from AWS_ACCESS_KEY_ID
    /// and AWS_SECRET_ACCESS_KEY.
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// The S3 region.
    #[arg(long)]
    s3_region: Option<String>,
    /// Path-style S3 requests.
    #[arg(long)]
    s3_path_style: bool,
    /// The key of an encrypted archive (32 raw bytes, 64 hex digits or base64).
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    ZkRs,
    Java,
}

impl TargetArgs {
    fn open(&self) -> Result<Archive, BackupError> {
        self.store.open(&self.target)
    }
}

impl StoreArgs {
    fn open(&self, target: &str) -> Result<Archive, BackupError> {
        let s3 = S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            path_style: self.s3_path_style,
        };
        let key = match &self.key_file {
            Some(path) => Some(ArchiveKey::from_file(path)?),
            None => None,
        };
        Ok(Archive::new(Target::open(target, &s3)?, 0).with_key(key))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zk-backup: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, BackupError> {
    match command {
        Command::Import {
            file,
            server,
            auth,
            force,
            dry_run,
            json,
        } => import(&file, &server, &auth, force, dry_run, json).await,
        Command::Export {
            target,
            point,
            path,
            out,
        } => {
            let Some((archive, plan)) = planned(&target, &point, "export").await? else {
                return Ok(ExitCode::from(2));
            };
            let mut report = restore::RestoreReport::default();
            let bar = bar(plan.stored_bytes(), out.as_os_str() == "-");
            let tree =
                restore::build_tree(&archive, &plan.plan, &mut report, &mut |m: &Manifest| {
                    bar.inc(m.stored_bytes)
                })
                .await?;
            bar.finish_and_clear();
            let export = zk_server::backup::export::export(&tree, &path)?;
            let json = serde_json::to_vec_pretty(&export).expect("serializes");
            if out.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&json)?;
            } else {
                std::fs::write(&out, &json)?;
                println!(
                    "exported {} nodes under {path} at {:#x} to {}",
                    export.nodes.len(),
                    plan.plan.zxid,
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Retain {
            target,
            keep_window,
            keep_count,
            dry_run,
            json,
        } => {
            let keep_window_ms = match &keep_window {
                Some(text) => Some(retain::parse_duration_ms(text).ok_or_else(|| {
                    BackupError::Config(format!("--keep-window {text}: expected e.g. 7d, 12h, 30m"))
                })?),
                None => None,
            };
            if keep_window_ms.is_none() && keep_count.is_none() {
                eprintln!("zk-backup retain: give --keep-window, --keep-count or both");
                return Ok(ExitCode::from(2));
            }
            let archive = target.open()?;
            let catalog = archive.catalog().await?;
            let policy = retain::RetainPolicy {
                keep_window_ms,
                keep_count,
            };
            let doomed = retain::plan(&catalog, policy, chrono::Utc::now().timestamp_millis());
            let bytes: u64 = doomed.iter().map(|m| m.stored_bytes).sum();
            if !dry_run {
                retain::apply(&archive, &doomed).await?;
            }
            if json {
                let value = serde_json::json!({
                    "dry_run": dry_run,
                    "deleted": doomed.iter().map(|m| &m.object).collect::<Vec<_>>(),
                    "bytes": bytes,
                });
                print_json(&value);
            } else {
                for m in &doomed {
                    println!(
                        "{} {}",
                        if dry_run { "would delete" } else { "deleted" },
                        m.object
                    );
                }
                println!(
                    "{} objects, {bytes} bytes {}",
                    doomed.len(),
                    if dry_run {
                        "would be deleted (dry run)"
                    } else {
                        "deleted"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot {
            server,
            auth,
            out,
            to,
            store,
            json,
        } => {
            if out.is_some() == to.is_some() {
                eprintln!("zk-backup snapshot: give one of --out FILE or --to TARGET");
                return Ok(ExitCode::from(2));
            }
            let (zxid, bytes) = download_snapshot(&server, auth.as_deref()).await?;
            let saved = match (&out, &to) {
                (Some(path), _) => {
                    std::fs::write(path, &bytes)?;
                    path.display().to_string()
                }
                (_, Some(target)) => {
                    let archive = store.open(target)?;
                    let raw =
                        zk_server::storage::snapshot::stream_of_bytes(&bytes).map_err(|e| {
                            BackupError::Corrupt {
                                name: server.clone(),
                                detail: e.to_string(),
                            }
                        })?;
                    let (stored, raw_len, info) = zk_server::backup::archiver::snapshot_object(
                        raw,
                        zxid,
                        chrono::Utc::now().timestamp_millis(),
                        &server,
                    )?;
                    archive.put_snapshot(stored, raw_len, info).await?;
                    format!(
                        "{target} ({})",
                        zk_server::backup::manifest::snapshot_name(zxid)
                    )
                }
                _ => unreachable!("checked above"),
            };
            if json {
                let value = serde_json::json!({
                    "zxid": format!("{zxid:#x}"),
                    "bytes": bytes.len(),
                    "saved": saved,
                });
                print_json(&value);
            } else {
                println!(
                    "snapshot at {zxid:#x}, {} bytes, saved to {saved}",
                    bytes.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { target, json } => {
            let archive = target.open()?;
            let catalog = archive.catalog().await?;
            print_list(&archive, &catalog, json);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { target, json } => {
            let archive = target.open()?;
            let catalog = archive.catalog().await?;
            let bar = bar(catalog.stored_bytes(), json);
            let report = verify::verify(&archive, &catalog, &mut |m: &Manifest| {
                bar.inc(m.stored_bytes)
            })
            .await;
            bar.finish_and_clear();
            if json {
                print_json(&report);
            } else {
                println!(
                    "{} objects checked, {} txns replayed, {} snapshots matched their replayed trees",
                    report.objects, report.txns_replayed, report.snapshots_matched
                );
                for w in &report.warnings {
                    println!("warning: {w}");
                }
                for p in &report.problems {
                    println!("PROBLEM: {p}");
                }
                println!(
                    "{}",
                    if report.ok() {
                        "archive OK"
                    } else {
                        "archive DAMAGED"
                    }
                );
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Restore {
            target,
            data_dir,
            point,
            keep_sessions,
            dry_run,
            force,
            format,
            json,
        } => {
            let Some((archive, plan)) = planned(&target, &point, "restore").await? else {
                return Ok(ExitCode::from(2));
            };
            let describe = format!(
                "restore to {:#x}{} from snapshot {} plus {} segments ({} txns, {} bytes to read); the restored state gets zxid {:#x}",
                plan.plan.zxid,
                plan.time_ms.map(|t| format!(" ({})", format_time(t))).unwrap_or_default(),
                plan.plan.snapshot.object,
                plan.plan.segments.len(),
                plan.txns(),
                plan.stored_bytes(),
                plan.new_zxid
            );
            if dry_run {
                println!("{describe}");
                if !json {
                    println!("dry run: nothing written");
                }
                return Ok(ExitCode::SUCCESS);
            }
            if !json {
                eprintln!("{describe}");
            }
            let options = RestoreOptions {
                data_dir,
                keep_sessions,
                force,
                compression: match format {
                    Format::ZkRs => Compression::Lz4,
                    Format::Java => Compression::None,
                },
            };
            let bar = bar(plan.stored_bytes(), json);
            let report = restore::restore(&archive, &plan, &options, &mut |m: &Manifest| {
                bar.inc(m.stored_bytes)
            })
            .await?;
            bar.finish_and_clear();
            if json {
                print_json(&report);
            } else {
                println!(
                    "restored {} nodes at {} ({} txns replayed onto the snapshot; {} sessions closed, {} ephemerals deleted) into {}",
                    report.nodes,
                    report.zxid,
                    report.txns_replayed,
                    report.sessions_closed,
                    report.ephemerals_deleted,
                    report.snapshot
                );
                if report.digest_mismatches > 0 {
                    println!(
                        "WARNING: {} txns did not give the digest they recorded",
                        report.digest_mismatches
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs the AdminServer's `snapshot` command; the zxid (header `last_zxid`) and the file.
async fn download_snapshot(
    server: &str,
    auth: Option<&str>,
) -> Result<(i64, Vec<u8>), BackupError> {
    let url = format!("{}/commands/snapshot?streaming=true", admin_base(server));
    let failed = |e: String| BackupError::Unavailable(format!("{url}: {e}"));
    let mut request = reqwest::Client::new().get(&url);
    if let Some(auth) = auth {
        request = request.header("Authorization", format!("digest {auth}"));
    }
    let response = request.send().await.map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(failed(format!("HTTP {status}: {}", body.trim())));
    }
    let zxid = response
        .headers()
        .get("last_zxid")
        .and_then(|v| v.to_str().ok())
        .and_then(zk_server::backup::manifest::parse_zxid)
        .ok_or_else(|| failed("no last_zxid header (is the snapshot command enabled?)".into()))?;
    let bytes = response.bytes().await.map_err(|e| failed(e.to_string()))?;
    if bytes.is_empty() {
        return Err(failed("an empty body (the server is not serving?)".into()));
    }
    Ok((zxid, bytes.to_vec()))
}

/// `value` as indented JSON on standard output (`--json`).
fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serializes")
    );
}

/// `http://host:port` for `host:port`; a URL as it is.
fn admin_base(server: &str) -> String {
    if server.contains("://") {
        server.trim_end_matches('/').to_owned()
    } else {
        format!("http://{server}")
    }
}

/// `zk-backup import`: posts the export to the AdminServer and prints its report; exit code 1
/// when conflicts remain or writes failed.
async fn import(
    file: &std::path::Path,
    server: &str,
    auth: &str,
    force: bool,
    dry_run: bool,
    json: bool,
) -> Result<ExitCode, BackupError> {
    let body = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(file)?
    };
    let url = format!(
        "{}/backup/import?force={force}&dry_run={dry_run}",
        admin_base(server)
    );
    let failed = |e: String| BackupError::Unavailable(format!("{url}: {e}"));
    let response = reqwest::Client::new()
        .post(&url)
        .header("Authorization", format!("digest {auth}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failed(e.to_string()))?;
    let report: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| failed(format!("HTTP {status}: {}", text.trim())))?;
    if !status.is_success() {
        return Err(failed(format!("HTTP {status}: {}", report["error"])));
    }
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    if json {
        print_json(&report);
    } else {
        for c in list("conflicts") {
            println!(
                "conflict: {} exists with version {} (exported: {}){}{}",
                c["path"].as_str().unwrap_or(""),
                c["current_version"],
                c["exported_version"],
                if c["data_differs"] == true {
                    ", other data"
                } else {
                    ""
                },
                if c["acl_differs"] == true {
                    ", other ACL"
                } else {
                    ""
                },
            );
        }
        for f in list("failed") {
            println!(
                "failed: {} ({})",
                f["path"].as_str().unwrap_or(""),
                f["error"]
            );
        }
        for s in list("skipped") {
            println!(
                "skipped: {} ({})",
                s["path"].as_str().unwrap_or(""),
                s["why"].as_str().unwrap_or("")
            );
        }
        println!(
            "{}{} created, {} overwritten, {} the same, {} conflicts, {} skipped, {} failed",
            if dry_run { "dry run: " } else { "" },
            list("created").len(),
            list("overwritten").len(),
            list("same").len(),
            list("conflicts").len(),
            list("skipped").len(),
            list("failed").len()
        );
    }
    Ok(if list("conflicts").len() + list("failed").len() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("a valid template"),
    );
    bar
}

/// The archive and the plan of a restore (or export) to `point`; `None` (after saying so)
/// when the point is not given exactly once.
async fn planned(
    target: &TargetArgs,
    point: &PointArgs,
    command: &str,
) -> Result<Option<(Archive, restore::RestorePlan)>, BackupError> {
    let Some(point) = point.resolve()? else {
        eprintln!("zk-backup {command}: give one of --latest, --zxid or --time");
        return Ok(None);
    };
    let archive = target.open()?;
    let catalog = archive.catalog().await?;
    let plan = restore::plan(&archive, &catalog, point).await?;
    Ok(Some((archive, plan)))
}

impl PointArgs {
    /// The point `--latest`, `--zxid` or `--time` names; `None` unless exactly one is given.
    fn resolve(&self) -> Result<Option<RestorePoint>, BackupError> {
        RestorePoint::parse(self.latest, self.zxid.as_deref(), self.time.as_deref())
    }
}

fn print_list(archive: &Archive, catalog: &Catalog, json: bool) {
    let windows = catalog.windows();
    if json {
        let value = serde_json::json!({
            "target": archive.target().to_string(),
            "windows": windows.iter().map(|w| serde_json::json!({
                "from_zxid": format!("{:#x}", w.from_zxid),
                "from_time": format_time(w.from_time_ms),
                "to_zxid": format!("{:#x}", w.to_zxid),
                "to_time": format_time(w.to_time_ms),
                "rebase": w.rebase,
            })).collect::<Vec<_>>(),
            "gaps": catalog.gaps().iter().map(|(a, b)| serde_json::json!({
                "after_zxid": format!("{a:#x}"), "before_zxid": format!("{b:#x}"),
            })).collect::<Vec<_>>(),
            "snapshots": catalog.snapshots(),
            "segments": catalog.segments(),
            "stored_bytes": catalog.stored_bytes(),
            "orphans": catalog.orphans().collect::<Vec<_>>(),
            "problems": catalog.problems(),
        });
        print_json(&value);
        return;
    }
    println!("archive {}", archive.target());
    println!(
        "{} snapshots, {} log segments ({} txns), {} bytes stored",
        catalog.snapshots().len(),
        catalog.segments().len(),
        catalog.segments().iter().map(|m| m.txns).sum::<u64>(),
        catalog.stored_bytes()
    );
    if windows.is_empty() {
        println!("restorable: {}", describe_windows(&windows));
    }
    for w in &windows {
        println!(
            "restorable: {:#x} ({}) .. {:#x} ({}){}",
            w.from_zxid,
            format_time(w.from_time_ms),
            w.to_zxid,
            format_time(w.to_time_ms),
            if w.rebase {
                ", a history of its own (restored from this archive)"
            } else {
                ""
            }
        );
    }
    for (after, before) in catalog.gaps() {
        println!("gap: the states between {after:#x} and {before:#x} cannot be restored");
    }
    for s in catalog.snapshots() {
        println!(
            "snapshot {:#x}  {}  {} nodes  {} bytes",
            s.first_zxid,
            format_time(s.first_time_ms),
            s.nodes.unwrap_or(0),
            s.stored_bytes
        );
    }
    for p in catalog.problems() {
        println!("problem: {p}");
    }
    for o in catalog.orphans() {
        println!("orphan (no manifest): {o}");
    }
}
