use super::*;

#[test]
fn only_baton_variables_no_setting_reads_are_unknown() {
    for known in [
        "BATON_HOSTNAME",
        "BATON_HOST_ID",
        "BATON_FILE",
        "BATON_LOG_FORMAT",
    ] {
        assert!(!is_unknown_var(known), "{known}");
    }
    for unknown in [
        "BATON_TICKETING",
        "BATON_HOSTNAM",
        "BATON_OTEL_COLLECTOR_ENDPOINT",
    ] {
        assert!(is_unknown_var(unknown), "{unknown}");
    }
    assert!(!is_unknown_var("CONFLUENCE_HUB_CONFIG"));
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_reference_validation_names_the_flag_and_the_variable() {
    let (empty, _) = BatonSettings::from_vars(&vars(&[])).unwrap();
    let problems = empty.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("--hostname (BATON_HOSTNAME) is required"));
    assert!(problems[1].contains("--access-token (BATON_ACCESS_TOKEN)"));

    let (half, _) = BatonSettings::from_vars(&vars(&[
        ("BATON_HOSTNAME", "https://wiki.example"),
        ("BATON_USERNAME", "admin"),
        ("BATON_CLIENT_ID", "x@y/z"),
    ]))
    .unwrap();
    assert_eq!(
        half.problems(),
        vec![
            "--password (BATON_PASSWORD) is required with --username (BATON_USERNAME)",
            "--client-secret (BATON_CLIENT_SECRET) is required with --client-id (BATON_CLIENT_ID) (service mode)",
        ]
    );
}

#[test]
fn blank_values_are_unset_and_booleans_parse_as_go_does() {
    let (settings, _) = BatonSettings::from_vars(&vars(&[
        ("BATON_HOSTNAME", "wiki.example"),
        ("BATON_ACCESS_TOKEN", "  "),
        ("BATON_PROVISIONING", "TRUE"),
        ("BATON_SKIP_FULL_SYNC", "0"),
    ]))
    .unwrap();
    assert!(settings.access_token.is_none());
    assert!(settings.provisioning);
    assert!(!settings.skip_full_sync);
    assert_eq!(settings.base_url().unwrap(), "https://wiki.example");

    let err = BatonSettings::from_vars(&vars(&[("BATON_PROVISIONING", "yes please")])).unwrap_err();
    assert_eq!(
        err,
        vec![
            "--provisioning (BATON_PROVISIONING): `yes please` is not a boolean; use true or false"
        ]
    );
}

#[test]
fn tenant_ids_come_from_the_host() {
    let settings = |host: &str| BatonSettings {
        hostname: Some(host.into()),
        ..Default::default()
    };
    assert_eq!(
        settings("https://Confluence.Example.com/").default_tenant_id(),
        "confluence-example-com"
    );
    assert_eq!(
        settings("http://127.0.0.1:8090/wiki").default_tenant_id(),
        "127-0-0-1-8090"
    );
    assert_eq!(tenant_id_from("acme prod.env").unwrap(), "acme-prod-env");
    assert_eq!(tenant_id_from("---"), None);
}

#[test]
fn secrets_become_references_and_never_values() {
    let (settings, not_carried) = BatonSettings::from_vars(&vars(&[
        ("BATON_HOSTNAME", "https://wiki.acme.example"),
        ("BATON_ACCESS_TOKEN", "pat-value-1"),
        ("BATON_CLIENT_ID", "acme@acme.conductor.one/pcc"),
        (
            "BATON_CLIENT_SECRET",
            "secret-token:conductorone.com:v1:abc",
        ),
        ("BATON_HOST_ID", "acme-connector"),
        ("BATON_LOG_LEVEL", "debug"),
        ("BATON_TICKETING", "true"),
        ("HOME", "/root"),
    ]))
    .unwrap();
    let names: Vec<_> = not_carried.iter().map(|n| n.var.as_str()).collect();
    assert_eq!(names, vec!["BATON_LOG_LEVEL", "BATON_TICKETING"]);
    for style in [
        SecretStyle::Baton,
        SecretStyle::PrefixedEnv,
        SecretStyle::Files("/etc/confluence-hub/tenants".into()),
    ] {
        let text = toml_of(settings.instance("acme", &style));
        assert!(!text.contains("pat-value-1"), "{text}");
        assert!(!text.contains("secret-token"), "{text}");
        assert!(text.contains("client_id = \"acme@acme.conductor.one/pcc\""));
        assert!(text.contains("host_id = \"acme-connector\""));
    }
    let files = generated_table(settings.instance(
        "acme",
        &SecretStyle::Files("/etc/confluence-hub/tenants".into()),
    ));
    assert_eq!(
        files["token"]["file"].as_str(),
        Some("/etc/confluence-hub/tenants/acme/BATON_ACCESS_TOKEN")
    );
    let env = generated_table(settings.instance("acme-prod", &SecretStyle::PrefixedEnv));
    assert_eq!(
        env["conductorone"]["client_secret"]["env"].as_str(),
        Some("ACME_PROD_BATON_CLIENT_SECRET")
    );
}

/// One generated instance as a config file's text.
fn toml_of(instance: GeneratedInstance) -> String {
    GeneratedConfig {
        hub: None,
        instance: vec![instance],
    }
    .to_toml()
    .unwrap()
}

/// One generated instance, serialized and read back as a TOML table.
fn generated_table(instance: GeneratedInstance) -> toml::Table {
    let mut config: toml::Table = toml::from_str(&toml_of(instance)).unwrap();
    match config.remove("instance") {
        Some(toml::Value::Array(mut instances)) => match instances.remove(0) {
            toml::Value::Table(table) => table,
            other => panic!("not a table: {other:?}"),
        },
        other => panic!("no [[instance]]: {other:?}"),
    }
}

#[test]
fn the_hub_config_takes_given_values_over_the_variables() {
    let settings = BatonSettings {
        hostname: Some("https://wiki.acme.example".into()),
        access_token: Some(Secret::new("from-a-flag".into())),
        provisioning: true,
        ..Default::default()
    };
    let config = settings
        .hub_config(
            "acme",
            Some(GeneratedHub {
                data_dir: "/tmp/x".into(),
                admin_listen: "127.0.0.1:9090".into(),
            }),
        )
        .unwrap();
    let tenant = &config.tenants[0];
    assert!(tenant.provisioning);
    assert!(tenant.conductorone.is_none());
    match &tenant.confluence.auth {
        confluence::settings::Auth::Token(token) => {
            assert_eq!(token.expose(), "from-a-flag");
        }
        other => panic!("unexpected auth {other:?}"),
    }
}

#[test]
fn a_bad_client_secret_is_reported_against_its_flag_without_its_value() {
    let settings = BatonSettings {
        hostname: Some("https://wiki.acme.example".into()),
        access_token: Some(Secret::new("t".into())),
        client_id: Some("acme@acme.conductor.one/pcc".into()),
        client_secret: Some(Secret::new("not-a-real-secret-123".into())),
        ..Default::default()
    };
    let problems = settings.hub_config("acme", None).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("--client-secret (BATON_CLIENT_SECRET): "),
        "{problems:?}"
    );
    assert!(!problems[0].contains("not-a-real-secret-123"));
}

#[test]
fn task_concurrency_reaches_the_conductorone_settings_and_is_checked_as_there() {
    let (client_id, client_secret, _) =
        sim::conductorone::gen_credentials("acme", "acme.conductor.one");
    let with = |value: &str| {
        let (settings, _) = BatonSettings::from_vars(&vars(&[
            ("BATON_HOSTNAME", "https://wiki.acme.example"),
            ("BATON_ACCESS_TOKEN", "t"),
            ("BATON_CLIENT_ID", &client_id),
            ("BATON_CLIENT_SECRET", client_secret.expose()),
            ("BATON_TASK_CONCURRENCY", value),
        ]))?;
        settings.hub_config("acme", None)
    };
    let config = with("7").unwrap();
    let c1 = config.tenants[0].conductorone.as_ref().unwrap();
    assert_eq!(c1.task_concurrency, 7);
    assert_eq!(
        with("0").unwrap_err(),
        vec!["--task-concurrency (BATON_TASK_CONCURRENCY): must be between 1 and 100"]
    );
    assert_eq!(
        with("lots").unwrap_err(),
        vec![
            "--task-concurrency (BATON_TASK_CONCURRENCY): `lots` is not a whole number; use 1 to 100"
        ]
    );
}

#[test]
fn env_files_parse_like_docker_and_kubectl_read_them() {
    let vars = parse_env_file(
        "# acme\nBATON_HOSTNAME=https://wiki.acme.example\nexport BATON_USERNAME=\"svc\"\n\nBATON_PASSWORD='p=w#d'\n",
    )
    .unwrap();
    assert_eq!(vars["BATON_HOSTNAME"], "https://wiki.acme.example");
    assert_eq!(vars["BATON_USERNAME"], "svc");
    assert_eq!(vars["BATON_PASSWORD"], "p=w#d");
    let err = parse_env_file("BATON_HOSTNAME=x\nsupersecretvalue\n").unwrap_err();
    assert_eq!(err, "line 2: expected KEY=VALUE");
}
