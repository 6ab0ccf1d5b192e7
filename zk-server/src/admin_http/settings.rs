//! [`AdminSettings`]: the `admin.*` keys of zoo.cfg (Java's `zookeeper.admin.*` properties),
//! with Java's defaults except the listening address.

use std::time::Duration;

use crate::config::Config;

/// Java's default AdminServer port.
pub const DEFAULT_PORT: u16 = 8080;

/// How the AdminServer is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `admin.enableServer` (default true).
    pub enabled: bool,
    /// `admin.serverAddress`. Java listens on 0.0.0.0 by default; we listen on 127.0.0.1
    /// unless the operator names an address, as `cons`, `dump` and `wchc` show session ids
    /// and paths to anyone who can connect.
    pub address: String,
    /// Whether `admin.serverAddress` was set (otherwise the loopback default is logged).
    pub address_configured: bool,
    /// `admin.serverPort` (default 8080; 0 picks a free port).
    pub port: u16,
    /// `admin.commandURL` (default `/commands`).
    pub command_url: String,
    /// `admin.idleTimeout`: how long a connection may stay idle, ms (default 30000).
    pub idle_timeout: Duration,
    /// `admin.rateLimiterIntervalInMS`: the least time between two `snapshot` or two `restore`
    /// runs, ms (default 300000).
    pub rate_limit_interval: Duration,
    /// `admin.snapshot.enabled` (default true).
    pub snapshot_enabled: bool,
    /// `admin.restore.enabled` (default true).
    pub restore_enabled: bool,
    /// `admin.auth.required` (ours, default false): every command, not just `snapshot` and
    /// `restore`, needs an `Authorization` identity with READ on `/`.
    pub auth_required: bool,
    /// `admin.browser.writable` (ours, default false): the tree browser may create, set and
    /// delete, for identities the node's ACL allows; each write is a short client session on
    /// the plain client port, so it goes through the pipeline as a client's would.
    pub browser_writable: bool,
    /// `admin.forceHttps` (default false): TLS only, with the client port's key and trust
    /// stores (`ssl.keyStore.*`, `ssl.trustStore.*`).
    pub force_https: bool,
    /// `admin.portUnification` (default false): TLS and plain HTTP on the one port (a
    /// connection opening with a TLS handshake gets TLS). `forceHttps` wins.
    pub port_unification: bool,
    /// `admin.needClientAuth` (default false): ask TLS clients for a certificate (x509
    /// identities).
    pub need_client_auth: bool,
}

impl AdminSettings {
    /// The settings in `cfg`.
    pub fn from_config(cfg: &Config) -> Self {
        let prop = |key: &str| {
            cfg.property(&format!("zookeeper.admin.{key}"))
                .map(str::trim)
        };
        let flag = |key: &str, default: bool| match prop(key).map(str::to_ascii_lowercase) {
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            _ => default,
        };
        let ms = |key: &str, default: u64| {
            Duration::from_millis(prop(key).and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        let address = prop("serverAddress").filter(|a| !a.is_empty());
        AdminSettings {
            enabled: flag("enableServer", true),
            address: address.unwrap_or("127.0.0.1").to_owned(),
            address_configured: address.is_some(),
            port: prop("serverPort")
                .and_then(|p| p.parse().ok())
                .unwrap_or(DEFAULT_PORT),
            command_url: prop("commandURL")
                .filter(|u| u.starts_with('/') && u.len() > 1)
                .map(|u| u.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| "/commands".to_owned()),
            idle_timeout: ms("idleTimeout", 30_000),
            rate_limit_interval: ms("rateLimiterIntervalInMS", 300_000),
            snapshot_enabled: flag("snapshot.enabled", true),
            restore_enabled: flag("restore.enabled", true),
            auth_required: flag("auth.required", false),
            browser_writable: flag("browser.writable", false),
            force_https: flag("forceHttps", false),
            port_unification: flag("portUnification", false),
            need_client_auth: flag("needClientAuth", false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> AdminSettings {
        AdminSettings::from_config(&Config::parse(&format!("dataDir=/tmp/x\n{text}"), "").unwrap())
    }

    #[test]
    fn defaults_are_javas_but_the_address_is_loopback() {
        let s = settings("");
        assert!(s.enabled);
        assert_eq!(
            (s.address.as_str(), s.address_configured),
            ("127.0.0.1", false)
        );
        assert_eq!(s.port, 8080);
        assert_eq!(s.command_url, "/commands");
        assert_eq!(s.idle_timeout, Duration::from_secs(30));
        assert_eq!(s.rate_limit_interval, Duration::from_secs(300));
        assert!(s.snapshot_enabled && s.restore_enabled);
        assert!(!s.auth_required && !s.browser_writable && !s.force_https);
    }

    #[test]
    fn zoo_cfg_keys_and_jvm_properties_set_them() {
        let s = settings(
            "admin.serverAddress=0.0.0.0\nadmin.serverPort=9090\nadmin.commandURL=/cmd/\n\
             admin.idleTimeout=5000\nadmin.rateLimiterIntervalInMS=10\nadmin.enableServer=false\n\
             admin.snapshot.enabled=false\nadmin.auth.required=true\n",
        );
        assert!(!s.enabled);
        assert_eq!(
            (s.address.as_str(), s.address_configured),
            ("0.0.0.0", true)
        );
        assert_eq!(s.port, 9090);
        assert_eq!(s.command_url, "/cmd");
        assert_eq!(s.idle_timeout, Duration::from_secs(5));
        assert_eq!(s.rate_limit_interval, Duration::from_millis(10));
        assert!(!s.snapshot_enabled && s.restore_enabled && s.auth_required);
        let jvm = AdminSettings::from_config(
            &Config::parse("dataDir=/tmp/x\n", "-Dzookeeper.admin.serverPort=7070").unwrap(),
        );
        assert_eq!(jvm.port, 7070);
    }
}
