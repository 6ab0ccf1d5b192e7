//! Key and trust stores as Java's `X509Util.loadKeyStore` / `loadTrustStore` read them.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{Error, Result};

/// A store file's format (Java's `KeyStoreFileType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// PEM: certificates, and for a key store one private key (PKCS#8, encrypted with the
    /// store password when one is set).
    Pem,
    /// PKCS#12 (`.p12`), as keytool and `openssl pkcs12` write it.
    Pkcs12,
    /// Java KeyStore: Java-only, not read here.
    Jks,
    /// Bouncy Castle FIPS KeyStore: not read here.
    Bcfks,
}

impl StoreType {
    /// The type from the `*.type` property when set (case-insensitive `PEM`, `PKCS12`, `JKS`,
    /// `BCFKS`), else from the file name's extension (`.pem`, `.p12`, `.jks`, `.bcfks`, case
    /// as written), exactly as `KeyStoreFileType.fromPropertyValueOrFileName`.
    ///
    /// ```
    /// use zk_tls::StoreType;
    /// use std::path::Path;
    /// assert_eq!(StoreType::resolve(None, Path::new("a/ca.pem")).unwrap(), StoreType::Pem);
    /// assert_eq!(StoreType::resolve(Some("pkcs12"), Path::new("keys")).unwrap(), StoreType::Pkcs12);
    /// assert!(StoreType::resolve(None, Path::new("ca.crt")).is_err());
    /// ```
    pub fn resolve(type_property: Option<&str>, path: &Path) -> Result<StoreType> {
        match type_property.filter(|t| !t.is_empty()) {
            Some(value) => match value.to_ascii_uppercase().as_str() {
                "PEM" => Ok(StoreType::Pem),
                "PKCS12" => Ok(StoreType::Pkcs12),
                "JKS" => Ok(StoreType::Jks),
                "BCFKS" => Ok(StoreType::Bcfks),
                _ => Err(Error::Setting {
                    setting: "type".to_owned(),
                    message: format!("{value:?} is not one of JKS, PEM, PKCS12, BCFKS"),
                }),
            },
            None => {
                let name = path.to_string_lossy();
                let extension = name.rfind('.').map(|i| &name[i..]);
                match extension {
                    Some(".pem") => Ok(StoreType::Pem),
                    Some(".p12") => Ok(StoreType::Pkcs12),
                    Some(".jks") => Ok(StoreType::Jks),
                    Some(".bcfks") => Ok(StoreType::Bcfks),
                    _ => Err(Error::Setting {
                        setting: "type".to_owned(),
                        message: format!(
                            "unable to auto-detect store file type from file name: {name}"
                        ),
                    }),
                }
            }
        }
    }
}

/// Where a key or trust store is and how to open it: `ssl.keyStore.location`, `.password`
/// and `.type` (or the trustStore ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The file.
    pub location: PathBuf,
    /// The password (empty: none).
    pub password: String,
    /// The `*.type` value; `None` infers the type from the extension.
    pub store_type: Option<String>,
}

impl StoreSpec {
    /// A store at `location`, no password, type from the extension.
    pub fn new(location: impl Into<PathBuf>) -> StoreSpec {
        StoreSpec {
            location: location.into(),
            password: String::new(),
            store_type: None,
        }
    }

    /// The store `zookeeper.ssl.<which>.*` properties describe (`which` is `keyStore` or
    /// `trustStore`): `.location` (unset or empty: none), `.password`, or the first line of
    /// the file `.passwordPath` names (which wins, as in Java), and `.type`.
    ///
    /// ```
    /// use zk_tls::StoreSpec;
    /// let get = |name: &str| match name {
    ///     "zookeeper.ssl.keyStore.location" => Some("/k/server.p12".to_owned()),
    ///     "zookeeper.ssl.keyStore.password" => Some("pw".to_owned()),
    ///     _ => None,
    /// };
    /// let spec = StoreSpec::from_java_properties(get, "keyStore").unwrap().unwrap();
    /// assert_eq!(spec.password, "pw");
    /// assert!(StoreSpec::from_java_properties(get, "trustStore").unwrap().is_none());
    /// ```
    pub fn from_java_properties(
        get: impl Fn(&str) -> Option<String>,
        which: &str,
    ) -> Result<Option<StoreSpec>> {
        let prop = |field: &str| get(&format!("zookeeper.ssl.{which}.{field}"));
        let Some(location) = prop("location").filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        let mut spec = StoreSpec::new(location).password(prop("password").unwrap_or_default());
        if let Some(path) = prop("passwordPath").filter(|p| !p.is_empty()) {
            let secret = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            spec = spec.password(secret.lines().next().unwrap_or(""));
        }
        if let Some(store_type) = prop("type").filter(|t| !t.is_empty()) {
            spec = spec.store_type(store_type);
        }
        Ok(Some(spec))
    }

    /// With a password.
    pub fn password(mut self, password: impl Into<String>) -> StoreSpec {
        self.password = password.into();
        self
    }

    /// With an explicit type (`PEM`, `PKCS12`).
    pub fn store_type(mut self, store_type: impl Into<String>) -> StoreSpec {
        self.store_type = Some(store_type.into());
        self
    }

    fn resolved_type(&self) -> Result<StoreType> {
        StoreType::resolve(self.store_type.as_deref(), &self.location)
    }

    fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.location).map_err(|source| Error::Io {
            path: self.shown(),
            source,
        })
    }

    fn shown(&self) -> String {
        self.location.display().to_string()
    }

    fn bad(&self, message: impl Into<String>) -> Error {
        Error::Store {
            path: self.shown(),
            message: message.into(),
        }
    }

    fn unsupported(&self, store_type: StoreType) -> Error {
        self.bad(format!(
            "{store_type:?} stores are not supported; convert it to PKCS12 (keytool \
             -importkeystore -deststoretype PKCS12) or PEM"
        ))
    }
}

/// A certificate chain (leaf first) and its private key.
#[derive(Debug)]
pub struct KeyStore {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// Loads a key store: a PEM file with one private key and its certificate chain, or a PKCS12
/// file's first private key entry with its chain.
pub fn load_key_store(spec: &StoreSpec) -> Result<KeyStore> {
    let store_type = spec.resolved_type()?;
    let data = spec.read()?;
    let (chain, key) = match store_type {
        StoreType::Pem => {
            let sections = pem_sections(spec, &data)?;
            let chain = certificates(&sections);
            let key = pem_private_key(spec, &sections)?;
            (chain, key)
        }
        StoreType::Pkcs12 => {
            let store = open_pkcs12(spec, &data)?;
            let (_, entry) = store
                .private_key_chain()
                .ok_or_else(|| spec.bad("no private key entry"))?;
            let chain = entry
                .chain()
                .iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().to_vec()));
            (chain, key)
        }
        other => return Err(spec.unsupported(other)),
    };
    if chain.is_empty() {
        return Err(spec.bad("no certificate for the private key"));
    }
    Ok(KeyStore { chain, key })
}

/// Loads a trust store's certificates: every certificate of a PEM file, or the trusted
/// certificate entries of a PKCS12 file (what keytool `-importcert` writes; as in Java, a
/// certificate without the trusted attribute, such as one beside a private key, is not a
/// trust anchor).
pub fn load_trust_store(spec: &StoreSpec) -> Result<Vec<CertificateDer<'static>>> {
    let store_type = spec.resolved_type()?;
    let data = spec.read()?;
    let roots: Vec<CertificateDer<'static>> = match store_type {
        StoreType::Pem => certificates(&pem_sections(spec, &data)?),
        StoreType::Pkcs12 => open_pkcs12(spec, &data)?
            .entries()
            .filter_map(|(_, entry)| match entry {
                p12_keystore::KeyStoreEntry::Certificate(c) => {
                    Some(CertificateDer::from(c.as_der().to_vec()))
                }
                _ => None,
            })
            .collect(),
        other => return Err(spec.unsupported(other)),
    };
    if roots.is_empty() {
        return Err(spec.bad("no trusted certificate"));
    }
    Ok(roots)
}

fn open_pkcs12(spec: &StoreSpec, data: &[u8]) -> Result<p12_keystore::KeyStore> {
    p12_keystore::KeyStore::from_pkcs12(data, &spec.password).map_err(|e| {
        spec.bad(format!(
            "cannot open the PKCS12 store (wrong password?): {e}"
        ))
    })
}

/// One `-----BEGIN <label>-----` section of a PEM file, decoded.
struct Section {
    label: String,
    der: Vec<u8>,
}

/// Every PEM section, in order; text outside sections (openssl's "Bag Attributes") is skipped,
/// as Java's `PemReader` skips it.
fn pem_sections(spec: &StoreSpec, data: &[u8]) -> Result<Vec<Section>> {
    let text = String::from_utf8_lossy(data);
    let mut sections = Vec::new();
    let mut rest = text.as_ref();
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin..];
        let label_end = after[11..]
            .find("-----")
            .ok_or_else(|| spec.bad("unterminated PEM header"))?;
        let label = after[11..11 + label_end].to_owned();
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| spec.bad(format!("no {end_marker}")))?;
        let block = &after[..end + end_marker.len()];
        let (_, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
            .map_err(|e| spec.bad(format!("bad PEM section {label}: {e}")))?;
        sections.push(Section { label, der });
        rest = &after[end + end_marker.len()..];
    }
    Ok(sections)
}

fn certificates(sections: &[Section]) -> Vec<CertificateDer<'static>> {
    sections
        .iter()
        .filter(|s| s.label.ends_with("CERTIFICATE"))
        .map(|s| CertificateDer::from(s.der.clone()))
        .collect()
}

/// The first private key; with a password it must be an encrypted PKCS#8 key, as Java's
/// `PemReader` requires.
fn pem_private_key(spec: &StoreSpec, sections: &[Section]) -> Result<PrivateKeyDer<'static>> {
    let section = sections
        .iter()
        .find(|s| s.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| spec.bad("did not find a private key"))?;
    if section.label == "ENCRYPTED PRIVATE KEY" || !spec.password.is_empty() {
        let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(section.der.as_slice())
            .map_err(|e| spec.bad(format!("the private key is not encrypted PKCS#8: {e}")))?;
        let plain = encrypted
            .decrypt(spec.password.as_bytes())
            .map_err(|e| spec.bad(format!("cannot decrypt the private key: {e}")))?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    let der = section.der.clone();
    Ok(match section.label.as_str() {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(der.into()),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(der.into()),
        _ => PrivateKeyDer::Pkcs8(der.into()),
    })
}
