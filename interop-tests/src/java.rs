//! Finding `java`, `javac` and the ZooKeeper/Curator jars.

use crate::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where Debian puts library jars.
const DEBIAN_JARS_DIR: &str = "/usr/share/java";

/// Jars a ZooKeeper server needs. Debian's `zookeeper.jar` lists its own dependencies (netty,
/// jetty, jackson, metrics, snappy, slf4j-api, ...) in its manifest `Class-Path`, so only the
/// entry points and a logging binding go on the command line. `slf4j-simple` writes the server
/// log to stderr, which the harness captures.
/// Debian's manifest leaves out `netty-codec` and `netty-resolver`, which the Netty connection
/// factory and client socket (TLS) need, and the servlet API (`libservlet-api-java`, pulled in
/// by jetty9) that the AdminServer's Jetty needs.
const SERVER_JARS: &[&str] = &[
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "slf4j-simple.jar",
    "netty-codec.jar",
    "netty-resolver.jar",
    "servlet-api.jar",
];

/// Extra jars for drivers: Curator (its manifests pull in guava and the rest).
const CLIENT_JARS: &[&str] = &[
    "curator-client.jar",
    "curator-framework.jar",
    "curator-recipes.jar",
];

/// The Java installation the harness runs: binaries and classpaths.
///
/// Resolution, first match wins:
///
/// - binaries: `$ZK_JAVA_HOME/bin/{java,javac}`, then `$JAVA_HOME/bin/{java,javac}`, then
///   `java`/`javac` on `PATH`;
/// - classpath: `$ZK_JAVA_CLASSPATH` verbatim (used for servers and drivers alike; it must hold
///   ZooKeeper, zookeeper-jute, Curator and an slf4j binding, and may use `dir/*` entries), else
///   the Debian jars in `$ZK_JARS_DIR` (default `/usr/share/java`): `zookeeper.jar`,
///   `zookeeper-jute.jar` and `slf4j-simple.jar` for the server, plus `curator-client.jar`,
///   `curator-framework.jar` and `curator-recipes.jar` for drivers.
///
/// This mirrors how Debian's `/usr/share/zookeeper/bin/zkEnv.sh` starts the server (`CLASSPATH`
/// = config dir + `/usr/share/java/zookeeper.jar`, the rest via the jar manifest), with
/// `slf4j-simple` instead of Debian's log4j file appender so the log lands in our capture.
#[derive(Debug, Clone)]
pub struct JavaEnv {
    /// The `java` launcher.
    pub java: PathBuf,
    /// The `javac` compiler.
    pub javac: PathBuf,
    /// Classpath for the ZooKeeper server.
    pub server_classpath: OsString,
    /// Classpath for drivers: the ZooKeeper client and Curator.
    pub client_classpath: OsString,
}

impl JavaEnv {
    /// The environment, discovered once per process (see the type docs); an
    /// [`Error::Missing`] says what is missing and to run `scripts/test.sh`.
    pub fn get() -> Result<&'static JavaEnv> {
        static ENV: OnceLock<std::result::Result<JavaEnv, (String, String)>> = OnceLock::new();
        match ENV.get_or_init(|| JavaEnv::discover().map_err(split_missing)) {
            Ok(env) => Ok(env),
            Err((what, detail)) => Err(Error::Missing {
                what: what.clone(),
                detail: detail.clone(),
            }),
        }
    }

    /// Discovers the environment without caching.
    pub fn discover() -> Result<JavaEnv> {
        JavaEnv::discover_with(&|name| std::env::var_os(name))
    }

    /// Discovers the environment reading variables through `var` (tests pass a fake).
    fn discover_with(var: &dyn Fn(&str) -> Option<OsString>) -> Result<JavaEnv> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let java = find_binary("java", &var)?;
        let javac = find_binary("javac", &var)?;
        let (server_classpath, client_classpath) = match var("ZK_JAVA_CLASSPATH") {
            Some(cp) => (cp.clone(), cp),
            None => {
                let dir = var("ZK_JARS_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(DEBIAN_JARS_DIR));
                let server = jars_in(&dir, SERVER_JARS)?;
                let client = jars_in(&dir, CLIENT_JARS)?;
                let mut all = server.clone();
                all.extend(client);
                (join_paths(&server)?, join_paths(&all)?)
            }
        };
        Ok(JavaEnv {
            java,
            javac,
            server_classpath,
            client_classpath,
        })
    }
}

fn split_missing(e: Error) -> (String, String) {
    match e {
        Error::Missing { what, detail } => (what, detail),
        other => ("Java environment".to_owned(), other.to_string()),
    }
}

/// `bin/<name>` under `ZK_JAVA_HOME` or `JAVA_HOME`, else `<name>` on `PATH`.
fn find_binary(name: &str, var: &dyn Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
    for home_var in ["ZK_JAVA_HOME", "JAVA_HOME"] {
        if let Some(home) = var(home_var) {
            let candidate = Path::new(&home).join("bin").join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            return Err(Error::Missing {
                what: format!("`{name}`"),
                detail: format!(
                    "{home_var}={} has no bin/{name}",
                    Path::new(&home).display()
                ),
            });
        }
    }
    let path = var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::Missing {
            what: format!("`{name}`"),
            detail: "not on PATH and neither ZK_JAVA_HOME nor JAVA_HOME is set".to_owned(),
        })
}

fn jars_in(dir: &Path, names: &[&str]) -> Result<Vec<PathBuf>> {
    let mut jars = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for name in names {
        let jar = dir.join(name);
        if jar.is_file() {
            jars.push(jar);
        } else {
            missing.push(*name);
        }
    }
    if !missing.is_empty() {
        return Err(Error::Missing {
            what: format!("jar(s) {}", missing.join(", ")),
            detail: format!(
                "looked in {} (set ZK_JARS_DIR or ZK_JAVA_CLASSPATH to override)",
                dir.display()
            ),
        });
    }
    Ok(jars)
}

fn join_paths(paths: &[PathBuf]) -> Result<OsString> {
    std::env::join_paths(paths).map_err(|e| Error::Missing {
        what: "a usable classpath".to_owned(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn discover(vars: &[(&str, &str)]) -> Result<JavaEnv> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        JavaEnv::discover_with(&|name| vars.get(name).cloned())
    }

    #[test]
    fn missing_java_says_to_run_the_test_script() {
        let err = discover(&[("PATH", "/nonexistent")]).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("`java`") && text.contains("scripts/test.sh"),
            "{text}"
        );
    }

    #[test]
    fn bad_java_home_is_named() {
        let err = discover(&[("JAVA_HOME", "/nonexistent/jdk")]).unwrap_err();
        assert!(
            err.to_string().contains("JAVA_HOME=/nonexistent/jdk"),
            "{err}"
        );
    }

    #[test]
    fn missing_jars_are_listed() {
        let Ok(java) = discover(&[("PATH", "/usr/bin:/bin")]).map(|e| e.java) else {
            return; // No JDK here: covered by the test above.
        };
        let home = java
            .parent()
            .and_then(Path::parent)
            .expect("bin/java has a home");
        let home = home.to_str().expect("UTF-8 path");
        let err =
            discover(&[("ZK_JAVA_HOME", home), ("ZK_JARS_DIR", "/nonexistent/jars")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("zookeeper.jar") && text.contains("/nonexistent/jars"),
            "{text}"
        );
    }

    #[test]
    fn explicit_classpath_skips_jar_discovery() {
        let Ok(found) = discover(&[("PATH", "/usr/bin:/bin")]) else {
            return;
        };
        let home = found.java.parent().and_then(Path::parent).expect("home");
        let env = discover(&[
            ("ZK_JAVA_HOME", home.to_str().expect("UTF-8 path")),
            ("ZK_JARS_DIR", "/nonexistent/jars"),
            ("ZK_JAVA_CLASSPATH", "/opt/zk/lib/*"),
        ])
        .unwrap();
        assert_eq!(env.server_classpath, "/opt/zk/lib/*");
        assert_eq!(env.client_classpath, "/opt/zk/lib/*");
    }
}
