//! Who is browsing, and what they may see. The browser reads the tree directly, so it applies
//! the READ checks a client session would meet: a node's data, its children and its ACL show
//! only to identities its ACL grants READ (the ACL also to ADMIN), and a search does not
//! descend below a node they may not list. The identities are the ones a client connection
//! from the same address would have (`ip:<address>`), plus those of an `Authorization:
//! digest user:password` header, as the admin commands take them (the super digest included).
//!
//! With `admin.auth.required=true` every page also needs such a header with READ on `/`, as
//! every command does.

use std::net::SocketAddr;

use axum::http::{header, HeaderMap};
use zk_proto::data::Id;
use zk_proto::perms::{ADMIN, READ};

use super::super::auth::{self, Refusal};
use crate::tree::{DataTree, Node};

/// The identities of one request.
#[derive(Debug, Clone)]
pub struct Viewer {
    ids: Vec<Id>,
    /// The user of an `Authorization: digest user:password` header (the forms name it).
    digest_user: Option<String>,
}

/// The `user:password` of an `Authorization: digest user:password` header (the syntax
/// [`auth::identify`] takes): the identity a write runs as.
pub fn digest_credentials(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match value.split(' ').collect::<Vec<_>>().as_slice() {
        ["digest", user_password] if user_password.contains(':') => Some(user_password),
        _ => None,
    }
}

/// The user name of `user:password`.
pub fn user_of(user_password: &str) -> &str {
    user_password.split(':').next().unwrap_or("")
}

impl Viewer {
    /// The identities of a request from `peer` (unknown only in unit tests) with `headers`.
    /// An `Authorization` header that names no identity is refused, as the commands refuse
    /// it; with `auth_required`, so is a request without one.
    pub fn of_request(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        super_digest: Option<&str>,
        auth_required: bool,
    ) -> Result<Viewer, Refusal> {
        let mut ids = Vec::new();
        if let Some(peer) = peer {
            ids.push(Id::new("ip", peer.ip().to_canonical().to_string()));
        }
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map_err(|_| Refusal::NotAuthenticated))
            .transpose()?;
        match (authorization, peer) {
            (Some(value), Some(peer)) => {
                for id in auth::identify(Some(value), peer, &[], super_digest)? {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            (Some(_), None) => return Err(Refusal::NotAuthenticated),
            (None, _) if auth_required => return Err(Refusal::Missing),
            (None, _) => {}
        }
        let digest_user = digest_credentials(headers).map(|c| user_of(c).to_owned());
        Ok(Viewer { ids, digest_user })
    }

    /// The user of the request's digest identity, if it sent one.
    pub fn digest_user(&self) -> Option<&str> {
        self.digest_user.as_deref()
    }

    /// Adds the identities a verified TLS client certificate gives the connection (`x509`,
    /// and `super` for the configured super user).
    pub fn with_certificate_ids(mut self, certificate_ids: &[Id]) -> Viewer {
        for id in certificate_ids {
            if !self.ids.contains(id) {
                self.ids.push(id.clone());
            }
        }
        self
    }

    /// With `admin.auth.required`: whether these identities hold READ on `/`.
    pub fn check_root(&self, tree: &DataTree) -> Result<(), Refusal> {
        let root = tree.node("/").expect("every tree has a root");
        auth::authorize(&tree.acl(root), READ, &self.ids)
    }

    /// Whether they may read the node's data and list its children.
    pub fn may_read(&self, tree: &DataTree, node: &Node) -> bool {
        crate::acl::check(&tree.acl(node), READ, &self.ids).is_ok()
    }

    /// Whether they may read the node's ACL (READ or ADMIN, as getACL wants).
    pub fn may_read_acl(&self, tree: &DataTree, node: &Node) -> bool {
        let acl = tree.acl(node);
        crate::acl::check(&acl, READ, &self.ids).is_ok()
            || crate::acl::check(&acl, ADMIN, &self.ids).is_ok()
    }

    /// The identities, as `scheme:id`, for the page that says what is hidden.
    pub fn describe(&self) -> String {
        if self.ids.is_empty() {
            return "world:anyone".to_owned();
        }
        self.ids
            .iter()
            .map(|id| format!("{}:{}", id.scheme, id.id))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_proto::data::Acl;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn identities_come_from_the_address_and_the_header() {
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        let anonymous = Viewer::of_request(&headers(None), peer, None, false).unwrap();
        assert_eq!(anonymous.describe(), "ip:127.0.0.1");
        assert_eq!(anonymous.digest_user(), None);
        let bob = Viewer::of_request(&headers(Some("digest bob:pw")), peer, None, false).unwrap();
        assert_eq!(
            bob.describe(),
            format!("ip:127.0.0.1, digest:{}", crate::acl::digest_id("bob:pw"))
        );
        assert_eq!(bob.digest_user(), Some("bob"));
        assert_eq!(
            digest_credentials(&headers(Some("digest bob:p w"))),
            None,
            "one space only, as identify wants"
        );
        assert_eq!(
            digest_credentials(&headers(Some("digest bob:a:b"))),
            Some("bob:a:b")
        );
        assert_eq!(user_of("bob:a:b"), "bob");
        assert_eq!(
            Viewer::of_request(&headers(Some("basic xyz")), peer, None, false).unwrap_err(),
            Refusal::NotAuthenticated
        );
        assert_eq!(
            Viewer::of_request(&headers(None), peer, None, true).unwrap_err(),
            Refusal::Missing
        );
    }

    #[test]
    fn read_follows_the_acl() {
        let mut tree = DataTree::new(false);
        let secret = Acl {
            perms: zk_proto::perms::ALL,
            id: Id::new("digest", crate::acl::digest_id("bob:pw")),
        };
        tree.apply(
            &zk_proto::txn::TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid: 1,
                time: 0,
                r#type: zk_proto::OpCode::Create,
            },
            &zk_proto::txn::Txn::Create(zk_proto::txn::CreateTxn {
                path: "/s".into(),
                data: None,
                acl: vec![secret],
                ephemeral: false,
                parent_c_version: 1,
            }),
        );
        let node = tree.node("/s").unwrap();
        let peer = Some("127.0.0.1:5000".parse().unwrap());
        let anonymous = Viewer::of_request(&headers(None), peer, None, false).unwrap();
        assert!(!anonymous.may_read(&tree, node));
        assert!(!anonymous.may_read_acl(&tree, node));
        assert!(anonymous.may_read(&tree, tree.node("/").unwrap()));
        let bob = Viewer::of_request(&headers(Some("digest bob:pw")), peer, None, false).unwrap();
        assert!(bob.may_read(&tree, node) && bob.may_read_acl(&tree, node));
        let superuser = Viewer::of_request(
            &headers(Some("digest root:x")),
            peer,
            Some(&crate::acl::digest_id("root:x")),
            false,
        )
        .unwrap();
        assert!(superuser.may_read(&tree, node));
    }
}
