use std::path::Path;

use super::*;

fn load(text: &str) -> Result<HubConfig, ConfigError> {
    HubConfig::from_toml(text, Path::new("/etc/hub/hub.toml"))
}

fn with_env_token(var: &str) {
    // SAFETY: tests in this module set distinct variable names and never read
    // them from another thread concurrently with a write of the same name.
    unsafe { std::env::set_var(var, "pat-value") };
}

const MINIMAL: &str = r#"
[hub]
data_dir = "data"
[defaults]
requests_per_second = 5
[[instance]]
id = "acme"
base_url = "https://confluence.acme.example/"
token = { env = "HUB_CFG_TEST_ACME" }
burst = 7
"#;

#[test]
fn minimal_config_gets_defaults_and_overrides() {
    with_env_token("HUB_CFG_TEST_ACME");
    let config = load(MINIMAL).unwrap();
    assert_eq!(config.hub.data_dir, Path::new("/etc/hub/data"));
    let tenant = config.tenant("acme").unwrap();
    assert_eq!(
        tenant.confluence.base_url.as_str(),
        "https://confluence.acme.example/"
    );
    assert_eq!(tenant.confluence.requests_per_second, 5.0);
    assert_eq!(tenant.confluence.burst, 7);
    assert_eq!(tenant.confluence.page_size, defaults::PAGE_SIZE);
    assert_eq!(tenant.sync.interval, defaults::SYNC_INTERVAL);
    assert!(!tenant.provisioning);
    assert!(matches!(&tenant.confluence.auth, Auth::Token(t) if t.expose() == "pat-value"));
}

#[test]
fn unknown_key_is_reported_with_its_line() {
    let err = load("[hub]\ndata_dir = \"x\"\nfrobnicate = 1\n").unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(3));
    assert!(problems[0].message.contains("frobnicate"), "{err}");
}

#[test]
fn syntax_error_is_reported_with_its_line() {
    let err = load("[hub]\n\ndata_dir = \"unterminated\n").unwrap_err();
    assert_eq!(err.problems()[0].line, Some(3), "{err}");
}

#[test]
fn duplicate_ids_and_bad_values_are_all_reported_at_once() {
    with_env_token("HUB_CFG_TEST_DUP");
    let text = r#"
[[instance]]
id = "dup"
base_url = "https://a.example"
token = { env = "HUB_CFG_TEST_DUP" }
[[instance]]
id = "dup"
base_url = "ftp://b.example"
token = { env = "HUB_CFG_TEST_DUP" }
page_size = 0
"#;
    let err = load(text).unwrap_err();
    let problems = err.problems();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"base_url") && keys.contains(&"page_size"),
        "{keys:?}"
    );
    let duplicate = problems
        .iter()
        .find(|p| p.key == "id")
        .expect("duplicate id reported");
    assert_eq!(duplicate.tenant.as_deref(), Some("dup"));
    assert_eq!(duplicate.line, Some(6));
}

#[test]
fn concurrent_syncs_default_to_eight_per_worker_and_zero_is_refused() {
    with_env_token("HUB_CFG_TEST_ACME");
    let config = load(&MINIMAL.replace("[hub]\n", "[hub]\nworkers = 3\n")).unwrap();
    assert_eq!(
        config.hub.max_concurrent_syncs,
        3 * defaults::SYNCS_PER_WORKER
    );
    let config = load(&MINIMAL.replace("[hub]\n", "[hub]\nmax_concurrent_syncs = 1\n")).unwrap();
    assert_eq!(config.hub.max_concurrent_syncs, 1);
    let err = load(&MINIMAL.replace("[hub]\n", "[hub]\nmax_concurrent_syncs = 0\n")).unwrap_err();
    assert_eq!(err.problems()[0].key, "hub.max_concurrent_syncs", "{err}");
}

#[test]
fn missing_secret_file_is_an_error_naming_tenant_and_key() {
    let text = r#"
[[instance]]
id = "beta"
base_url = "https://beta.example"
token = { file = "/nonexistent/hub-test-secret" }
"#;
    let err = load(text).unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(problem.tenant.as_deref(), Some("beta"));
    assert_eq!(problem.key, "token");
    assert!(err.to_string().contains("/nonexistent/hub-test-secret"));
}

#[test]
fn inline_secret_is_refused() {
    let text = r#"
[[instance]]
id = "gamma"
base_url = "https://gamma.example"
token = "plain-text-token"
"#;
    assert!(load(text).is_err());
}

#[test]
fn token_and_password_are_mutually_exclusive() {
    with_env_token("HUB_CFG_TEST_BOTH");
    let text = r#"
[[instance]]
id = "both"
base_url = "https://both.example"
token = { env = "HUB_CFG_TEST_BOTH" }
username = "admin"
password = { env = "HUB_CFG_TEST_BOTH" }
"#;
    let err = load(text).unwrap_err();
    assert_eq!(err.problems()[0].key, "token");
}

#[test]
fn conductorone_credentials_are_shape_checked() {
    with_env_token("HUB_CFG_TEST_C1");
    let text = r#"
[[instance]]
id = "c1"
base_url = "https://c1.example"
token = { env = "HUB_CFG_TEST_C1" }
[instance.conductorone]
client_id = "not-a-client-id"
client_secret = { env = "HUB_CFG_TEST_C1" }
"#;
    let err = load(text).unwrap_err();
    let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        ["conductorone.client_id", "conductorone.client_secret"]
    );
    assert!(
        !err.to_string().contains("pat-value"),
        "secret leaked: {err}"
    );
}

#[test]
fn pacing_has_no_ceiling_by_default_and_rejects_nonsense_ceilings() {
    with_env_token("HUB_CFG_TEST_PACING");
    let tenant = |extra: &str| {
        format!(
            "[[instance]]\nid = \"p\"\nbase_url = \"https://p.example\"\n\
             token = {{ env = \"HUB_CFG_TEST_PACING\" }}\n{extra}\n"
        )
    };
    let config = load(&tenant("")).unwrap();
    let settings = &config.tenant("p").unwrap().confluence;
    assert_eq!(settings.rate_ceiling(), None);
    assert_eq!(settings.max_in_flight, defaults::MAX_IN_FLIGHT);
    assert_eq!(
        settings.concurrency_ceiling(),
        defaults::MAX_IN_FLIGHT_CEILING
    );

    let config = load(&tenant("requests_per_second = 2.5")).unwrap();
    let ceiling = config.tenant("p").unwrap().confluence.rate_ceiling();
    assert_eq!(
        ceiling.map(|c| (c.requests_per_second, c.burst)),
        Some((2.5, 3))
    );

    for (extra, key) in [
        ("requests_per_second = 0", "requests_per_second"),
        ("requests_per_second = -1", "requests_per_second"),
        ("requests_per_second = inf", "requests_per_second"),
        ("requests_per_second = 5\nburst = 0", "burst"),
        (
            "max_in_flight = 8\nmax_in_flight_ceiling = 4",
            "max_in_flight_ceiling",
        ),
    ] {
        let err = load(&tenant(extra)).unwrap_err();
        assert_eq!(err.problems()[0].key, key, "{extra}: {err}");
    }
}

#[test]
fn diff_sorts_tenants_into_added_removed_changed_unchanged() {
    with_env_token("HUB_CFG_TEST_DIFF");
    let old = load(
        r#"
[[instance]]
id = "keep"
base_url = "https://keep.example"
token = { env = "HUB_CFG_TEST_DIFF" }
[[instance]]
id = "change"
base_url = "https://change.example"
token = { env = "HUB_CFG_TEST_DIFF" }
[[instance]]
id = "drop"
base_url = "https://drop.example"
token = { env = "HUB_CFG_TEST_DIFF" }
"#,
    )
    .unwrap();
    let new = load(
        r#"
[hub]
admin_listen = "127.0.0.1:9999"
[[instance]]
id = "change"
base_url = "https://change.example"
token = { env = "HUB_CFG_TEST_DIFF" }
requests_per_second = 1
[[instance]]
id = "keep"
base_url = "https://keep.example"
token = { env = "HUB_CFG_TEST_DIFF" }
[[instance]]
id = "new"
base_url = "https://new.example"
token = { env = "HUB_CFG_TEST_DIFF" }
"#,
    )
    .unwrap();
    let result = diff(&old, &new, &old.tenants, &new.tenants);
    let ids = |ids: &[TenantId]| {
        ids.iter()
            .map(|id| id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&result.added), ["new"]);
    assert_eq!(ids(&result.removed), ["drop"]);
    assert_eq!(ids(&result.changed), ["change"]);
    assert_eq!(ids(&result.unchanged), ["keep"]);
    assert_eq!(result.needs_restart, ["hub.admin_listen"]);
}

#[test]
fn shard_planning_loads_tenants_without_their_secrets() {
    let text = r#"
[sharding]
replicas = 3
[[instance]]
id = "nosecret"
base_url = "https://nosecret.example"
token = { file = "/nonexistent/hub-test-token" }
"#;
    assert!(load(text).is_err());
    let path = std::env::temp_dir().join(format!("hub-shard-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let config = HubConfig::load_without_secrets(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(config.tenants[0].id.as_str(), "nosecret");
    assert_eq!(config.sharding.replicas, 3);
}
