//! The core's side of SASL: each connection's DIGEST-MD5 exchange, the `sasl` request, and
//! the enforcement of `zookeeper.enforce.auth.*` / `zookeeper.sessionRequireClientSASLAuth`,
//! answered as Java 3.8's `ZooKeeperServer.processSasl` and `AuthenticationHelper` answer.
//!
//! | case | reply (xid echoed, zxid 0) | then |
//! |---|---|---|
//! | no JAAS `Server` section | OK, null token | — |
//! | exchange goes on / completes | OK, the server's token | on completion the connection gets `sasl:NAME` (and `super` for a `zookeeper.superUser`) |
//! | exchange fails | AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH when SASL is required), null token | the connection closes; the session lives on |
//! | fails, `zookeeper.allowSaslFailedClients` (SASL not required) | OK, null token | — |
//! | another request before the connection has an enforced scheme | SESSIONCLOSEDREQUIRESASLAUTH, no body | the connection closes |

use bytes::{Bytes, BytesMut};
use tracing::{info, warn};
use zk_proto::data::Id;
use zk_proto::proto::{ReplyHeader, SetSaslResponse};
use zk_proto::{ErrorCode, Jute, OpCode};

use super::{Action, ServerCore};
use crate::sasl::digest_md5::{DigestMd5Server, Step};
use crate::watch::ConnId;

/// Where the nonces of DIGEST-MD5 challenges come from (randomness lives in the runtime).
pub type NonceSource = Box<dyn FnMut() -> String + Send>;

/// Nonces for a core whose runtime gave none (tests): distinct per challenge, not secret.
pub(super) fn counting_nonces(seed: u64) -> NonceSource {
    let mut n = 0u64;
    Box::new(move || {
        n += 1;
        format!("zk-rs-test-nonce-{seed:x}-{n}")
    })
}

impl ServerCore {
    /// Sets where challenge nonces come from: the runtime gives 30 random bytes in base64, as
    /// Java's `DigestMD5Server` makes them.
    pub fn set_sasl_nonce_source(&mut self, source: NonceSource) {
        self.sasl_nonces = source;
    }

    /// Whether a request of `op` from `conn` may be served under the enforcement settings;
    /// if not, the refusal is in `out`.
    pub(super) fn enforce_authentication(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: OpCode,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(schemes) = &self.config.sasl.enforce_schemes else {
            return true;
        };
        if matches!(op, OpCode::Auth | OpCode::Sasl) {
            return true;
        }
        let Some(c) = self.conns.get(&conn) else {
            return true;
        };
        if c.auth_ids.iter().any(|id| schemes.contains(&id.scheme)) {
            return true;
        }
        let held: Vec<&str> = c.auth_ids.iter().map(|id| id.scheme.as_str()).collect();
        warn!(conn, schemes = ?held, expected = ?schemes, "client authentication scheme(s) do not match the enforced ones; closing the connection");
        let header = ReplyHeader::new(xid, 0, ErrorCode::SessionClosedRequireSaslAuth);
        self.send(out, conn, Bytes::from(header.to_jute_bytes()));
        out.push(Action::Close { conn });
        false
    }

    /// A `sasl` request with a token.
    pub(super) fn sasl(&mut self, conn: ConnId, xid: i32, token: &[u8], out: &mut Vec<Action>) {
        let Some(accounts) = self.config.sasl.accounts.clone() else {
            // Java has no SaslServer without a login: it logs the NullPointerException and
            // answers OK with no token.
            warn!(
                conn,
                "sasl request but SASL is not configured (no JAAS Server section)"
            );
            self.sasl_reply(out, conn, xid, ErrorCode::Ok, None);
            return;
        };
        if !self.sasl_exchanges.contains_key(&conn) {
            let nonce = (self.sasl_nonces)();
            self.sasl_exchanges
                .insert(conn, DigestMd5Server::new(nonce));
        }
        let exchange = self.sasl_exchanges.get_mut(&conn).expect("inserted");
        match exchange.evaluate(token, &accounts) {
            Ok(Step::Challenge(challenge)) => {
                self.sasl_reply(out, conn, xid, ErrorCode::Ok, Some(challenge))
            }
            Ok(Step::Complete {
                token,
                authorization_id,
            }) => {
                let is_super = self.config.sasl.is_super_user(&authorization_id);
                if let Some(c) = self.conns.get_mut(&conn) {
                    info!(conn, session = %format_args!("{:#x}", c.session_id), id = %authorization_id, is_super, "SASL authenticated");
                    let ids = std::sync::Arc::make_mut(&mut c.auth_ids);
                    ids.add(Id::new("sasl", authorization_id));
                    if is_super {
                        ids.add(Id::new("super", ""));
                    }
                }
                self.sasl_reply(out, conn, xid, ErrorCode::Ok, Some(token));
            }
            Err(e) => {
                let required = self
                    .config
                    .sasl
                    .enforce_schemes
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|s| s == "sasl"));
                let peer = self.conns.get(&conn).and_then(|c| c.stats.peer);
                warn!(conn, ?peer, error = %e, "client failed to SASL authenticate");
                if self.config.sasl.allow_failed_clients && !required {
                    warn!(
                        conn,
                        "maintaining the connection despite the SASL failure (allowSaslFailedClients)"
                    );
                    self.sasl_reply(out, conn, xid, ErrorCode::Ok, None);
                    return;
                }
                let code = if required {
                    ErrorCode::SessionClosedRequireSaslAuth
                } else {
                    ErrorCode::AuthFailed
                };
                self.sasl_reply(out, conn, xid, code, None);
                out.push(Action::Close { conn });
            }
        }
    }

    /// Java always writes a SetSASLResponse after the header, even with an error code.
    fn sasl_reply(
        &mut self,
        out: &mut Vec<Action>,
        conn: ConnId,
        xid: i32,
        err: ErrorCode,
        token: Option<Vec<u8>>,
    ) {
        let mut payload = BytesMut::with_capacity(32 + token.as_ref().map_or(0, Vec::len));
        ReplyHeader::new(xid, 0, err).write(&mut payload);
        SetSaslResponse {
            token: token.map(Bytes::from),
        }
        .write(&mut payload);
        self.send_answer(out, conn, xid, 0, payload.freeze());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{decode_request, CoreConfig};
    use crate::sasl::{Accounts, SaslConfig};
    use crate::tree::DataTree;
    use std::sync::Arc;
    use zk_proto::message::RequestBody;
    use zk_proto::proto::{ConnectRequest, GetSaslRequest, RequestHeader};
    use zk_proto::sasl::{DigestInputs, Directives, DIGEST_URI, NONCE_COUNT, SERVER_NAME};

    fn core(sasl: SaslConfig) -> ServerCore {
        let config = CoreConfig {
            sasl,
            ..CoreConfig::default()
        };
        let mut core = ServerCore::new(config, DataTree::new(false), 0, 1);
        core.set_sasl_nonce_source(Box::new(|| "NONCE".to_owned()));
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        let peer = "127.0.0.1:5000".parse().unwrap();
        core.connect(1, peer, &connect.to_jute_bytes(), Vec::new(), 0, 0);
        // The createSession txn commits: the session is established.
        core.commit_through(1, 0);
        core
    }

    fn accounts() -> SaslConfig {
        SaslConfig {
            accounts: Some(Arc::new(Accounts::new([(
                "alice".to_owned(),
                "pw".to_owned(),
            )]))),
            super_users: vec!["alice".to_owned()],
            ..SaslConfig::default()
        }
    }

    fn request(core: &mut ServerCore, xid: i32, body: RequestBody) -> Vec<Action> {
        let mut payload = RequestHeader::new(xid, body.op()).to_jute_bytes();
        body.write(&mut payload);
        core.request(1, decode_request(payload.into()), 0, 0)
    }

    fn sasl(core: &mut ServerCore, xid: i32, token: &[u8]) -> Vec<Action> {
        let body = RequestBody::Sasl(GetSaslRequest {
            token: Some(Bytes::copy_from_slice(token)),
        });
        request(core, xid, body)
    }

    /// The reply header's error code and the SetSASLResponse token, and whether it closed.
    fn answer(actions: &[Action]) -> (i32, i64, ErrorCode, Option<Vec<u8>>, bool) {
        let Some(Action::Send { payload, .. }) = actions.first() else {
            panic!("no reply: {actions:?}");
        };
        let bytes = payload.to_bytes();
        let mut input = &bytes[..];
        let header = ReplyHeader::read(&mut input).unwrap();
        let token = if input.is_empty() {
            None
        } else {
            SetSaslResponse::read(&mut input)
                .unwrap()
                .token
                .map(|t| t.to_vec())
        };
        let closed = actions.iter().any(|a| matches!(a, Action::Close { .. }));
        (header.xid, header.zxid, header.err, token, closed)
    }

    fn digest_response(password: &str) -> Vec<u8> {
        let inputs = DigestInputs {
            username: "alice",
            realm: SERVER_NAME,
            password,
            nonce: "NONCE",
            cnonce: "c",
            nonce_count: NONCE_COUNT,
            qop: "auth",
            digest_uri: DIGEST_URI,
            authzid: None,
        };
        let mut d = Directives::default();
        d.push_token("charset", "utf-8")
            .push_quoted("username", "alice")
            .push_quoted("realm", SERVER_NAME)
            .push_quoted("nonce", "NONCE")
            .push_token("nc", NONCE_COUNT)
            .push_quoted("cnonce", "c")
            .push_quoted("digest-uri", DIGEST_URI)
            .push_token("response", &inputs.response(true));
        d.to_bytes()
    }

    #[test]
    fn a_good_exchange_adds_the_sasl_id_and_super() {
        let mut core = core(accounts());
        let (xid, zxid, err, token, closed) = answer(&sasl(&mut core, 7, b""));
        assert_eq!((xid, zxid, err, closed), (7, 0, ErrorCode::Ok, false));
        assert_eq!(
            token.unwrap(),
            b"realm=\"zk-sasl-md5\",nonce=\"NONCE\",charset=utf-8,algorithm=md5-sess"
        );
        let (_, _, err, token, closed) = answer(&sasl(&mut core, 8, &digest_response("pw")));
        assert_eq!((err, closed), (ErrorCode::Ok, false));
        assert!(token.unwrap().starts_with(b"rspauth="));
        let ids = &core.conns[&1].auth_ids;
        assert!(ids.contains(&Id::new("sasl", "alice")) && ids.contains(&Id::new("super", "")));
    }

    #[test]
    fn a_failed_exchange_is_authfailed_with_a_null_token_and_a_close() {
        for token in [&b"garbage"[..], b"\xff\xff\x00"] {
            let mut core = core(accounts());
            sasl(&mut core, 2, b"");
            assert_eq!(
                answer(&sasl(&mut core, 3, token)),
                (3, 0, ErrorCode::AuthFailed, None, true)
            );
        }
        let mut core = core(accounts());
        sasl(&mut core, 1, b"");
        assert_eq!(
            answer(&sasl(&mut core, 2, &digest_response("wrong"))),
            (2, 0, ErrorCode::AuthFailed, None, true)
        );
        assert!(!core.conns[&1].auth_ids.iter().any(|id| id.scheme == "sasl"));
    }

    #[test]
    fn without_a_jaas_section_the_answer_is_ok_and_empty() {
        let mut core = core(SaslConfig::default());
        assert_eq!(
            answer(&sasl(&mut core, 4, b"anything")),
            (4, 0, ErrorCode::Ok, None, false)
        );
    }

    #[test]
    fn allowed_failures_keep_the_connection_unless_sasl_is_required() {
        let mut core = core(SaslConfig {
            allow_failed_clients: true,
            ..accounts()
        });
        sasl(&mut core, 4, b"");
        assert_eq!(
            answer(&sasl(&mut core, 5, b"garbage")),
            (5, 0, ErrorCode::Ok, None, false)
        );
        let mut core = self::core(SaslConfig {
            allow_failed_clients: true,
            enforce_schemes: Some(vec!["sasl".to_owned()]),
            ..accounts()
        });
        sasl(&mut core, 4, b"");
        assert_eq!(
            answer(&sasl(&mut core, 5, b"garbage")),
            (5, 0, ErrorCode::SessionClosedRequireSaslAuth, None, true)
        );
    }

    #[test]
    fn enforced_sasl_refuses_other_requests_until_authenticated() {
        let required = SaslConfig {
            enforce_schemes: Some(vec!["sasl".to_owned()]),
            ..accounts()
        };
        let mut core = core(required.clone());
        let exists = RequestBody::Exists(zk_proto::proto::ExistsRequest {
            path: "/".into(),
            watch: false,
        });
        assert_eq!(
            answer(&request(&mut core, 9, exists.clone())),
            (9, 0, ErrorCode::SessionClosedRequireSaslAuth, None, true)
        );
        let mut core = self::core(required);
        sasl(&mut core, 1, b"");
        sasl(&mut core, 2, &digest_response("pw"));
        let (_, _, err, _, closed) = answer(&request(&mut core, 3, exists));
        assert_eq!((err, closed), (ErrorCode::Ok, false));
    }
}
