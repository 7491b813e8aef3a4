//! The operator console as an on-call engineer uses it: a real browser
//! against the real `confluence-hub run` with three tenants on the
//! simulators; its history across restarts; and no secret on any page.

use std::time::Duration;

use serde_json::Value;
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, RateLimit, SimOptions, SimVersion};

use crate::browser::Browser;
use crate::support::{HubProcess, TempDir, http_client, tenant};

const ADMIN_TOKEN: &str = "console-admin-token-0123456789";

fn confluence(seed: u64, rate_limit: Option<RateLimit>) -> ConfluenceSim {
    let dataset = Dataset::generate(&GenerateOptions {
        seed,
        users: 12,
        groups: 3,
        spaces: 2,
    });
    let mut options = SimOptions::new(SimVersion::V9_2, dataset);
    options.rate_limit = rate_limit;
    ConfluenceSim::start(options).expect("start a Confluence simulator")
}

fn instance(id: &str, sim: &ConfluenceSim, token_env: &str) -> String {
    format!(
        "[[instance]]\nid = \"{id}\"\nbase_url = \"{}\"\ntoken = {{ env = \"{token_env}\" }}\nsync_interval = \"1h\"\nretry_attempts = 2\nretry_max_elapsed = \"2s\"\n",
        sim.base_url()
    )
}

fn hub_section(admin_token: bool) -> String {
    let token = if admin_token {
        "admin_token = { env = \"HUB_IT_ADMIN\" }\n"
    } else {
        ""
    };
    format!(
        "[hub]\ndata_dir = \"{{data_dir}}\"\nadmin_listen = \"{{admin}}\"\nshutdown_grace = \"2s\"\n{token}"
    )
}

/// The tenant page's JSON (`/api/tenants/{id}`) with the admin token.
async fn tenant_api(hub: &HubProcess, id: &str) -> Value {
    hub.get(&format!("/api/tenants/{id}"))
        .await
        .expect("the admin endpoint answers")
        .json()
        .await
        .expect("JSON")
}

fn manual_syncs(page: &Value) -> usize {
    page["history"].as_array().map_or(0, |history| {
        history
            .iter()
            .filter(|entry| entry["kind"] == "sync" && entry["trigger"] == "manual")
            .count()
    })
}

/// Signs in as a browser would: the session cookie's `name=value`.
async fn sign_in(hub: &HubProcess, token: &str) -> Option<String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let response = client
        .post(format!("{}/signin", hub.admin))
        .form(&[("token", token)])
        .send()
        .await
        .expect("the admin endpoint answers");
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)?
        .to_str()
        .ok()?;
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    cookie.split(';').next().map(str::to_owned)
}

/// POSTs a form to the admin endpoint with an optional cookie: status and body.
async fn post_form(
    hub: &HubProcess,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let mut request = client.post(format!("{}{path}", hub.admin)).form(form);
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let response = request.send().await.expect("the admin endpoint answers");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_browser_the_console_shows_the_fleet_filters_signs_in_and_syncs_now() {
    let healthy = confluence(61, None);
    let revoked = confluence(62, None);
    let limited = confluence(
        63,
        Some(RateLimit {
            capacity: 4,
            fill_rate: 20,
            interval: Duration::from_secs(1),
        }),
    );
    let config = format!(
        "{}{}{}{}",
        hub_section(true),
        instance("healthy", &healthy, "HUB_IT_TOKEN"),
        instance("revoked", &revoked, "HUB_IT_REVOKED"),
        instance("rate-limited", &limited, "HUB_IT_TOKEN"),
    );
    let dir = TempDir::new("console-browser");
    let mut hub = HubProcess::start(
        dir.path(),
        &config,
        &[
            ("HUB_IT_TOKEN", sim::confluence::DEFAULT_ADMIN_TOKEN),
            ("HUB_IT_REVOKED", "revoked-personal-access-token"),
            ("HUB_IT_ADMIN", ADMIN_TOKEN),
        ],
    );
    hub.bearer = Some(ADMIN_TOKEN.into());
    hub.wait_for(
        Duration::from_secs(60),
        "every first sync to end",
        |status| {
            let ended = |id: &str, outcome: &str| {
                tenant(status, id).is_some_and(|t| {
                    t["last_sync"]["outcome"] == outcome && t["activity"] == "idle"
                })
            };
            ended("healthy", "ok") && ended("rate-limited", "ok") && ended("revoked", "error")
        },
    )
    .await;

    let Some(mut browser) = Browser::launch("the console's browser test") else {
        return;
    };
    let admin = hub.admin.clone();

    // With an admin token the console first asks for it.
    browser.open(&format!("{admin}/"));
    browser.wait_until(
        "document.getElementById('token') !== null",
        "the sign-in form",
    );
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.querySelector('form.signin').submit(); true",
        serde_json::json!(ADMIN_TOKEN)
    ));
    let rows = "document.querySelectorAll('#fleet tbody tr[data-tenant]')";
    browser.wait_until(&format!("{rows}.length === 3"), "the fleet's three rows");
    let listed = browser.eval(&format!(
        "Array.from({rows}).map(row => [row.dataset.tenant, row.dataset.state, row.querySelector('.badge').textContent])"
    ));
    assert_eq!(
        listed,
        serde_json::json!([
            ["revoked", "failing", "failing"],
            ["healthy", "idle", "idle"],
            ["rate-limited", "idle", "idle"]
        ]),
        "failing first, then by id"
    );
    let cell = |tenant: &str, column: usize| {
        format!(
            "document.querySelector('#fleet tr[data-tenant=\"{tenant}\"]').cells[{column}].textContent"
        )
    };
    let error = browser.eval(&cell("revoked", 9));
    assert!(
        error
            .as_str()
            .unwrap_or_default()
            .contains("bad credentials"),
        "{error}"
    );
    let failures = browser.eval(&cell("revoked", 7));
    assert!(
        failures.as_str().unwrap_or_default().contains("since"),
        "{failures}"
    );
    let pacing = browser.eval(&cell("rate-limited", 8));
    assert!(
        pacing
            .as_str()
            .unwrap_or_default()
            .starts_with("server's limit: 20/s, burst 4"),
        "{pacing}"
    );
    assert_eq!(browser.eval(&cell("healthy", 2)), "ok schedule");
    assert_eq!(
        browser.eval("document.querySelector('.total[data-state=\"failing\"] strong').textContent"),
        "1"
    );
    assert_eq!(
        browser.eval("document.querySelector('.total[data-state=\"idle\"] strong').textContent"),
        "2"
    );
    browser.screenshot("console-fleet.png");
    browser.viewport(390, 844, true);
    browser.screenshot("console-fleet-phone.png");
    browser.viewport(1280, 800, false);

    // Filter to failing: live with the script, then as the plain GET form.
    let visible =
        format!("Array.from({rows}).filter(row => !row.hidden).map(row => row.dataset.tenant)");
    browser.eval("const s = document.getElementById('state'); s.value = 'failing'; s.dispatchEvent(new Event('change')); true");
    assert_eq!(browser.eval(&visible), serde_json::json!(["revoked"]));
    browser.eval("document.getElementById('filter').submit(); true");
    browser.wait_until(
        &format!("location.search === '?q=&state=failing' && document.readyState === 'complete' && {rows}.length === 1"),
        "the server-side filter",
    );
    assert_eq!(browser.eval(&visible), serde_json::json!(["revoked"]));
    browser.eval("document.querySelector('a[href=\"/tenants/revoked\"]').click(); true");
    browser.wait_until(
        "location.pathname === '/tenants/revoked' && document.readyState === 'complete'",
        "the revoked tenant's page",
    );
    let last_error = browser.eval("document.getElementById('last-error').textContent");
    assert!(
        last_error
            .as_str()
            .unwrap_or_default()
            .contains("bad credentials"),
        "{last_error}"
    );

    // Sync now on the healthy tenant: the new sync shows in its history.
    browser.open(&format!("{admin}/tenants/healthy"));
    let history_rows = "document.querySelectorAll('#history tbody tr:not(.empty)').length";
    assert_eq!(browser.eval(history_rows), 1);
    browser.eval("document.querySelector('#sync-now button').click(); true");
    browser.wait_until(
        "location.search === '?done=sync-started' && document.querySelector('.notice.done') !== null",
        "the sync-started notice",
    );
    let url = format!("{admin}/tenants/healthy");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        browser.open(&url);
        let triggers = browser.eval("Array.from(document.querySelectorAll('#history td.trigger')).map(cell => cell.textContent)");
        if triggers == serde_json::json!(["manual", "schedule"]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no manual sync in the history: {triggers}\n{}",
            hub.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        browser.eval("document.querySelector('#history tbody tr .outcome').textContent"),
        "ok"
    );
    browser.screenshot("console-tenant.png");

    // Reload config from the hub page: the generation moves on.
    browser.open(&format!("{admin}/hub"));
    assert_eq!(
        browser.eval("document.getElementById('config-generation').textContent"),
        "1"
    );
    browser.eval("document.querySelector('#reload button').click(); true");
    browser.wait_until(
        "location.search === '?done=reloaded' && document.getElementById('config-generation').textContent === '2'",
        "the reloaded config's generation",
    );

    // Refused: a browser request without the CSRF token, no session at all,
    // a session with a wrong CSRF token; none starts a sync.
    let status =
        browser.eval("fetch('/tenants/healthy/sync', { method: 'POST' }).then(r => r.status)");
    assert_eq!(status, 403);
    let path = "/tenants/healthy/sync";
    let (code, body) = post_form(&hub, path, None, &[]).await;
    assert_eq!(code, 401, "{body}");
    let cookie = sign_in(&hub, ADMIN_TOKEN).await.expect("a session cookie");
    let (code, body) = post_form(&hub, path, Some(&cookie), &[]).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (code, body) = post_form(&hub, path, Some(&cookie), &[("csrf", "0123456789abcdef")]).await;
    assert_eq!(code, 403, "{body}");
    assert!(sign_in(&hub, "wrong-admin-token").await.is_none());
    let (code, body) = post_form(&hub, path, Some("hub_session=made-up"), &[("csrf", "x")]).await;
    assert_eq!(code, 401, "{body}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = tenant_api(&hub, "healthy").await;
    assert_eq!(manual_syncs(&page), 1, "{page:#}");
    assert_eq!(page["activity"], "idle", "{page:#}");
}

/// The history of `page` as (trigger, started_at) pairs, oldest first.
fn history_of(page: &Value) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = page["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            (
                entry["trigger"].as_str().unwrap_or_default().to_owned(),
                entry["started_at"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    entries.reverse();
    entries
}

/// Polls the tenant's JSON until `done` holds for its history.
async fn wait_for_history(
    hub: &HubProcess,
    id: &str,
    what: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(response) = hub.get(&format!("/api/tenants/{id}")).await
            && let Ok(page) = response.json::<Value>().await
        {
            let history = history_of(&page);
            if done(&history) {
                return history;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {page:#}\n{}",
                hub.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut hub: HubProcess) -> String {
    hub.signal("TERM");
    let exit = hub.wait_exit(Duration::from_secs(20));
    assert!(
        exit.is_some_and(|status| status.success()),
        "{exit:?}\n{}",
        hub.log_tail()
    );
    hub.log_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_and_a_truncated_file_is_set_aside() {
    let sim = confluence(64, None);
    let config = format!(
        "{}{}",
        hub_section(true),
        instance("acme", &sim, "HUB_IT_TOKEN")
    );
    let dir = TempDir::new("console-history");
    let start = || {
        let mut hub = HubProcess::start(
            dir.path(),
            &config,
            &[
                ("HUB_IT_TOKEN", sim::confluence::DEFAULT_ADMIN_TOKEN),
                ("HUB_IT_ADMIN", ADMIN_TOKEN),
            ],
        );
        hub.bearer = Some(ADMIN_TOKEN.into());
        hub
    };

    let hub = start();
    wait_for_history(&hub, "acme", "the first sync", |history| history.len() == 1).await;
    let (code, body) = hub.post("/tenants/acme/sync").await;
    assert_eq!(code, 202, "{body}");
    let first_run = wait_for_history(&hub, "acme", "the manual sync", |history| {
        history.len() == 2
    })
    .await;
    assert_eq!(first_run[0].0, "schedule");
    assert_eq!(first_run[1].0, "manual");
    stop(hub);
    let file = dir.path().join("data/acme/history.jsonl");
    let text = std::fs::read_to_string(&file).expect("the history file");
    assert_eq!(text.lines().count(), 2, "{text}");

    // After a restart the page shows the first run's syncs, then this run's.
    let hub = start();
    let second_run = wait_for_history(
        &hub,
        "acme",
        "the history read back and a new sync",
        |history| history.len() == 3,
    )
    .await;
    assert_eq!(second_run[..2], first_run[..], "{second_run:?}");
    let status = hub.status().await.expect("/status");
    assert!(tenant(&status, "acme").is_some_and(|t| t["last_sync"]["outcome"] == "ok"));
    stop(hub);

    // A crash cut the last line: the file is set aside, the hub starts and
    // keeps the records before the cut.
    let text = std::fs::read_to_string(&file).expect("the history file");
    assert_eq!(text.lines().count(), 3, "{text}");
    std::fs::write(&file, &text[..text.trim_end().len() - 25]).unwrap();
    let hub = start();
    let third_run = wait_for_history(&hub, "acme", "the kept records and a new sync", |history| {
        history.len() == 3
    })
    .await;
    assert_eq!(third_run[..2], first_run[..], "{third_run:?}");
    let log = stop(hub);
    let set_aside: Vec<String> = std::fs::read_dir(dir.path().join("data/acme"))
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("history.jsonl.corrupt-"))
        .collect();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert!(
        log.lines()
            .any(|line| line.contains("history file is damaged")
                && line.contains("\"tenant\":\"acme\"")
                && line.contains(&set_aside[0])),
        "no warning naming the tenant and the file:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_console_page_or_the_tenant_api() {
    use crate::service_mode::{c1_sim, config, secrets_of, sim_tenant, tenant_of};
    use sim::conductorone::{EntitlementRef, ResourceRef};
    let service = tenant_of("service", SimVersion::V9_2, 91, Duration::ZERO);
    let c1 = c1_sim(vec![sim_tenant(&service, &service.public_jwk)]);
    let scheduled = confluence(92, None);
    let dir = TempDir::new("console-secrets");
    let text = config(
        dir.path(),
        &c1,
        &[&service],
        &[service.client_secret.as_str()],
    )
    .replacen(
        "[hub]\n",
        "[hub]\nadmin_token = { env = \"HUB_IT_ADMIN\" }\n",
        1,
    ) + &instance("scheduled", &scheduled, "HUB_IT_TOKEN");
    let mut hub = HubProcess::start(
        dir.path(),
        &text,
        &[
            ("HUB_IT_TOKEN", sim::confluence::DEFAULT_ADMIN_TOKEN),
            ("HUB_IT_ADMIN", ADMIN_TOKEN),
        ],
    );
    hub.bearer = Some(ADMIN_TOKEN.into());
    let task = c1
        .enqueue_sync("service", sim::conductorone::SyncOptions::default())
        .unwrap();
    c1.wait_for_finish(&task, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("the service sync never finished\n{}", hub.log_tail()));
    // A grant the tenant refuses (provisioning is off) is in the history too.
    let grant = c1
        .enqueue_grant(
            "service",
            EntitlementRef {
                resource: ResourceRef {
                    resource_type: "group".into(),
                    resource: "confluence-users".into(),
                },
                slug: "member".into(),
            },
            ResourceRef {
                resource_type: "user".into(),
                resource: "nobody".into(),
            },
        )
        .unwrap();
    c1.wait_for_finish(&grant, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the grant never finished\n{}", hub.log_tail()));
    hub.wait_for(
        Duration::from_secs(30),
        "both tenants idle after a sync",
        |status| {
            tenant(status, "service").is_some_and(|t| {
                t["state"] == "idle"
                    && t["conductorone"]["session"] == "connected"
                    && !t["last_sync"].is_null()
            }) && tenant(status, "scheduled").is_some_and(|t| t["last_sync"]["outcome"] == "ok")
        },
    )
    .await;

    let cookie = sign_in(&hub, ADMIN_TOKEN).await.expect("a session cookie");
    let http = http_client();
    let mut answers = Vec::new();
    for path in [
        "/",
        "/?q=service",
        "/hub",
        "/tenants/service",
        "/tenants/scheduled",
        "/api/tenants/service",
        "/api/tenants/scheduled",
        "/signin",
        "/status",
    ] {
        let by_token = hub.get(path).await.expect("an answer");
        assert_eq!(by_token.status(), 200, "{path}");
        answers.push((path, by_token.text().await.unwrap_or_default()));
        if path != "/status" {
            let by_cookie = http
                .get(format!("{}{path}", hub.admin))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await
                .expect("an answer");
            assert_eq!(by_cookie.status(), 200, "{path} with a session");
            answers.push((path, by_cookie.text().await.unwrap_or_default()));
        }
    }
    let mut secrets = secrets_of(&service, &c1);
    secrets.push(ADMIN_TOKEN.to_owned());
    secrets.push(sim::confluence::DEFAULT_ADMIN_TOKEN.to_owned());
    for (path, body) in &answers {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{path}: a secret is on the page"
            );
        }
    }

    // ConductorOne schedules the service tenant's syncs: no "sync now".
    let page = tenant_api(&hub, "service").await;
    assert_eq!(page["conductorone"]["session"], "connected", "{page:#}");
    assert_eq!(page["sync_now"]["offered"], false, "{page:#}");
    let kinds: Vec<(&str, &str)> = page["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let what = entry["trigger"].as_str().or(entry["task_type"].as_str());
            (
                entry["kind"].as_str().unwrap_or_default(),
                what.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("task", "grant"), ("sync", "conductorone")],
        "{page:#}"
    );
    assert_eq!(page["history"][0]["outcome"], "error", "{page:#}");
    let service_page = &answers
        .iter()
        .find(|(path, _)| *path == "/tenants/service")
        .expect("the service page")
        .1;
    assert!(service_page.contains("ConductorOne schedules this tenant"));
    assert!(!service_page.contains("id=\"sync-now\""));
    let (code, body) = hub.post("/tenants/service/sync").await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("ConductorOne schedules"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_token_the_console_is_read_only_and_says_why() {
    let sim = confluence(65, None);
    let config = format!(
        "{}{}",
        hub_section(false),
        instance("acme", &sim, "HUB_IT_TOKEN")
    );
    let dir = TempDir::new("console-read-only");
    let mut hub = HubProcess::start(
        dir.path(),
        &config,
        &[("HUB_IT_TOKEN", sim::confluence::DEFAULT_ADMIN_TOKEN)],
    );
    hub.wait_for(Duration::from_secs(30), "the first sync", |status| {
        tenant(status, "acme").is_some_and(|t| t["last_sync"]["outcome"] == "ok")
    })
    .await;
    for path in ["/", "/tenants/acme", "/hub"] {
        let page = hub.get(path).await.expect("an answer");
        assert_eq!(page.status(), 200, "{path}");
        let page = page.text().await.unwrap_or_default();
        assert!(
            page.contains("Read-only: this hub has no hub.admin_token"),
            "{path}: {page}"
        );
        assert!(
            !page.contains("<form method=\"post\""),
            "{path} offers an action: {page}"
        );
    }
    for path in ["/tenants/acme/sync", "/hub/reload"] {
        let (code, body) = post_form(&hub, path, None, &[]).await;
        assert_eq!(code, 403, "{path}: {body}");
        assert!(body.contains("Set hub.admin_token"), "{path}: {body}");
    }
    let (code, body) = post_form(&hub, "/signin", None, &[("token", "anything")]).await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(manual_syncs(&tenant_api(&hub, "acme").await), 0);
}
