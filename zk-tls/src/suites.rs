//! `ssl.protocol`, `ssl.enabledProtocols` and `ssl.ciphersuites` (Java's names) as rustls
//! protocol versions and cipher suites.

use rustls::crypto::CryptoProvider;
use rustls::SupportedProtocolVersion;
use tracing::warn;

use crate::{Error, Result};

/// Java's `X509Util.DEFAULT_PROTOCOL`: without `ssl.enabledProtocols`, only this version is
/// enabled (Java enables `[sslContext.getProtocol()]`).
pub const DEFAULT_PROTOCOL: &str = "TLSv1.2";

/// The suites of Java 9+'s default list (`X509Util.getDefaultCipherSuites`) that rustls has:
/// the ECDHE GCM ones. (Java's CBC suites follow them; rustls has none.)
const JAVA_DEFAULT_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
];

/// The versions to enable: `enabled_protocols` (comma-separated, Java's names) when set,
/// else `protocol` alone (`TLSv1.2` when unset). `TLS` means both 1.2 and 1.3; versions
/// rustls does not have (TLSv1, TLSv1.1, SSLv3) are skipped with a warning.
///
/// ```
/// use zk_tls::protocol_versions;
/// assert_eq!(protocol_versions(None, None).unwrap(), vec![&zk_tls::rustls::version::TLS12]);
/// assert_eq!(protocol_versions(None, Some("TLSv1.3,TLSv1.2")).unwrap().len(), 2);
/// assert!(protocol_versions(Some("SSLv3"), None).is_err());
/// ```
pub fn protocol_versions(
    protocol: Option<&str>,
    enabled_protocols: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let (setting, list) = match enabled_protocols {
        Some(list) => ("ssl.enabledProtocols", list),
        None => ("ssl.protocol", protocol.unwrap_or(DEFAULT_PROTOCOL)),
    };
    let mut versions: Vec<&'static SupportedProtocolVersion> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let found: &[&'static SupportedProtocolVersion] = match name {
            "TLSv1.2" => &[&rustls::version::TLS12],
            "TLSv1.3" => &[&rustls::version::TLS13],
            "TLS" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            other => {
                warn!(
                    setting,
                    protocol = other,
                    "TLS protocol not supported; skipped"
                );
                &[]
            }
        };
        for v in found {
            if !versions.iter().any(|have| have.version == v.version) {
                versions.push(v);
            }
        }
    }
    if versions.is_empty() {
        return Err(Error::Setting {
            setting: setting.to_owned(),
            message: format!("no supported protocol in {list:?} (TLSv1.2 and TLSv1.3 are)"),
        });
    }
    Ok(versions)
}

/// The ring provider with the cipher suites of `ciphersuites` (comma-separated, Java's names,
/// such as `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384` or `TLS_AES_128_GCM_SHA256`), in that order;
/// names rustls does not have are skipped with a warning. Unset: Java's default TLS 1.2
/// suites, then every TLS 1.3 suite.
pub fn crypto_provider(ciphersuites: Option<&str>) -> Result<CryptoProvider> {
    let mut provider = crate::ring_provider();
    let all = std::mem::take(&mut provider.cipher_suites);
    let java_name = |s: &rustls::SupportedCipherSuite| {
        s.suite()
            .as_str()
            .map(|n| n.replacen("TLS13_", "TLS_", 1))
            .unwrap_or_default()
    };
    let wanted: Vec<String> = match ciphersuites {
        Some(list) => list
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect(),
        None => JAVA_DEFAULT_SUITES
            .iter()
            .map(|n| n.to_string())
            .chain(
                all.iter()
                    .filter(|s| s.version() == &rustls::version::TLS13)
                    .map(java_name),
            )
            .collect(),
    };
    for name in &wanted {
        match all.iter().find(|s| java_name(s) == *name) {
            Some(suite) => provider.cipher_suites.push(*suite),
            None => warn!(suite = %name, "TLS cipher suite not supported; skipped"),
        }
    }
    if provider.cipher_suites.is_empty() {
        return Err(Error::Setting {
            setting: "ssl.ciphersuites".to_owned(),
            message: format!("no supported cipher suite in {wanted:?}"),
        });
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_defaults_and_names() {
        let provider = crypto_provider(None).unwrap();
        let names: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .collect();
        assert_eq!(names[0], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        assert!(names.contains(&"TLS13_AES_256_GCM_SHA384"), "{names:?}");
        assert!(!names
            .iter()
            .any(|n| n.contains("CHACHA20") && !n.starts_with("TLS13")));
        let one =
            crypto_provider(Some("TLS_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_CBC_SHA")).unwrap();
        assert_eq!(one.cipher_suites.len(), 1);
        assert!(crypto_provider(Some("TLS_RSA_WITH_AES_128_CBC_SHA")).is_err());
        assert_eq!(
            protocol_versions(Some("TLSv1.3"), None).unwrap(),
            vec![&rustls::version::TLS13]
        );
        assert_eq!(protocol_versions(Some("TLS"), None).unwrap().len(), 2);
        assert_eq!(
            protocol_versions(Some("TLSv1.3"), Some("TLSv1.1,TLSv1.2")).unwrap(),
            vec![&rustls::version::TLS12]
        );
    }
}
