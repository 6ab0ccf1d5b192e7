//! SASL on the client port, as Java 3.8 does it: a client sends `sasl` (102) requests whose
//! tokens run a DIGEST-MD5 exchange ([`digest_md5`]) against the users of the `Server`
//! section of the JAAS file ([`jaas`]) named by `-Djava.security.auth.login.config`
//! (`org.apache.zookeeper.server.auth.DigestLoginModule` with `user_NAME="password"` options).
//! A client that completes it gets the id `sasl:NAME` (and `super` when NAME is a
//! `zookeeper.superUser`); one that fails gets AUTHFAILED and its connection is closed.
//!
//! [`SaslConfig::load`] reads the settings once at startup; a JAAS file that does not parse
//! stops startup with its name and line. The exchange itself is pure; the core keeps one per
//! connection.

pub mod digest_md5;
pub mod jaas;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;

/// The users a DIGEST-MD5 exchange checks passwords against, and how their names become
/// authorization ids (Java's `SaslServerCallbackHandler`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    passwords: HashMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password of user `super`
    /// (who must still be listed in the JAAS section).
    super_password: Option<String>,
    /// `zookeeper.kerberos.removeHostFromPrincipal`.
    remove_host: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal`.
    remove_realm: bool,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passwords.
        let mut users: Vec<&String> = self.passwords.keys().collect();
        users.sort();
        f.debug_struct("Accounts").field("users", &users).finish()
    }
}

impl Accounts {
    /// Accounts with these users and passwords and Java's default settings.
    pub fn new(users: impl IntoIterator<Item = (String, String)>) -> Accounts {
        Accounts {
            passwords: users.into_iter().collect(),
            ..Accounts::default()
        }
    }

    /// The users of a JAAS section: every `user_NAME` option of every module in it.
    pub fn from_section(modules: &[jaas::LoginModule]) -> Accounts {
        Accounts::new(modules.iter().flat_map(|m| {
            m.options.iter().filter_map(|(k, v)| {
                k.strip_prefix("user_")
                    .map(|name| (name.to_owned(), v.clone()))
            })
        }))
    }

    /// The user names, sorted (for a startup log line).
    pub fn users(&self) -> Vec<&str> {
        let mut users: Vec<&str> = self.passwords.keys().map(String::as_str).collect();
        users.sort_unstable();
        users
    }

    /// The password a user must prove, if the user exists.
    pub fn password(&self, user: &str) -> Option<&str> {
        let listed = self.passwords.get(user)?;
        match &self.super_password {
            Some(p) if user == "super" => Some(p),
            _ => Some(listed),
        }
    }

    /// The authorization id of an authenticated user. Java parses the name as a Kerberos
    /// principal (`name[/host]@realm`): a plain name stays as it is; one with an empty realm
    /// (the default realm without krb5.conf) keeps its host and realm unless the
    /// `zookeeper.kerberos.remove*FromPrincipal` settings drop them; one whose realm no rule
    /// maps falls back to the authzid the client asked for; a malformed one fails.
    pub fn authorized_id(&self, user: &str, authzid: Option<&str>) -> Result<String, String> {
        if !user.contains('@') {
            return Ok(user.to_owned());
        }
        let Some((service, host, realm)) = kerberos_parts(user) else {
            return Err(format!("Malformed Kerberos name: {user}"));
        };
        if !realm.is_empty() {
            return Ok(authzid.unwrap_or(user).to_owned());
        }
        let mut name = service.to_owned();
        if let Some(host) = host.filter(|_| !self.remove_host) {
            name.push('/');
            name.push_str(host);
        }
        if !self.remove_realm {
            name.push('@');
        }
        Ok(name)
    }
}

/// `service[/host]@realm` as Java's `KerberosName` pattern `([^/@]*)(/([^/@]*))?@([^/@]*)`.
fn kerberos_parts(name: &str) -> Option<(&str, Option<&str>, &str)> {
    let (principal, realm) = name.split_once('@')?;
    if realm.contains(['/', '@']) {
        return None;
    }
    match principal.split_once('/') {
        None => Some((principal, None, realm)),
        Some((_, host)) if host.contains('/') => None,
        Some((service, host)) => Some((service, Some(host), realm)),
    }
}

/// Whether an id is valid for the `sasl` scheme (Java's `SASLAuthenticationProvider.isValid`:
/// `KerberosName` accepts it).
pub fn is_valid_id(id: &str) -> bool {
    !id.contains('@') || kerberos_parts(id).is_some()
}

/// What the core needs to answer `sasl` requests and enforce authentication.
#[derive(Debug, Clone, Default)]
pub struct SaslConfig {
    /// The DIGEST-MD5 users; `None` when no JAAS `Server` section is configured, and then a
    /// `sasl` request is answered OK with no token, as Java answers it without a login.
    pub accounts: Option<Arc<Accounts>>,
    /// `zookeeper.superUser` (and `zookeeper.superUser.*`): authorization ids that are super.
    pub super_users: Vec<String>,
    /// `zookeeper.allowSaslFailedClients`: a failed exchange keeps its connection.
    pub allow_failed_clients: bool,
    /// `zookeeper.enforce.auth.enabled` with `zookeeper.enforce.auth.schemes` (or
    /// `zookeeper.sessionRequireClientSASLAuth`): requests of a connection without an id of
    /// one of these schemes are refused with SESSIONCLOSEDREQUIRESASLAUTH.
    pub enforce_schemes: Option<Vec<String>>,
}

impl SaslConfig {
    /// Reads the SASL settings: the JAAS file's `Server` section (or the section
    /// `zookeeper.sasl.serverconfig` names) and the properties above. Errors say what to fix:
    /// a JAAS file that cannot be read or parsed (with its line), or an enforced scheme with
    /// no provider.
    pub fn load(cfg: &Config) -> Result<SaslConfig, String> {
        let mut sasl = SaslConfig {
            super_users: cfg.sasl_super_users(),
            allow_failed_clients: cfg.allow_sasl_failed_clients(),
            enforce_schemes: cfg.enforce_auth_schemes(),
            accounts: None,
        };
        if let Some(schemes) = &sasl.enforce_schemes {
            if schemes.is_empty() {
                return Err("zookeeper.enforce.auth.enabled is true zookeeper.enforce.auth.schemes must be  configured.".to_owned());
            }
            let providers = cfg.auth_provider_schemes();
            for scheme in schemes {
                let known = matches!(scheme.as_str(), "ip" | "digest")
                    || providers.iter().any(|p| p == scheme);
                if !known {
                    return Err(format!("Authentication scheme {scheme} is not available."));
                }
            }
        }
        let Some(file) = cfg.jaas_config_file() else {
            return Ok(sasl);
        };
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the JAAS configuration {file}: {e}"))?;
        let lookup = |name: &str| jaas_property(cfg, name);
        let jaas = jaas::JaasConfig::parse(&text, file, &lookup)
            .map_err(|e| format!("invalid JAAS configuration {e}"))?;
        let section = cfg.sasl_server_section();
        // Java serves without SASL when the section is missing, whether or not it was named.
        if let Some(modules) = jaas.section(section) {
            let mut accounts = Accounts::from_section(modules);
            accounts.super_password = cfg.sasl_super_password().map(str::to_owned);
            accounts.remove_host = cfg.kerberos_remove_host_from_principal();
            accounts.remove_realm = cfg.kerberos_remove_realm_from_principal();
            for m in modules {
                if m.class != "org.apache.zookeeper.server.auth.DigestLoginModule" {
                    tracing::warn!(section, module = %m.class, "only DigestLoginModule is supported: this login module is ignored (its user_ options still count)");
                }
            }
            sasl.accounts = Some(Arc::new(accounts));
        }
        Ok(sasl)
    }

    /// Whether an authorization id is a `zookeeper.superUser`.
    pub fn is_super_user(&self, id: &str) -> bool {
        !id.is_empty() && self.super_users.iter().any(|s| s == id)
    }
}

/// A `${name}` in a JAAS file: the server's system properties, then the Java ones that
/// matter for paths.
fn jaas_property(cfg: &Config, name: &str) -> Option<String> {
    if let Some(v) = cfg.property(name) {
        return Some(v.to_owned());
    }
    match name {
        "user.home" => std::env::var("HOME").ok(),
        "user.name" => std::env::var("USER").ok(),
        "user.dir" => std::env::current_dir()
            .ok()
            .map(|d| d.display().to_string()),
        "file.separator" => Some("/".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(flags: &str) -> Config {
        Config::parse("dataDir=/d\n", flags).unwrap()
    }

    #[test]
    fn principal_names_as_java_maps_them() {
        let a = Accounts::new([]);
        assert_eq!(a.authorized_id("alice", None).unwrap(), "alice");
        assert_eq!(a.authorized_id("a/b", Some("x")).unwrap(), "a/b");
        assert_eq!(a.authorized_id("zk/host@", None).unwrap(), "zk/host@");
        assert_eq!(
            a.authorized_id("bob@EXAMPLE.COM", Some("carol")).unwrap(),
            "carol"
        );
        assert_eq!(
            a.authorized_id("bob@EXAMPLE.COM", None).unwrap(),
            "bob@EXAMPLE.COM"
        );
        assert!(a.authorized_id("a@b@c", None).is_err());
        let trimmed = Accounts {
            remove_host: true,
            remove_realm: true,
            ..Accounts::default()
        };
        assert_eq!(trimmed.authorized_id("zk/host@", None).unwrap(), "zk");
        assert!(is_valid_id("alice") && is_valid_id("a/b/c") && is_valid_id("x/y@R"));
        assert!(!is_valid_id("a@b@c") && !is_valid_id("a/b/c@R"));
    }

    #[test]
    fn super_password_overrides_only_a_listed_super() {
        let mut a = Accounts::new([("super".to_owned(), "jaas".to_owned())]);
        a.super_password = Some("prop".to_owned());
        assert_eq!(a.password("super"), Some("prop"));
        let mut b = Accounts::new([]);
        b.super_password = Some("prop".to_owned());
        assert_eq!(b.password("super"), None);
    }

    #[test]
    fn loads_the_server_section_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.conf");
        std::fs::write(
            &good,
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_alice=\"a\" user_bob=\"b\"; };\nOther { x.Y required user_eve=\"e\"; };\n",
        )
        .unwrap();
        let flags = format!(
            "-Djava.security.auth.login.config={} -Dzookeeper.superUser=alice -Dzookeeper.superUser.2=bob",
            good.display()
        );
        let sasl = SaslConfig::load(&cfg(&flags)).unwrap();
        assert_eq!(sasl.accounts.as_ref().unwrap().users(), ["alice", "bob"]);
        assert!(sasl.is_super_user("alice") && sasl.is_super_user("bob"));
        let other = SaslConfig::load(&cfg(&format!(
            "{flags} -Dzookeeper.sasl.serverconfig=Other"
        )))
        .unwrap();
        assert_eq!(other.accounts.unwrap().users(), ["eve"]);
        let missing =
            SaslConfig::load(&cfg(&format!("{flags} -Dzookeeper.sasl.serverconfig=Nope"))).unwrap();
        assert!(missing.accounts.is_none());

        let bad = dir.path().join("bad.conf");
        std::fs::write(
            &bad,
            "Server {\n  org.x.D required\n  user_a=\"x\"\n  user_b;\n};\n",
        )
        .unwrap();
        let err = SaslConfig::load(&cfg(&format!(
            "-Djava.security.auth.login.config={}",
            bad.display()
        )))
        .unwrap_err();
        assert!(
            err.contains(&format!("{}:4: expected [=], found [;]", bad.display())),
            "{err}"
        );
        let err = SaslConfig::load(&cfg(
            "-Djava.security.auth.login.config=/nonexistent/j.conf",
        ))
        .unwrap_err();
        assert!(err.contains("/nonexistent/j.conf"), "{err}");
    }

    #[test]
    fn the_sasl_provider_comes_from_zoo_cfg_or_flags() {
        let provider = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider";
        let from_cfg =
            Config::parse(&format!("dataDir=/d\nauthProvider.1={provider}\n"), "").unwrap();
        assert!(crate::acl::Providers::from_config(&from_cfg).sasl.is_some());
        let from_flag = cfg(&format!(
            "-Dzookeeper.authProvider.sasl={provider} -Dzookeeper.letAnySaslUserDoX=anyone"
        ));
        let providers = crate::acl::Providers::from_config(&from_flag);
        assert_eq!(
            providers.sasl.unwrap().let_any_user_do_x.as_deref(),
            Some("anyone")
        );
        assert!(crate::acl::Providers::from_config(&cfg("")).sasl.is_none());
    }

    #[test]
    fn enforcement_needs_schemes_with_providers() {
        let err = SaslConfig::load(&cfg("-Dzookeeper.enforce.auth.enabled=true")).unwrap_err();
        assert!(err.contains("zookeeper.enforce.auth.schemes"), "{err}");
        let err =
            SaslConfig::load(&cfg("-Dzookeeper.sessionRequireClientSASLAuth=true")).unwrap_err();
        assert_eq!(err, "Authentication scheme sasl is not available.");
        let ok = SaslConfig::load(&cfg("-Dzookeeper.sessionRequireClientSASLAuth=true -Dzookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider")).unwrap();
        assert_eq!(ok.enforce_schemes, Some(vec!["sasl".to_owned()]));
        let ok = SaslConfig::load(&cfg(
            "-Dzookeeper.enforce.auth.enabled=true -Dzookeeper.enforce.auth.schemes=digest,ip",
        ))
        .unwrap();
        assert_eq!(
            ok.enforce_schemes,
            Some(vec!["digest".to_owned(), "ip".to_owned()])
        );
    }
}
