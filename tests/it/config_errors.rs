//! Config errors as an operator sees them, from `check`, `run` and a reload
//! of a running hub (SIGHUP, `POST /reload`, `/status`, the log): each names
//! the file, line, tenant and key, and none repeats a value from the file.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use sim::confluence::{Dataset, GenerateOptions, SimOptions, SimVersion};

use crate::support::{HubProcess, TempDir};

const SECRET: &str = "inline-secret-d41f9a";

const HUB: &str = "[hub]\ndata_dir = \"{data_dir}\"\nadmin_listen = \"{admin}\"\nworkers = 1\nshutdown_grace = \"2s\"\n";

/// A config whose tenant `acme` (on line 9 on) writes one secret inline, and
/// the key and line the error must name.
fn inline_secret_configs(base_url: &str) -> Vec<(String, &'static str, usize)> {
    let head = format!(
        "{HUB}\n[[instance]]\nid = \"steady\"\nbase_url = \"{base_url}\"\ntoken = {{ env = \"HUB_IT_TOKEN\" }}\n\n\
         [[instance]]\nid = \"acme\"\nbase_url = \"{base_url}\"\n"
    );
    let line_after_head = head.lines().count() + 1;
    vec![
        (
            format!("{head}token = \"{SECRET}\"\n"),
            "token",
            line_after_head,
        ),
        (
            format!("{head}username = \"svc\"\npassword = \"{SECRET}\"\n"),
            "password",
            line_after_head + 1,
        ),
        (
            format!(
                "{head}token = {{ env = \"HUB_IT_TOKEN\" }}\n[instance.conductorone]\n\
                 client_id = \"hub@acme.conductor.one/pcc\"\nclient_secret = \"{SECRET}\"\n"
            ),
            "conductorone.client_secret",
            line_after_head + 3,
        ),
    ]
}

fn hub_command(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args(args)
        .env_remove("CONFLUENCE_HUB_CONFIG")
        .env("HUB_IT_TOKEN", "sim-admin-token")
        .current_dir(dir)
        .output()
        .expect("run confluence-hub")
}

fn all_output(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn check_and_run_name_file_line_tenant_and_key_of_an_inline_secret_but_never_print_it() {
    let dir = TempDir::new("inline-secret-check");
    let config = dir.path().join("hub.toml");
    for (text, key, line) in inline_secret_configs("https://wiki.acme.example") {
        let text = text
            .replace("{admin}", "127.0.0.1:0")
            .replace("{data_dir}", "data");
        std::fs::write(&config, &text).unwrap();
        for command in ["check", "run"] {
            let output = hub_command(dir.path(), &[command, "--config", "hub.toml"]);
            let shown = all_output(&output);
            assert!(!output.status.success(), "{command} {key}: {shown}");
            assert!(!shown.contains(SECRET), "{command} {key}: {shown}");
            assert!(shown.contains("hub.toml"), "{command} {key}: {shown}");
            assert!(
                shown.contains(&format!("line {line}: instance `acme`: key `{key}`")),
                "{command} {key}: {shown}"
            );
            assert!(
                shown.contains("{ env = \"VAR\" }"),
                "{command} {key}: {shown}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_of_an_inline_secret_is_refused_without_printing_it_anywhere() {
    let sim = sim::confluence::ConfluenceSim::start(SimOptions::new(
        SimVersion::V9_2,
        Dataset::generate(&GenerateOptions {
            seed: 5,
            users: 5,
            groups: 2,
            spaces: 1,
        }),
    ))
    .expect("start a Confluence simulator");
    let base_url = sim.base_url();
    let good = format!(
        "{HUB}\n[[instance]]\nid = \"steady\"\nbase_url = \"{base_url}\"\ntoken = {{ env = \"HUB_IT_TOKEN\" }}\n"
    );
    let dir = TempDir::new("inline-secret-reload");
    let mut hub = HubProcess::start(dir.path(), &good, &[("HUB_IT_TOKEN", "sim-admin-token")]);
    hub.wait_for(Duration::from_secs(20), "the hub to serve", |status| {
        status["last_reload"].is_null() || status["last_reload"]["ok"] == true
    })
    .await;

    for (index, (text, key, line)) in inline_secret_configs(&base_url).into_iter().enumerate() {
        hub.rewrite_config(&text);
        if index % 2 == 0 {
            hub.signal("HUP");
        } else {
            let (code, body) = hub.post("/reload").await;
            assert_eq!(code, 422, "{key}: {body}");
            assert!(
                !body.contains(SECRET),
                "{key}: the reply shows the secret: {body}"
            );
            assert!(body.contains(key), "{key}: {body}");
        }
        let status = hub
            .wait_for(Duration::from_secs(10), key, |status| {
                status["last_reload"]["ok"] == false
            })
            .await;
        let shown = status.to_string();
        assert!(
            !shown.contains(SECRET),
            "{key}: /status shows the secret: {shown}"
        );
        let error = status["last_reload"]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("line {line}: instance `acme`: key `{key}`")),
            "{key}: {error}"
        );
        // Reset to the good file so the next case's failure is its own.
        hub.rewrite_config(&good);
        hub.signal("HUP");
        hub.wait_for(Duration::from_secs(10), "a clean reload", |status| {
            status["last_reload"]["ok"] == true
        })
        .await;
    }
    let log = hub.log_text();
    assert!(
        log.contains("conductorone.client_secret"),
        "the log names the key"
    );
    assert!(!log.contains(SECRET), "the log shows the secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_allowed_plain_http_to_another_host_is_warned_about_at_start() {
    // 192.0.2.0/24 is reserved for documentation: never this machine.
    let config = format!(
        "{HUB}\n[[instance]]\nid = \"cleartext\"\nbase_url = \"http://192.0.2.10:8090\"\n\
         token = {{ env = \"HUB_IT_TOKEN\" }}\nallow_insecure_http = true\nrequest_timeout = \"1s\"\n"
    );
    let dir = TempDir::new("insecure-http");
    let mut hub = HubProcess::start(dir.path(), &config, &[("HUB_IT_TOKEN", "sim-admin-token")]);
    hub.wait_for(Duration::from_secs(20), "the tenant to start", |status| {
        crate::support::tenant(status, "cleartext").is_some()
    })
    .await;
    let warning = hub
        .log_text()
        .lines()
        .find(|line| line.contains("allow_insecure_http") && line.contains("WARN"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no warning at start:\n{}", hub.log_tail()));
    assert!(warning.contains("cleartext"), "{warning}");
    assert!(!warning.contains("sim-admin-token"), "{warning}");
}
