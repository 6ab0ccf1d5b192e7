//! Tests of `quorum::config`, against files a real Java 3.8 ensemble wrote.

use super::*;

const JAVA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/quorum-config");

fn java_file(name: &str) -> String {
    fs::read_to_string(Path::new(JAVA).join(name)).unwrap()
}

fn parse(
    zoo_cfg: &str,
    dynamic: Option<&str>,
    myid: Option<&str>,
) -> Result<QuorumConfig, ConfigError> {
    let cfg = Config::parse(zoo_cfg, "")?;
    let texts = ConfigTexts {
        zoo_cfg,
        dynamic,
        dynamic_next: None,
        myid,
    };
    QuorumConfig::from_texts(&cfg, &texts)
}

const ENSEMBLE: &str = "tickTime=2000\ndataDir=/d\nclientPort=2181\ninitLimit=10\nsyncLimit=5\n\
    server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n";

#[test]
fn standalone_decision_is_quorum_peer_mains() {
    let base = "tickTime=2000\ndataDir=/d\nclientPort=2181\n";
    assert!(!parse(base, None, None).unwrap().is_distributed());
    let one = format!("{base}server.1=h:1:2\n");
    assert!(!parse(&one, None, Some("1")).unwrap().is_distributed());
    let one_forced = format!("{one}standaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n");
    assert!(parse(&one_forced, None, Some("1"))
        .unwrap()
        .is_distributed());
    let c = parse(ENSEMBLE, None, Some("2\n")).unwrap();
    assert!(c.is_distributed());
    assert_eq!(c.my_id, Some(2));
    assert_eq!(c.verifier.version, 0);
    // An ensemble needs myid, initLimit and syncLimit.
    assert_eq!(
        parse(ENSEMBLE, None, None).unwrap_err().message,
        "myid file is missing"
    );
    let no_init = ENSEMBLE.replace("initLimit=10\n", "");
    assert_eq!(
        parse(&no_init, None, Some("1")).unwrap_err().message,
        "initLimit is not set"
    );
    let no_sync = ENSEMBLE.replace("syncLimit=5\n", "");
    assert_eq!(
        parse(&no_sync, None, Some("1")).unwrap_err().message,
        "syncLimit is not set"
    );
}

#[test]
fn invalid_member_lists_are_refused_as_java() {
    let base = "tickTime=2000\ndataDir=/d\n";
    for (extra, message) in [
        (
            "standaloneEnabled=false\n",
            "standaloneEnabled = false then number of participants should be >0",
        ),
        (
            "server.1=h:1:2:observer\n",
            "Observers w/o participants is an invalid configuration",
        ),
        (
            "server.1=h:1:2\nserver.2=h:3:4:observer\n",
            "Observers w/o quorum is an invalid configuration",
        ),
    ] {
        let err = parse(&format!("{base}{extra}"), None, Some("1")).unwrap_err();
        assert_eq!(err.message, message);
    }
    let err = parse(&format!("{base}group.1=1:2:3\n"), None, None).unwrap_err();
    assert_eq!(err.key, "group.1");
}

#[test]
fn myid_is_read_as_java_reads_it() {
    assert_eq!(parse_myid("3"), Ok(3));
    assert_eq!(parse_myid("3\r\n"), Ok(3));
    assert_eq!(parse_myid("+7\n"), Ok(7));
    assert_eq!(parse_myid("1\n2\n"), Ok(1));
    // Verified against Java 3.8: no trimming; an empty file reads as null.
    for (text, shown) in [
        ("1 \n", "1 "),
        (" 1", " 1"),
        ("\n", ""),
        ("", "null"),
        ("0x1", "0x1"),
    ] {
        let err = parse_myid(text).unwrap_err();
        assert_eq!(err.message, format!("serverid {shown} is not a number"));
    }
    // Even standalone, a bad myid stops startup (as Java).
    assert!(parse("tickTime=2000\ndataDir=/d\n", None, Some("x")).is_err());
}

#[test]
fn client_address_comes_from_the_server_line_and_must_match() {
    let ensemble = ENSEMBLE.replace(
        "server.2=127.0.0.1:2889:3889",
        "server.2=127.0.0.1:2889:3889;127.0.0.1:2182",
    );
    let c = parse(
        &ensemble.replace("clientPort=2181", "clientPort=2182"),
        None,
        Some("2"),
    )
    .unwrap();
    assert_eq!(
        c.client_address,
        Some(ClientAddress {
            host: "127.0.0.1".into(),
            port: 2182
        })
    );
    assert!(c.erase_client_port_from_static());
    let err = parse(&ensemble, None, Some("2")).unwrap_err();
    assert_eq!(err.key, "clientPort");
    let c = parse(ENSEMBLE, None, Some("1")).unwrap();
    assert_eq!(
        c.client_address,
        Some(ClientAddress {
            host: "0.0.0.0".into(),
            port: 2181
        })
    );
    assert!(!c.erase_client_port_from_static());
    // The static address is not printed.
    assert!(c
        .verifier
        .to_config_text()
        .starts_with("server.1=127.0.0.1:2888:3888:participant\n"));
}

#[test]
fn peer_type_settings_and_timeouts() {
    let text = format!("{ENSEMBLE}server.4=127.0.0.1:2891:3891:observer\npeerType=participant\nsyncEnabled=false\ncnxTimeout=700\nconnectToLearnerMasterLimit=3\n");
    let c = parse(&text, None, Some("4")).unwrap();
    assert_eq!(c.peer_type, PeerType::Observer);
    assert!(!c.sync_enabled);
    assert_eq!((c.cnx_timeout_ms, c.election_alg), (700, 3));
    assert_eq!((c.init_limit_ms(), c.sync_limit_ms()), (20_000, 10_000));
    assert_eq!(c.connect_to_leader_timeout_ms(), 6_000);
    let c = parse(ENSEMBLE, None, Some("1")).unwrap();
    assert_eq!(
        (c.peer_type, c.cnx_timeout_ms),
        (PeerType::Participant, 5000)
    );
    assert_eq!(c.connect_to_leader_timeout_ms(), 20_000);
    assert!(Config::parse("dataDir=/d\nelectionAlg=2\n", "").is_err());
}

#[test]
fn dynamic_file_names_and_versions() {
    assert_eq!(
        version_from_filename("/c/zoo.cfg.dynamic.100000000"),
        Some(0x1_0000_0000)
    );
    assert_eq!(version_from_filename("zoo.cfg.dynamic.0"), Some(0));
    assert_eq!(version_from_filename("zoo.cfg.dynamic"), None);
    assert_eq!(
        dynamic_config_filename(Path::new("/c/zoo.cfg"), 0x2_0000_0003),
        PathBuf::from("/c/zoo.cfg.dynamic.200000003")
    );
    assert_eq!(
        next_dynamic_config_filename(Path::new("/c/zoo.cfg")),
        PathBuf::from("/c/zoo.cfg.dynamic.next")
    );
    let err = parse_dynamic_file("d.1", "server.1=h:1:2\nversion=1", false).unwrap_err();
    assert_eq!(err.message, "dynamic file shouldn't have version inside");
    let err = parse_dynamic_file("d.1", "server.1=h:1:2\ntickTime=1", false).unwrap_err();
    assert_eq!(err.message, "Unrecognised parameter: tickTime");
    assert_eq!(
        parse_dynamic_file("zoo.cfg.dynamic", "server.1=h:1:2", false)
            .unwrap()
            .version,
        0
    );
}

/// The files Java 3.8 wrote for sid 1 of a real ensemble (see tests/data/quorum-config).
#[test]
fn java_ensemble_files_parse_and_round_trip_byte_for_byte() {
    let dynamic_name = "/tmp/qcfg/run2/s1/zoo.cfg.dynamic.100000000";
    let dynamic = java_file("zoo.cfg.dynamic.100000000");
    let zookeeper_config = java_file("zookeeper-config");
    let myid = java_file("myid");

    // The dynamic layout Java left behind.
    let c = parse(&java_file("zoo.cfg"), Some(&dynamic), Some(&myid)).unwrap();
    assert_eq!(c.my_id, Some(1));
    assert!(c.is_distributed() && !c.static_layout);
    assert_eq!(c.verifier.version, 0x1_0000_0000);
    assert_eq!(c.verifier.to_config_text(), zookeeper_config);
    assert_eq!(c.verifier.dynamic_file_text(false), dynamic);
    assert_eq!(
        c.client_address,
        Some(ClientAddress {
            host: "127.0.0.1".into(),
            port: 55253
        })
    );
    assert_eq!(
        c.verifier
            .observing_members()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [16]
    );

    // The static layout it started from: the same members, version 0 until committed.
    let orig = java_file("zoo.cfg.orig");
    let s = parse(&orig, None, Some(&myid)).unwrap();
    assert!(s.static_layout);
    // Before the commit Java holds the members in zoo.cfg's Properties order (printed by
    // Java 17 for this file: 16, 17, 1, 34); the leader's commit re-reads the text.
    let order = |qv: &QuorumMaj| qv.members().iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(order(&s.verifier), [16, 17, 1, 34]);
    let committed = s.verifier.with_version(0x1_0000_0000);
    assert_eq!(order(&committed), [16, 1, 17, 34]);
    assert_eq!(committed.to_config_text(), zookeeper_config);
    assert_eq!(committed.dynamic_file_text(false), dynamic);
    assert_eq!(
        edit_static_config(&orig, dynamic_name, s.erase_client_port_from_static()),
        java_file("zoo.cfg")
    );

    // Sid 34 has no client part in its line: clientPort stays in its zoo.cfg.
    let orig34 = java_file("sid34-zoo.cfg.orig");
    let s34 = parse(&orig34, None, Some("34\n")).unwrap();
    assert!(!s34.erase_client_port_from_static());
    let name34 = dynamic_name.replace("/s1/", "/s34/");
    assert_eq!(
        edit_static_config(&orig34, &name34, false),
        java_file("sid34-zoo.cfg")
    );
    let committed34 = s34.verifier.with_version(0x1_0000_0000);
    assert_eq!(committed34.to_config_text(), zookeeper_config);
}

#[test]
fn load_backs_up_and_commit_writes_javas_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("myid"), java_file("myid")).unwrap();
    let orig = java_file("zoo.cfg.orig").replace("/tmp/qcfg/run2/s1/data", &data.to_string_lossy());
    let zoo_cfg = dir.path().join("zoo.cfg");
    fs::write(&zoo_cfg, &orig).unwrap();

    let c = QuorumConfig::load(&zoo_cfg, &Config::parse(&orig, "").unwrap()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("zoo.cfg.bak")).unwrap(),
        orig
    );

    let qv = c.verifier.with_version(0x1_0000_0000);
    fs::write(
        next_dynamic_config_filename(&zoo_cfg),
        qv.dynamic_file_text(true),
    )
    .unwrap();
    let written =
        write_committed_config(&zoo_cfg, &qv, c.erase_client_port_from_static(), true).unwrap();
    assert_eq!(written, dir.path().join("zoo.cfg.dynamic.100000000"));
    assert_eq!(
        fs::read_to_string(&written).unwrap(),
        java_file("zoo.cfg.dynamic.100000000")
    );
    assert!(!next_dynamic_config_filename(&zoo_cfg).exists());
    let canonical = fs::canonicalize(&written).unwrap();
    let expected = java_file("zoo.cfg")
        .replace("/tmp/qcfg/run2/s1/data", &data.to_string_lossy())
        .replace(
            "/tmp/qcfg/run2/s1/zoo.cfg.dynamic.100000000",
            &canonical.to_string_lossy(),
        );
    // The order depends on the keys only, so the paths changing does not move lines.
    let rewritten = fs::read_to_string(&zoo_cfg).unwrap();
    assert_eq!(rewritten, expected);

    // The rewritten layout loads again, from the dynamic file, with no new backup.
    fs::remove_file(dir.path().join("zoo.cfg.bak")).unwrap();
    let again = QuorumConfig::load(&zoo_cfg, &Config::parse(&rewritten, "").unwrap()).unwrap();
    assert_eq!(again.verifier, qv);
    assert!(!dir.path().join("zoo.cfg.bak").exists());
}
