//! TLS connections, as the Java client's Netty socket makes them
//! (`zookeeper.client.secure=true`): the server's certificate checked against a trust store, a
//! client certificate from a key store when the server asks for one (`ssl.clientAuth`), the
//! server's name or address checked unless hostname verification is off
//! (`zookeeper.ssl.hostnameVerification=false`).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use zk_tls::rustls;
use zk_tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use zk_tls::rustls::client::WebPkiServerVerifier;
use zk_tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use zk_tls::rustls::{DigitallySignedStruct, SignatureScheme};

pub use zk_tls::StoreSpec;

use crate::error::{Error, ErrorKind, Result};

/// How the client speaks TLS: given to [`crate::ClientBuilder::tls`]. Stores are PEM or
/// PKCS12, as Java's `ssl.keyStore.*` / `ssl.trustStore.*` name them (type from the
/// extension unless set).
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::{Client, StoreSpec, TlsOptions};
/// let tls = TlsOptions::new()
///     .trust_store(StoreSpec::new("/etc/zk/ca.pem"))
///     .key_store(StoreSpec::new("/etc/zk/client.p12").password("secret"));
/// let client = Client::builder("zk1.example.com:2281").tls(tls).connect().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsOptions {
    trust_store: Option<StoreSpec>,
    key_store: Option<StoreSpec>,
    hostname_verification: bool,
    protocol: Option<String>,
    enabled_protocols: Option<String>,
    ciphersuites: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions::new()
    }
}

impl TlsOptions {
    /// TLS with hostname verification, TLSv1.2 (Java's default `ssl.protocol`) and Java's
    /// default cipher suites; a trust store is needed (there is no system default here).
    pub fn new() -> TlsOptions {
        TlsOptions {
            trust_store: None,
            key_store: None,
            hostname_verification: true,
            protocol: None,
            enabled_protocols: None,
            ciphersuites: None,
        }
    }

    /// The CA certificates server certificates must chain to (`ssl.trustStore.*`).
    pub fn trust_store(mut self, store: StoreSpec) -> Self {
        self.trust_store = Some(store);
        self
    }

    /// The client's certificate and key, sent when the server asks (`ssl.keyStore.*`).
    pub fn key_store(mut self, store: StoreSpec) -> Self {
        self.key_store = Some(store);
        self
    }

    /// Whether the server's certificate must name the host (or IP address) connected to
    /// (`ssl.hostnameVerification`, default on).
    pub fn hostname_verification(mut self, on: bool) -> Self {
        self.hostname_verification = on;
        self
    }

    /// `ssl.protocol` (`TLSv1.2`, `TLSv1.3`, or `TLS` for both).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// `ssl.enabledProtocols`: comma-separated, wins over [`TlsOptions::protocol`].
    pub fn enabled_protocols(mut self, protocols: impl Into<String>) -> Self {
        self.enabled_protocols = Some(protocols.into());
        self
    }

    /// `ssl.ciphersuites`: comma-separated, Java's names.
    pub fn ciphersuites(mut self, suites: impl Into<String>) -> Self {
        self.ciphersuites = Some(suites.into());
        self
    }

    /// The options the Java client reads from system properties: `None` unless
    /// `zookeeper.client.secure` is `true`; then the `zookeeper.ssl.*` stores and settings.
    /// (`zookeeper.clientCnxnSocket` is not needed: zk-client has one socket.)
    ///
    /// ```
    /// use zk_client::TlsOptions;
    /// let props = [
    ///     ("zookeeper.client.secure", "true"),
    ///     ("zookeeper.ssl.trustStore.location", "/etc/zk/ca.pem"),
    ///     ("zookeeper.ssl.hostnameVerification", "false"),
    /// ];
    /// let get = |name: &str| props.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// assert!(TlsOptions::from_java_properties(get).unwrap().is_some());
    /// assert!(TlsOptions::from_java_properties(|_| None).unwrap().is_none());
    /// ```
    ///
    /// Fails (`Tls`) when a `.passwordPath` file cannot be read.
    pub fn from_java_properties(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TlsOptions>> {
        if !get("zookeeper.client.secure").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let store = |which: &str| {
            StoreSpec::from_java_properties(&get, which)
                .map_err(|e| Error::from(ErrorKind::Tls(e.to_string())))
        };
        Ok(Some(TlsOptions {
            trust_store: store("trustStore")?,
            key_store: store("keyStore")?,
            hostname_verification: !get("zookeeper.ssl.hostnameVerification")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("false")),
            protocol: get("zookeeper.ssl.protocol"),
            enabled_protocols: get("zookeeper.ssl.enabledProtocols"),
            ciphersuites: get("zookeeper.ssl.ciphersuites"),
        }))
    }

    /// Loads the stores and builds the TLS configuration; errors name the file or setting.
    pub(crate) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        let tls_error = |e: zk_tls::Error| ErrorKind::Tls(e.to_string());
        let trust = self
            .trust_store
            .as_ref()
            .ok_or_else(|| ErrorKind::Tls("no trust store".to_owned()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in zk_tls::load_trust_store(trust).map_err(tls_error)? {
            roots.add(cert).map_err(|e| {
                Error::from(ErrorKind::Tls(format!("{}: {e}", trust.location.display())))
            })?;
        }
        let provider =
            Arc::new(zk_tls::crypto_provider(self.ciphersuites.as_deref()).map_err(tls_error)?);
        let versions =
            zk_tls::protocol_versions(self.protocol.as_deref(), self.enabled_protocols.as_deref())
                .map_err(tls_error)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::from(ErrorKind::Tls(e.to_string())))?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.hostname_verification {
            webpki
        } else {
            Arc::new(AnyName(webpki))
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| Error::from(ErrorKind::Tls(e.to_string())))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.key_store {
            Some(spec) => {
                let key = zk_tls::load_key_store(spec).map_err(tls_error)?;
                builder
                    .with_client_auth_cert(key.chain, key.key)
                    .map_err(|e| Error::from(ErrorKind::Tls(e.to_string())))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// The chain checks of webpki without the name check (hostname verification off).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A connection's byte stream: plain TCP or TLS over it.
#[derive(Debug)]
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Transport {
    /// Connects to `host:port`, with the TLS handshake when `tls` is given.
    pub(crate) async fn connect(
        host: &str,
        port: u16,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> std::io::Result<Transport> {
        let stream = TcpStream::connect((host, port)).await?;
        let _ = stream.set_nodelay(true);
        let Some(config) = tls else {
            return Ok(Transport::Plain(stream));
        };
        let connector = TlsConnector::from(config.clone());
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let stream = connector.connect(name, stream).await?;
        Ok(Transport::Tls(Box::new(stream)))
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
