//! SASL DIGEST-MD5 login, as the Java client runs it with a JAAS `Client` section holding
//! `org.apache.zookeeper.server.auth.DigestLoginModule` with `username` and `password`: right
//! after every handshake (so again on each reconnect), before anything else is sent, the
//! client sends an empty `sasl` token, answers the server's challenge with its digest
//! response, and checks the server's `rspauth`. Requests wait meanwhile, as Java defers them.
//!
//! Java's client reads the token of a `sasl` reply whatever its error code: a failed exchange
//! comes back with a null token, which fails the login; the session then ends in
//! [`SessionState::AuthFailed`](crate::SessionState::AuthFailed), as Java's ends in
//! `AUTH_FAILED`. A server without SASL answers with a null token too: the same outcome.

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tracing::{debug, info, warn};
use zk_proto::frame::ServerFrame;
use zk_proto::proto::{GetSaslRequest, ReplyHeader, RequestHeader, SetSaslResponse};
use zk_proto::sasl::{DigestInputs, Directives, DIGEST_URI, NONCE_COUNT, SERVER_NAME};
use zk_proto::{Jute, OpCode};

use crate::session::Session;

/// A SASL DIGEST-MD5 login (what a JAAS `Client` section with `DigestLoginModule` holds).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SaslLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Waiting for the challenge.
    Challenge,
    /// Waiting for `rspauth`, which must be this.
    Rspauth(String),
    Complete,
    Failed,
}

/// The client side of one DIGEST-MD5 exchange (Java's `DigestMD5Client`). Pure: the client
/// nonce comes from the caller.
#[derive(Debug, Clone)]
pub(crate) struct DigestMd5Client {
    login: SaslLogin,
    cnonce: String,
    stage: Stage,
}

impl DigestMd5Client {
    pub(crate) fn new(login: SaslLogin, cnonce: String) -> Self {
        DigestMd5Client {
            login,
            cnonce,
            stage: Stage::Challenge,
        }
    }

    /// The first token: DIGEST-MD5 has no initial response, so it is empty.
    pub(crate) fn initial_token(&self) -> Vec<u8> {
        Vec::new()
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.stage == Stage::Complete
    }

    /// Takes the server's token (`None`: it sent null) and returns the next one to send, if
    /// any.
    pub(crate) fn evaluate(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        let stage = std::mem::replace(&mut self.stage, Stage::Failed);
        let Some(token) = token else {
            return Err("the server's SASL token is null".to_owned());
        };
        match stage {
            Stage::Challenge => {
                let (response, rspauth) = self.respond(token)?;
                self.stage = Stage::Rspauth(rspauth);
                Ok(Some(response))
            }
            Stage::Rspauth(expected) => {
                let d = Directives::parse(token).map_err(|e| format!("bad server token: {e}"))?;
                match d.get("rspauth") {
                    Some(got) if got.eq_ignore_ascii_case(&expected) => {
                        self.stage = Stage::Complete;
                        Ok(None)
                    }
                    Some(_) => Err(
                        "the server's rspauth does not match: it does not know the password"
                            .to_owned(),
                    ),
                    None => Err("the server sent no rspauth".to_owned()),
                }
            }
            Stage::Complete | Stage::Failed => Err("the exchange is over".to_owned()),
        }
    }

    /// The digest response to a challenge, and the `rspauth` the server must answer with.
    fn respond(&self, challenge: &[u8]) -> Result<(Vec<u8>, String), String> {
        let d = Directives::parse(challenge).map_err(|e| format!("bad challenge: {e}"))?;
        let nonce = d.get("nonce").ok_or("the challenge has no nonce")?;
        if !d
            .get("algorithm")
            .is_some_and(|a| a.eq_ignore_ascii_case("md5-sess"))
        {
            return Err("the challenge's algorithm is not md5-sess".to_owned());
        }
        if let Some(qops) = d.get("qop") {
            if !qops.split(',').any(|q| q.trim() == "auth") {
                return Err(format!("the server offers no qop auth ({qops})"));
            }
        }
        let utf8 = d
            .get("charset")
            .is_some_and(|c| c.eq_ignore_ascii_case("utf-8"));
        // Java's callback handler takes the first realm the server offers.
        let realm = d.get("realm").unwrap_or(SERVER_NAME);
        let inputs = DigestInputs {
            username: &self.login.username,
            realm,
            password: &self.login.password,
            nonce,
            cnonce: &self.cnonce,
            nonce_count: NONCE_COUNT,
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: None,
        };
        let mut response = Directives::default();
        if utf8 {
            response.push_token("charset", "utf-8");
        }
        response
            .push_quoted("username", &self.login.username)
            .push_quoted("realm", realm)
            .push_quoted("nonce", nonce)
            .push_token("nc", NONCE_COUNT)
            .push_quoted("cnonce", &self.cnonce)
            .push_quoted("digest-uri", DIGEST_URI)
            .push_token("maxbuf", "65536")
            .push_token("response", &inputs.response(utf8))
            .push_token("qop", "auth");
        Ok((response.to_bytes(), inputs.rspauth(utf8)))
    }
}

/// How a login on one connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginOutcome {
    /// Authenticated.
    Authenticated,
    /// The server refused (or could not do) the login: the session is over.
    Failed,
    /// The connection broke or went quiet: try another.
    Lost,
}

/// A client nonce as Java's makes one: random bytes, here 16 in hex.
fn cnonce() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: still unique per exchange, which is what the protocol needs.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the login on a fresh connection, before anything else is sent on it.
pub(crate) async fn login<T, E>(
    transport: &mut T,
    session: &mut Session,
    login: &SaslLogin,
    wait: std::time::Duration,
) -> LoginOutcome
where
    T: Sink<Bytes> + Stream<Item = Result<ServerFrame, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut client = DigestMd5Client::new(login.clone(), cnonce());
    let mut token = client.initial_token();
    loop {
        let xid = session.next_xid();
        let mut frame = RequestHeader::new(xid, OpCode::Sasl).to_jute_bytes();
        GetSaslRequest {
            token: Some(Bytes::from(token)),
        }
        .write(&mut frame);
        if transport.send(Bytes::from(frame)).await.is_err() {
            return LoginOutcome::Lost;
        }
        let reply = loop {
            match tokio::time::timeout(wait, transport.next()).await {
                Ok(Some(Ok(ServerFrame::Reply(payload)))) => {
                    let mut input = &payload[..];
                    let Ok(header) = ReplyHeader::read(&mut input) else {
                        warn!("bad reply during the SASL login; reconnecting");
                        return LoginOutcome::Lost;
                    };
                    // Nothing else is in flight; anything but our reply (a notification
                    // cannot come before SetWatches) is skipped.
                    if header.xid != xid {
                        debug!(xid = header.xid, "skipping a frame during the SASL login");
                        continue;
                    }
                    let body = SetSaslResponse::read(&mut input).ok();
                    break (header, body.and_then(|b| b.token));
                }
                Ok(Some(Ok(ServerFrame::ConnectResponse(_)))) => continue,
                Ok(Some(Err(e))) => {
                    warn!(error = %e, "bad frame during the SASL login; reconnecting");
                    return LoginOutcome::Lost;
                }
                Ok(None) => return LoginOutcome::Lost,
                Err(_) => {
                    warn!("no answer to the SASL login; reconnecting");
                    return LoginOutcome::Lost;
                }
            }
        };
        // A sasl reply carries zxid 0: nothing to note.
        let (header, server_token) = reply;
        match client.evaluate(server_token.as_deref()) {
            Ok(Some(next)) => token = next,
            Ok(None) if client.is_complete() => {
                info!(user = %login.username, "SASL authenticated");
                return LoginOutcome::Authenticated;
            }
            Ok(None) => return LoginOutcome::Failed,
            Err(e) => {
                warn!(user = %login.username, code = %header.err, error = %e, "SASL authentication failed");
                return LoginOutcome::Failed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> SaslLogin {
        SaslLogin {
            username: "alice".into(),
            password: "alicepw".into(),
        }
    }

    /// The challenge the Java 3.8 server sent; the rspauth it answered puresasl with (cnonce
    /// 9679419525618266).
    const CHALLENGE: &[u8] = b"realm=\"zk-sasl-md5\",nonce=\"bKVDakGdQ9/B0U1Uyi8O4AqxQQanYsKtzmuTsDFX\",charset=utf-8,algorithm=md5-sess";

    #[test]
    fn answers_javas_challenge_and_checks_rspauth() {
        let mut c = DigestMd5Client::new(login(), "9679419525618266".into());
        assert!(c.initial_token().is_empty());
        let response = c.evaluate(Some(CHALLENGE)).unwrap().unwrap();
        let d = Directives::parse(&response).unwrap();
        assert_eq!(d.get("response"), Some("62bc37b2dcaa261fcf196aca3f8d9ca1"));
        assert_eq!(d.get("digest-uri"), Some("zookeeper/zk-sasl-md5"));
        assert_eq!(d.get("charset"), Some("utf-8"));
        assert_eq!(
            c.evaluate(Some(b"rspauth=799b99993c175f770d64c6fd9ebf6fb6")),
            Ok(None)
        );
        assert!(c.is_complete());
    }

    #[test]
    fn refuses_a_server_that_does_not_know_the_password_or_sends_null() {
        let mut c = DigestMd5Client::new(login(), "9679419525618266".into());
        c.evaluate(Some(CHALLENGE)).unwrap();
        assert!(c
            .evaluate(Some(b"rspauth=00000000000000000000000000000000"))
            .is_err());
        assert!(!c.is_complete());
        let mut c = DigestMd5Client::new(login(), "x".into());
        assert!(
            c.evaluate(None).is_err(),
            "a server without SASL sends null"
        );
        let mut c = DigestMd5Client::new(login(), "x".into());
        assert!(c.evaluate(Some(b"nonce=\"n\",algorithm=md5")).is_err());
        let mut c = DigestMd5Client::new(login(), "x".into());
        assert!(c.evaluate(Some(b"garbage")).is_err());
    }
}
