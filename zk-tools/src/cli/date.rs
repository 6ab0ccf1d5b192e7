//! Java's `Date.toString()` (`EEE MMM dd HH:mm:ss zzz yyyy`, for example
//! `Tue Nov 24 23:55:01 UTC 2026`) in the local time zone, as zkCli.sh prints `ctime`/`mtime`.
//!
//! The zone comes from `TZ` (a zoneinfo name, `:name` or an absolute path; empty means UTC) or,
//! when `TZ` is unset, `/etc/localtime`. Zone files are read in the TZif format (RFC 8536);
//! anything unreadable falls back to UTC.

use std::sync::OnceLock;
use zk_client::zk_proto::time::civil_from_days;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ms` since the epoch as Java's `new Date(ms).toString()` prints it in the local zone.
pub fn java_date(ms: i64) -> String {
    java_date_in(ms, local_zone())
}

/// `ms` since the epoch as Java's `Date.toString()` prints it in `zone`.
pub(crate) fn java_date_in(ms: i64, zone: &Zone) -> String {
    let secs = ms.div_euclid(1000);
    let (offset, abbr) = zone.at(secs);
    let local = secs + i64::from(offset);
    let days = local.div_euclid(86_400);
    let of_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {} {}",
        WEEKDAYS[weekday],
        MONTHS[month as usize - 1],
        day,
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        abbr,
        year
    )
}

/// A time zone: transition times and the local time types they switch to.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// Transition instants (seconds since the epoch), ascending.
    transitions: Vec<i64>,
    /// For each transition, the index of the type in force from then on.
    kinds: Vec<usize>,
    /// UTC offset in seconds and abbreviation of each local time type.
    types: Vec<(i32, String)>,
}

impl Zone {
    /// Coordinated Universal Time.
    pub(crate) fn utc() -> Zone {
        Zone {
            transitions: Vec::new(),
            kinds: Vec::new(),
            types: vec![(0, "UTC".to_owned())],
        }
    }

    /// The offset and abbreviation in force at `secs`. Before the first transition the first
    /// type applies (RFC 8536); after the last, the last transition's type.
    fn at(&self, secs: i64) -> (i32, &str) {
        let n = self.transitions.partition_point(|&t| t <= secs);
        let kind = if n == 0 { 0 } else { self.kinds[n - 1] };
        let (offset, abbr) = &self.types[kind];
        (*offset, abbr)
    }

    /// Parses a TZif file (versions 1 to 4; the 64-bit block when there is one).
    pub(crate) fn from_tzif(bytes: &[u8]) -> Option<Zone> {
        let header = |b: &[u8]| -> Option<[usize; 6]> {
            if b.len() < 44 || &b[..4] != b"TZif" {
                return None;
            }
            let mut counts = [0usize; 6];
            for (i, c) in counts.iter_mut().enumerate() {
                let at = 20 + 4 * i;
                *c = u32::from_be_bytes(b[at..at + 4].try_into().ok()?) as usize;
            }
            Some(counts)
        };
        let block_len = |c: &[usize; 6], time_size: usize| {
            let [isut, isstd, leap, time, typ, chars] = *c;
            time * time_size + time + typ * 6 + chars + leap * (time_size + 4) + isstd + isut
        };
        let v1 = header(bytes)?;
        let (counts, data, time_size) = if bytes[4] >= b'2' {
            let second = 44 + block_len(&v1, 4);
            let rest = bytes.get(second..)?;
            (header(rest)?, rest.get(44..)?, 8)
        } else {
            (v1, bytes.get(44..)?, 4)
        };
        let [_, _, _, time_count, type_count, char_count] = counts;
        if type_count == 0 || data.len() < block_len(&counts, time_size) {
            return None;
        }
        let mut at = 0;
        let mut transitions = Vec::with_capacity(time_count);
        for _ in 0..time_count {
            let raw = &data[at..at + time_size];
            transitions.push(if time_size == 8 {
                i64::from_be_bytes(raw.try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(raw.try_into().ok()?))
            });
            at += time_size;
        }
        let kinds: Vec<usize> = data[at..at + time_count]
            .iter()
            .map(|&k| k as usize)
            .collect();
        at += time_count;
        if kinds.iter().any(|&k| k >= type_count) {
            return None;
        }
        let infos = &data[at..at + 6 * type_count];
        at += 6 * type_count;
        let chars = &data[at..at + char_count];
        let types = infos
            .chunks_exact(6)
            .map(|info| {
                let offset = i32::from_be_bytes(info[..4].try_into().ok()?);
                let start = info[5] as usize;
                let rest = chars.get(start..)?;
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                Some((offset, String::from_utf8_lossy(&rest[..end]).into_owned()))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Zone {
            transitions,
            kinds,
            types,
        })
    }
}

/// The local zone, loaded once.
fn local_zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| load_local_zone().unwrap_or_else(Zone::utc))
}

fn load_local_zone() -> Option<Zone> {
    let file = match std::env::var("TZ") {
        Err(_) => "/etc/localtime".to_owned(),
        Ok(tz) => {
            let name = tz.strip_prefix(':').unwrap_or(&tz);
            if name.is_empty() {
                return None;
            }
            if name.starts_with('/') {
                name.to_owned()
            } else {
                let dir =
                    std::env::var("TZDIR").unwrap_or_else(|_| "/usr/share/zoneinfo".to_owned());
                format!("{dir}/{name}")
            }
        }
    };
    Zone::from_tzif(&std::fs::read(file).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_java_in_utc() {
        let utc = Zone::utc();
        assert_eq!(java_date_in(0, &utc), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            java_date_in(1_795_564_501_000, &utc),
            "Tue Nov 24 23:55:01 UTC 2026"
        );
        assert_eq!(
            java_date_in(951_782_400_999, &utc),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(java_date_in(-1, &utc), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn reads_zoneinfo_when_present() {
        // Skipped where tzdata is not installed.
        let Ok(bytes) = std::fs::read("/usr/share/zoneinfo/Europe/Paris") else {
            return;
        };
        let paris = Zone::from_tzif(&bytes).expect("valid TZif");
        // 2026-07-01T12:00:00Z is summer time, 2026-01-01T12:00:00Z winter time.
        assert_eq!(
            java_date_in(1_782_907_200_000, &paris),
            "Wed Jul 01 14:00:00 CEST 2026"
        );
        assert_eq!(
            java_date_in(1_767_268_800_000, &paris),
            "Thu Jan 01 13:00:00 CET 2026"
        );
    }
}
