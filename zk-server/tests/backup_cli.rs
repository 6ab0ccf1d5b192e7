//! `zk-backup` on an archive a running zk-server wrote: list, verify, restore (and starting a
//! server on the result), its exit codes, and what it says of damaged archives.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::server::HttpServer;
use zk_client::CreateOptions;
use zk_server::backup::{Archive, Target};
use zk_server::config::Config;
use zk_server::server::{self, RunOptions};

fn zk_backup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zk-backup"))
        .args(args)
        .output()
        .expect("running zk-backup")
}

/// [`zk_backup`], which must succeed.
fn zk_backup_ok(args: &[&str]) -> Output {
    let out = zk_backup(args);
    assert!(out.status.success(), "zk-backup {args:?}: {}", text(&out));
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Creates `path` with `<prefix>0`, then sets it to `<prefix>1` .. `<prefix>n` in turn;
/// returns the mzxid of each set (index 0 is set 1). With `archive`, every `k`-th set waits
/// until that archive holds it, so the archive gets several segments.
async fn write_versions(
    client: &zk_client::Client,
    path: &str,
    prefix: &str,
    n: u32,
    archive: Option<(&Path, u32)>,
) -> Vec<i64> {
    client
        .create(
            path,
            format!("{prefix}0").as_bytes(),
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    let mut zxids = Vec::new();
    for i in 1..=n {
        let stat = client
            .set_data(path, format!("{prefix}{i}").as_bytes(), None)
            .await
            .unwrap();
        zxids.push(stat.mzxid);
        if let Some((dir, k)) = archive {
            if i % k == 0 {
                wait_archived(dir, stat.mzxid).await;
            }
        }
    }
    zxids
}

async fn wait_archived(archive_dir: &Path, zxid: i64) {
    let archive = Archive::new(Target::directory(archive_dir).unwrap(), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while archive.catalog().await.unwrap().last_log_zxid() < Some(zxid) {
        assert!(
            Instant::now() < deadline,
            "the archive never reached {zxid:#x}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The data of `path` on a durable server started on `data_dir`.
async fn read_on(data_dir: &Path, path: &str) -> Vec<u8> {
    let cfg = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
        data_dir.display()
    );
    let running = server::start(Config::parse(&cfg, "").unwrap(), RunOptions::default())
        .await
        .expect("a server starts on the restored directory");
    let client = zk_client::Client::builder(running.local_addr().to_string())
        .connect()
        .await
        .unwrap();
    let (data, _) = client.get_data(path).await.unwrap();
    let _ = client.close().await;
    running.stopper().stop();
    data.to_vec()
}

/// A server archiving to `archive_dir` every 50 ms at most, with `extra` zoo.cfg lines, and a
/// session on it.
/// [`archiving`] to `archive_dir` with `extra`, then `/secret` created with a recognisable
/// value and waited for in the archive.
async fn archived_secret(archive_dir: &Path, extra: &str) -> (HttpServer, zk_client::Client) {
    let (server, client) = archiving(archive_dir, extra).await;
    let (_, stat) = client
        .create(
            "/secret",
            b"plaintext-marker-plaintext-marker",
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    wait_archived(archive_dir, stat.czxid).await;
    (server, client)
}

async fn archiving(archive_dir: &Path, extra: &str) -> (HttpServer, zk_client::Client) {
    let server = HttpServer::start(&format!(
        "backup.target={}\nbackup.maxLagMs=50\n{extra}",
        archive_dir.display()
    ))
    .await;
    let client = server.client().await;
    (server, client)
}

fn objects(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_verify_restore_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let (server, client) = archiving(&archive_dir, "snapCount=20\n").await;
    // Archived at 30 before the rest: the archive then has two segments at least.
    let zxids = write_versions(&client, "/k", "v", 60, Some((&archive_dir, 30))).await;
    let (middle, last) = (zxids[29], zxids[59]);
    wait_archived(&archive_dir, last).await;
    drop(client);
    drop(server);
    let target = archive_dir.to_str().unwrap();

    let list = zk_backup_ok(&["list", target, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let windows = json["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{json}");
    assert_eq!(windows[0]["from_zxid"], "0x0");
    let to = zk_server::backup::manifest::parse_zxid(windows[0]["to_zxid"].as_str().unwrap());
    assert!(to >= Some(last), "{json}");
    assert!(
        json["snapshots"].as_array().unwrap().len() >= 2,
        "snapCount=20 took snapshots"
    );

    let verify = zk_backup_ok(&["verify", target]);
    assert!(text(&verify).contains("archive OK"), "{}", text(&verify));

    let restored = dir.path().join("restored");
    let middle_hex = format!("{middle:#x}");
    let dry = zk_backup_ok(&[
        "restore",
        target,
        "--data-dir",
        restored.to_str().unwrap(),
        "--zxid",
        &middle_hex,
        "--dry-run",
    ]);
    assert!(
        text(&dry).contains(&format!("restore to {middle_hex}")),
        "{}",
        text(&dry)
    );
    assert!(!restored.exists(), "a dry run writes nothing");

    zk_backup_ok(&[
        "restore",
        target,
        "--data-dir",
        restored.to_str().unwrap(),
        "--zxid",
        &middle_hex,
    ]);
    assert_eq!(
        read_on(&restored, "/k").await,
        b"v30",
        "the state right after the zxid"
    );
    let again = zk_backup(&[
        "restore",
        target,
        "--data-dir",
        restored.to_str().unwrap(),
        "--latest",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("not empty"), "{}", text(&again));
    zk_backup_ok(&[
        "restore",
        target,
        "--data-dir",
        restored.to_str().unwrap(),
        "--latest",
        "--force",
    ]);
    assert_eq!(read_on(&restored, "/k").await, b"v60");

    // A subtree as it was at a zxid, with each node's Stat.
    let export = zk_backup_ok(&[
        "export",
        target,
        "--zxid",
        &middle_hex,
        "--path",
        "/k",
        "--out",
        "-",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(json["format"], "zk-rs-export/1");
    assert_eq!(json["nodes"][0]["path"], "/k");
    assert_eq!(json["nodes"][0]["data"], "djMw", "base64 of v30");
    assert_eq!(json["nodes"][0]["stat"]["version"], 30);
    let missing = zk_backup(&[
        "export", target, "--latest", "--path", "/nope", "--out", "-",
    ]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));

    // Usage errors exit with 2.
    assert_eq!(
        zk_backup(&["restore", target, "--data-dir", "/nowhere"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(zk_backup(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        zk_backup(&[
            "restore",
            target,
            "--data-dir",
            "/x",
            "--latest",
            "--zxid",
            "1"
        ])
        .status
        .code(),
        Some(2)
    );

    // A flipped byte in the last segment: verify names it; a restore that needs it refuses;
    // one before it still works.
    let logs = archive_dir.join("logs");
    let segments = objects(&logs, ".log.lz4");
    assert!(segments.len() >= 2, "{segments:?}");
    let damaged = segments.last().unwrap();
    let mut bytes = std::fs::read(damaged).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(damaged, bytes).unwrap();
    let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
    let verify = zk_backup(&["verify", target]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(
        text(&verify).contains(&name) && text(&verify).contains("SHA-256"),
        "{}",
        text(&verify)
    );
    let latest = zk_backup(&[
        "restore",
        target,
        "--data-dir",
        dir.path().join("r2").to_str().unwrap(),
        "--latest",
    ]);
    assert_eq!(latest.status.code(), Some(1), "{}", text(&latest));
    assert!(text(&latest).contains(&name), "{}", text(&latest));
    zk_backup_ok(&[
        "restore",
        target,
        "--data-dir",
        dir.path().join("r3").to_str().unwrap(),
        "--zxid",
        &middle_hex,
    ]);

    // A segment gone (object and manifest): a gap, named by its zxids.
    let gone = &segments[0];
    let stem = gone.file_name().unwrap().to_string_lossy().into_owned();
    let first = stem.split('-').next().unwrap().to_owned();
    std::fs::remove_file(gone).unwrap();
    std::fs::remove_file(logs.join(format!("{first}.json"))).unwrap();
    let verify = zk_backup(&["verify", target]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        text(&verify).contains("gap: the states between 0x0 and"),
        "{}",
        text(&verify)
    );
    let list = zk_backup(&["list", target]);
    assert!(list.status.success());
    assert!(
        text(&list).contains("gap: the states between 0x0 and"),
        "{}",
        text(&list)
    );

    // A truncated snapshot: named.
    let snapshots = objects(&archive_dir.join("snapshots"), ".snap.lz4");
    let snap = snapshots.last().unwrap();
    let len = std::fs::metadata(snap).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(snap)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let verify = zk_backup(&["verify", target]);
    assert!(
        text(&verify).contains(&snap.file_name().unwrap().to_string_lossy().into_owned()),
        "{}",
        text(&verify)
    );
}

/// zk-backup with the S3 server's credentials in its environment.
fn zk_backup_s3(s3: &common::s3::S3Server, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zk-backup"));
    command
        .args(args)
        .args(["--s3-endpoint", &s3.endpoint(), "--s3-path-style"]);
    for (key, value) in s3.env() {
        command.env(key, value);
    }
    command.output().expect("running zk-backup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_to_s3_and_restores_from_it() {
    let s3 = common::s3::S3Server::start(&["zk-backups"]);
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = common::process::ServerProcess::start_in(
        dir.path(),
        &format!(
            "snapCount=20\nbackup.target=s3://zk-backups/cluster-a\nbackup.s3.endpoint={}\nbackup.s3.pathStyle=true\nbackup.maxLagMs=50\n",
            s3.endpoint()
        ),
        &s3.env(),
    );
    let client = zk_client::Client::builder(format!("127.0.0.1:{port}"))
        .connect()
        .await
        .unwrap();
    let last = *write_versions(&client, "/s3", "", 40, None)
        .await
        .last()
        .unwrap();
    let target = "s3://zk-backups/cluster-a";
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = zk_backup_s3(&s3, &["list", target, "--json"]);
        assert!(
            list.status.success(),
            "{}\n{}",
            text(&list),
            std::fs::read_to_string(dir.path().join("zk-server.log")).unwrap()
        );
        let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        let to = json["windows"][0]["to_zxid"]
            .as_str()
            .and_then(zk_server::backup::manifest::parse_zxid);
        if to >= Some(last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the S3 archive never reached {last:#x}: {json}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);
    drop(server);
    // The objects really are in the bucket, under the prefix.
    assert!(s3.bucket_dir("zk-backups").join("cluster-a/logs").is_dir());
    let verify = zk_backup_s3(&s3, &["verify", target]);
    assert!(verify.status.success(), "{}", text(&verify));
    let restored = dir.path().join("restored");
    let run = zk_backup_s3(
        &s3,
        &[
            "restore",
            target,
            "--data-dir",
            restored.to_str().unwrap(),
            "--latest",
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(read_on(&restored, "/s3").await, b"40");
    // Wrong credentials: a clear failure, exit code 1.
    let denied = Command::new(env!("CARGO_BIN_EXE_zk-backup"))
        .args([
            "list",
            target,
            "--s3-endpoint",
            &s3.endpoint(),
            "--s3-path-style",
        ])
        .env("AWS_ACCESS_KEY_ID", "nobody")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
}

/// Whether `needle` occurs in any file under `dir`.
fn found_in_files(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found_in_files(&path, needle)
        } else {
            let bytes = std::fs::read(&path).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_archives_need_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("archive.key");
    std::fs::write(
        &key_file,
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let wrong_key = dir.path().join("wrong.key");
    std::fs::write(&wrong_key, [9u8; 32]).unwrap();
    let archive_dir = dir.path().join("archive");
    let key_line = format!("backup.encryption.keyFile={}\n", key_file.display());
    let (server, client) = archived_secret(&archive_dir, &key_line).await;
    drop(client);
    drop(server);
    assert!(
        !found_in_files(&archive_dir, b"plaintext-marker"),
        "the data is not readable in the archive"
    );
    let target = archive_dir.to_str().unwrap();
    let key = key_file.to_str().unwrap();
    let list = zk_backup(&["list", target]);
    assert!(
        list.status.success(),
        "the manifests are readable without the key: {}",
        text(&list)
    );
    let without = zk_backup(&["verify", target]);
    assert_eq!(without.status.code(), Some(1));
    assert!(
        text(&without).contains("is encrypted (key id"),
        "{}",
        text(&without)
    );
    let wrong = zk_backup(&["verify", target, "--key-file", wrong_key.to_str().unwrap()]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains("the wrong key"), "{}", text(&wrong));
    zk_backup_ok(&["verify", target, "--key-file", key]);
    let restored = dir.path().join("restored");
    zk_backup_ok(&[
        "restore",
        target,
        "--key-file",
        key,
        "--data-dir",
        restored.to_str().unwrap(),
        "--latest",
    ]);
    assert_eq!(
        read_on(&restored, "/secret").await,
        b"plaintext-marker-plaintext-marker"
    );
    // The same data unencrypted is found in the files (so the check above means something).
    let plain_dir = dir.path().join("plain");
    let (_server, _client) = archived_secret(&plain_dir, "").await;
    assert!(found_in_files(&plain_dir, b"plaintext-marker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_snapshots_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let (server, client) = archiving(
        &archive_dir,
        "snapCount=10\nadmin.rateLimiterIntervalInMS=0\n",
    )
    .await;
    // Shipped between bursts of 15, so there are several snapshots.
    let last = *write_versions(&client, "/r", "", 60, Some((&archive_dir, 15)))
        .await
        .last()
        .unwrap();
    wait_archived(&archive_dir, last).await;

    // An on-demand snapshot, to a file and into another archive.
    let admin = server.admin().to_string();
    let file = dir.path().join("on-demand.snap");
    let to_file = zk_backup_ok(&[
        "snapshot",
        "--server",
        &admin,
        "--auth",
        "any:one",
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&to_file.stdout).unwrap();
    assert_eq!(json["zxid"], format!("{last:#x}"));
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    let other = dir.path().join("other-archive");
    zk_backup_ok(&[
        "snapshot",
        "--server",
        &admin,
        "--auth",
        "any:one",
        "--to",
        other.to_str().unwrap(),
    ]);
    let restored = dir.path().join("from-on-demand");
    zk_backup_ok(&[
        "restore",
        other.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--latest",
    ]);
    assert_eq!(read_on(&restored, "/r").await, b"60");
    assert_eq!(
        zk_backup(&["snapshot", "--server", &admin]).status.code(),
        Some(2)
    );
    drop(client);
    drop(server);

    // Retention by count: a dry run deletes nothing; the real one leaves a sound archive
    // whose window starts at the newest snapshot.
    let target = archive_dir.to_str().unwrap();
    let before = objects(&archive_dir.join("snapshots"), ".json").len();
    assert!(before >= 3, "{before} snapshots");
    let dry = zk_backup_ok(&["retain", target, "--keep-count", "1", "--dry-run"]);
    assert!(text(&dry).contains("would delete"), "{}", text(&dry));
    assert_eq!(
        objects(&archive_dir.join("snapshots"), ".json").len(),
        before
    );
    zk_backup_ok(&["retain", target, "--keep-count", "1"]);
    assert_eq!(objects(&archive_dir.join("snapshots"), ".json").len(), 1);
    zk_backup_ok(&["verify", target]);
    let latest = dir.path().join("after-retain");
    zk_backup_ok(&[
        "restore",
        target,
        "--data-dir",
        latest.to_str().unwrap(),
        "--latest",
    ]);
    assert_eq!(read_on(&latest, "/r").await, b"60");
    // A window that reaches back past every snapshot keeps everything.
    let keep_all = zk_backup(&["retain", target, "--keep-window", "7d", "--json"]);
    assert!(keep_all.status.success());
    let json: serde_json::Value = serde_json::from_slice(&keep_all.stdout).unwrap();
    assert_eq!(json["deleted"].as_array().unwrap().len(), 0, "{json}");
    assert_eq!(zk_backup(&["retain", target]).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_subtree_is_imported_with_its_conflicts_reported() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let (source, client) = archiving(&archive_dir, "").await;
    let open = CreateOptions::persistent();
    client.create("/app", b"", &open).await.unwrap();
    client.create("/app/x", b"1", &open).await.unwrap();
    client.create("/app/y", b"2", &open).await.unwrap();
    let container = CreateOptions::new(zk_proto::CreateMode::Container);
    client.create("/app/c", b"", &container).await.unwrap();
    client.create("/app/c/kid", b"k", &open).await.unwrap();
    let ephemeral = CreateOptions::new(zk_proto::CreateMode::Ephemeral);
    let last = client
        .create("/app/e", b"e", &ephemeral)
        .await
        .unwrap()
        .1
        .czxid;
    wait_archived(&archive_dir, last).await;
    let file = dir.path().join("app.json");
    zk_backup_ok(&[
        "export",
        archive_dir.to_str().unwrap(),
        "--latest",
        "--path",
        "/app",
        "--out",
        file.to_str().unwrap(),
    ]);
    drop(client);
    drop(source);

    // Another server holds /app/x with other data.
    let target = HttpServer::start("").await;
    let other = target.client().await;
    other.create("/app", b"", &open).await.unwrap();
    other.create("/app/x", b"changed", &open).await.unwrap();
    let admin = target.admin().to_string();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            file.to_str().unwrap(),
            "--server",
            &admin,
            "--auth",
            "any:one",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = zk_backup(&args);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
        (out.status.code(), report)
    };
    let (code, dry) = import(&["--dry-run"]);
    assert_eq!(code, Some(1), "a conflict remains: {dry}");
    assert_eq!(dry["conflicts"][0]["path"], "/app/x");
    assert_eq!(dry["conflicts"][0]["data_differs"], true);
    assert_eq!(
        dry["created"],
        serde_json::json!(["/app/c", "/app/y", "/app/c/kid"])
    );
    assert_eq!(dry["same"], serde_json::json!(["/app"]));
    assert_eq!(dry["skipped"][0]["path"], "/app/e");
    assert!(
        other.exists("/app/y").await.unwrap().is_none(),
        "a dry run writes nothing"
    );

    let (code, first) = import(&[]);
    assert_eq!(code, Some(1), "{first}");
    assert_eq!(other.get_data("/app/y").await.unwrap().0, &b"2"[..]);
    assert_eq!(
        other.get_data("/app/x").await.unwrap().0,
        &b"changed"[..],
        "not overwritten"
    );
    // Clients see 0 as a container's owner; the export keeps the kind.
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let kinds: Vec<(&str, &str)> = exported["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["path"].as_str().unwrap(), n["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("/app/c", "container")) && kinds.contains(&("/app/e", "ephemeral")),
        "{kinds:?}"
    );
    assert!(other.exists("/app/c/kid").await.unwrap().is_some());

    let (code, forced) = import(&["--force"]);
    assert_eq!(code, Some(0), "{forced}");
    assert_eq!(forced["overwritten"][0]["path"], "/app/x");
    assert_eq!(other.get_data("/app/x").await.unwrap().0, &b"1"[..]);
    let (code, again) = import(&[]);
    assert_eq!(code, Some(0), "{again}");
    assert_eq!(again["created"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_archive_archives_a_history_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    let (first, client) = archiving(&archive_dir, "").await;
    let mut old_last = 0;
    for i in 0..5 {
        let (_, stat) = client
            .create(&format!("/old{i}"), b"o", &CreateOptions::persistent())
            .await
            .unwrap();
        old_last = stat.czxid;
    }
    wait_archived(&archive_dir, old_last).await;
    drop(client);
    drop(first);
    let target = archive_dir.to_str().unwrap();
    let restored = dir.path().join("restored");
    zk_backup_ok(&[
        "restore",
        target,
        "--zxid",
        &format!("{:#x}", old_last - 2),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);

    // A server on the restored directory archives to the same place.
    let cfg = format!(
        "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nbackup.target={target}\nbackup.maxLagMs=50\n",
        restored.display()
    );
    let second = server::start(Config::parse(&cfg, "").unwrap(), RunOptions::default())
        .await
        .unwrap();
    let client = zk_client::Client::builder(second.local_addr().to_string())
        .connect()
        .await
        .unwrap();
    let (_, stat) = client
        .create("/new", b"n", &CreateOptions::persistent())
        .await
        .unwrap();
    let new_zxid = stat.czxid;
    assert!(
        new_zxid >> 32 > old_last >> 32,
        "a new epoch: {new_zxid:#x}"
    );
    wait_archived(&archive_dir, new_zxid).await;
    let _ = client.close().await;
    second.stopper().stop();

    // Two histories: the old one, and the restored one from its own base.
    let list = zk_backup(&["list", target, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let windows = json["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2, "{json}");
    let verify = zk_backup(&["verify", target]);
    assert!(
        verify.status.success(),
        "replaying each history onto its own base: {}",
        text(&verify)
    );
    let latest = dir.path().join("latest");
    zk_backup_ok(&[
        "restore",
        target,
        "--latest",
        "--data-dir",
        latest.to_str().unwrap(),
    ]);
    assert_eq!(read_on(&latest, "/new").await, b"n");
    let old = dir.path().join("old");
    zk_backup_ok(&[
        "restore",
        target,
        "--zxid",
        &format!("{old_last:#x}"),
        "--data-dir",
        old.to_str().unwrap(),
    ]);
    assert_eq!(
        read_on(&old, "/old4").await,
        b"o",
        "the old history is still there"
    );
}
