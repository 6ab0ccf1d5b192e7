//! [`ProcessStats`]: what Prometheus' standard `process_*` metrics and Java's
//! `open_file_descriptor_count` / `max_file_descriptor_count` gauges report, read from /proc.

/// The process' resources; fields are `None` where /proc cannot tell (not Linux, no /proc).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// Resident memory, bytes.
    pub resident_memory_bytes: Option<u64>,
    /// Virtual memory, bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// When the process started, seconds since the epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Puts the descriptor counts where `mntr` and the gauges read them (-1 when unknown).
    pub fn fill(&self, snapshot: &mut crate::admin::AdminSnapshot) {
        let count = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        snapshot.open_file_descriptors = count(self.open_fds);
        snapshot.max_file_descriptors = count(self.max_fds);
    }

    /// This process' figures now.
    pub fn read() -> ProcessStats {
        let Ok(me) = procfs::process::Process::myself() else {
            return ProcessStats::default();
        };
        let ticks = procfs::ticks_per_second() as f64;
        let stat = me.stat().ok();
        let page = procfs::page_size();
        let boot = procfs::boot_time_secs().ok();
        ProcessStats {
            cpu_seconds: stat.as_ref().map(|s| (s.utime + s.stime) as f64 / ticks),
            open_fds: me.fd_count().ok().map(|n| n as u64),
            max_fds: me
                .limits()
                .ok()
                .and_then(|l| match l.max_open_files.soft_limit {
                    procfs::process::LimitValue::Value(v) => Some(v),
                    procfs::process::LimitValue::Unlimited => None,
                }),
            resident_memory_bytes: stat.as_ref().map(|s| s.rss * page),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize),
            start_time_seconds: stat
                .as_ref()
                .zip(boot)
                .map(|(s, boot)| boot as f64 + s.starttime as f64 / ticks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let p = ProcessStats::read();
        assert!(p.open_fds.unwrap() >= 3, "{p:?}");
        assert!(p.max_fds.unwrap() >= p.open_fds.unwrap());
        assert!(p.resident_memory_bytes.unwrap() > 1 << 20);
        assert!(p.virtual_memory_bytes.unwrap() >= p.resident_memory_bytes.unwrap());
        assert!(p.start_time_seconds.unwrap() > 1.7e9);
        assert!(p.cpu_seconds.unwrap() >= 0.0);
    }
}
