//! Joins a leader election shared with Curator's `LeaderLatch` and prints what happens.
//!
//! ```sh
//! cargo run -p zk-client --example leader -- 127.0.0.1:2181 /election/demo worker-1 10000
//! ```
//!
//! Prints one line per change: `leader <unix-ms>`, `not-leader <unix-ms>` (in the election,
//! behind someone), `suspended <unix-ms>` (connection lost, leadership uncertain),
//! `lost <unix-ms>` (the session ended). After `<run-ms>` (default: until Ctrl-C) it leaves the
//! election, prints `closed <unix-ms>` and exits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zk_client::recipes::leader::{LatchState, LeaderLatch};
use zk_client::Client;

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (connect, path, id, run_ms) = match args.as_slice() {
        [connect, path, id] => (connect, path, id, None),
        [connect, path, id, run_ms] => (connect, path, id, Some(run_ms.parse::<u64>()?)),
        _ => {
            eprintln!("usage: leader <connect string> <election path> <id> [<run ms>]");
            std::process::exit(2);
        }
    };
    let client = Client::connect(connect).await?;
    let latch = LeaderLatch::start(&client, path, id).await?;
    let mut changes = latch.changes();
    let stop = async {
        match run_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            change = changes.next() => match change {
                Some(LatchState::Leader) => println!("leader {}", unix_ms()),
                Some(LatchState::Waiting) => println!("not-leader {}", unix_ms()),
                Some(LatchState::Suspended) => println!("suspended {}", unix_ms()),
                Some(LatchState::Lost) => {
                    println!("lost {}", unix_ms());
                    std::process::exit(1);
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    latch.close().await?;
    println!("closed {}", unix_ms());
    client.close().await?;
    Ok(())
}
