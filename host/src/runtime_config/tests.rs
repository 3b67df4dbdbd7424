//! Checked against `config.json` files written by umoci 0.4.7 (Debian 0.4.7+ds-3+b7);
//! see `fixtures/README.md` for how each was made.

use serde_json::{Map, Value, json};

use super::go::{MAX_LINE, go_rfc3339, go_uint32};
use super::user::resolve_user;
use super::*;

const PASSWD: &str = include_str!("fixtures/passwd");
const GROUP: &str = include_str!("fixtures/group");

/// The host of the fixtures: its /etc/resolv.conf sat on a plain `rw,relatime` mount.
const NO_FLAGS: Option<&[&str]> = Some(&[]);

fn image(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).expect("fixture image config is JSON")
}

fn accounts() -> (Option<&'static str>, Option<&'static str>) {
    (Some(PASSWD), Some(GROUP))
}

fn opts(uid: &[(u32, u32, u32)], gid: &[(u32, u32, u32)], rootless: bool) -> RuntimeOptions {
    RuntimeOptions {
        uid_mappings: uid.to_vec(),
        gid_mappings: gid.to_vec(),
        rootless,
    }
}

/// The file as JSON, parsed back from the bytes [`encode`] writes.
fn parsed(config: &Spec) -> Value {
    serde_json::from_slice(&encode(config)).expect("encode writes JSON")
}

/// `ours` (file bytes) and `umoci`'s file as parsed JSON: equal values, key order aside
/// (umoci writes Go's field order, the runtime-spec types their own).
fn assert_same_json(ours: &[u8], umoci: &str) {
    let ours: Value = serde_json::from_slice(ours).expect("ours is JSON");
    let theirs: Value = serde_json::from_str(umoci).expect("umoci's is JSON");
    assert!(
        ours == theirs,
        "ours:\n{}\numoci's:\n{umoci}",
        serde_json::to_string_pretty(&ours).unwrap()
    );
}

/// Generate and encode; compare with umoci's file as parsed JSON.
fn check(
    image_json: &str,
    (passwd, group): (Option<&str>, Option<&str>),
    opts: &RuntimeOptions,
    resolv: Option<&[&str]>,
    expected: &str,
) {
    let config = generate_with_resolv_conf(&image(image_json), passwd, group, opts, resolv)
        .expect("generate");
    assert_same_json(&encode(&config), expected);
}

fn generate_plain(config: &Map<String, Value>) -> Result<Value, RuntimeConfigError> {
    generate_with_resolv_conf(config, None, None, &RuntimeOptions::default(), None)
        .map(|c| parsed(&c))
}

#[test]
fn empty_new_image() {
    check(
        include_str!("fixtures/empty.image.json"),
        (None, None),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/empty.config.json"),
    );
}

#[test]
fn user_env_cmd_volume_workingdir_label() {
    check(
        include_str!("fixtures/full.image.json"),
        (None, None),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/full.config.json"),
    );
}

#[test]
fn named_user_from_passwd_with_additional_groups() {
    check(
        include_str!("fixtures/named.image.json"),
        accounts(),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/named.config.json"),
    );
}

#[test]
fn empty_user_with_passwd_is_root_with_its_groups_and_home() {
    check(
        include_str!("fixtures/rootuser.image.json"),
        accounts(),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/rootuser.config.json"),
    );
}

#[test]
fn escapes_entrypoint_ports_signal_author_created_offset_label_precedence() {
    check(
        include_str!("fixtures/rich.image.json"),
        accounts(),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/rich.config.json"),
    );
}

#[test]
fn hand_made_config_read_like_go() {
    // Lower-case "labels", null User/Env, no created, a variant (not an annotation in
    // 0.4.7), an author label overridden by the image's (empty) author.
    check(
        include_str!("fixtures/crafted.image.json"),
        (None, None),
        &RuntimeOptions::default(),
        None,
        include_str!("fixtures/crafted.config.json"),
    );
}

#[test]
fn uid_gid_mappings_add_a_user_namespace() {
    let m = [(0, 1000, 65536)];
    check(
        include_str!("fixtures/full.image.json"),
        (None, None),
        &opts(&m, &m, false),
        None,
        include_str!("fixtures/mapped.config.json"),
    );
}

#[test]
fn uid_mappings_alone() {
    check(
        include_str!("fixtures/full.image.json"),
        (None, None),
        &opts(&[(0, 1000, 65536), (65536, 200000, 10)], &[], false),
        None,
        include_str!("fixtures/uidonly.config.json"),
    );
}

#[test]
fn rootless() {
    // `umoci unpack --rootless` as root: maps 0:0:1.
    let m = [(0, 0, 1)];
    check(
        include_str!("fixtures/full.image.json"),
        (None, None),
        &opts(&m, &m, true),
        NO_FLAGS,
        include_str!("fixtures/rootless.config.json"),
    );
}

#[test]
fn rootless_keeps_the_locked_flags_of_resolv_conf() {
    // /etc/resolv.conf bind-mounted from a ro,nosuid,nodev,noexec,noatime,nodiratime
    // tmpfs. umoci lists the flags in random order; this capture has ours.
    let m = [(0, 0, 1)];
    check(
        include_str!("fixtures/full.image.json"),
        (None, None),
        &opts(&m, &m, true),
        Some(&["ro", "nodev", "noexec", "nosuid", "noatime", "nodiratime"]),
        include_str!("fixtures/rootless_rofs.config.json"),
    );
}

#[test]
fn rootless_drops_additional_groups_and_sys_prefixed_volumes() {
    // Volumes /sysx (dropped: it starts with "/sys") and /data.
    let m = [(0, 1000, 1)];
    check(
        include_str!("fixtures/rootless_named.image.json"),
        accounts(),
        &opts(&m, &m, true),
        NO_FLAGS,
        include_str!("fixtures/rootless_named.config.json"),
    );
}

#[test]
fn rootless_without_resolv_conf_leaves_the_mount_out() {
    let m = [(0, 0, 1)];
    let config = generate_with_resolv_conf(
        &image(include_str!("fixtures/full.image.json")),
        None,
        None,
        &opts(&m, &m, true),
        None,
    )
    .unwrap();
    let expected = include_str!("fixtures/rootless.config.json").replace(
        ",\n\t\t{\n\t\t\t\"destination\": \"/etc/resolv.conf\",\n\t\t\t\"type\": \"bind\",\n\t\t\t\"source\": \"/etc/resolv.conf\",\n\t\t\t\"options\": [\n\t\t\t\t\"rbind\",\n\t\t\t\t\"ro\"\n\t\t\t]\n\t\t}",
        "",
    );
    assert_ne!(expected, include_str!("fixtures/rootless.config.json"));
    assert_same_json(&encode(&config), &expected);
}

#[test]
fn generate_probes_the_host_only_when_rootless() {
    let img = image(include_str!("fixtures/full.image.json"));
    let plain = generate(&img, None, None, &RuntimeOptions::default()).unwrap();
    assert_same_json(&encode(&plain), include_str!("fixtures/full.config.json"));
    let m = [(0, 0, 1)];
    let rootless = parsed(&generate(&img, None, None, &opts(&m, &m, true)).unwrap());
    let mounts = rootless["mounts"].as_array().unwrap();
    let resolv = mounts.iter().find(|m| m["destination"] == RESOLV_CONF);
    match host_resolv_conf_flags().unwrap() {
        None => assert!(resolv.is_none()),
        Some(flags) => {
            let mut options: Vec<Value> = flags.iter().map(|f| json!(f)).collect();
            options.extend([json!("rbind"), json!("ro")]);
            assert_eq!(resolv.unwrap()["options"], Value::Array(options));
        }
    }
}

#[test]
fn explicit_home_in_env_is_kept() {
    // umoci 0.4.7 overwrote HOME=/custom with alice's passwd home; newer umoci (and we)
    // keep the image's. Everything else is the 0.4.7 capture.
    let umoci = include_str!("fixtures/home.config.json");
    assert!(umoci.contains("\"HOME=/home/alice\",\n\t\t\t\"A=1\""));
    let expected = umoci.replace("\"HOME=/home/alice\"", "\"HOME=/custom\"");
    check(
        include_str!("fixtures/home.image.json"),
        accounts(),
        &RuntimeOptions::default(),
        None,
        &expected,
    );
}

#[test]
fn non_linux_os_is_refused() {
    let mut img = image(include_str!("fixtures/full.image.json"));
    img.insert("os".into(), json!("windows"));
    let err = generate_plain(&img).unwrap_err();
    assert!(matches!(&err, RuntimeConfigError::UnsupportedOs(os) if os == "windows"));
    assert_eq!(
        err.to_string(),
        "unsupported os \"windows\" in the image config (only linux images can be unpacked)"
    );
    img.remove("os");
    assert!(matches!(
        generate_plain(&img),
        Err(RuntimeConfigError::UnsupportedOs(os)) if os.is_empty()
    ));
}

#[test]
fn volumes_are_mounted_in_sorted_order() {
    // umoci 0.4.7 used Go's random map order (captured once: /v2, /some nutty/path,
    // /sysx, /v1); the set is the same.
    let img = image(
        r#"{"os":"linux","config":{"Volumes":{"/v2":{},"/v1":{},"/some nutty/path":{},"/sysx":{}}}}"#,
    );
    let config = generate_plain(&img).unwrap();
    let volumes: Vec<&str> = config["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["source"] == "none")
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, ["/some nutty/path", "/sysx", "/v1", "/v2"]);
}

#[test]
fn user_forms_resolve_like_umoci() {
    // (spec, uid, gid, additionalGids, HOME) as observed from umoci 0.4.7 with the
    // fixture passwd/group.
    type Case = (&'static str, u32, u32, &'static [u32], Option<&'static str>);
    let cases: &[Case] = &[
        ("alice", 1000, 1000, &[100, 10, 29], Some("/home/alice")),
        ("bob", 1001, 100, &[100], Some("/home/bob")),
        ("alice:users", 1000, 100, &[], Some("/home/alice")),
        ("alice:4242", 1000, 4242, &[], Some("/home/alice")),
        ("1000", 1000, 1000, &[100, 10, 29], Some("/home/alice")),
        ("+1000", 1000, 1000, &[100, 10, 29], Some("/home/alice")),
        ("1000:10", 1000, 10, &[], Some("/home/alice")),
        ("carol", 1002, 1002, &[29], None),
        ("4000", 4000, 0, &[], None),
        ("", 0, 0, &[0], Some("/root")),
        ("root", 0, 0, &[0], Some("/root")),
        (":wheel", 0, 10, &[], Some("/root")),
        ("alice:users:junk", 1000, 100, &[], Some("/home/alice")),
        ("2147483647", 2147483647, 0, &[], None),
    ];
    for &(spec, uid, gid, sgids, home) in cases {
        let img = image(&json!({"os": "linux", "config": {"User": spec}}).to_string());
        let config = generate_with_resolv_conf(
            &img,
            Some(PASSWD),
            Some(GROUP),
            &opts(&[], &[], false),
            None,
        )
        .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        let config = parsed(&config);
        let user = &config["process"]["user"];
        assert_eq!(user["uid"], uid, "{spec:?}");
        assert_eq!(user["gid"], gid, "{spec:?}");
        let got: Vec<u32> = user
            .get("additionalGids")
            .map(|g| serde_json::from_value(g.clone()).unwrap())
            .unwrap_or_default();
        assert_eq!(got, sgids, "{spec:?}");
        let env_home = config["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|e| e.as_str().unwrap().strip_prefix("HOME="));
        assert_eq!(env_home, home, "{spec:?}");
    }
}

#[test]
fn numeric_users_without_passwd() {
    let r = resolve_user("1234:1332", None, None).unwrap();
    assert_eq!((r.uid, r.gid, r.sgids.len(), r.home), (1234, 1332, 0, ""));
    let r = resolve_user("", None, None).unwrap();
    assert_eq!((r.uid, r.gid), (0, 0));
    // A group file alone does not make a numeric user's groups appear.
    let r = resolve_user("1000", None, Some(GROUP)).unwrap();
    assert_eq!((r.uid, r.gid, r.sgids.len()), (1000, 0, 0));
}

#[test]
fn unresolvable_users_are_errors() {
    let err = |spec: &str, passwd: Option<&str>, group: Option<&str>| {
        resolve_user(spec, passwd, group).unwrap_err().to_string()
    };
    assert_eq!(
        err("x", Some(PASSWD), Some(GROUP)),
        "cannot resolve user spec \"x\": user \"x\" not found in /etc/passwd"
    );
    assert_eq!(
        err("alice", None, None),
        "cannot resolve user spec \"alice\": user \"alice\" not found in /etc/passwd"
    );
    // Names are not trimmed (the passwd line " bob" is).
    assert!(matches!(
        resolve_user(" alice", Some(PASSWD), Some(GROUP)),
        Err(RuntimeConfigError::UserNotFound { .. })
    ));
    assert_eq!(
        err("alice:nogroup", Some(PASSWD), Some(GROUP)),
        "cannot resolve user spec \"alice:nogroup\": group \"nogroup\" not found in /etc/group"
    );
    assert_eq!(
        err("0:staff", Some(PASSWD), None),
        "cannot resolve user spec \"0:staff\": group \"staff\" not found in /etc/group"
    );
    for spec in ["-1", "2147483648", "1000:-5"] {
        assert_eq!(
            err(spec, Some(PASSWD), Some(GROUP)),
            format!(
                "cannot resolve user spec {spec:?}: uids and gids must be in range 0-2147483647"
            )
        );
    }
    // Too large for an int: a name, and not found.
    assert!(matches!(
        resolve_user("99999999999999999999", Some(PASSWD), Some(GROUP)),
        Err(RuntimeConfigError::UserNotFound { .. })
    ));
    // An unresolvable user fails the whole generation.
    let img = image(r#"{"os":"linux","config":{"User":"nobody"}}"#);
    assert!(matches!(
        generate_with_resolv_conf(
            &img,
            Some(PASSWD),
            Some(GROUP),
            &opts(&[], &[], false),
            None
        ),
        Err(RuntimeConfigError::UserNotFound { .. })
    ));
}

#[test]
fn passwd_and_group_parsing_follows_runc() {
    // Out-of-range ids wrap like Go's uint32(int); non-numeric ids are 0; CRLF lines;
    // the first match wins; group lines are not trimmed.
    let passwd = "a:x:4294967297:-1::/a\r\nb:x:zz:7:g:/b:/bin/sh\nc:x:9:9\nc:x:10:10::/c2\n";
    let group = "g1:x:50:c\n g2:x:51:c\ng3:x:52:b,c,d\n";
    let r = resolve_user("a", Some(passwd), Some(group)).unwrap();
    assert_eq!((r.uid, r.gid, r.home), (4294967297, -1, "/a"));
    assert_eq!((go_uint32(r.uid), go_uint32(r.gid)), (1, u32::MAX));
    let r = resolve_user("b", Some(passwd), Some(group)).unwrap();
    assert_eq!((r.uid, r.gid, r.sgids), (0, 7, vec![52]));
    let r = resolve_user("c", Some(passwd), Some(group)).unwrap();
    assert_eq!(
        (r.uid, r.gid, r.home, r.sgids),
        (9, 9, "", vec![50, 51, 52])
    );
    assert_eq!(
        resolve_user("c: g2", Some(passwd), Some(group))
            .unwrap()
            .gid,
        51
    );
    // An empty spec matches the first uid-0 entry, here "b" (its uid does not parse).
    assert_eq!(
        resolve_user("", Some(passwd), Some(group)).unwrap().home,
        "/b"
    );
    // Go's scanner gives up at a line longer than 64 KiB - 1, silently.
    let long = format!("{}\nz:x:77:77::/z\n", "y".repeat(MAX_LINE + 1));
    assert!(resolve_user("z", Some(&long), None).is_err());
    let fits = format!("{}\nz:x:77:77::/z\n", "y".repeat(MAX_LINE));
    assert_eq!(resolve_user("z", Some(&fits), None).unwrap().uid, 77);
}

#[test]
fn env_entries_replace_in_place_and_must_have_a_name() {
    let img = image(r#"{"os":"linux","config":{"Env":["TERM=dumb","A=1","A=2","B=x=y"]}}"#);
    let config = generate_plain(&img).unwrap();
    assert_eq!(
        config["process"]["env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=dumb",
            "A=2",
            "B=x=y"
        ])
    );
    for bad in ["NOEQUALS", "=value"] {
        let img = image(&json!({"os": "linux", "config": {"Env": [bad]}}).to_string());
        assert!(matches!(
            generate_plain(&img),
            Err(RuntimeConfigError::InvalidEnv(e)) if e == bad
        ));
    }
}

#[test]
fn fields_of_the_wrong_type_are_errors() {
    for (text, field) in [
        (r#"{"os":"linux","config":{"Env":"A=1"}}"#, "config.Env"),
        (r#"{"os":"linux","config":{"Cmd":[1]}}"#, "config.Cmd"),
        (r#"{"os":"linux","config":{"User":0}}"#, "config.User"),
        (
            r#"{"os":"linux","config":{"Labels":{"a":1}}}"#,
            "config.Labels",
        ),
        (
            r#"{"os":"linux","config":{"Volumes":{"/a":1}}}"#,
            "config.Volumes",
        ),
        (r#"{"os":"linux","config":[]}"#, "config"),
        (r#"{"os":1}"#, "os"),
        (r#"{"os":"linux","created":5}"#, "created"),
    ] {
        match generate_plain(&image(text)) {
            Err(RuntimeConfigError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn go_decoding_details() {
    // Null elements are "", later keys win, a null map clears, maps merge.
    let img = image(
        r#"{"OS":"linux","config":{"Cmd":["a",null],"workingdir":"/x","WorkingDir":null,
            "Labels":{"a":"1","n":null},"labels":{"b":"2"},
            "Volumes":{"/gone":{}},"volumes":null}}"#,
    );
    let config = generate_plain(&img).unwrap();
    assert_eq!(config["process"]["args"], json!(["a", ""]));
    assert_eq!(config["process"]["cwd"], "/x");
    assert_eq!(config["annotations"]["a"], "1");
    assert_eq!(config["annotations"]["b"], "2");
    assert_eq!(config["annotations"]["n"], "");
    assert_eq!(config["mounts"].as_array().unwrap().len(), 7);
}

#[test]
fn created_is_rendered_as_go_renders_it() {
    // Observed with umoci 0.4.7 (Go 1.19) on hand-made config blobs.
    for (input, output) in [
        (
            "2021-04-05T10:00:00.1234567891+00:00",
            Some("2021-04-05T10:00:00.123456789Z"),
        ),
        (
            "2021-04-05T10:00:00.000-00:00",
            Some("2021-04-05T10:00:00Z"),
        ),
        (
            "2020-02-29T23:59:59.5+23:59",
            Some("2020-02-29T23:59:59.5+23:59"),
        ),
        ("2021-04-05T10:00:00,5Z", Some("2021-04-05T10:00:00.5Z")),
        (
            "2021-04-05T10:00:00+24:00",
            Some("2021-04-05T10:00:00+24:00"),
        ),
        (
            "2021-04-05T10:00:00+23:61",
            Some("2021-04-05T10:00:00+24:01"),
        ),
        (
            "2021-04-05T10:00:00+99:99",
            Some("2021-04-05T10:00:00+100:39"),
        ),
        (
            "2021-04-05T10:00:00-01:30",
            Some("2021-04-05T10:00:00-01:30"),
        ),
        ("0000-01-01T00:00:00Z", Some("0000-01-01T00:00:00Z")),
        (
            "2021-04-05T10:00:00.12345678901234567890Z",
            Some("2021-04-05T10:00:00.123456789Z"),
        ),
        ("2021-02-29T00:00:00Z", None),
        ("2021-04-05t10:00:00Z", None),
        ("2021-04-05T10:00:00.Z", None),
        ("2021-04-05T10:00:60Z", None),
        ("2021-04-05T10:00:00.5", None),
        ("2021-04-05T10:00:00.5x", None),
        ("2021-04-05T10:00:00Z ", None),
        ("10000-01-01T00:00:00Z", None),
        ("2021-4-05T10:00:00Z", None),
        ("", None),
    ] {
        assert_eq!(go_rfc3339(input).as_deref(), output, "{input:?}");
    }
    // Go's hour field takes one digit too (not observed; read from Go's time.Parse).
    assert_eq!(
        go_rfc3339("2021-04-05T1:02:03Z").as_deref(),
        Some("2021-04-05T01:02:03Z")
    );
    let img = image(r#"{"os":"linux","created":"yesterday"}"#);
    assert!(matches!(
        generate_plain(&img),
        Err(RuntimeConfigError::InvalidCreated(c)) if c == "yesterday"
    ));
}

#[test]
fn encode_escapes_like_go() {
    let v = json!({"k<>&": "\u{1}\u{8}\u{c}\u{1b}\u{7f}\t\n\r\"\\\u{2028}\u{2029}é", "e": [], "o": {}, "n": null, "b": [true, 1]});
    assert_eq!(
        String::from_utf8(crate::go_json::encode_indented(&v).unwrap()).unwrap(),
        "{\n\t\"k\\u003c\\u003e\\u0026\": \"\\u0001\\u0008\\u000c\\u001b\u{7f}\\t\\n\\r\\\"\\\\\\u2028\\u2029é\",\n\t\"e\": [],\n\t\"o\": {},\n\t\"n\": null,\n\t\"b\": [\n\t\ttrue,\n\t\t1\n\t]\n}\n"
    );
}

#[test]
fn without_a_rootfs_names_become_root_and_numbers_stay() {
    let with_user = |user: &str| {
        image(&format!(
            r#"{{"os":"linux","config":{{"User":{user:?},"Env":["A=b"]}}}}"#
        ))
    };
    let process_user = |v: &Value| v["process"]["user"].clone();
    for spec in [
        "testuser",
        "testuser:emptygroup",
        "1000:staff",
        "99999999999",
    ] {
        let (config, warning) =
            generate_without_rootfs(&with_user(spec), &RuntimeOptions::default()).unwrap();
        let config = parsed(&config);
        assert_eq!(process_user(&config), json!({"uid": 0, "gid": 0}), "{spec}");
        let warning = warning.expect("a warning");
        assert!(warning.contains(&format!("{spec:?}")), "{warning}");
        assert!(
            !config["process"]["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e.as_str().unwrap().starts_with("HOME=")),
            "{spec}: no home without a passwd entry"
        );
    }
    let (config, warning) =
        generate_without_rootfs(&with_user("1337:8888"), &RuntimeOptions::default()).unwrap();
    let config = parsed(&config);
    assert_eq!(process_user(&config), json!({"uid": 1337, "gid": 8888}));
    assert!(warning.is_none());
    // Other errors still fail.
    let mut windows = with_user("root");
    windows.insert("os".into(), "windows".into());
    assert!(generate_without_rootfs(&windows, &RuntimeOptions::default()).is_err());
}

/// `oci-spec`'s typed image configuration, tried on every image configuration the
/// fixtures hold (written by umoci 0.4.7, or by hand the way Go reads them): where it
/// refuses or misreads one that umoci reads, the lenient reader in `image_config` stays.
#[test]
fn oci_spec_reads_umoci_s_image_configs_but_not_go_s_lenient_ones() {
    use oci_spec::image::ImageConfiguration;
    let parse = |text: &str| serde_json::from_str::<ImageConfiguration>(text);
    for text in [
        include_str!("fixtures/empty.image.json"),
        include_str!("fixtures/full.image.json"),
        include_str!("fixtures/home.image.json"),
        include_str!("fixtures/named.image.json"),
        include_str!("fixtures/rich.image.json"),
        include_str!("fixtures/rootless_named.image.json"),
        include_str!("fixtures/rootuser.image.json"),
    ] {
        parse(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    // Go's decoder matches `labels` to `Labels` (field names are case-insensitive);
    // oci-spec reads the document but drops the labels, which umoci turns into
    // annotations.
    let crafted = include_str!("fixtures/crafted.image.json");
    let typed = parse(crafted).unwrap();
    assert_eq!(
        typed.config().as_ref().and_then(|c| c.labels().clone()),
        None
    );
    assert_eq!(
        generate_plain(&image(crafted)).unwrap()["annotations"]["k"],
        "v"
    );
    // A repeated field: Go keeps the last value; a strict reader refuses the document.
    let twice = r#"{"os":"linux","config":{"Cmd":["a"],"Cmd":["b"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    assert!(parse(twice).is_err());
    assert_eq!(
        generate_plain(&image(twice)).unwrap()["process"]["args"],
        json!(["b"])
    );
}
