use super::*;

const MINIMAL: &str = r#"
[homeserver]
url = "https://matrix.example.com"
[auth]
user_id = "@admin:example.com"
access_token = "from-file"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml", no_env)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.homeserver.as_str(), "https://matrix.example.com/");
    assert_eq!(c.policy.rules.inactive_days, 365);
    assert!(c.policy.rules.delete_abandoned);
    assert!(!c.policy.rules.include_spaces && !c.policy.rules.include_public);
    assert_eq!(c.scan.concurrency, 8);
    assert_eq!(c.bot.data_dir, PathBuf::from("./oldrooms-data"));
    assert_eq!(c.bot.health_listen, None);
    assert_eq!(c.schedule, None);
    assert_eq!(c.scan.http.outage_patience.as_secs(), 300);
    assert!(matches!(&c.credential, Credential::AccessToken(t) if t.expose() == "from-file"));
}

#[test]
fn the_example_config_is_valid() {
    let text = include_str!("../../config.example.toml");
    let c = parse(text).unwrap();
    assert_eq!(c.policy.protected_rooms.len(), 2);
    assert!(c.bot.admin_room.is_some());
    assert_eq!(
        c.schedule, None,
        "the example's [schedule] is commented out"
    );
    let on = text
        .replace("# [schedule]", "[schedule]")
        .replace("# every =", "every =")
        .replace("# at =", "at =");
    let schedule = parse(&on).unwrap().schedule.unwrap();
    assert_eq!(schedule.every.as_secs(), 7 * 86_400);
    assert_eq!(schedule.at_minute, Some(180));
    let database = text
        .replace("# [database]", "[database]")
        .replace("# postgres =", "postgres =");
    let c = parse(&database).unwrap();
    assert_eq!(
        c.database.unwrap().to_string(),
        "PostgreSQL database synapse as oldrooms_ro"
    );
    let grace = text
        .replace("# grace =", "grace =")
        .replace("# warning_message =", "warning_message =");
    let c = parse(&grace).unwrap();
    assert_eq!(c.delete.grace.map(|g| g.as_secs()), Some(7 * 86_400));
    assert_eq!(
        c.delete.warning,
        crate::plan::DEFAULT_WARNING,
        "the example shows the default"
    );
    let listen = text.replace("# health_listen =", "health_listen =");
    let c = parse(&listen).unwrap();
    assert_eq!(c.bot.health_listen, Some("127.0.0.1:9187".parse().unwrap()));
}

#[test]
fn the_device_id_comes_from_the_environment_or_the_config() {
    let text = MINIMAL.replace("[auth]\n", "[auth]\ndevice_id = \"OLDROOMSBOT\"\n");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.device_id.as_ref().map(|d| d.as_str()),
        Some("OLDROOMSBOT")
    );
    let env = |name: &str| (name == ENV_DEVICE_ID).then(|| "FROMENV".to_owned());
    let c = Config::parse(&text, "t", env).unwrap();
    assert_eq!(c.device_id.as_ref().map(|d| d.as_str()), Some("FROMENV"));
    assert_eq!(parse(MINIMAL).unwrap().device_id, None);
}

#[test]
fn environment_secrets_win() {
    let env = |name: &str| (name == ENV_PASSWORD).then(|| "pw".to_owned());
    let c = Config::parse(MINIMAL, "t", env).unwrap();
    assert!(matches!(&c.credential, Credential::Password(p) if p.expose() == "pw"));
    let env = |_: &str| Some("tok".to_owned());
    let c = Config::parse(MINIMAL, "t", env).unwrap();
    assert!(matches!(&c.credential, Credential::AccessToken(t) if t.expose() == "tok"));
}

#[test]
fn unknown_keys_name_the_line() {
    let text = format!("{MINIMAL}[policy]\ninactive_day = 3\n");
    let e = error(&text);
    assert!(
        e.starts_with("test.toml, line 8: unknown field `inactive_day`"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        (
            MINIMAL.replace("https://matrix.example.com", "matrix.example.com"),
            "homeserver.url",
        ),
        (
            MINIMAL.replace("https://matrix.example.com", "ftp://x"),
            "homeserver.url",
        ),
        (
            MINIMAL.replace("@admin:example.com", "admin"),
            "auth.user_id",
        ),
        (
            MINIMAL.replace("access_token = \"from-file\"", ""),
            "auth.access_token",
        ),
        (
            format!("{MINIMAL}[bot]\nadmin_room = \"abc\"\n"),
            "bot.admin_room",
        ),
        (
            format!("{MINIMAL}[bot]\nadmins = [\"@a:b\", \"c\"]\n"),
            "bot.admins[1]",
        ),
        (
            format!("{MINIMAL}[policy]\nprotected_rooms = [\"#x\"]\n"),
            "policy.protected_rooms[0]",
        ),
        (
            format!("{MINIMAL}[policy]\ninactive_days = 0\n"),
            "policy.inactive_days",
        ),
        (
            format!("{MINIMAL}[scan]\nconcurrency = 0\n"),
            "scan.concurrency",
        ),
        (
            format!("{MINIMAL}[scan]\npage_size = 0\n"),
            "scan.page_size",
        ),
        (
            format!("{MINIMAL}[bot]\nhealth_listen = \"localhost\"\n"),
            "bot.health_listen",
        ),
        (
            MINIMAL.replace("[auth]\n", "[auth]\ndevice_id = \"TWO WORDS\"\n"),
            "auth.device_id",
        ),
        (
            format!("{MINIMAL}[scan]\noutage_patience_secs = 18446744073709551615\n"),
            "scan.outage_patience_secs",
        ),
        (
            format!("{MINIMAL}[schedule]\nevery = \"weekly\"\n"),
            "schedule.every",
        ),
        (
            format!("{MINIMAL}[delete]\nnotice_room_name = \"Closed\"\n"),
            "delete.notice_room_name",
        ),
        (
            format!("{MINIMAL}[delete]\nnotice_message = \"  \"\n"),
            "delete.notice_message",
        ),
        (
            format!(
                "{MINIMAL}[delete]\nnotice_message = \"Gone.\"\nnotice_room_name = \"{}\"\n",
                "é".repeat(128)
            ),
            "delete.notice_room_name",
        ),
        (
            format!("{MINIMAL}[schedule]\nevery = \"7d\"\nat = \"3am\"\n"),
            "schedule.at",
        ),
        (
            format!("{MINIMAL}[schedule]\nevery = \"36h\"\nat = \"03:00\"\n"),
            "schedule.every",
        ),
    ];
    for (text, key) in cases {
        let e = error(&text);
        assert!(e.starts_with(&format!("test.toml: {key}: ")), "{key}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn a_notice_room_is_made_by_the_account_oldrooms_runs_as() {
    assert_eq!(parse(MINIMAL).unwrap().delete.engine.notice, None);
    let c = parse(&format!("{MINIMAL}[delete]\nnotice_message = \"Gone.\"\n")).unwrap();
    let notice = c.delete.engine.notice.unwrap();
    assert_eq!(notice.creator.as_str(), "@admin:example.com");
    assert_eq!(notice.message, "Gone.");
    assert_eq!(notice.room_name, NOTICE_ROOM_NAME);
}

#[test]
fn wrong_types_and_broken_toml_are_one_line() {
    let e = error(&format!("{MINIMAL}[policy]\ninactive_days = \"many\"\n"));
    assert!(e.starts_with("test.toml, line 8:"), "{e}");
    let e = error("[homeserver\nurl=");
    assert!(e.starts_with("test.toml, line 1:"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn v12_room_ids_without_server_are_accepted() {
    let text = format!("{MINIMAL}[policy]\nprotected_rooms = [\"!5i1Uvg-RLM2gAbc\"]\n");
    let c = parse(&text).unwrap();
    assert_eq!(c.policy.protected_rooms[0].as_str(), "!5i1Uvg-RLM2gAbc");
}

#[test]
fn secrets_are_not_in_debug_output() {
    let c = parse(MINIMAL).unwrap();
    assert!(!format!("{c:?}").contains("from-file"));
}

#[test]
fn exclusions_are_checked_at_load() {
    let text = format!(
        "{MINIMAL}[policy]\nexclude = [\"^#team-\", \"(broken\"]\nexclude_servers = [\"bridge.example\"]\n"
    );
    let e = error(&text);
    assert!(e.contains("policy.exclude[1]"), "{e}");
    assert!(e.contains("not a regular expression"), "{e}");
    let text = format!("{MINIMAL}[policy]\nexclude_servers = [\"@bot:bridge.example\"]\n");
    assert!(error(&text).contains("policy.exclude_servers[0]"));
    let text = format!(
        "{MINIMAL}[policy]\nexclude = [\"^#team-\"]\nexclude_servers = [\"bridge.example\"]\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.policy.rules.exclude.patterns(), ["^#team-"]);
    assert_eq!(c.policy.rules.exclude_servers, ["bridge.example"]);
}

#[test]
fn secrets_come_from_files_and_systemd_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("oldrooms.toml");
    let file = config.display().to_string();
    std::fs::write(dir.path().join("token"), "syt_from_a_file\n").unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let base = "[homeserver]\nurl = \"https://matrix.example.com\"\n\
                [auth]\nuser_id = \"@admin:example.com\"\n";
    let with = |auth: &str| format!("{base}{auth}\n");
    let token = |c: &Config| match &c.credential {
        Credential::AccessToken(t) => t.expose().to_owned(),
        Credential::Password(p) => format!("password {}", p.expose()),
    };
    // Relative to the config file's folder; the line end is not the secret.
    let c = Config::parse(&with("access_token_file = \"token\""), &file, no_env).unwrap();
    assert_eq!(token(&c), "syt_from_a_file");
    let c = Config::parse(&with("password_file = \"token\""), &file, no_env).unwrap();
    assert_eq!(token(&c), "password syt_from_a_file");

    let err = |auth: &str| {
        Config::parse(&with(auth), &file, no_env)
            .unwrap_err()
            .to_string()
    };
    let both = err("access_token = \"x\"\naccess_token_file = \"token\"");
    assert!(
        both.contains("auth.access_token_file: set auth.access_token or"),
        "{both}"
    );
    let missing = err("access_token_file = \"nowhere\"");
    assert!(
        missing.contains("auth.access_token_file: cannot read"),
        "{missing}"
    );
    let empty = err("password_file = \"empty\"");
    assert!(
        empty.contains("auth.password_file:") && empty.contains("is empty"),
        "{empty}"
    );

    // systemd's LoadCredential=oldrooms-access-token:… wins over the files.
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join(CREDENTIAL_ACCESS_TOKEN), "syt_systemd").unwrap();
    let creds_dir = creds.path().display().to_string();
    let systemd = move |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| creds_dir.clone());
    let c = Config::parse(&with("access_token_file = \"token\""), &file, systemd).unwrap();
    assert_eq!(token(&c), "syt_systemd");
    // No secret anywhere: the message lists every place.
    let none = err("");
    assert!(none.contains("auth.access_token_file") && none.contains(CREDENTIAL_ACCESS_TOKEN));
}

#[test]
fn the_database_is_sqlite_or_postgres() {
    let with = |db: &str| format!("{MINIMAL}[database]\n{db}\n");
    let c = parse(&with("sqlite = \"/var/lib/synapse/homeserver.db\"")).unwrap();
    assert!(
        matches!(&c.database, Some(crate::db::Source::Sqlite(p)) if p == Path::new("/var/lib/synapse/homeserver.db"))
    );
    let pg = "postgres = \"host=/run/postgresql dbname=synapse user=oldrooms_ro password=hunter2\"";
    let c = parse(&with(pg)).unwrap();
    let shown = format!("{:?} {}", c.database, c.database.as_ref().unwrap());
    assert_eq!(
        shown,
        "Some(Source(PostgreSQL database synapse as oldrooms_ro)) PostgreSQL database synapse as oldrooms_ro"
    );
    let from_env = |name: &str| (name == ENV_DATABASE_PASSWORD).then(|| "s3cret".to_owned());
    let c = Config::parse(&with(pg), "test.toml", from_env).unwrap();
    let Some(crate::db::Source::Postgres(config)) = &c.database else {
        panic!("{:?}", c.database)
    };
    assert_eq!(config.get_password(), Some(&b"s3cret"[..]));

    for (db, message) in [
        (
            "",
            "test.toml: database.sqlite: set sqlite (the path of homeserver.db) or postgres (a connection string)",
        ),
        (
            "sqlite = \"a\"\npostgres = \"dbname=b\"",
            "test.toml: database.postgres: set sqlite or postgres, not both",
        ),
        (
            "sqlite = \"a\"\npassword_file = \"p\"",
            "test.toml: database.password_file: only for postgres",
        ),
        (
            "postgres = \"host=/run/postgresql\"",
            "test.toml: database.postgres: name the database (dbname=…)",
        ),
        ("port = 5432", "unknown field `port`"),
        (
            "postgres = \"host=db.example.org dbname=synapse\"",
            "test.toml: database.postgres: db.example.org is not this machine: oldrooms connects without TLS",
        ),
        (
            "postgres = \"postgresql://10.0.0.5/synapse\"",
            "10.0.0.5 is not this machine",
        ),
    ] {
        assert!(
            error(&with(db)).contains(message),
            "{db}: {}",
            error(&with(db))
        );
    }
    parse(&with(
        "postgres = \"postgresql://oldrooms_ro@127.0.0.1:5432/synapse\"",
    ))
    .unwrap();
    parse(&with(
        "postgres = \"host=localhost,/run/postgresql dbname=synapse\"",
    ))
    .unwrap();
    let broken = error(&with("postgres = \"password=hunter2 nonsense\""));
    assert!(
        broken.starts_with("test.toml: database.postgres: not a connection string"),
        "{broken}"
    );
    assert!(!broken.contains("hunter2"), "{broken}");
}

#[test]
fn a_grace_period_and_its_warning_are_checked() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.delete.grace, None);
    assert_eq!(c.delete.warning, crate::plan::DEFAULT_WARNING);
    let off = parse(&format!("{MINIMAL}[delete]\ngrace = \"0s\"\n")).unwrap();
    assert_eq!(off.delete.grace, None);
    for (text, key) in [
        (
            format!("{MINIMAL}[delete]\ngrace = \"soon\"\n"),
            "delete.grace",
        ),
        (
            format!("{MINIMAL}[delete]\nwarning_message = \"Your rooms go.\"\n"),
            "delete.warning_message",
        ),
    ] {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
}
