//! DIGEST-MD5 (RFC 2831) as ZooKeeper uses it for SASL on the client port: the directive
//! lists both sides exchange and the digests they compute. The exchange itself (who sends
//! what, when) lives with the server (`zk-server`) and the client (`zk-client`); this is the
//! part they share.
//!
//! ZooKeeper fixes the names: the service is `zookeeper`, the server name (and so the realm
//! and the digest-uri's host) `zk-sasl-md5`, the quality of protection `auth` (authentication
//! only; the connection is not wrapped afterwards).
//!
//! ```
//! use zk_proto::sasl::{Directives, DigestInputs};
//! // RFC 2831 section 4, the IMAP example.
//! let inputs = DigestInputs {
//!     username: "chris",
//!     realm: "elwood.innosoft.com",
//!     password: "secret",
//!     nonce: "OA6MG9tEQGm2hh",
//!     cnonce: "OA6MHXh6VqTrRk",
//!     nonce_count: "00000001",
//!     qop: "auth",
//!     digest_uri: "imap/elwood.innosoft.com",
//!     authzid: None,
//! };
//! assert_eq!(inputs.response(true), "d388dad90d4bbd760a152321f2143af7");
//! assert_eq!(inputs.rspauth(true), "ea40f60335c427b5527b84dbabcdfffd");
//! let d = Directives::parse(b"realm=\"x\", nonce=\"a\\\"b\",algorithm=md5-sess").unwrap();
//! assert_eq!(d.get("nonce"), Some("a\"b"));
//! ```

use md5::{Digest, Md5};

/// The SASL mechanism.
pub const DIGEST_MD5: &str = "DIGEST-MD5";
/// The SASL service (protocol) name.
pub const SERVICE: &str = "zookeeper";
/// The server name ZooKeeper uses for DIGEST-MD5, whatever the host: it is the realm.
pub const SERVER_NAME: &str = "zk-sasl-md5";
/// `service/server-name`, the digest-uri both sides must use.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// The only nonce count ZooKeeper's exchanges use (one authentication per nonce).
pub const NONCE_COUNT: &str = "00000001";
/// The largest client response Java's server reads (RFC 2831 says 4096 bytes).
pub const MAX_RESPONSE_LEN: usize = 4096;

/// A directive list (`name=value, name="quoted value", ...`) in the order sent. Names compare
/// case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives(Vec<(String, String)>);

impl Directives {
    /// Parses a challenge or response: comma-separated `name=value` pairs, values as tokens or
    /// quoted strings (`\` quotes the next character), white space around the separators and
    /// empty list elements allowed. Text that is not UTF-8 is read as ISO 8859-1.
    pub fn parse(bytes: &[u8]) -> Result<Directives, String> {
        let text: String = match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
        };
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        let skip_space = |i: &mut usize| {
            while *i < chars.len() && matches!(chars[*i], ' ' | '\t' | '\r' | '\n') {
                *i += 1;
            }
        };
        loop {
            skip_space(&mut i);
            if i == chars.len() {
                break;
            }
            if chars[i] == ',' {
                i += 1;
                continue;
            }
            let start = i;
            while i < chars.len() && !matches!(chars[i], '=' | ',' | ' ' | '\t' | '"') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                return Err(format!("expected a directive name at character {start}"));
            }
            skip_space(&mut i);
            if chars.get(i) != Some(&'=') {
                return Err(format!("directive {name} has no value"));
            }
            i += 1;
            skip_space(&mut i);
            let mut value = String::new();
            if chars.get(i) == Some(&'"') {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!("directive {name}: unterminated quoted string"))
                        }
                        Some('"') => break,
                        Some('\\') if i + 1 < chars.len() => {
                            value.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&c) => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
            } else {
                while i < chars.len() && !matches!(chars[i], ',' | ' ' | '\t' | '\r' | '\n') {
                    value.push(chars[i]);
                    i += 1;
                }
                if value.is_empty() {
                    return Err(format!("directive {name} has an empty value"));
                }
            }
            out.push((name, value));
            skip_space(&mut i);
            match chars.get(i) {
                None => break,
                Some(',') => i += 1,
                Some(_) => return Err(format!("expected ',' after directive {}", out.len())),
            }
        }
        Ok(Directives(out))
    }

    /// The first value of a directive.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a directive, in order (`realm` may repeat in a challenge).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Appends a directive with a quoted value.
    pub fn push_quoted(&mut self, name: &str, value: &str) -> &mut Self {
        let mut quoted = String::with_capacity(value.len() + 2);
        quoted.push('"');
        for c in value.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        self.0.push((name.to_owned(), quoted));
        self
    }

    /// Appends a directive whose value is a token, written as it is.
    pub fn push_token(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The wire form of a list built with [`push_quoted`](Self::push_quoted) and
    /// [`push_token`](Self::push_token).
    pub fn to_bytes(&self) -> Vec<u8> {
        let parts: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        parts.join(",").into_bytes()
    }
}

/// What both sides hash (RFC 2831 section 2.1.2.1), `qop=auth`.
#[derive(Debug, Clone, Copy)]
pub struct DigestInputs<'a> {
    /// The authentication id.
    pub username: &'a str,
    /// The realm the client chose (`zk-sasl-md5`).
    pub realm: &'a str,
    /// The user's password.
    pub password: &'a str,
    /// The server's nonce.
    pub nonce: &'a str,
    /// The client's nonce.
    pub cnonce: &'a str,
    /// `nc`, 8 hex digits.
    pub nonce_count: &'a str,
    /// `auth`.
    pub qop: &'a str,
    /// `zookeeper/zk-sasl-md5`.
    pub digest_uri: &'a str,
    /// The authorization id, if the client sent one.
    pub authzid: Option<&'a str>,
}

impl DigestInputs<'_> {
    /// The client's `response` value: `utf8` when the exchange said `charset=utf-8`.
    pub fn response(&self, utf8: bool) -> String {
        self.digest(&format!("AUTHENTICATE:{}", self.digest_uri), utf8)
    }

    /// The server's `rspauth` value, proving it knew the password too.
    pub fn rspauth(&self, utf8: bool) -> String {
        self.digest(&format!(":{}", self.digest_uri), utf8)
    }

    fn digest(&self, a2: &str, utf8: bool) -> String {
        let mut secret = Md5::new();
        secret.update(credential_bytes(self.username, utf8));
        secret.update(b":");
        secret.update(credential_bytes(self.realm, utf8));
        secret.update(b":");
        secret.update(credential_bytes(self.password, utf8));
        let mut a1 = Md5::new();
        a1.update(secret.finalize());
        a1.update(format!(":{}:{}", self.nonce, self.cnonce));
        if let Some(authzid) = self.authzid {
            a1.update(b":");
            a1.update(authzid.as_bytes());
        }
        let ha1 = hex::encode(a1.finalize());
        let ha2 = hex::encode(Md5::digest(a2.as_bytes()));
        let kd = format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            self.nonce, self.nonce_count, self.cnonce, self.qop
        );
        hex::encode(Md5::digest(kd.as_bytes()))
    }
}

/// How a user name, realm or password enters the hash: ISO 8859-1 when every character fits
/// (RFC 2831 asks for that even with `charset=utf-8`), else UTF-8 when the exchange said so.
fn credential_bytes(text: &str, utf8: bool) -> Vec<u8> {
    if text.chars().all(|c| u32::from(c) <= 0xff) || !utf8 {
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    } else {
        text.as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2831_acap_example() {
        // RFC 2831 section 4, the second (ACAP) example.
        let inputs = DigestInputs {
            username: "chris",
            realm: "elwood.innosoft.com",
            password: "secret",
            nonce: "OA9BSXrbuRhWay",
            cnonce: "OA9BSuZWMSpW8m",
            nonce_count: "00000001",
            qop: "auth",
            digest_uri: "acap/elwood.innosoft.com",
            authzid: None,
        };
        assert_eq!(inputs.response(true), "6084c6db3fede7352c551284490fd0fc");
        assert_eq!(inputs.rspauth(true), "2f0b3d7c3c2e486600ef710726aa2eae");
    }

    #[test]
    fn java_server_exchange() {
        // Captured from the Java 3.8 server and python3-puresasl (user alice, password alicepw).
        let inputs = DigestInputs {
            username: "alice",
            realm: SERVER_NAME,
            password: "alicepw",
            nonce: "bKVDakGdQ9/B0U1Uyi8O4AqxQQanYsKtzmuTsDFX",
            cnonce: "9679419525618266",
            nonce_count: NONCE_COUNT,
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: None,
        };
        assert_eq!(inputs.response(true), "62bc37b2dcaa261fcf196aca3f8d9ca1");
        assert_eq!(inputs.rspauth(true), "799b99993c175f770d64c6fd9ebf6fb6");
    }

    #[test]
    fn directive_lists() {
        let d = Directives::parse(
            b" realm=\"a\",realm=\"b\" ,, nonce = \"n\\\\x\",qop=\"auth,auth-int\", algorithm=md5-sess ",
        )
        .unwrap();
        assert_eq!(d.all("REALM").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(d.get("nonce"), Some("n\\x"));
        assert_eq!(d.get("qop"), Some("auth,auth-int"));
        assert_eq!(d.get("algorithm"), Some("md5-sess"));
        for bad in [
            &b"realm"[..],
            b"=x",
            b"a=\"open",
            b"a=b c=d",
            b"a=",
            b"\xff\xfe=1,=",
        ] {
            assert!(Directives::parse(bad).is_err(), "{bad:?}");
        }
        let mut out = Directives::default();
        out.push_quoted("username", "a\"b")
            .push_token("nc", NONCE_COUNT);
        assert_eq!(out.to_bytes(), b"username=\"a\\\"b\",nc=00000001");
        let back = Directives::parse(&out.to_bytes()).unwrap();
        assert_eq!(back.get("username"), Some("a\"b"));
    }

    #[test]
    fn latin1_credentials_hash_as_latin1() {
        assert_eq!(credential_bytes("é", true), [0xe9]);
        assert_eq!(credential_bytes("ж", true), "ж".as_bytes());
    }
}
