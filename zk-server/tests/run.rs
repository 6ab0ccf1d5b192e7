//! The library entry (`zk_server::server::start`/`run`): the whole durable server in-process,
//! stopped and started again on the same data directory, keeps what it acknowledged; a data
//! directory it cannot recover is an error, not a panic.

use std::time::Duration;

use zk_client::{Client, CreateOptions};
use zk_server::config::Config;
use zk_server::server::{self, RunError, RunOptions};

fn config(data_dir: &std::path::Path) -> Config {
    Config::parse(
        &format!(
            "tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n",
            data_dir.display()
        ),
        "",
    )
    .expect("a valid zoo.cfg")
}

async fn client(addr: std::net::SocketAddr) -> Client {
    Client::builder(addr.to_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let first = server::start(config(dir.path()), RunOptions::default())
        .await
        .expect("first start");
    let zk = client(first.local_addr()).await;
    for i in 0..50 {
        zk.create(
            &format!("/n{i}"),
            format!("v{i}").as_bytes(),
            &CreateOptions::persistent(),
        )
        .await
        .expect("create");
    }
    drop(zk);
    first.stopper().stop();
    first.wait().await.expect("a clean stop");

    // The second run recovers from the startup snapshot of the first and its log.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let second = server::start(config(dir.path()), RunOptions::default())
        .await
        .expect("second start");
    let addr = second.local_addr();
    let stopper = second.stopper();
    let serving = tokio::spawn(async move {
        let _ = stop_rx.await;
        stopper.stop();
        second.wait().await
    });
    let zk = client(addr).await;
    for i in 0..50 {
        let (data, _) = zk.get_data(&format!("/n{i}")).await.expect("get_data");
        assert_eq!(&data[..], format!("v{i}").as_bytes());
    }
    drop(zk);
    stop_tx.send(()).unwrap();
    serving.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn run_reports_a_data_directory_it_cannot_recover() {
    let dir = tempfile::tempdir().unwrap();
    // A log and no snapshot: Java refuses to start (snapshot.trust.empty is off), and so do we.
    let logs = dir.path().join("version-2");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("log.1"), b"ZKLG not really a log").unwrap();
    let outcome = server::run(config(dir.path()), RunOptions::default(), async {}).await;
    match outcome {
        Err(RunError::Recovery(e)) => {
            assert!(e.to_string().contains("no snapshot"), "{e}")
        }
        other => panic!("expected a recovery error, got {other:?}"),
    }
}
