//! Crash safety: a zk-server child process is killed with SIGKILL at random moments under a
//! write load, then restarted on the same data directory. Every write that was acknowledged
//! must be there after recovery; a multi is all-or-nothing even when the kill interrupts it.
//! `CRASH_KILLS` sets the number of kills (default 20), `CRASH_SEED` the randomness.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, ruok};
use zk_client::{Client, CreateOptions, Op};

/// The server process; killed on drop so a failing test leaves nothing behind.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &Path, port: u16, log: &Path) -> ServerProcess {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_zk-server"))
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start zk-server");
    let server = ServerProcess(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if ruok(port) {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "zk-server did not come up on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the load saw acknowledged: path -> data, and multis as (a, b) pairs.
#[derive(Default)]
struct Acked {
    nodes: BTreeMap<String, Vec<u8>>,
    pairs: Vec<(String, String)>,
    attempted_pairs: Vec<(String, String)>,
}

async fn load(cs: String, round: u32, acked: Arc<Mutex<Acked>>) {
    let Ok(zk) = Client::builder(cs)
        .session_timeout(Duration::from_secs(4))
        .connect()
        .await
    else {
        return;
    };
    let mut i = 0u32;
    loop {
        // A burst of pipelined creates, then a multi.
        let mut pending = Vec::new();
        for _ in 0..32 {
            let path = format!("/r{round}-n{i}");
            let data = format!("{round}:{i}").into_bytes();
            pending.push((
                path.clone(),
                data.clone(),
                zk.create(&path, &data, &CreateOptions::persistent()),
            ));
            i += 1;
        }
        for (path, data, fut) in pending {
            match fut.await {
                Ok(_) => {
                    acked.lock().unwrap().nodes.insert(path, data);
                }
                Err(_) => return,
            }
        }
        let (a, b) = (format!("/r{round}-m{i}a"), format!("/r{round}-m{i}b"));
        acked
            .lock()
            .unwrap()
            .attempted_pairs
            .push((a.clone(), b.clone()));
        let multi = zk.multi(vec![
            Op::Create {
                path: a.clone(),
                data: b"m".to_vec().into(),
                options: CreateOptions::persistent(),
            },
            Op::Create {
                path: b.clone(),
                data: b"m".to_vec().into(),
                options: CreateOptions::persistent(),
            },
        ]);
        match multi.await {
            Ok(_) => acked.lock().unwrap().pairs.push((a, b)),
            Err(_) => return,
        }
        i += 1;
    }
}

fn seeded(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn kill_nine_under_load_loses_no_acknowledged_write() {
    let kills: u32 = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {kills} kills, CRASH_SEED={seed}");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nsnapCount=300\npreAllocSize=64\n4lw.commands.whitelist=ruok\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let server_log = dir.path().join("server.log");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let cs = format!("127.0.0.1:{port}");
    let mut total_acked = 0;
    for round in 0..kills {
        let mut server = start(&config, port, &server_log);
        let task = rt.spawn(load(cs.clone(), round, acked.clone()));
        std::thread::sleep(Duration::from_millis(50 + seeded(&mut seed) % 250));
        let _ = server.0.kill(); // SIGKILL
        let _ = server.0.wait();
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
        total_acked = acked.lock().unwrap().nodes.len();
    }
    // Recover once more and check everything.
    let _server = start(&config, port, &server_log);
    let acked = acked.lock().unwrap();
    rt.block_on(async {
        let zk = Client::connect(&cs).await.expect("connect after recovery");
        for (path, data) in &acked.nodes {
            match zk.get_data(path).await {
                Ok((got, _)) => {
                    assert_eq!(&got[..], &data[..], "{path}: wrong data after recovery")
                }
                Err(e) => panic!("acknowledged {path} lost after a kill: {e}"),
            }
        }
        for (a, b) in &acked.pairs {
            assert!(
                zk.exists(a).await.unwrap().is_some() && zk.exists(b).await.unwrap().is_some(),
                "acknowledged multi {a},{b} lost"
            );
        }
        for (a, b) in &acked.attempted_pairs {
            let (ea, eb) = (
                zk.exists(a).await.unwrap().is_some(),
                zk.exists(b).await.unwrap().is_some(),
            );
            assert_eq!(ea, eb, "multi {a},{b} half-applied after a kill");
        }
    });
    assert!(
        total_acked > 0,
        "the load acknowledged nothing; the test proved nothing"
    );
    eprintln!(
        "crash test: {} acknowledged creates and {} multis survived {kills} kills",
        acked.nodes.len(),
        acked.pairs.len()
    );
    let snapshots = std::fs::read_dir(dir.path().join("data/version-2"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snapshot.")
        })
        .count();
    assert!(
        snapshots > 1,
        "snapCount=300 should have produced snapshots during the load"
    );
}
