//! The online restore (`POST /commands/restore`) on a running durable server: from a snapshot
//! the `snapshot` command streamed (Java's way) and from the backup archive by zxid; clients
//! stay connected and see watch events; the restored state survives a restart; bad requests
//! get their answers.

mod common;

use std::path::Path;
use std::time::Duration;

use common::http::{request, Answer};
use zk_client::{Client, CreateOptions};
use zk_proto::data::{Acl, Id};
use zk_proto::{CreateMode, EventType};
use zk_server::config::Config;
use zk_server::server::{self, RunOptions, RunningServer};

const AUTH: (&str, &str) = ("Authorization", "digest any:one");

/// A durable server on `data_dir` with its AdminServer and no restore rate limit; stopped on
/// drop.
struct Server(Option<RunningServer>);

impl Server {
    async fn start(data_dir: &Path, extra: &str) -> Server {
        let text = format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort=0\nadmin.rateLimiterIntervalInMS=0\n{extra}",
            data_dir.display()
        );
        let running = server::start(Config::parse(&text, "").unwrap(), RunOptions::default())
            .await
            .expect("start");
        Server(Some(running))
    }

    fn admin(&self) -> std::net::SocketAddr {
        self.0.as_ref().unwrap().admin_addr().unwrap()
    }

    async fn client(&self) -> Client {
        let addr = self.0.as_ref().unwrap().local_addr().to_string();
        Client::builder(addr)
            .session_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect")
    }

    async fn stop(mut self) {
        if let Some(running) = self.0.take() {
            running.stopper().stop();
            let _ = running.wait().await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(running) = self.0.take() {
            running.stopper().stop();
        }
    }
}

async fn post_restore(admin: std::net::SocketAddr, query: &str, body: &[u8]) -> Answer {
    request(
        admin,
        "POST",
        &format!("/commands/restore{query}"),
        &[AUTH],
        body,
    )
    .await
}

/// Every node under `/app`: path and data, sorted.
async fn app_state(zk: &Client) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec!["/app".to_owned()];
    while let Some(path) = stack.pop() {
        let Ok((data, _)) = zk.get_data(&path).await else {
            continue;
        };
        out.push((path.clone(), data.to_vec()));
        for child in zk.get_children(&path).await.unwrap_or_default() {
            stack.push(format!("{path}/{child}"));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_snapshot_restores_online_durably_with_clients_connected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "").await;
    let admin = server.admin();
    let zk = server.client().await;
    let open = CreateOptions::persistent();
    zk.create("/app", b"root", &open).await.unwrap();
    zk.create("/app/a", b"1", &open).await.unwrap();
    zk.create("/app/b", b"2", &open).await.unwrap();
    zk.create(
        "/app/seq-",
        b"s",
        &CreateOptions::new(CreateMode::PersistentSequential),
    )
    .await
    .unwrap();
    zk.create("/app/box", b"", &CreateOptions::new(CreateMode::Container))
        .await
        .unwrap();
    zk.create("/app/box/item", b"i", &open).await.unwrap();
    let snap = request(admin, "GET", "/commands/snapshot", &[AUTH], b"").await;
    assert_eq!(snap.status, 200, "{}", snap.text());
    let expected = app_state(&zk).await;
    let acl_before = zk.get_acl("/app/a").await.unwrap().0;

    // Changes after the snapshot, and a live session's ephemeral under a surviving parent.
    zk.set_data("/app/a", b"changed", None).await.unwrap();
    zk.delete("/app/b", None).await.unwrap();
    zk.create("/app/new", b"n", &open).await.unwrap();
    zk.create("/gone", b"g", &open).await.unwrap();
    let reader = Id::new("digest", zk_server::acl::digest_id("bob:pw"));
    zk.set_acl("/app/a", vec![Acl::new(zk_proto::perms::ALL, reader)], None)
        .await
        .unwrap();
    zk.add_auth("digest", b"bob:pw".to_vec()).await.unwrap();
    let watcher_client = server.client().await;
    watcher_client
        .add_auth("digest", b"bob:pw".to_vec())
        .await
        .unwrap();
    watcher_client
        .create("/app/member", b"", &CreateOptions::ephemeral())
        .await
        .unwrap();
    let (_, stat_before, watch) = watcher_client.get_data_watch("/app/a").await.unwrap();

    let answer = post_restore(admin, "", &snap.body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["command"], "restore");
    assert!(body["error"].is_null());
    assert_eq!(body["deleted"], 2, "{body:#}"); // /app/new, /gone
    assert_eq!(body["created"], 1, "{body:#}"); // /app/b
    assert_eq!(body["data_changed"], 1, "{body:#}");
    assert_eq!(body["acl_changed"], 1, "{body:#}");
    assert_eq!(body["ephemerals_kept"], 1, "{body:#}");
    assert_eq!(
        body["compared_in_core"], false,
        "no write came between: {body:#}"
    );
    let last_zxid = body["last_zxid"].as_i64().unwrap();

    // The connected client saw the change as a data change, and reads the restored state at
    // once: the answer came after the commit.
    let event = tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .expect("the watch fires");
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    let mut after = app_state(&watcher_client).await;
    after.retain(|(p, _)| p != "/app/member");
    assert_eq!(after, expected);
    assert!(watcher_client.exists("/gone").await.unwrap().is_none());
    assert_eq!(
        watcher_client.get_acl("/app/a").await.unwrap().0,
        acl_before
    );
    // Versions move on rather than back: a write prepared before the restore fails.
    let (_, stat_after) = watcher_client.get_data("/app/a").await.unwrap();
    assert!(stat_after.version > stat_before.version);
    assert!(stat_after.mzxid <= last_zxid && stat_after.mzxid > stat_before.mzxid);
    assert!(zk
        .set_data("/app/a", b"stale", Some(stat_before.version))
        .await
        .is_err());
    drop(zk);
    drop(watcher_client);

    // Durable: a restart reads the same tree from the log.
    server.stop().await;
    let server = Server::start(dir.path(), "").await;
    let zk = server.client().await;
    let mut again = app_state(&zk).await;
    again.retain(|(p, _)| p != "/app/member");
    assert_eq!(again, expected);
    assert!(zk.exists("/gone").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_restores_online_by_zxid_and_bad_requests_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &format!("backup.target={}\nbackup.maxLagMs=0\n", archive.display()),
    )
    .await;
    let admin = server.admin();
    let zk = server.client().await;
    zk.create("/app", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let (_, stat) = zk
        .create("/app/k", b"v0", &CreateOptions::persistent())
        .await
        .unwrap();
    let mut middle = stat.mzxid;
    for i in 1..=10 {
        let stat = zk
            .set_data("/app/k", format!("v{i}").as_bytes(), None)
            .await
            .unwrap();
        if i == 5 {
            middle = stat.mzxid;
        }
    }
    zk.create("/app/late", b"", &CreateOptions::persistent())
        .await
        .unwrap();

    // With backup.maxLagMs=0 every acknowledged write is archived already.
    let answer = post_restore(admin, &format!("?zxid={middle:#x}"), b"").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer.json()["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!("at {middle:#x}")),
        "{}",
        answer.text()
    );
    assert_eq!(&zk.get_data("/app/k").await.unwrap().0[..], b"v5");
    assert!(zk.exists("/app/late").await.unwrap().is_none());

    // The restore's own txns are archived like any others: the latest point is now the
    // restored state.
    zk.create("/app/after", b"", &CreateOptions::persistent())
        .await
        .unwrap();
    let latest = post_restore(admin, "?latest=true", b"").await;
    assert_eq!(latest.status, 200, "{}", latest.text());
    assert_eq!(
        latest.json()["txns"],
        0,
        "nothing differs from the latest archived state"
    );

    let bad_zxid = post_restore(admin, "?zxid=zzz", b"").await;
    assert_eq!(bad_zxid.status, 400);
    assert!(bad_zxid.json()["error"]
        .as_str()
        .unwrap()
        .contains("not a zxid"));
    let both = post_restore(admin, "?latest=true", b"snapshot").await;
    assert_eq!(both.status, 400);
    let beyond = post_restore(admin, "?zxid=0x7fff000000000000", b"").await;
    assert_eq!(beyond.status, 422, "{}", beyond.text());
    // Not a snapshot: Java answers 500 and counts a restore error.
    let garbage = post_restore(admin, "", b"not a snapshot").await;
    assert_eq!(garbage.status, 500);
    assert!(garbage.json()["error"]
        .as_str()
        .unwrap()
        .contains("snapshot"));
    let monitor = request(admin, "GET", "/commands/monitor", &[], b"").await;
    assert_eq!(monitor.json()["restore_error_count"], 1);
    server.stop().await;

    // Without an archive, the archive's points are refused.
    let plain = Server::start(&dir.path().join("plain"), "").await;
    let none = post_restore(plain.admin(), "?latest=true", b"").await;
    assert_eq!(none.status, 400);
    assert!(none.json()["error"].as_str().unwrap().contains("backup"));
}
