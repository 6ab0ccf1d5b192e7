//! The server side of a DIGEST-MD5 exchange (RFC 2831), as Java's `DigestMD5Server` runs it
//! for ZooKeeper: the client's first token (empty from every client; Java ignores what it
//! holds) gets the challenge; its second token
//! is the digest response, checked in Java's order with Java's messages, and answered with
//! `rspauth`. Anything else is a failure, after which the exchange accepts nothing more.
//!
//! ```
//! use zk_server::sasl::digest_md5::{DigestMd5Server, Step};
//! use zk_server::sasl::Accounts;
//! use zk_proto::sasl::{DigestInputs, Directives, DIGEST_URI, NONCE_COUNT, SERVER_NAME};
//! let accounts = Accounts::new([("alice".to_owned(), "pw".to_owned())]);
//! let mut server = DigestMd5Server::new("n0nce".to_owned());
//! let Ok(Step::Challenge(challenge)) = server.evaluate(b"", &accounts) else { panic!() };
//! assert_eq!(challenge, b"realm=\"zk-sasl-md5\",nonce=\"n0nce\",charset=utf-8,algorithm=md5-sess");
//! let inputs = DigestInputs {
//!     username: "alice", realm: SERVER_NAME, password: "pw", nonce: "n0nce", cnonce: "c",
//!     nonce_count: NONCE_COUNT, qop: "auth", digest_uri: DIGEST_URI, authzid: None,
//! };
//! let mut response = Directives::default();
//! response.push_token("charset", "utf-8").push_quoted("username", "alice")
//!     .push_quoted("realm", SERVER_NAME).push_quoted("nonce", "n0nce")
//!     .push_token("nc", NONCE_COUNT).push_quoted("cnonce", "c")
//!     .push_quoted("digest-uri", DIGEST_URI).push_token("response", &inputs.response(true))
//!     .push_token("qop", "auth");
//! match server.evaluate(&response.to_bytes(), &accounts) {
//!     Ok(Step::Complete { token, authorization_id }) => {
//!         assert_eq!(authorization_id, "alice");
//!         assert_eq!(token, format!("rspauth={}", inputs.rspauth(true)).into_bytes());
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use zk_proto::sasl::{DigestInputs, Directives, DIGEST_URI, MAX_RESPONSE_LEN, SERVER_NAME};

use super::Accounts;

/// Why an exchange failed: Java's `SaslException` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslError(pub String);

fn violation(what: impl std::fmt::Display) -> SaslError {
    SaslError(format!(
        "DIGEST-MD5: digest response format violation. {what}"
    ))
}

/// What the server answers a client token with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The exchange goes on: send this token.
    Challenge(Vec<u8>),
    /// The client proved its password: send this last token and grant `authorization_id`.
    Complete {
        /// `rspauth=...`.
        token: Vec<u8>,
        /// The name the connection is authenticated as (`sasl:<name>`).
        authorization_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Start,
    Challenged,
    Complete,
    Failed,
}

/// One connection's DIGEST-MD5 exchange. Pure: the nonce comes from the caller.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    nonce: String,
    stage: Stage,
}

/// The directives a client response may carry at most once.
const SINGLE_VALUED: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nc",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
];

impl DigestMd5Server {
    /// A new exchange that will challenge with `nonce` (Java: 30 random bytes in base64).
    pub fn new(nonce: String) -> Self {
        DigestMd5Server {
            nonce,
            stage: Stage::Start,
        }
    }

    /// Whether the client has authenticated.
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    /// Takes the client's next token.
    pub fn evaluate(&mut self, token: &[u8], accounts: &Accounts) -> Result<Step, SaslError> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        let step = match stage {
            Stage::Start => {
                self.stage = Stage::Challenged;
                let mut challenge = Directives::default();
                challenge
                    .push_quoted("realm", SERVER_NAME)
                    .push_quoted("nonce", &self.nonce)
                    .push_token("charset", "utf-8")
                    .push_token("algorithm", "md5-sess");
                Ok(Step::Challenge(challenge.to_bytes()))
            }
            Stage::Challenged if token.len() > MAX_RESPONSE_LEN => Err(SaslError(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < {MAX_RESPONSE_LEN}",
                token.len()
            ))),
            Stage::Challenged => self.validate(token, accounts),
            Stage::Complete => Err(SaslError(
                "DIGEST-MD5: Authentication already completed".to_owned(),
            )),
            Stage::Failed => Err(SaslError("DIGEST-MD5: Server at illegal state".to_owned())),
        }?;
        if matches!(step, Step::Complete { .. }) {
            self.stage = Stage::Complete;
        }
        Ok(step)
    }

    /// Checks a digest response in the order Java's `validateClientResponse` does.
    fn validate(&self, token: &[u8], accounts: &Accounts) -> Result<Step, SaslError> {
        let d = Directives::parse(token).map_err(violation)?;
        for name in SINGLE_VALUED {
            if d.all(name).count() > 1 {
                return Err(SaslError(format!(
                    "DIGEST-MD5: Peer sent more than one {name} directive"
                )));
            }
        }
        let utf8 = match d.get("charset") {
            None => false,
            Some(c) if c.eq_ignore_ascii_case("utf-8") => true,
            Some(c) => return Err(violation(format!("Incompatible charset value: {c}"))),
        };
        if let Some(maxbuf) = d.get("maxbuf") {
            if maxbuf.parse::<i32>().is_err() {
                return Err(violation(format!("Invalid maxbuf value: {maxbuf}")));
            }
        }
        let username = d
            .get("username")
            .ok_or_else(|| violation("Missing username."))?;
        let realm = d.get("realm").unwrap_or("");
        if realm != SERVER_NAME {
            return Err(violation(format!("Nonexistent realm: {realm}")));
        }
        let nonce = d.get("nonce").ok_or_else(|| violation("Missing nonce."))?;
        if nonce != self.nonce {
            return Err(violation("Mismatched nonce."));
        }
        let cnonce = d
            .get("cnonce")
            .ok_or_else(|| violation("Missing cnonce."))?;
        let nonce_count = d.get("nc").unwrap_or(zk_proto::sasl::NONCE_COUNT);
        if u32::from_str_radix(nonce_count, 16) != Ok(1) {
            return Err(violation(format!(
                "Nonce count does not match: {nonce_count}"
            )));
        }
        let qop = d.get("qop").unwrap_or("auth");
        match qop {
            "auth" => {}
            "auth-int" | "auth-conf" => {
                return Err(SaslError(format!(
                    "DIGEST-MD5: server does not support  qop: {qop}"
                )))
            }
            other => return Err(violation(format!("Invalid QOP: {other}"))),
        }
        let digest_uri = d
            .get("digest-uri")
            .ok_or_else(|| violation("Missing digest-uri."))?;
        if !digest_uri.eq_ignore_ascii_case(DIGEST_URI) {
            return Err(violation(format!(
                "Mismatched URI: {digest_uri}; expecting: {DIGEST_URI}"
            )));
        }
        let response = d.get("response").ok_or_else(|| {
            SaslError("DIGEST-MD5: digest response format  violation. Missing response.".to_owned())
        })?;
        let authzid = d.get("authzid");
        let password = accounts.password(username).ok_or_else(|| {
            SaslError(format!(
                "DIGEST-MD5: cannot acquire password for {username} in realm : {realm}"
            ))
        })?;
        let inputs = DigestInputs {
            username,
            realm,
            password,
            nonce: &self.nonce,
            cnonce,
            nonce_count,
            qop,
            digest_uri,
            authzid,
        };
        if response != inputs.response(utf8) {
            return Err(violation("Mismatched response."));
        }
        let authorization_id = accounts
            .authorized_id(username, authzid)
            .map_err(SaslError)?;
        Ok(Step::Complete {
            token: format!("rspauth={}", inputs.rspauth(utf8)).into_bytes(),
            authorization_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::sasl::NONCE_COUNT;

    fn accounts() -> Accounts {
        Accounts::new([
            ("alice".to_owned(), "alicepw".to_owned()),
            ("bob".to_owned(), "bobpw".to_owned()),
        ])
    }

    /// The directives python3-puresasl sent the Java 3.8 server for alice/alicepw.
    const NONCE: &str = "bKVDakGdQ9/B0U1Uyi8O4AqxQQanYsKtzmuTsDFX";
    const PURESASL: &str = "qop=auth,realm=\"zk-sasl-md5\",username=\"alice\",nonce=\"bKVDakGdQ9/B0U1Uyi8O4AqxQQanYsKtzmuTsDFX\",cnonce=\"9679419525618266\",nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",response=62bc37b2dcaa261fcf196aca3f8d9ca1";

    fn challenged() -> DigestMd5Server {
        let mut s = DigestMd5Server::new(NONCE.to_owned());
        assert!(matches!(
            s.evaluate(b"", &accounts()),
            Ok(Step::Challenge(_))
        ));
        s
    }

    #[test]
    fn java_captured_exchange_completes() {
        let mut s = challenged();
        assert_eq!(
            s.evaluate(PURESASL.as_bytes(), &accounts()),
            Ok(Step::Complete {
                token: b"rspauth=799b99993c175f770d64c6fd9ebf6fb6".to_vec(),
                authorization_id: "alice".to_owned()
            })
        );
        assert!(s.is_complete());
        assert_eq!(
            s.evaluate(b"", &accounts()).unwrap_err().0,
            "DIGEST-MD5: Authentication already completed"
        );
    }

    #[test]
    fn failures_carry_javas_messages() {
        let swap = |from: &str, to: &str| PURESASL.replace(from, to);
        for (response, message) in [
            (
                swap("62bc37b2", "00000000"),
                "DIGEST-MD5: digest response format violation. Mismatched response.",
            ),
            (
                swap("username=\"alice\"", "username=\"carol\""),
                "DIGEST-MD5: cannot acquire password for carol in realm : zk-sasl-md5",
            ),
            (
                swap("nonce=\"bKV", "nonce=\"xKV"),
                "DIGEST-MD5: digest response format violation. Mismatched nonce.",
            ),
            (
                swap("realm=\"zk-sasl-md5\",", ""),
                "DIGEST-MD5: digest response format violation. Nonexistent realm: ",
            ),
            (
                swap("zookeeper/zk-sasl-md5", "imap/zk-sasl-md5"),
                "DIGEST-MD5: digest response format violation. Mismatched URI: imap/zk-sasl-md5; expecting: zookeeper/zk-sasl-md5",
            ),
            (
                swap("nc=00000001", "nc=00000002"),
                "DIGEST-MD5: digest response format violation. Nonce count does not match: 00000002",
            ),
            (
                swap("qop=auth", "qop=auth-conf"),
                "DIGEST-MD5: server does not support  qop: auth-conf",
            ),
            (
                format!("{PURESASL},username=\"bob\""),
                "DIGEST-MD5: Peer sent more than one username directive",
            ),
            (
                swap("cnonce=\"9679419525618266\",", ""),
                "DIGEST-MD5: digest response format violation. Missing cnonce.",
            ),
        ] {
            let mut s = challenged();
            assert_eq!(
                s.evaluate(response.as_bytes(), &accounts()),
                Err(SaslError(message.to_owned())),
                "{response}"
            );
            // A failed exchange takes nothing more, not even the right answer.
            assert!(s.evaluate(PURESASL.as_bytes(), &accounts()).is_err());
        }
    }

    #[test]
    fn garbage_tokens_fail_without_panicking() {
        // Java's server ignores a first token, garbage or not, and challenges.
        let mut s = DigestMd5Server::new(NONCE.to_owned());
        assert!(matches!(
            s.evaluate(b"garbage", &accounts()),
            Ok(Step::Challenge(_))
        ));
        let inputs: [&[u8]; 6] = [
            b"garbage",
            b"\xff\x00\x01=\"",
            b"username=",
            b",,,,",
            &[b'a'; 5000],
            b"username=\"alice\",response=\"",
        ];
        for token in inputs {
            let mut s = challenged();
            assert!(s.evaluate(token, &accounts()).is_err(), "{token:?}");
        }
    }

    #[test]
    fn authzid_and_unicode_names() {
        let accounts = Accounts::new([("jürgen".to_owned(), "pässword".to_owned())]);
        let mut s = DigestMd5Server::new("n".to_owned());
        s.evaluate(b"", &accounts).unwrap();
        let inputs = DigestInputs {
            username: "jürgen",
            realm: SERVER_NAME,
            password: "pässword",
            nonce: "n",
            cnonce: "c",
            nonce_count: NONCE_COUNT,
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: Some("someone-else"),
        };
        let mut response = Directives::default();
        response
            .push_token("charset", "utf-8")
            .push_quoted("username", "jürgen")
            .push_quoted("realm", SERVER_NAME)
            .push_quoted("nonce", "n")
            .push_quoted("cnonce", "c")
            .push_quoted("digest-uri", DIGEST_URI)
            .push_quoted("authzid", "someone-else")
            .push_token("response", &inputs.response(true));
        // Java's callback handler authorizes the authenticated name, not the requested one.
        match s.evaluate(&response.to_bytes(), &accounts) {
            Ok(Step::Complete {
                authorization_id, ..
            }) => assert_eq!(authorization_id, "jürgen"),
            other => panic!("{other:?}"),
        }
    }
}
