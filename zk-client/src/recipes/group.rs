//! Nodes and group memberships that outlive sessions, on a [`Supervisor`]: Curator's
//! `PersistentNode` and `GroupMember`, on the same tree.
//!
//! - [`PersistentNode`]: a node that should exist as long as the handle lives (usually an
//!   ephemeral one: "this service is up"). It is created at once, created again in every new
//!   session and whenever someone deletes it, and its data is kept as last set. Missing parents
//!   are created as containers (Curator's `creatingParentContainersIfNeeded`).
//! - [`GroupMember`]: Curator's `GroupMember`: the member is the ephemeral node
//!   `<group>/<member id>` holding its payload, and the membership (every member's id and
//!   payload) is kept current from a recursive persistent watch on the group, read again in
//!   full after every reconnect and every new session.
//!
//! When an ephemeral node's old session is given up while the server still holds it (the
//! connection broke for the whole session timeout, see [`ConnectionState::Lost`]), the
//! create in the new session finds the old node: its data is overwritten and it is watched, so
//! when the server expires the old session and deletes the node, it is created again at once.
//!
//! [`ConnectionState::Lost`]: crate::ConnectionState::Lost

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::recipes::protected::{join, node_name, validate_dir};
use crate::retry::Retries;
use crate::{
    AddWatchMode, Client, CreateMode, CreateOptions, Error, ErrorKind, EventStream, EventType,
};
use crate::{Parents, Result, Session, SessionTask, Supervisor};

/// A node kept in existence with the data last set, across deletions and sessions (Curator's
/// `PersistentNode` for the non-sequential modes). Dropping the handle stops keeping it; an
/// ephemeral node then lives until its session ends, [`PersistentNode::close`] deletes it.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::group::PersistentNode;
/// use zk_client::{Client, CreateOptions};
/// let supervisor = Client::builder("127.0.0.1:2181").supervised();
/// let node = PersistentNode::start(
///     &supervisor, "/services/api/10.0.0.7:8080", b"up", CreateOptions::ephemeral());
/// node.wait_created().await?;
/// node.set_data(b"draining");
/// node.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PersistentNode {
    path: String,
    supervisor: Supervisor,
    data: watch::Sender<Bytes>,
    /// The generation of the session in which the node last existed with our data.
    created: watch::Receiver<Option<u64>>,
    task: SessionTask,
}

impl PersistentNode {
    /// Starts keeping `path` with `data`, created with `options` (a persistent, ephemeral or
    /// container mode; sequential modes are not supported: the node must keep its name).
    pub fn start(
        supervisor: &Supervisor,
        path: &str,
        data: &[u8],
        options: CreateOptions,
    ) -> PersistentNode {
        let (data, data_rx) = watch::channel(Bytes::copy_from_slice(data));
        let (created_tx, created) = watch::channel(None);
        let keeper = Keeper {
            path: path.to_owned(),
            options,
            data: data_rx,
            created: Arc::new(created_tx),
        };
        let task = supervisor.on_session(move |session| {
            let keeper = keeper.clone();
            async move { keeper.keep(session).await }
        });
        PersistentNode {
            path: path.to_owned(),
            supervisor: supervisor.clone(),
            data,
            created,
            task,
        }
    }

    /// The node's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sets the data the node is kept with (written now if connected, else once connected).
    pub fn set_data(&self, data: &[u8]) {
        self.data.send_replace(Bytes::copy_from_slice(data));
    }

    /// Whether the node exists with the current data in the live session, as far as this
    /// client knows.
    pub fn is_created(&self) -> bool {
        let live = self.supervisor.current().is_some();
        live && self.created.borrow().is_some()
    }

    /// Waits until the node has been created (or found and taken over) in some session.
    pub async fn wait_created(&self) -> Result<()> {
        let mut created = self.created.clone();
        created
            .wait_for(Option::is_some)
            .await
            .map(|_| ())
            .map_err(|_| Error::from(ErrorKind::Closed))
    }

    /// Stops keeping the node and deletes it (a connection loss is waited out; the session
    /// ending deletes an ephemeral anyway).
    pub async fn close(self) -> Result<()> {
        drop(self.task);
        let client = self.supervisor.client().await?;
        loop {
            match client.delete(&self.path, None).await {
                Ok(())
                | Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => return Ok(()),
                Err(Error {
                    kind: ErrorKind::SessionExpired | ErrorKind::Closed,
                    ..
                }) => return Ok(()),
                Err(e) => {
                    Retries::until_session_ends(&client)
                        .pause_or_fail(e)
                        .await?
                }
            }
        }
    }
}

/// The per-session work of a [`PersistentNode`].
#[derive(Debug, Clone)]
struct Keeper {
    path: String,
    options: CreateOptions,
    data: watch::Receiver<Bytes>,
    created: Arc<watch::Sender<Option<u64>>>,
}

impl Keeper {
    async fn keep(mut self, session: Session) {
        let client = &session.client;
        loop {
            match self.keep_once(&session).await {
                Ok(()) => {}
                Err(e) => {
                    if let Err(e) = Retries::until_session_ends(client).pause_or_fail(e).await {
                        // The session ended (the supervisor opens the next) or the server
                        // refuses the node (NoAuth, a bad ACL): nothing a retry fixes.
                        if !matches!(e.kind(), ErrorKind::SessionExpired | ErrorKind::Closed) {
                            tracing::error!(path = %self.path, %e, "cannot keep the node");
                        }
                        return;
                    }
                }
            }
        }
    }

    /// Creates the node (or takes it over), then waits for it to go or its data to change.
    async fn keep_once(&mut self, session: &Session) -> Result<()> {
        let client = &session.client;
        let data = self.data.borrow_and_update().clone();
        match client
            .create_all(&self.path, &data, &self.options, Parents::Container)
            .await
        {
            Ok(_) => {}
            Err(Error {
                kind: ErrorKind::NodeExists,
                ..
            }) => {
                // Ours from a lost session, someone else's, or ours from a lost reply: make
                // its data ours; if it goes (its session ends), it is created again below.
                match client.set_data(&self.path, &data, None).await {
                    Ok(_)
                    | Err(Error {
                        kind: ErrorKind::NoNode,
                        ..
                    }) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        let (stat, gone) = client.exists_watch(&self.path).await?;
        if stat.is_none() {
            return Ok(());
        }
        self.created.send_replace(Some(session.generation));
        tokio::pin!(gone);
        loop {
            tokio::select! {
                event = &mut gone => {
                    if event.event_type == EventType::NodeDeleted {
                        self.created.send_replace(None);
                        return Ok(());
                    }
                    if event.event_type == EventType::None {
                        // The session ended; the supervisor brings the next.
                        return Err(ErrorKind::SessionExpired.into());
                    }
                    // A data change by someone else: look again (and put ours back).
                    return Ok(());
                }
                changed = self.data.changed() => {
                    if changed.is_err() {
                        return Err(ErrorKind::Closed.into());
                    }
                    let data = self.data.borrow_and_update().clone();
                    match client.set_data(&self.path, &data, None).await {
                        Ok(_) => {}
                        Err(Error { kind: ErrorKind::NoNode, .. }) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

/// The members of a group: member id to payload, sorted by id.
pub type Members = BTreeMap<String, Bytes>;

/// Curator's `GroupMember`: this process as `<group>/<id>` (ephemeral, holding `payload`), and
/// the whole membership, kept current across reconnects and sessions.
///
/// ```no_run
/// # async fn demo() -> zk_client::Result<()> {
/// use zk_client::recipes::group::GroupMember;
/// use zk_client::Client;
/// let supervisor = Client::builder("127.0.0.1:2181").supervised();
/// let member = GroupMember::join(&supervisor, "/services/api", "node-7", b"10.0.0.7:8080")?;
/// let mut changes = member.changes();
/// while let Some(members) = changes.next().await {
///     println!("{} members: {:?}", members.len(), members.keys().collect::<Vec<_>>());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct GroupMember {
    node: PersistentNode,
    members: watch::Receiver<Arc<Members>>,
    _watcher: SessionTask,
}

impl GroupMember {
    /// Joins `group` as `id` with `payload`. Fails only for a bad group path or id.
    pub fn join(
        supervisor: &Supervisor,
        group: &str,
        id: &str,
        payload: &[u8],
    ) -> Result<GroupMember> {
        validate_dir(group)?;
        if id.is_empty() || id.contains('/') {
            return Err(ErrorKind::InvalidArgument(format!("bad member id {id:?}")).into());
        }
        let node = PersistentNode::start(
            supervisor,
            &join(group, id),
            payload,
            CreateOptions::new(CreateMode::Ephemeral),
        );
        let (members_tx, members) = watch::channel(Arc::new(Members::new()));
        let members_tx = Arc::new(members_tx);
        let group = group.to_owned();
        let watcher = supervisor.on_session(move |session| {
            let (group, members) = (group.clone(), members_tx.clone());
            async move { follow_members(session.client, &group, &members).await }
        });
        Ok(GroupMember {
            node,
            members,
            _watcher: watcher,
        })
    }

    /// This member's node.
    pub fn path(&self) -> &str {
        self.node.path()
    }

    /// Changes this member's payload.
    pub fn set_payload(&self, payload: &[u8]) {
        self.node.set_data(payload);
    }

    /// Waits until this member's node exists.
    pub async fn wait_joined(&self) -> Result<()> {
        self.node.wait_created().await
    }

    /// The members as last read (empty before the first read).
    pub fn members(&self) -> Arc<Members> {
        self.members.borrow().clone()
    }

    /// The membership after every change from now on, starting with the current one.
    pub fn changes(&self) -> EventStream<Arc<Members>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut members = self.members.clone();
        tokio::spawn(async move {
            loop {
                let now = members.borrow_and_update().clone();
                if tx.send(now).is_err() {
                    return;
                }
                tokio::select! {
                    changed = members.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        EventStream::new(rx)
    }

    /// Leaves the group: deletes this member's node.
    pub async fn leave(self) -> Result<()> {
        self.node.close().await
    }
}

/// Keeps `members` current in one session: a full read, then one read per member event, and a
/// full read again after every reconnect (events missed while disconnected are not replayed).
async fn follow_members(client: Client, group: &str, members: &watch::Sender<Arc<Members>>) {
    let mut watcher = loop {
        match client
            .add_watch(group, AddWatchMode::PersistentRecursive)
            .await
        {
            Ok(watcher) => break watcher,
            Err(e) => {
                if Retries::until_session_ends(&client)
                    .pause_or_fail(e)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    };
    let mut full_read = true;
    loop {
        if full_read {
            match read_members(&client, group).await {
                Ok(read) => {
                    members.send_if_modified(|m| replace(m, read));
                    full_read = false;
                }
                Err(e) => {
                    if Retries::until_session_ends(&client)
                        .pause_or_fail(e)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(event) = watcher.next().await else {
            return;
        };
        if event.event_type == EventType::None {
            // Disconnected: wait for the resync marker; a final state: the session is over.
            full_read = event.is_resync();
            if !full_read && client.state().is_terminal() {
                return;
            }
            continue;
        }
        let Some(id) = member_id(group, &event.path) else {
            if event.path == group && event.event_type == EventType::NodeDeleted {
                members.send_if_modified(|m| replace(m, Members::new()));
            }
            continue;
        };
        let read = match event.event_type {
            EventType::NodeDeleted => Ok(None),
            _ => match client.get_data(&event.path).await {
                Ok((data, _)) => Ok(Some(data)),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => Ok(None),
                Err(e) => Err(e),
            },
        };
        match read {
            Ok(payload) => {
                members.send_if_modified(|m| {
                    let mut next = Members::clone(m);
                    match payload {
                        Some(p) => next.insert(id.to_owned(), p),
                        None => next.remove(id),
                    };
                    replace(m, next)
                });
            }
            // Lost in the middle: read everything once connected again.
            Err(e) => {
                full_read = true;
                if Retries::until_session_ends(&client)
                    .pause_or_fail(e)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Every member and its payload, read in one pipelined round.
async fn read_members(client: &Client, group: &str) -> Result<Members> {
    let ids = match client.get_children(group).await {
        Ok(ids) => ids,
        Err(Error {
            kind: ErrorKind::NoNode,
            ..
        }) => return Ok(Members::new()),
        Err(e) => return Err(e),
    };
    let reads: Vec<_> = ids
        .iter()
        .map(|id| client.get_data(&join(group, id)))
        .collect();
    let mut members = Members::new();
    for (id, read) in ids.into_iter().zip(reads) {
        match read.await {
            Ok((payload, _)) => {
                members.insert(id, payload);
            }
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(members)
}

/// The member id of `path` if it is a direct child of `group`.
fn member_id<'a>(group: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(group)?;
    let rest = if group == "/" {
        rest
    } else {
        rest.strip_prefix('/')?
    };
    (!rest.is_empty() && !rest.contains('/')).then(|| node_name(path))
}

/// Puts `next` in place when it differs; says whether it did.
fn replace(current: &mut Arc<Members>, next: Members) -> bool {
    if **current == next {
        return false;
    }
    *current = Arc::new(next);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_the_direct_children_only() {
        assert_eq!(member_id("/g", "/g/a"), Some("a"));
        assert_eq!(member_id("/g", "/g/a/b"), None);
        assert_eq!(member_id("/g", "/g"), None);
        assert_eq!(member_id("/g", "/gx/a"), None);
        assert_eq!(member_id("/", "/a"), Some("a"));
    }

    #[test]
    fn an_unchanged_membership_is_not_published_again() {
        let mut current = Arc::new(Members::from([("a".into(), Bytes::from_static(b"1"))]));
        assert!(!replace(
            &mut current,
            Members::from([("a".into(), Bytes::from_static(b"1"))])
        ));
        assert!(replace(&mut current, Members::new()));
        assert!(current.is_empty());
    }
}
