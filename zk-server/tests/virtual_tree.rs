//! `/zookeeper/snapshots` and `/zookeeper/backups` as any client sees them: listing, data,
//! Stat, the snapshot a create of `/zookeeper/snapshots/now` takes, and the answers to other
//! writes there.

mod common;

use std::time::{Duration, Instant};

use common::server::HttpServer;
use zk_client::{CreateOptions, ErrorKind};
use zk_proto::data::{Acl, Id};

async fn children(client: &zk_client::Client, path: &str) -> Vec<String> {
    let mut names = client.get_children(path).await.unwrap();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_listed_and_taken_on_request() {
    let server = HttpServer::start("").await;
    let client = server.client().await;
    // Without backups, /zookeeper lists what Java lists; the folders answer all the same.
    let listed = children(&client, "/zookeeper").await;
    assert!(!listed.contains(&"snapshots".to_owned()), "{listed:?}");
    let (_, zk_stat) = client.get_data("/zookeeper").await.unwrap();
    assert_eq!(zk_stat.num_children as usize, listed.len());
    client
        .create("/a", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    let (made, _) = client
        .create(
            "/zookeeper/snapshots/now",
            b"",
            &CreateOptions::persistent(),
        )
        .await
        .unwrap();
    let name = made
        .strip_prefix("/zookeeper/snapshots/")
        .unwrap()
        .to_owned();
    assert_eq!(name.len(), 16, "{made}");
    let zxid = i64::from_str_radix(&name, 16).unwrap();
    // The file appears, and the folder lists it once refreshed.
    let file_zxid = format!("{zxid:x}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files: Vec<String> = std::fs::read_dir(server.data_dir().join("version-2"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let on_disk = files
            .iter()
            .any(|f| f.starts_with(&format!("snapshot.{file_zxid}")));
        let (data, stat) = client.get_data(&made).await.unwrap();
        let text = String::from_utf8(data.to_vec()).unwrap();
        if on_disk && text.contains("\"bytes\"") {
            assert_eq!(stat.data_length as usize, text.len());
            assert!(stat.ctime > 0);
            assert!(text.contains(&format!("\"zxid\":\"{zxid:#x}\"")), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot {made} ({files:?}, {text})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let snaps = children(&client, "/zookeeper/snapshots").await;
    assert!(snaps.contains(&name), "{snaps:?}");
    let (_, dir_stat) = client
        .get_children_with_stat("/zookeeper/snapshots")
        .await
        .unwrap();
    assert_eq!(dir_stat.num_children as usize, snaps.len());
    assert!(client
        .exists("/zookeeper/snapshots/ffffffffffffffff")
        .await
        .unwrap()
        .is_none());

    // Other writes: the folders exist; what is not there is not there.
    let again = client
        .create("/zookeeper/snapshots", b"", &CreateOptions::persistent())
        .await;
    assert!(
        matches!(&again, Err(e) if *e == ErrorKind::NodeExists),
        "{again:?}"
    );
    let other = client
        .create(
            "/zookeeper/snapshots/mine",
            b"",
            &CreateOptions::persistent(),
        )
        .await;
    assert!(
        matches!(&other, Err(e) if *e == ErrorKind::NoNode),
        "{other:?}"
    );
    let set = client.set_data("/zookeeper/snapshots", b"x", None).await;
    assert!(matches!(&set, Err(e) if *e == ErrorKind::NoNode), "{set:?}");

    // Only an identity with ALL on / may take one.
    let admin = Id::new("digest", zk_server::acl::digest_id("root:pw"));
    client
        .set_acl(
            "/",
            vec![
                Acl::new(zk_proto::perms::ALL, admin),
                Acl::read_unsafe()[0].clone(),
            ],
            None,
        )
        .await
        .unwrap();
    let anonymous = server.client().await;
    let refused = anonymous
        .create(
            "/zookeeper/snapshots/now",
            b"",
            &CreateOptions::persistent(),
        )
        .await;
    assert!(
        matches!(&refused, Err(e) if *e == ErrorKind::NoAuth),
        "{refused:?}"
    );
    let root = zk_client::Client::builder(server.client_addr().to_string())
        .auth("digest", b"root:pw".to_vec())
        .connect()
        .await
        .unwrap();
    assert!(root
        .create(
            "/zookeeper/snapshots/now",
            b"",
            &CreateOptions::persistent()
        )
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_listed_with_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpServer::start(&format!(
        "backup.target={}\nbackup.maxLagMs=20\n",
        dir.path().join("archive").display()
    ))
    .await;
    let client = server.client().await;
    let listed = children(&client, "/zookeeper").await;
    assert!(
        listed.contains(&"snapshots".to_owned()) && listed.contains(&"backups".to_owned()),
        "{listed:?}"
    );
    let (_, zk_stat) = client.get_data("/zookeeper").await.unwrap();
    assert_eq!(zk_stat.num_children as usize, listed.len());
    client
        .create("/b", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let backups = children(&client, "/zookeeper/backups").await;
        let (summary, _) = client.get_data("/zookeeper/backups").await.unwrap();
        let summary = String::from_utf8(summary.to_vec()).unwrap();
        if !backups.is_empty() && summary.contains("\"windows\"") {
            let (data, _) = client
                .get_data(&format!("/zookeeper/backups/{}", backups[0]))
                .await
                .unwrap();
            let text = String::from_utf8(data.to_vec()).unwrap();
            assert!(text.contains("\"restorable_through\""), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no backups listed: {backups:?} {summary}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The zxids of the snapshot files in `dir`.
fn snapshot_zxids(dir: &std::path::Path) -> Vec<i64> {
    zk_server::storage::snapshot::list_snapshots(&dir.join("version-2"))
        .unwrap()
        .into_iter()
        .map(|(_, zxid, _)| zxid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_taken_by_time_as_well_as_by_count() {
    // snapCount alone would take none here; snapshot.intervalMs takes one after a write.
    let timed =
        HttpServer::start("snapCount=1000000\nsnapshot.intervalMs=300\ntickTime=200\n").await;
    let client = timed.client().await;
    let (_, stat) = client
        .create("/t", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !snapshot_zxids(timed.data_dir()).contains(&stat.czxid) {
        assert!(
            Instant::now() < deadline,
            "no snapshot at {:#x}: {:?}",
            stat.czxid,
            snapshot_zxids(timed.data_dir())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 0 turns it off: only the startup snapshot.
    let off = HttpServer::start("snapCount=1000000\nsnapshot.intervalMs=0\ntickTime=200\n").await;
    let client = off.client().await;
    let (_, stat) = client
        .create("/t", b"x", &CreateOptions::persistent())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !snapshot_zxids(off.data_dir()).contains(&stat.czxid),
        "{:?}",
        snapshot_zxids(off.data_dir())
    );
}
