//! TLS on the secure client port, as Java's `NettyServerCnxnFactory` with `secure=true`: the
//! key and trust stores and `ssl.*` settings of `ClientX509Util` (read by [`crate::config`],
//! loaded by zk-tls), and what a verified client certificate makes of a connection: the ids
//! Java's `X509AuthenticationProvider` adds (`x509:<subject DN>`, and `super:<DN>` for the
//! configured super user). The core sees only those ids.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use zk_proto::data::Id;
use zk_tls::{CertificateDer, ClientAuth};

use crate::config::Config;

/// The TLS side of the secure client port.
#[derive(Clone)]
pub struct SecurePort {
    acceptor: TlsAcceptor,
    super_user: Option<String>,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for SecurePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurePort")
            .field("super_user", &self.super_user)
            .finish_non_exhaustive()
    }
}

fn setup_error(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("secure client port: {message}"),
    )
}

impl SecurePort {
    /// Loads the stores and builds the TLS configuration `cfg` describes. Unlike Java, which
    /// starts and then fails every handshake, a missing key store (or a missing trust store
    /// when client certificates are asked for) refuses to start.
    pub fn from_config(cfg: &Config) -> io::Result<SecurePort> {
        let client_auth = cfg.ssl_client_auth().map_err(setup_error)?;
        Self::with_client_auth(cfg, client_auth)
    }

    /// [`Self::from_config`] asking for client certificates as `client_auth` says rather
    /// than `ssl.clientAuth` (the AdminServer's `admin.needClientAuth`). Without a trust
    /// store, `Want` asks for none.
    pub fn with_client_auth(cfg: &Config, client_auth: ClientAuth) -> io::Result<SecurePort> {
        let client_auth = match client_auth {
            ClientAuth::Want if matches!(cfg.ssl_trust_store(), Ok(None)) => ClientAuth::None,
            other => other,
        };
        if cfg.ssl_auth_provider() != "x509" {
            return Err(setup_error(format!(
                "ssl.authProvider={} names a custom provider; only x509 is built in",
                cfg.ssl_auth_provider()
            )));
        }
        let key_spec = cfg
            .ssl_key_store()
            .map_err(setup_error)?
            .ok_or_else(|| setup_error("ssl.keyStore.location is not set"))?;
        let key = zk_tls::load_key_store(&key_spec).map_err(setup_error)?;
        let provider =
            Arc::new(zk_tls::crypto_provider(cfg.ssl_ciphersuites()).map_err(setup_error)?);
        let versions = zk_tls::protocol_versions(cfg.ssl_protocol(), cfg.ssl_enabled_protocols())
            .map_err(setup_error)?;
        let verifier = match client_auth {
            ClientAuth::None => WebPkiClientVerifier::no_client_auth(),
            ClientAuth::Want | ClientAuth::Need => {
                let trust_spec = cfg.ssl_trust_store().map_err(setup_error)?.ok_or_else(|| {
                    setup_error(
                        "ssl.trustStore.location is not set, and ssl.clientAuth asks for client \
                         certificates (set ssl.clientAuth=none to serve without them)",
                    )
                })?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in zk_tls::load_trust_store(&trust_spec).map_err(setup_error)? {
                    roots.add(cert).map_err(setup_error)?;
                }
                let builder =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let builder = if client_auth == ClientAuth::Want {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                builder.build().map_err(setup_error)?
            }
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(setup_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(key.chain, key.key)
            .map_err(setup_error)?;
        Ok(SecurePort {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            super_user: cfg.x509_super_user().map(str::to_owned),
            handshake_timeout: Duration::from_millis(cfg.sessionless_cnxn_timeout_ms()),
        })
    }

    /// Runs the TLS handshake (bounded by the sessionless-connection timeout) and returns the
    /// stream with the ids its client certificate gives the connection.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<(TlsStream<TcpStream>, Vec<Id>)> {
        let stream = tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS handshake in time"))??;
        let ids = match stream.get_ref().1.peer_certificates() {
            Some(chain) if !chain.is_empty() => client_ids(&chain[0], self.super_user.as_deref())?,
            _ => Vec::new(),
        };
        Ok((stream, ids))
    }
}

/// The ids a verified client certificate adds, in Java's order: `super:<DN>` when the subject
/// is `zookeeper.X509AuthenticationProvider.superUser`, then `x509:<DN>`, the DN as
/// `X500Principal.getName()` prints it.
pub fn client_ids(leaf: &CertificateDer<'_>, super_user: Option<&str>) -> io::Result<Vec<Id>> {
    let dn =
        zk_tls::subject_name(leaf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut ids = Vec::with_capacity(2);
    if super_user == Some(dn.as_str()) {
        ids.push(Id::new("super", dn.clone()));
    }
    ids.push(Id::new("x509", dn));
    Ok(ids)
}
