//! Path helpers on [`Client`]: `mkdir -p` ([`Client::create_all`], [`Client::ensure_path`])
//! and [`Client::wait_connected`], what Curator's `creatingParentsIfNeeded` and kazoo's
//! `ensure_path` give their users.

use crate::{Client, CreateMode, CreateOptions, Error, ErrorKind, NodeData, Result, Stat};

/// How [`Client::create_all`] creates the missing ancestors of a node: empty, open ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parents {
    /// Persistent nodes (Curator's `creatingParentsIfNeeded`, kazoo's `makepath=True`).
    Persistent,
    /// Containers, which the server deletes once their last child is gone (Curator's
    /// `creatingParentContainersIfNeeded`).
    Container,
}

/// How often a create is tried again when an ancestor it just made was deleted under it (a
/// container emptied by someone else, say).
const CREATE_ATTEMPTS: usize = 5;

impl Client {
    /// Creates `path` like [`Client::create`], first creating its missing ancestors as
    /// `parents` says (all of them pipelined, top down; ancestors that exist are fine).
    /// `NodeExists` for `path` itself is returned as is.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// use zk_client::{CreateOptions, Parents};
    /// let (path, _stat) = client
    ///     .create_all("/services/billing/members/m-", b"10.0.0.7:8080",
    ///         &CreateOptions::ephemeral_sequential(), Parents::Container)
    ///     .await?;
    /// assert!(path.starts_with("/services/billing/members/m-"));
    /// # Ok(()) }
    /// ```
    pub async fn create_all(
        &self,
        path: &str,
        data: impl Into<NodeData>,
        options: &CreateOptions,
        parents: Parents,
    ) -> Result<(String, Stat)> {
        let data = data.into();
        let mut result = Err(ErrorKind::NoNode.into());
        for _ in 0..CREATE_ATTEMPTS {
            result = self.create(path, data.clone(), options).await;
            if !matches!(&result, Err(e) if *e == ErrorKind::NoNode) {
                return result;
            }
            self.create_ancestors(path, parents).await?;
        }
        result
    }

    /// Makes sure `path` exists: creates it and its missing ancestors as empty persistent
    /// nodes with an open ACL; an existing node is fine (kazoo's `ensure_path`).
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// client.ensure_path("/app/config").await?;
    /// assert!(client.exists("/app/config").await?.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        match self
            .create_all(path, &[], &CreateOptions::persistent(), Parents::Persistent)
            .await
        {
            Ok(_)
            | Err(Error {
                kind: ErrorKind::NodeExists,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits until the client is connected; fails with the session's final error
    /// (`SessionExpired`, `Closed`, `AuthFailed`) if it ends instead.
    ///
    /// ```no_run
    /// # async fn demo(client: zk_client::Client) -> zk_client::Result<()> {
    /// client.wait_connected().await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_connected(&self) -> Result<()> {
        crate::recipes::protected::wait_connected(self).await
    }

    /// Creates every missing ancestor of `path` (not `path` itself), top down, as Curator's
    /// `ZKPaths.mkdirs`: each is looked up first and only a missing one is created, since a
    /// create of a node that exists is answered NoAuth, not NodeExists, when its parent denies
    /// CREATE. The lookups are pipelined, then the creates; losing a race is fine.
    pub(crate) async fn create_ancestors(&self, path: &str, parents: Parents) -> Result<()> {
        let options = CreateOptions::new(match parents {
            Parents::Persistent => CreateMode::Persistent,
            Parents::Container => CreateMode::Container,
        });
        let ancestors: Vec<&str> = path
            .match_indices('/')
            .skip(1)
            .map(|(slash, _)| &path[..slash])
            .collect();
        let lookups: Vec<_> = ancestors.iter().map(|a| self.exists(a)).collect();
        let mut missing = Vec::new();
        for (ancestor, lookup) in ancestors.iter().zip(lookups) {
            if lookup.await?.is_none() {
                missing.push(*ancestor);
            }
        }
        let creates: Vec<_> = missing
            .iter()
            .map(|a| self.create(a, &[], &options))
            .collect();
        for create in creates {
            match create.await {
                Ok(_)
                | Err(Error {
                    kind: ErrorKind::NodeExists,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
