//! TLS as Apache ZooKeeper 3.8 configures it (`X509Util`, `ClientX509Util`), for zk-server and
//! zk-client alike, on rustls with the ring provider.
//!
//! - [`StoreSpec`] names a key or trust store as the `ssl.keyStore.*` / `ssl.trustStore.*`
//!   properties do; [`StoreType`] is its format, given or inferred from the file extension as
//!   Java's `KeyStoreFileType` does. PEM and PKCS12 are read ([`load_key_store`],
//!   [`load_trust_store`]); JKS and BCFKS are recognised and refused with a clear error.
//! - [`protocol_versions`] and [`crypto_provider`] turn `ssl.protocol`, `ssl.enabledProtocols`
//!   and `ssl.ciphersuites` (Java's names) into rustls versions and suites.
//! - [`subject_name`] is a certificate's subject as Java's `X500Principal.getName()` prints it
//!   (RFC 2253), the id of the `x509` auth scheme; [`is_valid_name`] is the check Java's
//!   `X509AuthenticationProvider.isValid` makes of an ACL id.
//!
//! ```no_run
//! use zk_tls::{load_key_store, load_trust_store, StoreSpec};
//! let key = load_key_store(&StoreSpec::new("/etc/zk/server.p12").password("secret"))?;
//! let roots = load_trust_store(&StoreSpec::new("/etc/zk/ca.pem"))?;
//! assert!(!key.chain.is_empty() && !roots.is_empty());
//! # Ok::<(), zk_tls::Error>(())
//! ```

mod dn;
mod store;
mod suites;

pub use dn::{is_valid_name, subject_name};
pub use rustls;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
pub use store::{load_key_store, load_trust_store, KeyStore, StoreSpec, StoreType};
pub use suites::{crypto_provider, protocol_versions, DEFAULT_PROTOCOL};

/// Why a store or a TLS setting could not be used; the message names the file or the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A store file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A store's content is not what its type says, or cannot be decrypted.
    #[error("{path}: {message}")]
    Store {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A setting has a value that cannot be used.
    #[error("{setting}: {message}")]
    Setting {
        /// The property (without prefix), for example `ssl.enabledProtocols`.
        setting: String,
        /// What is wrong.
        message: String,
    },
    /// A certificate could not be parsed.
    #[error("bad certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// zk-tls's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// The crypto provider every zk-rs TLS configuration is built on (ring).
pub fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Whether a TLS server asks for client certificates (`ssl.clientAuth`, Java's
/// `X509Util.ClientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    None,
    /// A certificate is asked for; clients without one are served too.
    Want,
    /// Clients without a trusted certificate are refused (Java's default).
    Need,
}

impl ClientAuth {
    /// The `ssl.clientAuth` value: `none`, `want` or `need` (any case); unset or empty is
    /// `need`, as in Java.
    ///
    /// ```
    /// use zk_tls::ClientAuth;
    /// assert_eq!(ClientAuth::from_property(None).unwrap(), ClientAuth::Need);
    /// assert_eq!(ClientAuth::from_property(Some("WANT")).unwrap(), ClientAuth::Want);
    /// assert!(ClientAuth::from_property(Some("maybe")).is_err());
    /// ```
    pub fn from_property(value: Option<&str>) -> Result<ClientAuth> {
        match value.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
            None | Some("") | Some("NEED") => Ok(ClientAuth::Need),
            Some("WANT") => Ok(ClientAuth::Want),
            Some("NONE") => Ok(ClientAuth::None),
            Some(other) => Err(Error::Setting {
                setting: "ssl.clientAuth".to_owned(),
                message: format!("{other:?} is not one of NONE, WANT, NEED"),
            }),
        }
    }
}
