//! The binary as a drop-in for the reference connector: only `BATON_*`
//! variables, no config file. Without a client id it syncs once into
//! `sync.c1z` in its working directory; with one it says Hello to
//! ConductorOne and carries out its tasks. Plus `capabilities` and
//! `config from-env`, the path from many such connectors to one hub.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use conductorone::credentials::ClientCredentials;
use confluence::settings::Auth;
use hub::config::HubConfig;
use platform::secret::Secret;
use sim::conductorone::{
    ConductorOneSim, EntitlementRef, ResourceRef, SimOptions as C1Options, SimTenant, SyncOptions,
    gen_credentials,
};
use sim::confluence::{
    ConfluenceSim, Dataset, GenerateOptions, MutationAction, SimOptions, SimVersion,
};

use crate::support::{HubProcess, TempDir, c1z_resource_ids, dataset_ids, fixture, temp_files};

const TOKEN: &str = "pat-single-connector-0123456789";

fn confluence(version: SimVersion, seed: u64) -> ConfluenceSim {
    let dataset = Dataset::generate(&GenerateOptions {
        seed,
        users: 40,
        groups: 8,
        spaces: 6,
    });
    let mut options = SimOptions::new(version, dataset);
    options.admin_token = TOKEN.into();
    ConfluenceSim::start(options).expect("start a Confluence simulator")
}

/// Runs the binary to completion in `dir` with only `env` (and `PATH`).
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_confluence-hub"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TMPDIR", dir)
        .current_dir(dir);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run confluence-hub")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn without_a_client_id_it_syncs_once_into_sync_c1z_in_the_working_directory() {
    let sim = confluence(SimVersion::V8_5, 81);
    let dir = TempDir::new("single-oneshot");
    let url = sim.base_url();
    let output = run_in(
        dir.path(),
        &[],
        &[
            ("BATON_HOSTNAME", url.as_str()),
            ("BATON_ACCESS_TOKEN", TOKEN),
            ("BATON_LOG_LEVEL", "debug"),
            ("BATON_TICKETING", "true"),
        ],
    );
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    assert!(
        all.contains("warning: BATON_TICKETING is set but not read"),
        "a setting the hub does not offer is named, not silently dropped: {all}"
    );
    let file = dir.path().join("sync.c1z");
    assert!(file.exists(), "no sync.c1z: {all}");
    assert_eq!(
        c1z_resource_ids(&file),
        dataset_ids(&sim.dataset()),
        "the file holds every user, group and space and nothing else"
    );
    assert!(temp_files(dir.path()).is_empty());
    assert!(all.contains("complete: sync.c1z"), "{all}");
    assert!(!all.contains(TOKEN), "the token reached the output");
    // BATON_LOG_LEVEL=debug reached the logger: the client logs each request at debug.
    assert!(all.contains("\"level\":\"DEBUG\""), "{all}");
}

#[test]
fn skip_full_sync_writes_an_empty_full_sync_to_the_named_file() {
    let sim = confluence(SimVersion::V10_2, 82);
    let dir = TempDir::new("single-skip");
    let url = sim.base_url();
    let output = run_in(
        dir.path(),
        &["--skip-full-sync", "-f", "out/empty.c1z"],
        &[
            ("BATON_HOSTNAME", url.as_str()),
            ("BATON_ACCESS_TOKEN", TOKEN),
        ],
    );
    assert!(output.status.success(), "{}", text(&output));
    let file = dir.path().join("out/empty.c1z");
    let reader = baton::c1z::C1zReader::open(&file).expect("a c1z");
    assert!(reader.resources().unwrap().is_empty());
    assert!(!dir.path().join("sync.c1z").exists());
}

#[test]
fn bad_settings_are_refused_naming_the_flag_and_variable_never_the_secret() {
    let dir = TempDir::new("single-errors");
    let missing = run_in(
        dir.path(),
        &[],
        &[("BATON_USERNAME", "admin"), ("BATON_PROVISIONING", "true")],
    );
    let all = text(&missing);
    assert!(!missing.status.success());
    assert!(
        all.contains("--hostname (BATON_HOSTNAME) is required"),
        "{all}"
    );
    assert!(
        all.contains("--password (BATON_PASSWORD) is required with --username (BATON_USERNAME)"),
        "{all}"
    );

    let bad_secret = "hunter2-clearly-not-a-client-secret";
    let wrong = run_in(
        dir.path(),
        &[],
        &[
            ("BATON_HOSTNAME", "https://wiki.acme.example"),
            ("BATON_ACCESS_TOKEN", TOKEN),
            ("BATON_CLIENT_ID", "acme@acme.conductor.one/pcc"),
            ("BATON_CLIENT_SECRET", bad_secret),
            ("BATON_PROVISIONING", "perhaps"),
        ],
    );
    let all = text(&wrong);
    assert!(!wrong.status.success());
    assert!(
        all.contains("--provisioning (BATON_PROVISIONING): `perhaps` is not a boolean"),
        "{all}"
    );
    let fixed = run_in(
        dir.path(),
        &[],
        &[
            ("BATON_HOSTNAME", "https://wiki.acme.example"),
            ("BATON_ACCESS_TOKEN", TOKEN),
            ("BATON_CLIENT_ID", "acme@acme.conductor.one/pcc"),
            ("BATON_CLIENT_SECRET", bad_secret),
        ],
    );
    let all = text(&fixed);
    assert!(!fixed.status.success());
    assert!(
        all.contains("--client-secret (BATON_CLIENT_SECRET): "),
        "{all}"
    );
    for secret in [bad_secret, TOKEN] {
        assert!(!all.contains(secret), "a secret was echoed: {all}");
    }
    // `--help` shows which variables are read, but not their secret values.
    let help = run_in(
        dir.path(),
        &["--help"],
        &[
            ("BATON_ACCESS_TOKEN", TOKEN),
            ("BATON_CLIENT_SECRET", bad_secret),
        ],
    );
    let all = text(&help);
    assert!(all.contains("BATON_ACCESS_TOKEN"), "{all}");
    assert!(!all.contains(TOKEN) && !all.contains(bad_secret), "{all}");
}

/// Flags of the single-connector form given before a command would be
/// ignored by it; they are refused instead, and variables stay harmless.
#[test]
fn connector_flags_before_a_command_are_refused_not_ignored() {
    let dir = TempDir::new("single-misplaced");
    let before_sync = run_in(
        dir.path(),
        &[
            "--hostname",
            "https://wiki.acme.example",
            "--access-token",
            TOKEN,
            "sync",
            "--config",
            "hub.toml",
            "--instance",
            "acme",
            "--out",
            "acme.c1z",
        ],
        &[],
    );
    let all = text(&before_sync);
    assert_eq!(before_sync.status.code(), Some(2), "{all}");
    assert!(
        all.contains("--hostname, --access-token configure the single-connector form")
            && all.contains("`sync` does not read them"),
        "{all}"
    );
    assert!(!all.contains(TOKEN), "a secret was echoed: {all}");

    let before_run = run_in(dir.path(), &["--file", "acme.c1z", "run"], &[]);
    let all = text(&before_run);
    assert_eq!(before_run.status.code(), Some(2), "{all}");
    assert!(all.contains("--file must come after `run`"), "{all}");

    // The variables reach every command; only `run` and no command read them.
    let inspect = run_in(
        dir.path(),
        &[
            "--log-format",
            "console",
            "inspect",
            &fixture("reference.c1z").display().to_string(),
        ],
        &[("BATON_HOSTNAME", "https://wiki.acme.example")],
    );
    assert!(inspect.status.success(), "{}", text(&inspect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_id_it_says_hello_syncs_and_provisions() {
    let sim = confluence(SimVersion::V10_2, 83);
    let (client_id, secret, public_jwk) = gen_credentials("single", "127.0.0.1");
    let c1 = ConductorOneSim::start(C1Options {
        tenants: vec![SimTenant {
            name: "single".into(),
            client_id: client_id.clone(),
            public_jwk,
        }],
        next_poll: Duration::from_millis(200),
        next_heartbeat: Duration::from_secs(1),
        ..C1Options::default()
    })
    .expect("start the ConductorOne simulator");
    let dir = TempDir::new("single-service");
    // The reference image trusts the system roots; SSL_CERT_FILE names them.
    let ca = dir.path().join("roots.pem");
    std::fs::write(&ca, c1.ca_pem()).unwrap();
    let url = sim.base_url();
    let api_host = c1.api_host();
    let mut hub = HubProcess::start_single(
        dir.path(),
        &[
            ("BATON_HOSTNAME", url.as_str()),
            ("BATON_ACCESS_TOKEN", TOKEN),
            ("BATON_CLIENT_ID", client_id.as_str()),
            ("BATON_CLIENT_SECRET", secret.expose()),
            ("BATON_PROVISIONING", "true"),
            ("BATON_HOST_ID", "confluence-dc-connector"),
            ("BATON_C1_API_HOST", api_host.as_str()),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
    );

    let sync = c1.enqueue_sync("single", SyncOptions::default()).unwrap();
    let record = c1
        .wait_for_finish(&sync, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("the sync never finished\n{}", hub.log_tail()));
    let finish = record.finish.as_ref().unwrap();
    assert!(finish.success, "{finish:?}\n{}", hub.log_tail());
    let hellos = c1.hellos("single");
    assert!(!hellos.is_empty(), "no Hello");
    assert!(
        hellos
            .iter()
            .all(|hello| hello.host_id == "confluence-dc-connector"),
        "BATON_HOST_ID is the host id"
    );
    let uploads = c1.uploads("single");
    assert_eq!(uploads.len(), 1);
    let uploaded = dir.path().join("uploaded.c1z");
    std::fs::write(&uploaded, uploads[0].bytes.as_slice()).unwrap();
    assert_eq!(c1z_resource_ids(&uploaded), dataset_ids(&sim.dataset()));

    // A group membership grant to a user who is not yet a member.
    let dataset = sim.dataset();
    let group = &dataset.groups[0];
    let user = dataset
        .users
        .iter()
        .find(|user| user.active && !group.members.contains(&user.user_key))
        .expect("a user outside the group");
    let grant = c1
        .enqueue_grant(
            "single",
            EntitlementRef {
                resource: ResourceRef {
                    resource_type: "group".into(),
                    resource: group.name.clone(),
                },
                slug: "member".into(),
            },
            ResourceRef {
                resource_type: "user".into(),
                resource: user.user_key.clone(),
            },
        )
        .unwrap();
    let record = c1
        .wait_for_finish(&grant, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the grant never finished\n{}", hub.log_tail()));
    let finish = record.finish.as_ref().unwrap();
    assert!(finish.success, "{finish:?}\n{}", hub.log_tail());
    let added = MutationAction::AddGroupMember {
        username: user.username.clone(),
        group: group.name.clone(),
    };
    assert!(
        sim.mutations().iter().any(|m| m.action == added),
        "Confluence saw no membership change: {:?}",
        sim.mutations()
    );
    assert!(
        sim.dataset()
            .groups
            .iter()
            .any(|g| g.name == group.name && g.members.contains(&user.user_key))
    );

    // A reload has no file to read: it says so instead of pretending.
    let (code, body) = hub.post("/reload").await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("restart it"), "{body}");

    hub.signal("TERM");
    let status = hub
        .wait_exit(Duration::from_secs(10))
        .expect("the hub stops on SIGTERM");
    assert!(status.success(), "{status}\n{}", hub.log_tail());
    let log = hub.log_text();
    assert!(
        log.contains("config from-env"),
        "the log points at the way to one hub for many instances"
    );
    for secret in [TOKEN, secret.expose()] {
        assert!(!log.contains(secret), "a secret is in the log");
    }
}

#[test]
fn capabilities_print_what_the_hub_supports_as_the_reference_prints_them() {
    let dir = TempDir::new("capabilities");
    let output = run_in(dir.path(), &["capabilities"], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("capabilities are JSON");
    assert_eq!(
        json["@type"],
        "type.googleapis.com/c1.connector.v2.ConnectorCapabilities"
    );
    let per_type = |json: &serde_json::Value, id: &str| -> Vec<String> {
        json["resourceTypeCapabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["resourceType"]["id"] == id)
            .unwrap_or_else(|| panic!("no {id} entry"))["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    for id in ["group", "space"] {
        assert_eq!(
            per_type(&json, id),
            ["CAPABILITY_PROVISION", "CAPABILITY_SYNC"],
            "{id}"
        );
    }
    assert_eq!(
        per_type(&json, "user"),
        ["CAPABILITY_SYNC", "CAPABILITY_ACCOUNT_PROVISIONING"]
    );
    let details = &json["credentialDetails"]["capabilityAccountProvisioning"];
    assert_eq!(
        details["supportedCredentialOptions"],
        serde_json::json!([
            "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
            "CAPABILITY_DETAIL_CREDENTIAL_OPTION_RANDOM_PASSWORD"
        ])
    );
    assert_eq!(
        details["preferredCredentialOption"],
        "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"
    );

    // Deprovisioning, when a tenant enables it, adds RESOURCE_DELETE to users.
    std::fs::write(
        dir.path().join("hub.toml"),
        "[[instance]]\nid = \"acme\"\nbase_url = \"https://wiki.acme.example\"\ntoken = { env = \"ACME_PAT\" }\ndeprovisioning = \"disable\"\n",
    )
    .unwrap();
    let output = run_in(dir.path(), &["capabilities", "--config", "hub.toml"], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        per_type(&json, "user"),
        [
            "CAPABILITY_SYNC",
            "CAPABILITY_ACCOUNT_PROVISIONING",
            "CAPABILITY_RESOURCE_DELETE"
        ]
    );
}

#[test]
fn config_from_env_turns_connector_environments_into_one_hub_config() {
    let dir = TempDir::new("from-env");
    let (_, acme_secret, _) = gen_credentials("acme", "acme.conductor.one");
    let acme_secret = acme_secret.expose();
    std::fs::write(
        dir.path().join("acme.env"),
        format!(
            "BATON_HOSTNAME=https://wiki.acme.example\nBATON_ACCESS_TOKEN={TOKEN}\n\
             BATON_CLIENT_ID=acme@acme.conductor.one/pcc\nBATON_CLIENT_SECRET={acme_secret}\n\
             BATON_PROVISIONING=true\nBATON_LOG_LEVEL=debug\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("globex.env"),
        "BATON_HOSTNAME=confluence.globex.example:8443\nBATON_USERNAME=svc-c1\nBATON_PASSWORD=globex-password-1\n",
    )
    .unwrap();
    let secrets_dir = dir.path().join("tenants");
    let from_env = |files: &[&str], extra: &[&str]| {
        let mut args = vec!["config", "from-env"];
        for file in files {
            args.extend(["--env-file", file]);
        }
        args.extend(extra);
        run_in(dir.path(), &args, &[])
    };
    let output = from_env(
        &["acme.env", "globex.env"],
        &[
            "--secrets-dir",
            secrets_dir.to_str().unwrap(),
            "--out",
            "hub.toml",
        ],
    );
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    let written = std::fs::read_to_string(dir.path().join("hub.toml")).unwrap();
    for secret in [TOKEN, acme_secret, "globex-password-1"] {
        assert!(!written.contains(secret), "a secret value in the config");
        assert!(!all.contains(secret), "a secret value in the output");
    }
    assert!(all.contains("BATON_LOG_LEVEL is not carried over"), "{all}");

    // Mount each connector's Secret where the config says, and the hub reads it.
    for (id, key, value) in [
        ("acme", "BATON_ACCESS_TOKEN", TOKEN),
        ("acme", "BATON_CLIENT_SECRET", acme_secret),
        ("globex", "BATON_PASSWORD", "globex-password-1"),
    ] {
        std::fs::create_dir_all(secrets_dir.join(id)).unwrap();
        std::fs::write(secrets_dir.join(id).join(key), value).unwrap();
    }
    let config = HubConfig::load(&dir.path().join("hub.toml")).expect("a valid hub config");
    let acme = config.tenant("acme").expect("acme");
    assert!(acme.provisioning);
    assert!(matches!(&acme.confluence.auth, Auth::Token(token) if token.expose() == TOKEN));
    let c1 = acme
        .conductorone
        .as_ref()
        .expect("acme runs in service mode");
    let expected = ClientCredentials::parse(
        "acme@acme.conductor.one/pcc",
        &Secret::new(acme_secret.into()),
    )
    .expect("the secret in the env file parses");
    assert_eq!(c1.credentials, expected);
    let globex = config.tenant("globex").expect("globex");
    assert!(!globex.provisioning && globex.conductorone.is_none());
    assert_eq!(
        globex.confluence.base_url.as_str(),
        "https://confluence.globex.example:8443/"
    );
    assert!(matches!(
        &globex.confluence.auth,
        Auth::Basic { username, password } if username == "svc-c1" && password.expose() == "globex-password-1"
    ));

    // Without env files: this process's BATON_* variables, here as prefixed variables.
    let output = run_in(
        dir.path(),
        &["config", "from-env", "--secrets", "env"],
        &[
            ("BATON_HOSTNAME", "https://wiki.initech.example"),
            ("BATON_USERNAME", "svc"),
            ("BATON_PASSWORD", "initech-password-1"),
        ],
    );
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    assert!(!all.contains("initech-password-1"), "{all}");
    let config = HubConfig::from_toml_without_secrets(
        &String::from_utf8_lossy(&output.stdout),
        Path::new("hub.toml"),
    )
    .expect("a valid hub config");
    assert_eq!(config.tenants[0].id.as_str(), "wiki-initech-example");
    let written: toml::Table =
        toml::from_str(&String::from_utf8_lossy(&output.stdout)).expect("TOML");
    assert_eq!(
        written["instance"][0]["password"]["env"].as_str(),
        Some("WIKI_INITECH_EXAMPLE_BATON_PASSWORD")
    );

    // Two connectors with one ConductorOne client id cannot both be served.
    std::fs::copy(
        dir.path().join("acme.env"),
        dir.path().join("acme-copy.env"),
    )
    .unwrap();
    let output = from_env(&["acme.env", "acme-copy.env"], &[]);
    let all = text(&output);
    assert!(!output.status.success());
    assert!(
        all.contains("have the same --client-id (BATON_CLIENT_ID)"),
        "{all}"
    );
    assert!(output.stdout.is_empty(), "no config on a failure");
}
