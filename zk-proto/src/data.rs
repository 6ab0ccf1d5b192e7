//! Data records (`org.apache.zookeeper.data` in `zookeeper.jute`).

use crate::jute::jute_record;

jute_record! {
    /// An identity within an authentication scheme, such as `digest:alice:<hash>` or
    /// `world:anyone`.
    pub struct Id {
        /// The scheme: `world`, `auth`, `digest`, `ip`, `sasl`, `x509`, `super`, ...
        pub scheme: String,
        /// The identity, in the scheme's syntax.
        pub id: String,
    }
}

jute_record! {
    /// One ACL entry: permission bits (see [`crate::perms`]) granted to an identity.
    pub struct Acl {
        /// Permission bits.
        pub perms: i32,
        /// Who gets them.
        pub id: Id,
    }
}

jute_record! {
    /// Node metadata as clients see it (68 bytes).
    pub struct Stat {
        /// Zxid of the create.
        pub czxid: i64,
        /// Zxid of the last data change.
        pub mzxid: i64,
        /// Creation time, ms since the epoch.
        pub ctime: i64,
        /// Last data change time, ms since the epoch.
        pub mtime: i64,
        /// Data version.
        pub version: i32,
        /// Child version as clients see it: `2 * stored_cversion - num_children`.
        pub cversion: i32,
        /// ACL version.
        pub aversion: i32,
        /// Owning session of an ephemeral node; 0 otherwise (also for containers and TTL nodes).
        pub ephemeral_owner: i64,
        /// Data length; 0 for null data.
        pub data_length: i32,
        /// Number of children.
        pub num_children: i32,
        /// Zxid of the last child create or delete.
        pub pzxid: i64,
    }
}

jute_record! {
    /// Node metadata as the server stores it in snapshots (60 bytes).
    pub struct StatPersisted {
        /// Zxid of the create.
        pub czxid: i64,
        /// Zxid of the last data change.
        pub mzxid: i64,
        /// Creation time, ms since the epoch.
        pub ctime: i64,
        /// Last data change time, ms since the epoch.
        pub mtime: i64,
        /// Data version.
        pub version: i32,
        /// Number of children ever created (deletes do not change it).
        pub cversion: i32,
        /// ACL version.
        pub aversion: i32,
        /// Raw owner: a session id, `i64::MIN` for containers, `0xFF..` for TTL nodes, else 0.
        pub ephemeral_owner: i64,
        /// Zxid of the last child create or delete.
        pub pzxid: i64,
    }
}

jute_record! {
    /// One identity of a connection, as `whoAmI` reports it.
    pub struct ClientInfo {
        /// The scheme, for example `ip` or `digest`.
        pub auth_scheme: String,
        /// The user within the scheme.
        pub user: String,
    }
}

impl Id {
    /// An id from its scheme and value.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Id::new("world", "anyone")
    }

    /// `auth:` — in a create or setACL, every id the connection authenticated with.
    pub fn auth_ids() -> Self {
        Id::new("auth", "")
    }
}

impl Acl {
    /// An ACL entry from permission bits and an id.
    pub fn new(perms: i32, id: Id) -> Self {
        Acl { perms, id }
    }

    /// `OPEN_ACL_UNSAFE`: everything for everyone.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::perms::ALL, Id::anyone())]
    }

    /// `CREATOR_ALL_ACL`: everything for the creator's authenticated ids.
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(crate::perms::ALL, Id::auth_ids())]
    }

    /// `READ_ACL_UNSAFE`: read for everyone.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(crate::perms::READ, Id::anyone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Jute;

    #[test]
    fn stat_sizes_match_java() {
        assert_eq!(Stat::default().to_jute_bytes().len(), 68);
        assert_eq!(StatPersisted::default().to_jute_bytes().len(), 60);
    }

    #[test]
    fn acl_layout_is_perms_scheme_id() {
        let bytes = Acl::open_unsafe()[0].to_jute_bytes();
        assert_eq!(bytes, b"\0\0\0\x1f\0\0\0\x05world\0\0\0\x06anyone");
    }
}
