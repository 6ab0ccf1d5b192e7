//! Shared helpers of the zk-rs command-line tools (zkcli, zk-bench).

/// The zk-bench load generator.
pub mod bench;

/// zkcli: the commands of zkCli.sh, one-shot or as a shell.
pub mod cli;

/// A `-Dname=value` argument as `(name, value)` (`-Dname` alone has an empty value), as a JVM
/// reads it; `None` for any other argument.
///
/// ```
/// use zk_tools::java_property;
/// assert_eq!(java_property("-Da=b=c"), Some(("a".into(), "b=c".into())));
/// assert_eq!(java_property("-Dflag"), Some(("flag".into(), String::new())));
/// assert_eq!(java_property("-server"), None);
/// ```
pub fn java_property(arg: &str) -> Option<(String, String)> {
    let property = arg.strip_prefix("-D")?;
    let (name, value) = property.split_once('=').unwrap_or((property, ""));
    Some((name.to_owned(), value.to_owned()))
}

/// The Java client's TLS options (`zookeeper.client.secure`, `zookeeper.ssl.*`) from `-D`
/// properties in command-line order: a later one wins, as in a JVM.
pub fn tls_from_java_properties(
    properties: &[(String, String)],
) -> Result<Option<zk_client::TlsOptions>, zk_client::Error> {
    zk_client::TlsOptions::from_java_properties(|name| {
        properties
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}
