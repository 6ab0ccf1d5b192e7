//! Client-side encryption of archive objects (`backup.encryption.keyFile`,
//! `zk-backup --key-file`): XChaCha20-Poly1305 over the LZ4 frame, a random 192-bit nonce
//! in front, the object's name as associated data (an object moved to another name does not
//! decrypt). The manifest names the cipher and the key's id (the first 16 hex digits of the
//! key's SHA-256), so a wrong key is told apart from a damaged object.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::BackupError;

/// The `cipher` a manifest names.
pub const CIPHER: &str = "xchacha20poly1305";

const NONCE_LEN: usize = 24;

/// A 256-bit archive key.
#[derive(Clone)]
pub struct ArchiveKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for ArchiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveKey").field("id", &self.id).finish()
    }
}

impl ArchiveKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: &[u8; 32]) -> ArchiveKey {
        let id = hex::encode(&Sha256::digest(key)[..8]);
        ArchiveKey {
            cipher: XChaCha20Poly1305::new(key.into()),
            id,
        }
    }

    /// Reads a key file: 32 raw bytes, or 64 hex digits, or 32 bytes in base64 (whitespace
    /// around the text is ignored).
    pub fn from_file(path: &std::path::Path) -> Result<ArchiveKey, BackupError> {
        let bytes = std::fs::read(path)
            .map_err(|e| BackupError::Config(format!("key file {}: {e}", path.display())))?;
        let key = parse_key(&bytes).ok_or_else(|| {
            BackupError::Config(format!(
                "key file {}: must hold a 256-bit key (32 raw bytes, 64 hex digits or base64)",
                path.display()
            ))
        })?;
        Ok(ArchiveKey::from_bytes(&key))
    }

    /// The key's id, as manifests record it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plain` encrypted, for the object `name`: the nonce, then the ciphertext and tag.
    pub fn seal(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source works");
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: name.as_bytes(),
                },
            )
            .expect("encrypting in memory");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// What [`ArchiveKey::seal`] sealed for `name`; an error when it was altered (or sealed
    /// for another name or key).
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(format!(
                "{} bytes: too short for an encrypted object",
                sealed.len()
            ));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| "decryption failed: the object was altered".to_owned())
    }
}

fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        return Some(raw);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if let Ok(decoded) = hex::decode(text) {
        return decoded.try_into().ok();
    }
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?
        .try_into()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_open_only_with_their_key_and_name() {
        let key = ArchiveKey::from_bytes(&[7; 32]);
        let other = ArchiveKey::from_bytes(&[8; 32]);
        assert_eq!(key.id().len(), 16);
        assert_ne!(key.id(), other.id());
        let sealed = key.seal("logs/a", b"frame");
        assert_ne!(&sealed[NONCE_LEN..], b"frame");
        assert_eq!(key.open("logs/a", &sealed).unwrap(), b"frame");
        assert!(key.open("logs/b", &sealed).is_err(), "bound to its name");
        assert!(other.open("logs/a", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert!(key.open("logs/a", &flipped).is_err());
        assert_ne!(
            key.seal("logs/a", b"frame"),
            sealed,
            "a fresh nonce each time"
        );
        assert_eq!(parse_key(hex::encode([7u8; 32]).as_bytes()), Some([7; 32]));
        assert_eq!(
            parse_key(b"  0707070707070707070707070707070707070707070707070707070707070707\n"),
            Some([7; 32])
        );
        assert_eq!(
            parse_key(b"Bwc HBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw="),
            None
        );
        assert_eq!(
            parse_key(b"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="),
            Some([7; 32])
        );
        assert_eq!(parse_key(b"short"), None);
    }
}
