//! Stamps the build date into the binary (`ZK_BUILD_DATE`, `yyyy-MM-dd HH:mm UTC` as Java's
//! `Version.getFullVersion` prints it), so `srvr`, `envi` and `mntr` say when this server was
//! built. `SOURCE_DATE_EPOCH` (seconds), when set, is used instead of the clock, for
//! reproducible builds.

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
    println!("cargo:rustc-env=ZK_BUILD_DATE={}", utc_minute(seconds));
}

/// `yyyy-MM-dd HH:mm UTC` of a Unix time (Howard Hinnant's days-to-civil).
fn utc_minute(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        in_day / 3600,
        in_day % 3600 / 60
    )
}
