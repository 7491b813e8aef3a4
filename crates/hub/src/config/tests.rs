use std::path::Path;

use super::*;
use confluence::RateCeiling;
use confluence::settings::Auth;

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
    assert_eq!(
        tenant.confluence.rate_ceiling,
        Some(RateCeiling {
            requests_per_second: 5.0,
            burst: 7
        })
    );
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
    assert_eq!(settings.rate_ceiling, None);
    assert_eq!(settings.max_in_flight, defaults::MAX_IN_FLIGHT);
    assert_eq!(
        settings.concurrency_ceiling(),
        defaults::MAX_IN_FLIGHT_CEILING
    );

    let config = load(&tenant("requests_per_second = 2.5")).unwrap();
    let ceiling = config.tenant("p").unwrap().confluence.rate_ceiling;
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

#[test]
fn a_bad_choice_names_line_tenant_key_and_the_allowed_values_but_not_the_value() {
    let text = "[[instance]]\nid = \"acme\"\nbase_url = \"https://c.example\"\ntoken = { env = \"HUB_CFG_TEST_CHOICE\" }\ndeprovisioning = \"obliterate\"\n";
    let err = load(text).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    let problem = &problems[0];
    assert_eq!(problem.line, Some(5), "{err}");
    assert_eq!(problem.tenant.as_deref(), Some("acme"), "{err}");
    assert_eq!(problem.key, "deprovisioning", "{err}");
    assert!(problem.message.contains("`off`"), "{err}");
    assert!(problem.message.contains("`disable`"), "{err}");
    assert!(!err.to_string().contains("obliterate"), "{err}");
}

/// A ConductorOne client secret whose public key `x` belongs to another private key.
fn damaged_client_secret() -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let key = |seed: u8| ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let jwk = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key(1).verifying_key().to_bytes()),
        URL_SAFE_NO_PAD.encode(key(2).to_bytes()),
    );
    format!(
        "secret-token:conductorone.com:v1:{}",
        URL_SAFE_NO_PAD.encode(jwk)
    )
}

#[test]
fn a_damaged_client_secret_fails_validation_naming_tenant_and_key() {
    let dir = std::env::temp_dir().join(format!("hub-cfg-jwk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = damaged_client_secret();
    std::fs::write(dir.join("c1-secret"), &secret).unwrap();
    std::fs::write(dir.join("pat"), "pat-value").unwrap();
    let text = r#"
[[instance]]
id = "acme"
base_url = "https://c.example"
token = { file = "pat" }
[instance.conductorone]
client_id = "hub@acme.conductor.one/pcc"
client_secret = { file = "c1-secret" }
"#;
    let err = HubConfig::from_toml(text, &dir.join("hub.toml")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].tenant.as_deref(), Some("acme"));
    assert_eq!(problems[0].key, "conductorone.client_secret");
    assert_eq!(problems[0].line, Some(2));
    assert!(problems[0].message.contains("does not match"), "{err}");
    assert!(!err.to_string().contains(&secret), "{err}");
}

#[test]
fn a_ca_file_without_a_certificate_fails_validation_naming_tenant_and_key() {
    let dir = std::env::temp_dir().join(format!("hub-cfg-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("pat"), "pat-value").unwrap();
    let text = "[[instance]]\nid = \"acme\"\nbase_url = \"https://c.example\"\n\
                token = { file = \"pat\" }\nca_file = \"ca.pem\"\n";
    let err = HubConfig::from_toml(text, &dir.join("hub.toml")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].tenant.as_deref(), Some("acme"));
    assert_eq!(problems[0].key, "ca_file");
}

#[test]
fn a_device_named_as_a_file_fails_validation_without_being_read() {
    with_env_token("HUB_CFG_TEST_DEVICE");
    let cases = [
        (
            "ca_file = \"/dev/zero\"\ntoken = { env = \"HUB_CFG_TEST_DEVICE\" }",
            "ca_file",
        ),
        ("token = { file = \"/dev/zero\" }", "token"),
    ];
    for (settings, key) in cases {
        let text =
            format!("[[instance]]\nid = \"acme\"\nbase_url = \"https://c.example\"\n{settings}\n");
        let err = HubConfig::from_toml(&text, Path::new("/etc/hub/hub.toml")).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(problems[0].key, key, "{err}");
        assert!(problems[0].message.contains("not a regular file"), "{err}");
    }
}

#[test]
fn a_secret_written_inline_is_reported_by_key_and_never_quoted() {
    with_env_token("HUB_CFG_TEST_INLINE");
    let secret = "inline-secret-value-7f3a";
    let cases = [
        (format!("token = \"{secret}\""), String::new(), "token"),
        (
            format!("username = \"svc\"\npassword = \"{secret}\""),
            String::new(),
            "password",
        ),
        (
            "token = { env = \"HUB_CFG_TEST_INLINE\" }".to_owned(),
            format!(
                "[instance.conductorone]\nclient_id = \"hub@acme.conductor.one/pcc\"\nclient_secret = \"{secret}\"\n"
            ),
            "conductorone.client_secret",
        ),
    ];
    for (auth, table, key) in cases {
        let text = format!(
            "[[instance]]\nid = \"other\"\nbase_url = \"https://o.example\"\ntoken = {{ env = \"HUB_CFG_TEST_INLINE\" }}\n\
             [[instance]]\nid = \"acme\"\nbase_url = \"https://c.example\"\n{auth}\n{table}"
        );
        let err = load(&text).unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{err}");
        let problem = &problems[0];
        assert_eq!(problem.tenant.as_deref(), Some("acme"), "{err}");
        assert_eq!(problem.key, key, "{err}");
        let secret_line = text
            .lines()
            .position(|line| line.contains(secret))
            .map(|index| index + 1);
        assert_eq!(problem.line, secret_line, "{err}");
        assert!(problem.message.contains("{ env = \"VAR\" }"), "{err}");
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }
}

#[test]
fn no_problem_quotes_the_value_it_refuses() {
    let value = "quoted-value-9c1e";
    let text = format!(
        "[hub]\nadmin_listen = \"{value}\"\nshutdown_grace = \"{value}\"\n\
         [telemetry]\notlp_endpoint = \"{value}\"\n\
         [[instance]]\nid = \"acme\"\nbase_url = \"{value}\"\ntoken = {{ env = \"HUB_CFG_TEST_QUOTE\" }}\n\
         version = \"{value}\"\nsync_interval = \"{value}\"\n\
         [[instance]]\nid = \"{value}-Bad!\"\nbase_url = \"https://c.example\"\ntoken = {{ env = \"HUB_CFG_TEST_QUOTE\" }}\n"
    );
    with_env_token("HUB_CFG_TEST_QUOTE");
    let err = load(&text).unwrap_err();
    let keys: Vec<String> = err.problems().into_iter().map(|p| p.key).collect();
    for key in [
        "hub.admin_listen",
        "hub.shutdown_grace",
        "telemetry.otlp_endpoint",
        "base_url",
        "version",
        "sync_interval",
        "id",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing: {err}");
    }
    assert!(!err.to_string().contains(value), "{err}");
}

#[test]
fn two_tenants_sharing_a_conductorone_client_id_or_host_id_are_refused_naming_both() {
    let text = r#"
[[instance]]
id = "acme"
base_url = "https://a.example"
token = { env = "HUB_CFG_TEST_SHARED" }
[instance.conductorone]
client_id = "hub@acme.conductor.one/pcc"
client_secret = { env = "HUB_CFG_TEST_SHARED" }
host_id = "connector-1"

[[instance]]
id = "globex"
base_url = "https://g.example"
token = { env = "HUB_CFG_TEST_SHARED" }
[instance.conductorone]
client_id = "hub@acme.conductor.one/pcc"
client_secret = { env = "HUB_CFG_TEST_SHARED" }
host_id = "connector-1"
"#;
    // Without secrets only the sharing is left to find.
    let err =
        HubConfig::from_toml_without_secrets(text, Path::new("/etc/hub/hub.toml")).unwrap_err();
    let problems = err.problems();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["conductorone.client_id", "conductorone.host_id"],
        "{err}"
    );
    for problem in &problems {
        assert_eq!(problem.tenant.as_deref(), Some("globex"), "{err}");
        assert_eq!(problem.line, Some(11), "{err}");
        assert!(problem.message.contains("`acme`"), "{err}");
    }
    let distinct =
        text.replacen("connector-1", "connector-2", 1)
            .replacen("hub@acme", "hub@globex", 1);
    HubConfig::from_toml_without_secrets(&distinct, Path::new("/etc/hub/hub.toml"))
        .unwrap_or_else(|err| panic!("{err}"));
}

fn with_base_url(base_url: &str, extra: &str) -> Result<HubConfig, ConfigError> {
    with_env_token("HUB_CFG_TEST_HTTP");
    load(&format!(
        "[[instance]]\nid = \"acme\"\nbase_url = \"{base_url}\"\ntoken = {{ env = \"HUB_CFG_TEST_HTTP\" }}\n{extra}"
    ))
}

#[test]
fn plain_http_to_another_host_is_refused_unless_the_tenant_allows_it() {
    let err = with_base_url("http://wiki.acme.example", "").unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].tenant.as_deref(), Some("acme"));
    assert_eq!(problems[0].key, "base_url");
    assert!(problems[0].message.contains("allow_insecure_http"), "{err}");

    let allowed = with_base_url("http://wiki.acme.example", "allow_insecure_http = true").unwrap();
    assert!(allowed.tenants[0].confluence.sends_credentials_in_clear());
    for loopback in [
        "http://127.0.0.1:8090",
        "http://localhost:8090",
        "http://[::1]:8090",
        "https://wiki.acme.example",
    ] {
        let config = with_base_url(loopback, "").unwrap_or_else(|err| panic!("{err}"));
        assert!(!config.tenants[0].confluence.sends_credentials_in_clear());
    }
}

#[test]
fn provisioning_over_plain_http_to_another_host_is_refused_even_when_allowed() {
    let err = with_base_url(
        "http://wiki.acme.example",
        "allow_insecure_http = true\nprovisioning = true",
    )
    .unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    assert_eq!(problems[0].key, "provisioning");
    assert_eq!(problems[0].tenant.as_deref(), Some("acme"));
    with_base_url("http://127.0.0.1:8090", "provisioning = true")
        .unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn credentials_inside_base_url_are_refused_without_echoing_them() {
    for url in [
        "https://svc:hunter2-pw@wiki.acme.example",
        "https://hunter2-user@wiki.acme.example",
    ] {
        let err = with_base_url(url, "").unwrap_err();
        let problems = err.problems();
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(problems[0].key, "base_url");
        assert!(problems[0].message.contains("credentials"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
