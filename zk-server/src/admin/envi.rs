//! `envi`: Java's `Environment.list`, with the host facts it prints ([`HostEnv`]) laid out
//! with Java's property names.

use std::fmt::Write as _;

use super::AdminSnapshot;

/// The host facts `envi` shows, laid out with Java's keys by [`HostEnv::entries`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostEnv {
    /// `host.name`: the canonical host name.
    pub host_name: String,
    /// `java.io.tmpdir`: the temporary directory.
    pub tmp_dir: String,
    /// `os.name`, Java style (see [`HostEnv::java_os_name`]).
    pub os_name: String,
    /// `os.arch`, Java style (see [`HostEnv::java_os_arch`]).
    pub os_arch: String,
    /// `os.version`: the kernel release.
    pub os_version: String,
    /// `user.name`.
    pub user_name: String,
    /// `user.home`.
    pub user_home: String,
    /// `user.dir`: the working directory.
    pub user_dir: String,
    /// `os.memory.free`/`max`/`total` in MiB (Java shows its heap); `<NA>` when `None`.
    pub memory_mb: Option<(u64, u64, u64)>,
}

impl HostEnv {
    /// The `envi` lines after `zookeeper.version`, with Java's keys in Java's order. The
    /// `java.*` properties we do not have print `<NA>`, as Java prints an unset property.
    pub fn entries(&self) -> Vec<(String, String)> {
        let na = || "<NA>".to_owned();
        let mb = |pick: fn((u64, u64, u64)) -> u64| {
            self.memory_mb.map_or_else(na, |m| format!("{}MB", pick(m)))
        };
        [
            ("host.name", self.host_name.clone()),
            ("java.version", na()),
            ("java.vendor", na()),
            ("java.home", na()),
            ("java.class.path", na()),
            ("java.library.path", na()),
            ("java.io.tmpdir", self.tmp_dir.clone()),
            ("java.compiler", na()),
            ("os.name", self.os_name.clone()),
            ("os.arch", self.os_arch.clone()),
            ("os.version", self.os_version.clone()),
            ("user.name", self.user_name.clone()),
            ("user.home", self.user_home.clone()),
            ("user.dir", self.user_dir.clone()),
            ("os.memory.free", mb(|m| m.0)),
            ("os.memory.max", mb(|m| m.1)),
            ("os.memory.total", mb(|m| m.2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Java's `os.name` for Rust's `std::env::consts::OS`.
    pub fn java_os_name(os: &str) -> String {
        match os {
            "linux" => "Linux".to_owned(),
            "macos" => "Mac OS X".to_owned(),
            "freebsd" => "FreeBSD".to_owned(),
            "windows" => "Windows".to_owned(),
            other => other.to_owned(),
        }
    }

    /// Java's `os.arch` for Rust's `std::env::consts::ARCH`.
    pub fn java_os_arch(arch: &str) -> String {
        match arch {
            "x86_64" => "amd64".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// `envi`: `Environment.list`.
pub(super) fn envi(out: &mut String, s: &AdminSnapshot) {
    out.push_str("Environment:\n");
    let _ = writeln!(out, "zookeeper.version={}", s.version);
    for (key, value) in &s.env {
        let _ = writeln!(out, "{key}={value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_env_keys_are_javas() {
        let env = HostEnv {
            host_name: "h".into(),
            os_name: HostEnv::java_os_name("linux"),
            os_arch: HostEnv::java_os_arch("x86_64"),
            memory_mb: Some((1, 2, 3)),
            ..HostEnv::default()
        };
        let entries = env.entries();
        assert_eq!(entries[0], ("host.name".into(), "h".into()));
        assert_eq!(entries[1], ("java.version".into(), "<NA>".into()));
        assert!(entries.contains(&("os.name".into(), "Linux".into())));
        assert!(entries.contains(&("os.arch".into(), "amd64".into())));
        assert_eq!(entries[16], ("os.memory.total".into(), "3MB".into()));
    }
}
