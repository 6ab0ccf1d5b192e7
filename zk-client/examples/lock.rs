//! Takes a lock shared with Curator's `InterProcessMutex` (and kazoo's `Lock` with
//! `extra_lock_patterns=["-lock-"]`), holds it, releases it.
//!
//! ```sh
//! cargo run -p zk-client --example lock -- 127.0.0.1:2181 /locks/demo 2000
//! ```
//!
//! Prints `acquired <unix-ms>` once it holds the lock and `released <unix-ms>` once the lock
//! node is gone, then exits 0. If the session ends while holding, it prints `lost <unix-ms>`
//! and exits 1.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zk_client::recipes::lock::Mutex;
use zk_client::Client;

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [connect, path, hold_ms] = args.as_slice() else {
        eprintln!("usage: lock <connect string> <lock path> <hold ms>");
        std::process::exit(2);
    };
    let hold = Duration::from_millis(hold_ms.parse()?);
    let client = Client::connect(connect).await?;
    let mutex = Mutex::new(&client, path)?;

    let guard = mutex.acquire().await?;
    println!("acquired {}", unix_ms());
    tokio::select! {
        () = tokio::time::sleep(hold) => {}
        () = guard.lost() => {
            println!("lost {}", unix_ms());
            std::process::exit(1);
        }
    }
    guard.release().await?;
    println!("released {}", unix_ms());
    client.close().await?;
    Ok(())
}
