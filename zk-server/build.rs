//! Stamps the build time into the binary (`ZK_BUILD_EPOCH_SECONDS`), so `srvr`, `envi` and
//! `mntr` say when this server was built (formatted by `admin::build_date`).
//! `SOURCE_DATE_EPOCH` (seconds), when set, is used instead of the clock, for reproducible
//! builds.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    // Re-stamped when the sources change, not on every build.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    println!("cargo:rustc-env=ZK_BUILD_EPOCH_SECONDS={seconds}");
}
