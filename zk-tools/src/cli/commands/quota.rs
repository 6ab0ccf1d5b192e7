//! zkCli's quota commands: `setquota`, `listquota`, `delquota`, making the same requests in
//! the same order as ZooKeeper 3.8's `SetQuotaCommand.createQuota`,
//! `ListQuotaCommand.listQuota` and `DelQuotaCommand.delQuota` (so a server sees the same
//! writes and zxids), and printing what they print.

use std::collections::HashSet;

use zk_client::zk_proto::quota::{
    limit_path, quota_path, stat_path, StatsTrack, LIMIT_NODE, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER,
};
use zk_client::{Client, CreateOptions, Error, ErrorKind};

use super::{child_path, visit_subtree, CmdError, CmdResult, CommandSpec, Connection, Io};
use crate::cli::format::check_path;
use crate::cli::opts::Parsed;

/// The quota option letters, in commons-cli's group order.
const QUOTA_OPTIONS: [char; 4] = ['n', 'b', 'N', 'B'];

/// The one option of the `-n|-b|-N|-B` group given (commons-cli's `OptionGroup`: a second,
/// different one is an error; with `required`, so is none).
fn group_option(p: &Parsed, required: bool) -> Result<Option<char>, CmdError> {
    let mut selected = None;
    for name in p.options().filter(|c| QUOTA_OPTIONS.contains(c)) {
        match selected {
            Some(first) if first != name => {
                return Err(CmdError::new(format!(
                    "org.apache.commons.cli.AlreadySelectedException: The option '{name}' was \
                     specified but an option from this group has already been selected: \
                     '{first}'"
                )))
            }
            _ => selected = Some(name),
        }
    }
    if selected.is_none() && required {
        return Err(CmdError::new(
            "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num \
             soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]",
        ));
    }
    Ok(selected)
}

/// The quota to set from `-n|-b|-N|-B val` (`checkOptionValue`): every limit -1 but the one
/// given; node counts are Java ints above zero, byte counts longs of zero or more.
fn requested_limits(option: char, value: &str) -> Result<StatsTrack, CmdError> {
    let mut quota = StatsTrack::new();
    quota.set_count(-1);
    quota.set_bytes(-1);
    quota.set_count_hard_limit(-1);
    quota.set_byte_hard_limit(-1);
    let number_error =
        || CmdError::new("NumberFormatException happens when parsing the option value");
    if option == 'n' || option == 'N' {
        let count = value.parse::<i32>().map_err(|_| number_error())?;
        if count <= 0 {
            return Err(CmdError::new("the num quota must be greater than zero"));
        }
        if option == 'n' {
            quota.set_count(count.into());
        } else {
            quota.set_count_hard_limit(count.into());
        }
    } else {
        let bytes = value.parse::<i64>().map_err(|_| number_error())?;
        if bytes < 0 {
            return Err(CmdError::new(
                "the bytes quota must be greater than or equal to zero",
            ));
        }
        if option == 'b' {
            quota.set_bytes(bytes);
        } else {
            quota.set_byte_hard_limit(bytes);
        }
    }
    Ok(quota)
}

/// A quota node's text; zkCli dies on what Java's `StatsTrack` cannot read.
async fn read_stats(client: &Client, path: &str) -> Result<StatsTrack, Error> {
    let (data, _) = client.get_data(path).await?;
    StatsTrack::parse(Some(&data))
        .map_err(|e| ErrorKind::InvalidArgument(format!("{path}: {e}")).into())
}

/// Maps a client error on `path` to zkCli's message.
fn failed(path: &str) -> impl Fn(Error) -> CmdError + '_ {
    move |e| CmdError::zk(&e, path)
}

fn checked(path: &str) -> Result<&str, CmdError> {
    check_path(path).map_err(CmdError::new)?;
    Ok(path)
}

/// `setquota -n|-b|-N|-B val path`.
pub(super) async fn set_quota(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let option = group_option(p, true)?.expect("required");
    let path = p.arg(1).ok_or_else(|| spec.usage_error())?;
    if path.starts_with(QUOTA_ZOOKEEPER) {
        return Err(CmdError::new(format!(
            "cannot set a quota under the path: {QUOTA_ZOOKEEPER}"
        )));
    }
    let quota = requested_limits(option, p.value(option).unwrap_or_default())?;
    let client = conn.client().await?;
    if client
        .exists(checked(path)?)
        .await
        .map_err(failed(path))?
        .is_none()
    {
        return Err(CmdError::new(format!("{path} does not exist.")));
    }
    check_no_child_quota(&client, path).await?;
    check_no_parent_quota(&client, path).await?;
    create_quota_nodes(&client, path, &quota, io).await
}

/// `checkIfChildQuota`: no node below `path`'s quota node may hold a limits node.
async fn check_no_child_quota(client: &Client, path: &str) -> CmdResult {
    let real = quota_path(path);
    checked(&real)?;
    match client.get_data(&real).await {
        Err(e) if e == ErrorKind::NoNode => return Ok(()),
        Err(e) => return Err(CmdError::zk(&e, &real)),
        Ok(_) => {}
    }
    let mut visited = Vec::new();
    visit_subtree(client, &real, |node| {
        visited.push(node.to_owned());
        Ok(())
    })
    .await?;
    let all: HashSet<&str> = visited.iter().map(String::as_str).collect();
    for node in &visited {
        if *node != real && all.contains(child_path(node, LIMIT_NODE).as_str()) {
            return Err(CmdError::new(format!(
                "{path} has a child {} which has a quota",
                &node[QUOTA_ZOOKEEPER.len()..]
            )));
        }
    }
    Ok(())
}

/// `checkIfParentQuota`: no quota node above `path`'s may hold a limits node.
async fn check_no_parent_quota(client: &Client, path: &str) -> CmdResult {
    let parts: Vec<&str> = path.split('/').collect();
    let own = quota_path(path);
    let mut quota = QUOTA_ZOOKEEPER.to_owned();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        quota = format!("{quota}/{part}");
        let children = match client.get_children(&quota).await {
            Ok(children) => children,
            Err(e) if e == ErrorKind::NoNode => return Ok(()),
            Err(e) => return Err(CmdError::zk(&e, &quota)),
        };
        if children.is_empty() {
            return Ok(());
        }
        if quota != own && children.iter().any(|c| c == LIMIT_NODE) {
            return Err(CmdError::new(format!(
                "{path} has a parent {} which has a quota",
                &quota[QUOTA_ZOOKEEPER.len()..]
            )));
        }
    }
    Ok(())
}

/// Creates `node` unless it exists (NODEEXISTS from a race is fine).
async fn create_if_missing(client: &Client, node: &str) -> CmdResult {
    if client.exists(node).await.map_err(failed(node))?.is_some() {
        return Ok(());
    }
    match client.create(node, b"", &CreateOptions::persistent()).await {
        Ok(_) => Ok(()),
        Err(e) if e == ErrorKind::NodeExists => Ok(()),
        Err(e) => Err(CmdError::zk(&e, node)),
    }
}

/// The rest of `createQuota`: the quota nodes down to `path`'s, then a new limits and stats
/// node, or the existing limits with the new value merged in.
async fn create_quota_nodes(
    client: &Client,
    path: &str,
    quota: &StatsTrack,
    io: &mut Io<'_>,
) -> CmdResult {
    let root = QUOTA_ZOOKEEPER;
    if client.exists(root).await.map_err(failed(root))?.is_none() {
        for node in [PROC_ZOOKEEPER, QUOTA_ZOOKEEPER] {
            match client.create(node, b"", &CreateOptions::persistent()).await {
                Ok(_) => {}
                Err(e) if e == ErrorKind::NodeExists => break,
                Err(e) => return Err(CmdError::zk(&e, node)),
            }
        }
    }
    let mut node = root.to_owned();
    for part in path.split('/').skip(1) {
        node = format!("{node}/{part}");
        create_if_missing(client, &node).await?;
    }
    let (limits_path, stats_path) = (limit_path(path), stat_path(path));
    let read = |node: &str| {
        let node = node.to_owned();
        let client = client.clone();
        async move { read_stats(&client, &node).await.map_err(failed(&node)) }
    };
    let exists = client.exists(&limits_path).await;
    if exists.map_err(failed(&limits_path))?.is_none() {
        let mut zero = StatsTrack::new();
        zero.set_count(0);
        zero.set_bytes(0);
        for (node, track) in [(&limits_path, quota), (&stats_path, &zero)] {
            let text = track.to_string();
            client
                .create(node, text.as_bytes(), &CreateOptions::persistent())
                .await
                .map_err(failed(node))?;
        }
        let limits = read(&limits_path).await?;
        let stats = read(&stats_path).await?;
        return warn_below_usage(&limits, &stats, io);
    }
    let mut limits = read(&limits_path).await?;
    if quota.count() > -1 {
        limits.set_count(quota.count());
    }
    if quota.bytes() > -1 {
        limits.set_bytes(quota.bytes());
    }
    if quota.count_hard_limit() > -1 {
        limits.set_count_hard_limit(quota.count_hard_limit());
    }
    if quota.byte_hard_limit() > -1 {
        limits.set_byte_hard_limit(quota.byte_hard_limit());
    }
    let stats = read(&stats_path).await?;
    warn_below_usage(&limits, &stats, io)?;
    client
        .set_data(&limits_path, limits.to_string().as_bytes(), None)
        .await
        .map_err(failed(&limits_path))?;
    Ok(())
}

/// `SetQuotaCommand.checkQuota`: warns (on stdout) when a limit is already below the usage.
fn warn_below_usage(limits: &StatsTrack, stats: &StatsTrack, io: &mut Io<'_>) -> CmdResult {
    let below =
        |soft: i64, hard: i64, used: i64| (soft > -1 && soft < used) || (hard > -1 && hard < used);
    if below(limits.count(), limits.count_hard_limit(), stats.count()) {
        io.line(&format!(
            "[Warning]: the count quota you create is less than the existing count:{}",
            stats.count()
        ))?;
    }
    if below(limits.bytes(), limits.byte_hard_limit(), stats.bytes()) {
        io.line(&format!(
            "[Warning]: the bytes quota you create is less than the existing bytes:{}",
            stats.bytes()
        ))?;
    }
    Ok(())
}

/// `listquota path`.
pub(super) async fn list_quota(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let path = p.arg(1).ok_or_else(|| spec.usage_error())?;
    let (limits_path, stats_path) = (limit_path(path), stat_path(path));
    io.warn(&format!("absolute path is {limits_path}"));
    let client = conn.client().await?;
    let mut tracks = Vec::new();
    for node in [&limits_path, &stats_path] {
        match read_stats(&client, checked(node)?).await {
            Ok(track) => tracks.push(track),
            Err(e) if e == ErrorKind::NoNode => {
                return Err(CmdError::new(format!("quota for {path} does not exist.")))
            }
            Err(e) => return Err(CmdError::zk(&e, node)),
        }
    }
    io.line(&format!("Output quota for {path} {}", tracks[0]))?;
    io.line(&format!("Output stat for {path} {}", tracks[1]))
}

/// `delquota [-n|-b|-N|-B] path`: with an option, that limit becomes -1; without, the quota
/// nodes go, and the quota tree is trimmed of what is left empty above them.
pub(super) async fn del_quota(
    spec: &CommandSpec,
    p: &Parsed,
    conn: &mut Connection,
    io: &mut Io<'_>,
) -> CmdResult {
    let option = group_option(p, false)?;
    let path = p.arg(1).ok_or_else(|| spec.usage_error())?;
    let client = conn.client().await?;
    let no_quota = || CmdError::new(format!("quota for {path} does not exist."));
    let (parent, limits_path) = (quota_path(path), limit_path(path));
    let exists = client.exists(checked(&limits_path)?).await;
    if exists.map_err(failed(&limits_path))?.is_none() {
        return io.line(&format!("Quota does not exist for {path}"));
    }
    let mut limits = match read_stats(&client, &limits_path).await {
        Err(e) if e == ErrorKind::NoNode => return Err(no_quota()),
        other => other.map_err(failed(&limits_path))?,
    };
    let keep_missing = |e: Error, node: &str| match e.kind() {
        ErrorKind::NoNode => no_quota(),
        _ => CmdError::zk(&e, node),
    };
    match option {
        None => {
            let children = client
                .get_children(&parent)
                .await
                .map_err(|e| keep_missing(e, &parent))?;
            for child in children {
                let node = child_path(&parent, &child);
                client
                    .delete(&node, None)
                    .await
                    .map_err(|e| keep_missing(e, &node))?;
            }
            // trimProcQuotas: up from the quota node while nodes are left empty.
            let mut node = parent;
            while node != QUOTA_ZOOKEEPER {
                let children = client
                    .get_children(&node)
                    .await
                    .map_err(|e| keep_missing(e, &node))?;
                if !children.is_empty() {
                    break;
                }
                client
                    .delete(&node, None)
                    .await
                    .map_err(|e| keep_missing(e, &node))?;
                let cut = node.rfind('/').unwrap_or(0);
                node.truncate(cut);
            }
            Ok(())
        }
        Some(option) => {
            match option {
                'n' => limits.set_count(-1),
                'b' => limits.set_bytes(-1),
                'N' => limits.set_count_hard_limit(-1),
                _ => limits.set_byte_hard_limit(-1),
            }
            client
                .set_data(&limits_path, limits.to_string().as_bytes(), None)
                .await
                .map_err(|e| keep_missing(e, &limits_path))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::opts::parse;

    fn parsed(line: &str, values: bool) -> Parsed {
        let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let specs: Vec<(char, bool)> = QUOTA_OPTIONS.iter().map(|&c| (c, values)).collect();
        parse(&words, &specs).unwrap()
    }

    #[test]
    fn one_option_of_the_group() {
        assert_eq!(
            group_option(&parsed("setquota -n 1 /a", true), true).unwrap(),
            Some('n')
        );
        assert_eq!(
            group_option(&parsed("setquota -n 1 -n 2 /a", true), true).unwrap(),
            Some('n')
        );
        let two = group_option(&parsed("setquota -n 1 -b 2 /a", true), true).unwrap_err();
        assert_eq!(
            two.message,
            "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but \
             an option from this group has already been selected: 'n'"
        );
        let none = group_option(&parsed("setquota /a", true), true).unwrap_err();
        assert!(none.message.contains("MissingOptionException"), "{none:?}");
        assert_eq!(
            group_option(&parsed("delquota /a", false), false).unwrap(),
            None
        );
    }

    #[test]
    fn limits_as_check_option_value_reads_them() {
        assert_eq!(
            requested_limits('n', "3").unwrap().to_string(),
            "count=3,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(
            requested_limits('B', "0").unwrap().to_string(),
            "count=-1,bytes=-1=;byteHardLimit=0;countHardLimit=-1"
        );
        let message = |o, v| requested_limits(o, v).unwrap_err().message;
        assert_eq!(message('n', "0"), "the num quota must be greater than zero");
        assert_eq!(
            message('N', "-1"),
            "the num quota must be greater than zero"
        );
        assert_eq!(
            message('b', "-1"),
            "the bytes quota must be greater than or equal to zero"
        );
        // -n is a Java int, -b a long.
        assert!(message('n', "3000000000").starts_with("NumberFormatException"));
        assert!(requested_limits('b', "3000000000").is_ok());
        assert!(message('b', "x").starts_with("NumberFormatException"));
    }
}
