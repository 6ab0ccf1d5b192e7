//! Curator's "protected" ephemeral-sequential nodes, shared by the lock and the leader latch.
//!
//! A contender's node is `<dir>/_c_<uuid>-<name><10-digit sequence>` (Curator's
//! `CreateBuilder.withProtection()`, `ProtectedUtils`). The UUID is why: a create whose reply is
//! lost to a ConnectionLoss may or may not have been applied, and a sequential create cannot be
//! retried blindly (a second node would be an orphan that sorts ahead of us and never goes
//! away while the session lives). So after a ConnectionLoss the parent's children are listed and
//! a child starting with our `_c_<uuid>-` prefix is our node; only if there is none is the
//! create sent again (Curator's `CreateBuilderImpl.findProtectedNodeInForeground`).
//!
//! Parents are created as CONTAINER nodes (Curator's `creatingParentContainersIfNeeded`), so the
//! server removes an empty lock directory by itself.
//!
//! Contenders are ordered like Curator's `StandardLockInternalsDriver.fixForSorting`: by the
//! text after the *last* occurrence of the lock name (`lock-`, `latch-`, ...), names without it
//! by their whole text.
//!
//! The public face of this module: [`Client::create_protected`] (any mode, no parents made)
//! and [`Client::delete_guaranteed`] (Curator's `delete().guaranteed()`).

use std::future::Future;
use std::pin::Pin;

use zk_proto::CreateMode;

use crate::retry::Retries;
use crate::{Client, CreateOptions, Error, ErrorKind, NodeData, Result};

/// The first characters of every protected name (Curator's `ProtectedUtils.PROTECTED_PREFIX`).
pub(crate) const PROTECTED_PREFIX: &str = "_c_";

/// `_c_<uuid>-`: the part of a protected name that identifies one logical create.
pub(crate) fn protected_prefix(uuid: &str) -> String {
    format!("{PROTECTED_PREFIX}{uuid}-")
}

/// A fresh protected prefix with a random (v4) UUID in Java's `UUID.toString()` form.
pub(crate) fn new_protected_prefix() -> String {
    protected_prefix(&random_uuid())
}

/// A random (version 4) UUID as Java's `UUID.randomUUID().toString()` prints it: 36 lower-case
/// characters, `8-4-4-4-12` hex digits.
fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never on the platforms tokio runs on): the prefix only has to be
        // unique among this lock's contenders, which time and a process-wide counter give.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
        let tail = COUNTER.fetch_add(1, Ordering::Relaxed) ^ u64::from(std::process::id()) << 32;
        bytes[8..].copy_from_slice(&tail.to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // IETF variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The child that a create with `prefix` made, if any: after a lost reply, this is how the
/// create is recognised as applied.
pub(crate) fn find_own_node<'a>(children: &'a [String], prefix: &str) -> Option<&'a str> {
    children
        .iter()
        .map(String::as_str)
        .find(|child| child.starts_with(prefix))
}

/// The sort key of `name` for a lock named `lock_name`: the text after the last occurrence of
/// `lock_name`, or the whole name when it does not occur (Curator's `standardFixForSorting`).
pub(crate) fn fix_for_sorting<'a>(name: &'a str, lock_name: &str) -> &'a str {
    match name.rfind(lock_name) {
        Some(index) => &name[index + lock_name.len()..],
        None => name,
    }
}

/// Sorts contender names by `key` (stable, as Java's `Collections.sort`, so equal keys keep the
/// server's order).
pub(crate) fn sort_by_key(children: &mut [String], key: impl Fn(&str) -> &str) {
    children.sort_by(|a, b| key(a).cmp(key(b)));
}

/// Sorts contender names the way Curator's `LockInternals.getSortedChildren` does for
/// `lock_name`.
pub(crate) fn sort_children(children: &mut [String], lock_name: &str) {
    sort_by_key(children, |name| fix_for_sorting(name, lock_name));
}

/// `dir/name` (`/name` under the root).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of `path`.
pub(crate) fn node_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks a recipe's directory path the way the client checks any path, so a bad one fails when
/// the recipe is made rather than at the first create.
pub(crate) fn validate_dir(dir: &str) -> Result<()> {
    zk_proto::path::validate_path(dir)
        .map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))
}

/// Waits until the client is connected. Fails with the session's final error (`SessionExpired`,
/// `Closed`, `AuthFailed`) if it ends instead: then nothing can be retried.
pub(crate) async fn wait_connected(client: &Client) -> Result<()> {
    // Subscribe before looking, so a change between the look and the wait is not missed.
    let mut changes = client.state_changes();
    loop {
        let state = client.state();
        if state.is_connected() {
            return Ok(());
        }
        if let Some(err) = state.terminal_error() {
            return Err(err);
        }
        if changes.next().await.is_none() {
            // The stream ends after a final state; report that state.
            return Err(client
                .state()
                .terminal_error()
                .unwrap_or(ErrorKind::Closed.into()));
        }
    }
}

/// Creates every missing ancestor of `path` (not `path` itself) as a container, like
/// Curator's `ZKPaths.mkdirs(..., makeLastNode=false, ..., asContainers=true)`, waiting out
/// connection losses.
async fn create_parent_containers(client: &Client, path: &str) -> Result<()> {
    let mut retries = Retries::new(client);
    loop {
        match client
            .create_ancestors(path, crate::Parents::Container)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => retries.pause_or_fail(e).await?,
        }
    }
}

/// One logical protected create: the directory, the `_c_<uuid>-` prefix and the name that
/// follows it. Keeping the prefix lets an abandoned create be cleaned up by name.
#[derive(Debug, Clone)]
pub(crate) struct ProtectedCreate {
    dir: String,
    prefix: String,
    name: String,
}

impl ProtectedCreate {
    /// A create of `<dir>/_c_<fresh uuid>-<name><seq>`.
    pub(crate) fn new(dir: &str, name: &str) -> Self {
        ProtectedCreate {
            dir: dir.to_owned(),
            prefix: new_protected_prefix(),
            name: name.to_owned(),
        }
    }

    /// Creates the ephemeral-sequential node with `data` and returns its path. Missing parents
    /// are created as containers. ConnectionLoss is retried once connected again, first looking
    /// for a node the lost request may have made; the end of the session fails the create.
    pub(crate) async fn create(&self, client: &Client, data: &[u8]) -> Result<String> {
        let path = join(&self.dir, &format!("{}{}", self.prefix, self.name));
        let options = CreateOptions::new(CreateMode::EphemeralSequential);
        // Whether an earlier attempt's fate is unknown (its reply was lost).
        let mut maybe_applied = false;
        let mut retries = Retries::new(client);
        loop {
            if maybe_applied {
                match self.find(client).await {
                    Ok(Some(found)) => return Ok(found),
                    Ok(None) => {}
                    Err(e) => {
                        retries.pause_or_fail(e).await?;
                        continue;
                    }
                }
            }
            match client.create(&path, data, &options).await {
                Ok((created, _stat)) => return Ok(created),
                Err(Error {
                    kind: ErrorKind::NoNode,
                    ..
                }) => {
                    // The server refused it, so nothing was made: make the parents and go again.
                    maybe_applied = false;
                    create_parent_containers(client, &path).await?;
                }
                Err(e) => {
                    maybe_applied =
                        maybe_applied || e == ErrorKind::ConnectionLoss || e.is_retryable();
                    retries.pause_or_fail(e).await?;
                }
            }
        }
    }

    /// The path of the node this create made, if one exists (a missing directory means none).
    pub(crate) async fn find(&self, client: &Client) -> Result<Option<String>> {
        match client.get_children(&self.dir).await {
            Ok(children) => {
                Ok(find_own_node(&children, &self.prefix).map(|name| join(&self.dir, name)))
            }
            Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes whatever node this create made (known or found by prefix), retrying across
    /// reconnects until it is gone or the session ends (which removes it anyway).
    pub(crate) async fn remove(&self, client: &Client, known: Option<&str>) -> Result<()> {
        if let Some(path) = known {
            return delete_guaranteed(client, path).await;
        }
        let mut retries = Retries::until_session_ends(client);
        loop {
            match self.find(client).await {
                Ok(Some(path)) => return delete_guaranteed(client, &path).await,
                Ok(None) => return Ok(()),
                Err(e) => match retries.pause_or_fail(e).await {
                    Ok(()) => {}
                    Err(Error {
                        kind: ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed,
                        ..
                    }) => return Ok(()),
                    Err(e) => return Err(e),
                },
            }
        }
    }

    /// [`remove`](Self::remove) in a background task (for `Drop`), when a runtime is there.
    pub(crate) fn remove_in_background(&self, client: &Client, known: Option<String>) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let this = self.clone();
            let client = client.clone();
            runtime.spawn(async move {
                if let Err(e) = this.remove(&client, known.as_deref()).await {
                    tracing::warn!(error = %e, prefix = %this.prefix, "could not remove a lock node");
                }
            });
        }
    }
}

/// A protected create whose node must not outlive the operation that made it: an acquire or a
/// latch start that fails or is cancelled (its future dropped) must not leave a node that
/// others wait behind. Dropped without [`keep`](Self::keep), it removes the node (known, or
/// found by the prefix) in a background task.
#[derive(Debug)]
pub(crate) struct PendingNode {
    pub(crate) client: Client,
    pub(crate) create: ProtectedCreate,
    /// The node, once the create returned it.
    pub(crate) path: Option<String>,
    keep: bool,
}

impl PendingNode {
    pub(crate) fn new(client: &Client, create: ProtectedCreate) -> Self {
        PendingNode {
            client: client.clone(),
            create,
            path: None,
            keep: false,
        }
    }

    /// The node stays: someone else owns it now.
    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for PendingNode {
    fn drop(&mut self) {
        if !self.keep {
            self.create
                .remove_in_background(&self.client, self.path.take());
        }
    }
}

/// Deletes an ephemeral node until it is gone (Curator's `delete().guaranteed()`): ConnectionLoss
/// is retried once connected again; `NoNode` and the end of the session count as done, since an
/// ephemeral node goes with its session. Other errors (`NoAuth`, ...) are returned.
pub(crate) async fn delete_guaranteed(client: &Client, path: &str) -> Result<()> {
    let mut retries = Retries::until_session_ends(client);
    loop {
        match client.delete(path, None).await {
            Ok(())
            | Err(Error {
                kind: ErrorKind::NoNode,
                ..
            }) => return Ok(()),
            Err(e) => match retries.pause_or_fail(e).await {
                Ok(()) => {}
                Err(Error {
                    kind: ErrorKind::SessionExpired | ErrorKind::Closed | ErrorKind::AuthFailed,
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            },
        }
    }
}

impl ProtectedCreate {
    /// Creates `<dir>/_c_<uuid>-<name>` (plus the sequence for sequential modes) with any
    /// `options`, without making parents (`NoNode` is returned). A retryable error is retried
    /// once connected again, first looking for the node the lost request may have made.
    /// `maybe_applied` ends up telling whether some attempt's fate is unknown, so whoever
    /// gives up knows whether a node may have to be cleaned up.
    pub(crate) async fn create_with_options(
        &self,
        client: &Client,
        data: NodeData,
        options: &CreateOptions,
        maybe_applied: &mut bool,
    ) -> Result<String> {
        let path = join(&self.dir, &format!("{}{}", self.prefix, self.name));
        let mut retries = Retries::new(client);
        loop {
            if *maybe_applied {
                match self.find(client).await {
                    Ok(Some(found)) => return Ok(found),
                    Ok(None) => {}
                    Err(e) => {
                        retries.pause_or_fail(e).await?;
                        continue;
                    }
                }
            }
            match client.create(&path, data.clone(), options).await {
                Ok((created, _stat)) => return Ok(created),
                Err(e) => {
                    *maybe_applied = *maybe_applied || e.is_retryable();
                    retries.pause_or_fail(e).await?;
                }
            }
        }
    }
}

impl Client {
    /// Creates a node in Curator's protected mode (`create().withProtection()`) and returns
    /// its path: the name gets a `_c_<uuid>-` prefix (`/jobs/job-` becomes
    /// `/jobs/_c_<uuid>-job-0000000007` for a sequential mode), so that when the reply is lost
    /// to a connection loss the client can tell whether the create was applied. It then waits
    /// for the connection, lists the parent's children and returns the child carrying its
    /// prefix, or sends the create again if there is none. A sequential or ephemeral node is
    /// thus made exactly once, where a blind retry could leave an orphan behind.
    ///
    /// Any mode, ACL and TTL of `options`; the parent must exist (`NoNode` otherwise). It fails
    /// when the session ends or on an error that is not a connection loss. When it fails (or
    /// its future is dropped) after an attempt whose fate is unknown, any node it made is
    /// deleted in the background, as Curator does.
    ///
    /// (The future is boxed so that it borrows nothing, whatever `data` is.)
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::CreateOptions;
    /// let member = client
    ///     .create_protected("/members/m-", b"10.0.0.7:8080", &CreateOptions::ephemeral_sequential())
    ///     .await?;
    /// assert!(member.starts_with("/members/_c_"));
    /// # Ok(()) }
    /// ```
    pub fn create_protected(
        &self,
        path: &str,
        data: impl Into<NodeData>,
        options: &CreateOptions,
    ) -> Pin<Box<dyn Future<Output = Result<String>> + Send + 'static>> {
        let data = data.into();
        let create = zk_proto::path::validate_create_path(path, options.mode.is_sequential())
            .map_err(|e| Error::from(ErrorKind::InvalidPath(e.to_string())))
            .and_then(|()| options.validate())
            .map(|()| {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                ProtectedCreate::new(if dir.is_empty() { "/" } else { dir }, name)
            });
        let client = self.clone();
        let options = options.clone();
        Box::pin(async move {
            let create = create?;
            // Removes the node in the background if this future is dropped or fails after an
            // attempt that may have been applied.
            let mut pending = PendingNode::new(&client, create.clone());
            let mut maybe_applied = false;
            let created = create
                .create_with_options(&client, data, &options, &mut maybe_applied)
                .await;
            if created.is_ok() || !maybe_applied {
                pending.keep();
            }
            created
        })
    }

    /// Deletes a node and keeps at it through connection losses (Curator's
    /// `delete().guaranteed()`): after a connection loss it waits for the connection and
    /// sends the delete again, until it is applied or the node is found gone. The first
    /// delete is queued now, in call order; the retries run in a background task, so the
    /// returned future can be awaited for the outcome or dropped.
    ///
    /// Resolves to `Ok(())` once the node is deleted, or found missing after a lost reply
    /// (the lost delete, or someone else, removed it). Other errors end it as they come:
    /// `NoNode` if the node did not exist when the first delete arrived, `BadVersion`,
    /// `NotEmpty`, `NoAuth`, and the end of the session (`SessionExpired`, `Closed`), which
    /// leaves a persistent node in place. Until it ends, the task keeps the session open.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// // Fire and forget: deleted as soon as the server can be reached.
    /// drop(client.delete_guaranteed("/workers/w-17", None));
    /// // Or wait for it.
    /// client.delete_guaranteed("/tmp/scratch", Some(3)).await?;
    /// # Ok(()) }
    /// ```
    pub fn delete_guaranteed(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let first = self.delete(path, version);
        let client = self.clone();
        let path = path.to_owned();
        let work = async move {
            let mut attempt = first.await;
            let mut retried = false;
            let mut retries = Retries::until_session_ends(&client);
            loop {
                match attempt {
                    Ok(()) => return Ok(()),
                    Err(Error {
                        kind: ErrorKind::NoNode,
                        ..
                    }) if retried => return Ok(()),
                    Err(e) => retries.pause_or_fail(e).await?,
                }
                retried = true;
                attempt = client.delete(&path, version).await;
            }
        };
        // Outside a runtime there is nothing to run a task on: the caller's future does it.
        let spawned = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Ok(runtime.spawn(work)),
            Err(_) => Err(work),
        };
        async move {
            match spawned {
                Ok(task) => task.await.unwrap_or(Err(ErrorKind::Closed.into())),
                Err(work) => work.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prefix_has_curators_shape() {
        let prefix = new_protected_prefix();
        // _c_ + 36-char canonical UUID + '-' (ProtectedUtils.PROTECTED_PREFIX_WITH_UUID_LENGTH).
        assert_eq!(prefix.len(), 3 + 36 + 1, "{prefix}");
        assert!(
            prefix.starts_with("_c_") && prefix.ends_with('-'),
            "{prefix}"
        );
        let uuid = &prefix[3..39];
        // What Java's UUID.fromString (ProtectedUtils.isProtectedZNode) accepts, as
        // UUID.toString prints it: lower-case hex in 8-4-4-4-12 groups, version 4.
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{uuid}"
        );
        assert!(
            uuid.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{uuid}"
        );
        assert_eq!(&groups[2][..1], "4", "version 4: {uuid}");
        assert!("89ab".contains(&groups[3][..1]), "IETF variant: {uuid}");
        assert_ne!(
            prefix,
            new_protected_prefix(),
            "each create gets its own UUID"
        );
    }

    #[test]
    fn own_node_is_found_by_its_prefix_only() {
        let ours = "_c_1b4e28ba-2fa1-11d2-883f-0016d3cca427-";
        let children = names(&[
            "_c_9f0c2a4e-0000-4000-8000-000000000001-lock-0000000000",
            "_c_1b4e28ba-2fa1-11d2-883f-0016d3cca427-lock-0000000001",
            "3fa2c6__lock__0000000002",
        ]);
        assert_eq!(
            find_own_node(&children, ours),
            Some("_c_1b4e28ba-2fa1-11d2-883f-0016d3cca427-lock-0000000001")
        );
        // Another contender's node, or none at all: the create must be sent (again).
        assert_eq!(
            find_own_node(&children[..1], ours),
            None,
            "someone else's node is not ours"
        );
        assert_eq!(find_own_node(&[], ours), None);
        // The UUID has to match in full, not just start the same way.
        assert_eq!(
            find_own_node(
                &names(&["_c_1b4e28ba-2fa1-11d2-883f-0016d3cca42-lock-0000000003"]),
                ours
            ),
            None
        );
    }

    #[test]
    fn sorting_uses_the_text_after_the_last_lock_name() {
        assert_eq!(
            fix_for_sorting("_c_u-lock-0000000007", "lock-"),
            "0000000007"
        );
        // The last occurrence counts (a participant id or UUID may contain the name).
        assert_eq!(
            fix_for_sorting("lock-_c_u-lock-0000000003", "lock-"),
            "0000000003"
        );
        // No lock name: the whole name is the key (so foreign names sort by their full text).
        assert_eq!(
            fix_for_sorting("abc__lock__0000000001", "lock-"),
            "abc__lock__0000000001"
        );
        assert_eq!(fix_for_sorting("x-lock-", "lock-"), "");

        let mut children = names(&[
            "_c_b-lock-0000000002",
            "_c_a-lock-0000000010",
            "_c_c-lock-0000000001",
        ]);
        sort_children(&mut children, "lock-");
        assert_eq!(
            children,
            names(&[
                "_c_c-lock-0000000001",
                "_c_b-lock-0000000002",
                "_c_a-lock-0000000010"
            ])
        );
    }

    #[test]
    fn paths_join_under_the_root_and_elsewhere() {
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/locks/x", "a"), "/locks/x/a");
        assert_eq!(
            node_name("/locks/x/_c_u-lock-0000000001"),
            "_c_u-lock-0000000001"
        );
    }
}
