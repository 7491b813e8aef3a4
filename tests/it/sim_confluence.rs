//! The Confluence DC simulator over real sockets: version gating, pagination
//! quirks, group names with `/`, Seraph-style auth, rate limiting, seeded
//! faults, the mutation log, admin user creation, datasets and the CLI.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sim::confluence::{
    ADMINISTRATORS_GROUP, Api, ConfluenceSim, DEFAULT_ADMIN_TOKEN, Dataset, Faults,
    GenerateOptions, MutationAction, RateLimit, SimOptions, SimVersion, SpaceOverpaging, Subject,
    USERS_GROUP,
};

const RPC: &str = "/rpc/json-rpc/confluenceservice-v2";
const USER_TOKEN: &str = "user-token";

fn client() -> Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        platform::tls::install_crypto_provider();
    });
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a reqwest client")
}

fn fixture_path() -> PathBuf {
    crate::support::fixture("dataset-small.json")
}

fn fixture() -> Dataset {
    Dataset::from_json_file(&fixture_path()).expect("the fixture dataset loads")
}

fn generated(users: usize, groups: usize, spaces: usize) -> Dataset {
    Dataset::generate(&GenerateOptions {
        seed: 11,
        users,
        groups,
        spaces,
    })
}

/// An active, licensed user who is not an administrator.
fn ordinary_user(dataset: &Dataset) -> String {
    let members = |name: &str| {
        dataset
            .groups
            .iter()
            .find(|group| group.name == name)
            .map(|group| group.members.clone())
            .unwrap_or_default()
    };
    let (admins, licensed) = (members(ADMINISTRATORS_GROUP), members(USERS_GROUP));
    dataset
        .users
        .iter()
        .find(|user| {
            user.active && licensed.contains(&user.user_key) && !admins.contains(&user.user_key)
        })
        .map(|user| user.username.clone())
        .expect("an ordinary user")
}

fn user_key_of(dataset: &Dataset, username: &str) -> String {
    dataset
        .users
        .iter()
        .find(|user| user.username == username)
        .map(|user| user.user_key.clone())
        .expect("a user")
}

/// A group other than the built-in ones that `username` is not in.
fn group_without(dataset: &Dataset, username: &str) -> String {
    let key = user_key_of(dataset, username);
    dataset
        .groups
        .iter()
        .skip(2)
        .find(|group| !group.members.contains(&key))
        .map(|group| group.name.clone())
        .expect("a group without the user")
}

/// A space where `username` holds no SETSPACEPERMISSIONS, directly or through a group.
fn space_not_administered_by(dataset: &Dataset, username: &str) -> String {
    let key = user_key_of(dataset, username);
    let groups: Vec<&str> = dataset
        .groups
        .iter()
        .filter(|group| group.members.contains(&key))
        .map(|group| group.name.as_str())
        .collect();
    dataset
        .spaces
        .iter()
        .find(|space| {
            !dataset.permissions.iter().any(|row| {
                row.space_key == space.key
                    && row.r#type == "SETSPACEPERMISSIONS"
                    && (row.user_key.as_deref() == Some(&key)
                        || row
                            .group_name
                            .as_deref()
                            .is_some_and(|group| groups.contains(&group)))
            })
        })
        .map(|space| space.key.clone())
        .expect("a space the user does not administer")
}

/// A simulator with the admin PAT and a PAT for an ordinary user.
fn start(
    version: SimVersion,
    dataset: Dataset,
    configure: impl FnOnce(&mut SimOptions),
) -> ConfluenceSim {
    let user = ordinary_user(&dataset);
    let mut options = SimOptions::new(version, dataset);
    options.tokens.push((USER_TOKEN.into(), user));
    configure(&mut options);
    ConfluenceSim::start(options).expect("the simulator starts")
}

struct Http {
    client: Client,
    base: String,
}

impl Http {
    fn new(sim: &ConfluenceSim) -> Http {
        Http {
            client: client(),
            base: sim.base_url(),
        }
    }

    fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    fn put(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    fn post(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.client
            .delete(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    async fn status(&self, request: RequestBuilder) -> u16 {
        request.send().await.expect("a response").status().as_u16()
    }

    async fn json(&self, request: RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("a response");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn admin_json(&self, path: &str) -> Value {
        let (status, body) = self.json(self.get(path, DEFAULT_ADMIN_TOKEN)).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

fn usernames(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|user| user["username"].as_str().expect("username").to_owned())
        .collect()
}

#[tokio::test]
async fn version_gating_hides_endpoints_the_release_lacks() {
    let dataset = fixture();
    for (version, server_info, rest_permissions, query_members) in [
        (SimVersion::V8_5, 404, 404, 404),
        (SimVersion::V9_2, 200, 200, 404),
        (SimVersion::V10_2, 200, 200, 200),
    ] {
        let sim = start(version, dataset.clone(), |_| {});
        let http = Http::new(&sim);
        let got = |path: &'static str| http.status(http.get(path, DEFAULT_ADMIN_TOKEN));
        assert_eq!(
            got("/rest/api/server-information").await,
            server_info,
            "{version} server-information"
        );
        assert_eq!(
            got("/rest/api/space/ds/permissions").await,
            rest_permissions,
            "{version} REST permissions"
        );
        assert_eq!(
            got("/rest/api/group/member?name=confluence-users").await,
            query_members,
            "{version} member?name="
        );
        assert_eq!(
            got("/rest/api/user/memberof?username=admin").await,
            200,
            "{version} memberof"
        );
        let rpc = http
            .post(
                &format!("{RPC}/getSpacePermissionSets"),
                DEFAULT_ADMIN_TOKEN,
            )
            .json(&json!(["ds"]));
        assert_eq!(http.status(rpc).await, 200, "{version} JSON-RPC");
        // Admin user REST exists everywhere: an empty body is a 400, not a 404.
        let create = http
            .post("/rest/api/admin/user", DEFAULT_ADMIN_TOKEN)
            .json(&json!({}));
        assert_eq!(http.status(create).await, 400, "{version} admin user REST");
    }
}

#[tokio::test]
async fn server_information_reports_the_simulated_release() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let info = http.admin_json("/rest/api/server-information").await;
    assert!(
        info["version"]
            .as_str()
            .expect("version")
            .starts_with("10.2.")
    );
    assert_eq!(info["baseUrl"], sim.base_url());
}

#[tokio::test]
async fn user_list_caps_the_limit_and_its_next_link_skips_records() {
    let sim = start(SimVersion::V9_2, generated(450, 5, 2), |_| {});
    let http = Http::new(&sim);
    let first = http.admin_json("/rest/api/user/list?limit=500").await;
    assert_eq!(first["limit"], 200, "the echoed limit shows the cap");
    assert_eq!(first["size"], 200);
    let next = first["_links"]["next"].as_str().expect("a next link");
    assert!(
        next.contains("start=500"),
        "next is start + requested limit: {next}"
    );
    // Following the link skips users 200..450 entirely.
    let followed = http.admin_json(next).await;
    assert_eq!(followed["size"], 0);

    // Paging by the returned count gets everyone, once.
    let mut seen = Vec::new();
    let mut start = 0;
    loop {
        let page = http
            .admin_json(&format!("/rest/api/user/list?limit=500&start={start}"))
            .await;
        let names = usernames(&page);
        if names.is_empty() {
            break;
        }
        start += names.len();
        seen.extend(names);
        if page["_links"]["next"].is_null() {
            break;
        }
    }
    assert_eq!(seen.len(), 450);
}

#[tokio::test]
async fn group_members_are_capped_like_users() {
    let sim = start(SimVersion::V10_2, generated(600, 5, 2), |_| {});
    let http = Http::new(&sim);
    let page = http
        .admin_json("/rest/api/group/confluence-users/member?limit=1000&start=0")
        .await;
    assert_eq!(page["limit"], 200);
    assert_eq!(page["size"], 200);
    assert!(
        page["_links"]["next"]
            .as_str()
            .expect("next")
            .contains("start=1000")
    );
}

#[tokio::test]
async fn space_list_defaults_to_25_and_caps_silently() {
    let sim = start(SimVersion::V10_2, generated(400, 5, 300), |_| {});
    let http = Http::new(&sim);
    let default = http.admin_json("/rest/api/space").await;
    assert_eq!(default["limit"], 25);
    assert_eq!(default["size"], 25);
    let capped = http.admin_json("/rest/api/space?limit=1000").await;
    assert_eq!(capped["limit"], 100);
    assert_eq!(capped["size"], 100);
    assert!(
        capped["_links"]["next"]
            .as_str()
            .expect("next")
            .contains("start=1000")
    );
    // Archived spaces only come back when asked for.
    let current = http
        .admin_json("/rest/api/space?limit=100&status=archived")
        .await;
    assert!(
        current["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|space| space["status"] == "archived")
    );
    assert!(current["size"].as_u64().expect("size") > 0);
}

#[tokio::test]
async fn space_over_paging_quirk_repeats_the_last_page_when_enabled() {
    let dataset = generated(50, 3, 30);
    let sim = start(SimVersion::V8_5, dataset, |options| {
        options.quirks.space_overpaging = SpaceOverpaging::RepeatLastPage;
    });
    let http = Http::new(&sim);
    let beyond = http.admin_json("/rest/api/space?start=500&limit=5").await;
    assert_eq!(beyond["size"], 5, "results keep coming past the end");
    assert!(beyond["_links"]["next"].is_string());

    let sim = start(SimVersion::V8_5, generated(50, 3, 30), |options| {
        options.quirks.space_overpaging = SpaceOverpaging::EmptyPageWithNext;
    });
    let http = Http::new(&sim);
    let beyond = http.admin_json("/rest/api/space?start=500&limit=5").await;
    assert_eq!(beyond["size"], 0);
    assert!(
        beyond["_links"]["next"].is_string(),
        "an empty page that still has next"
    );
}

#[tokio::test]
async fn group_names_with_a_slash_only_work_through_query_parameters() {
    let sim = start(SimVersion::V10_2, generated(200, 12, 2), |_| {});
    let http = Http::new(&sim);
    let admin = |path: &str| http.status(http.get(path, DEFAULT_ADMIN_TOKEN));
    assert_eq!(
        admin("/rest/api/group/team/platform/member").await,
        404,
        "raw slash"
    );
    assert_eq!(
        admin("/rest/api/group/team%2Fplatform/member").await,
        404,
        "encoded slash"
    );
    assert_eq!(
        admin("/rest/api/group/team%2fplatform/member").await,
        404,
        "lower-case encoded slash"
    );
    let by_query = http
        .admin_json("/rest/api/group/member?name=team%2Fplatform")
        .await;
    let members = usernames(&by_query);
    assert!(!members.is_empty());
    // The same member sees the group through memberof, which needs no group path.
    let groups = http
        .admin_json(&format!("/rest/api/user/memberof?username={}", members[0]))
        .await;
    assert!(
        groups["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|group| group["name"] == "team/platform")
    );

    // Other awkward characters are fine in a path when encoded properly.
    for encoded in [
        "R%26D",
        "Sales%20EMEA",
        "c++%20developers",
        "D%C3%A9veloppeurs%20Montr%C3%A9al",
    ] {
        assert_eq!(
            admin(&format!("/rest/api/group/{encoded}/member")).await,
            200,
            "{encoded}"
        );
    }
    // In a query string `+` means a space, so `c++ developers` needs %2B.
    assert_eq!(
        admin("/rest/api/group/member?name=c%2B%2B+developers").await,
        200
    );
    assert_eq!(
        admin("/rest/api/group/member?name=c++developers").await,
        404
    );
}

#[tokio::test]
async fn membership_writes_to_a_slash_group_fail_by_path() {
    let dataset = generated(100, 12, 2);
    let username = dataset.users[3].username.clone();
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    let path = format!("/rest/api/user/{username}/group/team%2Fplatform");
    assert_eq!(http.status(http.put(&path, DEFAULT_ADMIN_TOKEN)).await, 404);
    assert!(
        sim.mutations().is_empty(),
        "refused before reaching Confluence"
    );
}

#[tokio::test]
async fn a_bad_token_is_the_anonymous_user_not_an_error() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let response = http
        .get("/rest/api/user/current", "not-a-token")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-ausername"), Some("anonymous"));
    assert_eq!(header(&response, "x-seraph-loginreason"), None);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "anonymous");
    assert!(body.get("userKey").is_none());
    // Endpoints that need a user refuse the anonymous caller.
    assert_eq!(
        http.status(http.get("/rest/api/user/list", "not-a-token"))
            .await,
        403
    );
    let spaces = http.json(http.get("/rest/api/space", "not-a-token")).await;
    assert_eq!(spaces.1["size"], 0, "anonymous space grants are inert");

    let response = http
        .get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
        .send()
        .await
        .expect("a response");
    assert_eq!(header(&response, "x-ausername"), Some("admin"));
    assert_eq!(header(&response, "x-seraph-loginreason"), Some("OK"));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["type"], "known");
    assert!(!body["userKey"].as_str().expect("userKey").is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_a_401_with_an_html_page() {
    let sim = start(SimVersion::V9_2, fixture(), |options| {
        options.passwords.push(("admin".into(), "s3cret".into()));
    });
    let http = Http::new(&sim);
    let url = format!("{}/rest/api/user/current", sim.base_url());
    let wrong = http
        .client
        .get(&url)
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .expect("a response");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&wrong, "x-seraph-loginreason"),
        Some("AUTHENTICATED_FAILED")
    );
    assert!(header(&wrong, "content-type").is_some_and(|value| value.starts_with("text/html")));
    assert!(wrong.text().await.expect("body").contains("<html"));

    let right = http
        .client
        .get(&url)
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .expect("a response");
    assert_eq!(right.status(), StatusCode::OK);
    assert_eq!(header(&right, "x-seraph-loginreason"), Some("OK"));
    let body: Value = right.json().await.expect("json");
    assert_eq!(body["username"], "admin");
}

#[tokio::test]
async fn repeated_login_failures_lock_the_account_behind_a_captcha_when_configured() {
    let sim = start(SimVersion::V9_2, fixture(), |options| {
        options.passwords.push(("admin".into(), "s3cret".into()));
        options.quirks.login_attempts_before_captcha = Some(2);
    });
    let http = Http::new(&sim);
    let url = format!("{}/rest/api/user/current", sim.base_url());
    for _ in 0..2 {
        let wrong = http
            .client
            .get(&url)
            .basic_auth("admin", Some("nope"))
            .send()
            .await
            .expect("a response");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = http
        .client
        .get(&url)
        .basic_auth("admin", Some("s3cret"))
        .send()
        .await
        .expect("a response");
    assert_eq!(locked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&locked, "x-seraph-loginreason"),
        Some("AUTHENTICATION_DENIED")
    );
}

#[tokio::test]
async fn non_admins_get_401_xml_on_member_reads_and_403_on_admin_writes() {
    let dataset = fixture();
    let user = ordinary_user(&dataset);
    let space = space_not_administered_by(&dataset, &user);
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    let members = http
        .get("/rest/api/group/confluence-users/member", USER_TOKEN)
        .send()
        .await
        .expect("a response");
    assert_eq!(members.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&members, "content-type").is_some_and(|value| value.contains("xml")));
    assert!(
        members
            .text()
            .await
            .expect("body")
            .contains("<status-code>401</status-code>")
    );

    let (status, body) = http
        .json(http.put(
            &format!("/rest/api/user/{user}/group/all-staff"),
            USER_TOKEN,
        ))
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["statusCode"], 403, "a RestError body: {body}");
    let create = http.post("/rest/api/admin/user", USER_TOKEN).json(&json!({
        "userName": "newbie", "fullName": "New Bie", "email": "newbie@example.com", "password": "pw"
    }));
    assert_eq!(http.status(create).await, 403);
    // Anonymous callers of admin writes get 401 instead.
    let anonymous = http.client.put(format!(
        "{}/rest/api/admin/user/{user}/disable",
        sim.base_url()
    ));
    assert_eq!(http.status(anonymous).await, 401);
    // Ordinary reads still work for the licensed user.
    assert_eq!(
        http.status(http.get("/rest/api/group", USER_TOKEN)).await,
        200
    );
    // The 9.x REST permission API answers 500 to non-space-admins (CONFSERVER-99908).
    let path = format!("/rest/api/space/{space}/permissions");
    assert_eq!(http.status(http.get(&path, USER_TOKEN)).await, 500);
}

#[tokio::test]
async fn rate_limit_headers_come_on_every_authenticated_response_then_429() {
    let sim = start(SimVersion::V10_2, fixture(), |options| {
        options.rate_limit = Some(RateLimit {
            capacity: 3,
            fill_rate: 1,
            interval: Duration::from_secs(60),
        });
    });
    let http = Http::new(&sim);
    for remaining in ["2", "1", "0"] {
        let response = http
            .get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("3"));
        assert_eq!(header(&response, "x-ratelimit-remaining"), Some(remaining));
        assert_eq!(header(&response, "x-ratelimit-fillrate"), Some("1"));
        assert_eq!(
            header(&response, "x-ratelimit-interval-seconds"),
            Some("60")
        );
        assert_eq!(header(&response, "retry-after"), Some("0"));
    }
    let limited = http
        .get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
        .send()
        .await
        .expect("a response");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&limited, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(header(&limited, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        limited.json::<Value>().await.expect("json"),
        json!({"message": "Rate limit exceeded."})
    );

    // Buckets are per user, and anonymous responses carry no rate-limit headers.
    let other = http
        .get("/rest/api/user/current", USER_TOKEN)
        .send()
        .await
        .expect("a response");
    assert_eq!(other.status(), StatusCode::OK);
    let anonymous = http
        .client
        .get(format!("{}/rest/api/user/current", sim.base_url()))
        .send()
        .await
        .expect("a response");
    assert_eq!(header(&anonymous, "x-ratelimit-limit"), None);
}

#[tokio::test]
async fn json_rpc_is_rate_limited_too() {
    let sim = start(SimVersion::V8_5, fixture(), |options| {
        options.rate_limit = Some(RateLimit {
            capacity: 1,
            fill_rate: 1,
            interval: Duration::from_secs(60),
        });
    });
    let http = Http::new(&sim);
    let call = || {
        http.post(
            &format!("{RPC}/getSpaceLevelPermissions"),
            DEFAULT_ADMIN_TOKEN,
        )
        .json(&json!([]))
    };
    assert_eq!(http.status(call()).await, 200);
    assert_eq!(http.status(call()).await, 429);
}

/// What each of `count` requests got: `reset` (no response), `html` (a 200
/// HTML page), `truncated` (a 200 that is not JSON) or the status.
async fn outcomes(count: usize, request: impl Fn() -> RequestBuilder) -> Vec<String> {
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        let outcome = match request().send().await {
            Err(_) => "reset".to_owned(),
            Ok(response) => {
                let status = response.status().as_u16();
                let html = header(&response, "content-type")
                    .is_some_and(|value| value.starts_with("text/html"));
                let text = response.text().await.unwrap_or_default();
                match (status, html, serde_json::from_str::<Value>(&text).is_ok()) {
                    (200, true, _) => "html".to_owned(),
                    (200, false, false) => "truncated".to_owned(),
                    (status, _, _) => status.to_string(),
                }
            }
        };
        seen.push(outcome);
    }
    seen
}

async fn reproducible(
    sim: &ConfluenceSim,
    faults: Faults,
    kind: &str,
    request: impl Fn() -> RequestBuilder,
) {
    sim.set_faults(faults.clone());
    let first = outcomes(40, &request).await;
    sim.set_faults(faults.clone());
    let second = outcomes(40, &request).await;
    assert_eq!(first, second, "same seed, same sequence, same faults");
    assert!(
        first.iter().any(|outcome| outcome == kind),
        "{kind} injected: {first:?}"
    );
    assert!(
        first.iter().any(|outcome| outcome == "200"),
        "not every request faulted: {first:?}"
    );
    sim.set_faults(Faults {
        seed: faults.seed + 1,
        ..faults
    });
    let other_seed = outcomes(40, &request).await;
    assert_ne!(first, other_seed, "another seed, other faults");
    sim.set_faults(Faults::default());
}

#[tokio::test]
async fn injected_503s_are_reproducible_by_seed() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let faults = Faults {
        seed: 5,
        status_503_rate: 0.3,
        retry_after_secs: 7,
        ..Faults::default()
    };
    reproducible(&sim, faults.clone(), "503", || {
        http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
    })
    .await;

    sim.set_faults(Faults {
        status_503_rate: 1.0,
        ..faults
    });
    let response = http
        .get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&response, "retry-after"), Some("7"));
}

#[tokio::test]
async fn connection_resets_are_reproducible_by_seed() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let faults = Faults {
        seed: 21,
        reset_rate: 0.3,
        ..Faults::default()
    };
    reproducible(&sim, faults, "reset", || {
        http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
    })
    .await;
}

#[tokio::test]
async fn truncated_json_is_reproducible_by_seed() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let faults = Faults {
        seed: 3,
        truncated_rate: 0.3,
        ..Faults::default()
    };
    reproducible(&sim, faults, "truncated", || {
        http.get("/rest/api/user/list", DEFAULT_ADMIN_TOKEN)
    })
    .await;
}

#[tokio::test]
async fn html_pages_on_json_rpc_are_reproducible_by_seed() {
    let sim = start(SimVersion::V8_5, fixture(), |_| {});
    let http = Http::new(&sim);
    let faults = Faults {
        seed: 8,
        html_rpc_rate: 0.3,
        ..Faults::default()
    };
    let call = || {
        http.post(
            &format!("{RPC}/getSpacePermissionSets"),
            DEFAULT_ADMIN_TOKEN,
        )
        .json(&json!(["ds"]))
    };
    reproducible(&sim, faults.clone(), "html", call).await;
    // REST is never answered with the websudo page.
    sim.set_faults(Faults {
        html_rpc_rate: 1.0,
        ..faults
    });
    assert_eq!(
        http.status(http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN))
            .await,
        200
    );
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let sim = start(SimVersion::V10_2, fixture(), |options| {
        options.faults = Faults {
            latency: Duration::from_millis(150),
            ..Faults::default()
        };
    });
    let http = Http::new(&sim);
    let started = Instant::now();
    assert_eq!(
        http.status(http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN))
            .await,
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn group_membership_writes_are_idempotent_and_logged() {
    let dataset = fixture();
    let user = ordinary_user(&dataset);
    let group = group_without(&dataset, &user);
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    let path = format!("/rest/api/user/{user}/group/{group}");
    assert_eq!(http.status(http.put(&path, DEFAULT_ADMIN_TOKEN)).await, 204);
    assert_eq!(
        http.status(http.put(&path, DEFAULT_ADMIN_TOKEN)).await,
        204,
        "idempotent"
    );
    assert_eq!(
        http.status(http.delete(&path, DEFAULT_ADMIN_TOKEN)).await,
        204
    );
    assert_eq!(
        http.status(http.delete(&path, DEFAULT_ADMIN_TOKEN)).await,
        204,
        "idempotent"
    );
    assert_eq!(
        http.status(http.put(
            &format!("/rest/api/user/{user}/group/no-such-group"),
            DEFAULT_ADMIN_TOKEN
        ))
        .await,
        404
    );
    assert_eq!(
        http.status(http.put(
            &format!("/rest/api/user/nobody/group/{group}"),
            DEFAULT_ADMIN_TOKEN
        ))
        .await,
        404
    );

    let log = sim.mutations();
    let summary: Vec<(u16, bool)> = log
        .iter()
        .map(|mutation| (mutation.status, mutation.changed))
        .collect();
    assert_eq!(
        summary,
        [
            (204, true),
            (204, false),
            (204, true),
            (204, false),
            (404, false),
            (404, false)
        ]
    );
    assert_eq!(log[0].api, Api::Rest);
    assert_eq!(log[0].route, "PUT /rest/api/user/{username}/group/{group}");
    assert_eq!(log[0].caller.as_deref(), Some("admin"));
    assert_eq!(
        log[0].action,
        MutationAction::AddGroupMember {
            username: user.clone(),
            group: group.clone()
        }
    );
    assert_eq!(
        log[2].action,
        MutationAction::RemoveGroupMember {
            username: user,
            group
        }
    );
    assert!(log[4].error.is_some());
}

#[tokio::test]
async fn rest_permission_grants_and_revokes_change_state_and_are_logged() {
    let dataset = fixture();
    let user = dataset
        .users
        .iter()
        .find(|user| user.username == "lclark")
        .expect("lclark")
        .clone();
    let sim = start(SimVersion::V9_2, dataset, |_| {});
    let http = Http::new(&sim);
    let operations = json!([
        {"targetType": "space", "operationKey": "read"},
        {"targetType": "page", "operationKey": "delete"}
    ]);
    let grant = format!(
        "/rest/api/space/HUMA/permissions/user/{}/grant",
        user.user_key
    );
    assert_eq!(
        http.status(http.put(&grant, DEFAULT_ADMIN_TOKEN).json(&operations))
            .await,
        204
    );
    assert_eq!(
        http.status(http.put(&grant, DEFAULT_ADMIN_TOKEN).json(&operations))
            .await,
        204
    );
    let rows = http
        .admin_json(&format!(
            "/rest/api/space/HUMA/permissions/user/{}",
            user.user_key
        ))
        .await;
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["subject"],
        json!({"type": "user", "userKey": user.user_key})
    );

    let revoke = format!(
        "/rest/api/space/HUMA/permissions/user/{}/revoke",
        user.user_key
    );
    let read_only = json!([{"targetType": "page", "operationKey": "delete"}]);
    assert_eq!(
        http.status(http.put(&revoke, DEFAULT_ADMIN_TOKEN).json(&read_only))
            .await,
        204
    );

    let group_grant = "/rest/api/space/HUMA/permissions/group/web-tokyo/grant";
    assert_eq!(
        http.status(http.put(group_grant, DEFAULT_ADMIN_TOKEN).json(&read_only))
            .await,
        204
    );
    let anonymous = "/rest/api/space/HUMA/permissions/anonymous/grant";
    assert_eq!(
        http.status(http.put(anonymous, DEFAULT_ADMIN_TOKEN).json(&read_only))
            .await,
        204
    );

    let log = sim.mutations();
    assert_eq!(log.len(), 5);
    assert_eq!(
        log[0].action,
        MutationAction::GrantSpacePermissions {
            space_key: "HUMA".into(),
            subject: Subject::user(&user.user_key, &user.username),
            permissions: vec!["VIEWSPACE".into(), "REMOVEPAGE".into()],
        }
    );
    assert!(
        log[0].changed && !log[1].changed,
        "the second grant changed nothing"
    );
    assert!(
        matches!(&log[2].action, MutationAction::RevokeSpacePermissions { permissions, .. }
            if permissions == &["REMOVEPAGE"])
    );
    assert!(
        matches!(&log[3].action, MutationAction::GrantSpacePermissions {
            subject: Subject::Group { name }, ..
        } if name == "web-tokyo")
    );
    assert!(matches!(
        &log[4].action,
        MutationAction::GrantSpacePermissions {
            subject: Subject::Anonymous,
            ..
        }
    ));

    let state = sim.dataset();
    let held: Vec<&str> = state
        .permissions
        .iter()
        .filter(|row| row.space_key == "HUMA" && row.user_key.as_deref() == Some(&user.user_key))
        .map(|row| row.r#type.as_str())
        .collect();
    assert_eq!(held, ["VIEWSPACE"]);
}

#[tokio::test]
async fn rest_permission_writes_reject_bad_pairs_and_unknown_subjects() {
    let dataset = fixture();
    let user_key = dataset.users[3].user_key.clone();
    let deleted_key = dataset.unknown_users[0].user_key.clone();
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    let read = json!([{"targetType": "space", "operationKey": "read"}]);
    let status =
        |path: String, body: Value| http.status(http.put(&path, DEFAULT_ADMIN_TOKEN).json(&body));
    let invalid_pair = json!([{"targetType": "space", "operationKey": "create"}]);
    assert_eq!(
        status(
            format!("/rest/api/space/ds/permissions/user/{user_key}/grant"),
            invalid_pair
        )
        .await,
        400
    );
    assert_eq!(
        status(
            "/rest/api/space/ds/permissions/user/ffffffff/grant".into(),
            read.clone()
        )
        .await,
        404
    );
    assert_eq!(
        status(
            format!("/rest/api/space/ds/permissions/user/{deleted_key}/grant"),
            read.clone()
        )
        .await,
        404
    );
    assert_eq!(
        status(
            "/rest/api/space/ds/permissions/group/nope/grant".into(),
            read.clone()
        )
        .await,
        404
    );
    assert_eq!(
        status(
            format!("/rest/api/space/NOPE/permissions/user/{user_key}/grant"),
            read.clone()
        )
        .await,
        404
    );
    assert_eq!(
        status(
            format!("/rest/api/space/ds/permissions/user/{user_key}/frobnicate"),
            read
        )
        .await,
        404
    );
    assert!(sim.mutations().iter().all(|mutation| !mutation.changed));
    assert_eq!(sim.mutations()[0].status, 400);
}

#[tokio::test]
async fn rest_replace_all_sets_exactly_the_listed_operations() {
    let sim = start(SimVersion::V10_2, fixture(), |_| {});
    let http = Http::new(&sim);
    let body = json!([
        {
            "groupName": "confluence-users",
            "operations": [{"targetType": "space", "operationKey": "read"}]
        },
        {"operations": []}
    ]);
    let (status, _) = http
        .json(
            http.post("/rest/api/space/ds/permissions", DEFAULT_ADMIN_TOKEN)
                .json(&body),
        )
        .await;
    assert_eq!(status, 204);
    let rows = http.admin_json("/rest/api/space/ds/permissions").await;
    let rows = rows.as_array().expect("array");
    let users_rows: Vec<&Value> = rows
        .iter()
        .filter(|row| row["subject"]["name"] == "confluence-users")
        .collect();
    assert_eq!(users_rows.len(), 1);
    assert!(rows.iter().all(|row| row["subject"]["type"] != "anonymous"));
    let too_many: Vec<Value> = (0..41).map(|_| json!({"operations": []})).collect();
    let status = http
        .status(
            http.post("/rest/api/space/ds/permissions", DEFAULT_ADMIN_TOKEN)
                .json(&too_many),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn json_rpc_permission_writes_work_in_light_and_full_mode() {
    let dataset = fixture();
    let user = ordinary_user(&dataset);
    let user_key = user_key_of(&dataset, &user);
    let group = group_without(&dataset, &user);
    let sim = start(SimVersion::V8_5, dataset, |_| {});
    let http = Http::new(&sim);
    let light = |method: &str, params: Value| {
        http.json(
            http.post(&format!("{RPC}/{method}"), DEFAULT_ADMIN_TOKEN)
                .json(&params),
        )
    };
    assert_eq!(
        light(
            "addPermissionsToSpace",
            json!([["REMOVEPAGE", "EXPORTSPACE"], user, "HUMA"])
        )
        .await,
        (200, json!(true))
    );
    assert_eq!(
        light("addPermissionToSpace", json!(["REMOVEPAGE", user, "HUMA"])).await,
        (200, json!(true))
    );
    assert_eq!(
        light(
            "removePermissionFromSpace",
            json!(["EXPORTSPACE", user, "HUMA"])
        )
        .await,
        (200, json!(true))
    );
    assert_eq!(
        light(
            "addAnonymousPermissionToSpace",
            json!(["VIEWSPACE", "HUMA"])
        )
        .await,
        (200, json!(true))
    );
    assert_eq!(
        light("addUserToGroup", json!([user, group])).await,
        (200, json!(true))
    );
    assert_eq!(
        light("removeUserFromGroup", json!([user, group])).await,
        (200, json!(true))
    );

    let full = json!({
        "jsonrpc": "2.0", "id": 7, "method": "getPermissionsForUser", "params": ["HUMA", user]
    });
    let (status, body) = http
        .json(http.post(RPC, DEFAULT_ADMIN_TOKEN).json(&full))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 7);
    assert!(
        body["result"]
            .as_array()
            .expect("keys")
            .contains(&json!("REMOVEPAGE"))
    );
    let direct: Vec<String> = sim
        .dataset()
        .permissions
        .into_iter()
        .filter(|row| row.space_key == "HUMA" && row.user_key.as_deref() == Some(&user_key))
        .map(|row| row.r#type)
        .collect();
    assert_eq!(direct, ["REMOVEPAGE"]);

    let sets = light("getSpacePermissionSets", json!(["HUMA"])).await.1;
    let view = sets
        .as_array()
        .expect("sets")
        .iter()
        .find(|set| set["type"] == "VIEWSPACE")
        .expect("VIEWSPACE set");
    assert!(
        view["spacePermissions"]
            .as_array()
            .expect("rows")
            .contains(&json!({"groupName": null, "type": "VIEWSPACE", "userName": null}))
    );

    let log = sim.mutations();
    let routes: Vec<&str> = log.iter().map(|mutation| mutation.route.as_str()).collect();
    assert_eq!(
        routes,
        [
            "addPermissionsToSpace",
            "addPermissionToSpace",
            "removePermissionFromSpace",
            "addAnonymousPermissionToSpace",
            "addUserToGroup",
            "removeUserFromGroup"
        ]
    );
    assert!(
        log.iter()
            .all(|mutation| mutation.api == Api::JsonRpc && mutation.status == 200)
    );
    let changed: Vec<bool> = log.iter().map(|mutation| mutation.changed).collect();
    assert_eq!(changed, [true, false, true, true, true, true]);
}

#[tokio::test]
async fn json_rpc_errors_arrive_inside_200s() {
    let sim = start(SimVersion::V8_5, fixture(), |_| {});
    let http = Http::new(&sim);
    let (status, body) = http
        .json(
            http.post(&format!("{RPC}/addPermissionToSpace"), DEFAULT_ADMIN_TOKEN)
                .json(&json!(["VIEWSPACE", "nobody", "HUMA"])),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("RemoteException")
    );
    let full = json!({"jsonrpc": "2.0", "id": "a", "method": "noSuchMethod", "params": []});
    let (status, body) = http
        .json(http.post(RPC, DEFAULT_ADMIN_TOKEN).json(&full))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], -32601);
    let (_, body) = http
        .json(
            http.post(&format!("{RPC}/getSpacePermissionSets"), USER_TOKEN)
                .json(&json!(["HUMA"])),
        )
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("NotPermittedException")
    );
    let failed = sim.mutations();
    assert_eq!(failed.len(), 1);
    assert!(!failed[0].succeeded());
    assert_eq!(
        failed[0].action,
        MutationAction::GrantSpacePermissions {
            space_key: "HUMA".into(),
            subject: Subject::Unresolved {
                name: "nobody".into()
            },
            permissions: vec!["VIEWSPACE".into()],
        }
    );
}

#[tokio::test]
async fn json_rpc_requires_a_json_content_type_and_the_remote_api() {
    let sim = start(SimVersion::V8_5, fixture(), |_| {});
    let http = Http::new(&sim);
    let plain = http
        .post(
            &format!("{RPC}/getSpaceLevelPermissions"),
            DEFAULT_ADMIN_TOKEN,
        )
        .body("[]");
    assert_eq!(http.status(plain).await, 415);

    let sim = start(SimVersion::V8_5, fixture(), |options| {
        options.remote_api_enabled = false
    });
    let http = Http::new(&sim);
    let call = http
        .post(
            &format!("{RPC}/getSpaceLevelPermissions"),
            DEFAULT_ADMIN_TOKEN,
        )
        .json(&json!([]));
    assert_eq!(http.status(call).await, 404);
}

#[tokio::test]
async fn deleted_user_keys_in_permissions_surface_per_api() {
    let dataset = fixture();
    let deleted = dataset.unknown_users[0].clone();
    let sim = start(SimVersion::V9_2, dataset, |_| {});
    let http = Http::new(&sim);
    // JSON-RPC reports the name still mapped to the key.
    let (_, sets) = http
        .json(
            http.post(
                &format!("{RPC}/getSpacePermissionSets"),
                DEFAULT_ADMIN_TOKEN,
            )
            .json(&json!(["ds"])),
        )
        .await;
    let names: Vec<&Value> = sets
        .as_array()
        .expect("sets")
        .iter()
        .flat_map(|set| set["spacePermissions"].as_array().expect("rows"))
        .map(|row| &row["userName"])
        .collect();
    assert!(names.contains(&&json!(deleted.username)));
    // REST names the key only; resolving it gives an `unknown` user.
    let rows = http.admin_json("/rest/api/space/ds/permissions").await;
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .any(|row| row["subject"]["userKey"] == deleted.user_key)
    );
    let user = http
        .admin_json(&format!("/rest/api/user?key={}", deleted.user_key))
        .await;
    assert_eq!(user["type"], "unknown");
    assert!(user.get("username").is_none());
}

#[tokio::test]
async fn deactivated_users_show_their_status_and_emails_follow_visibility() {
    let dataset = fixture();
    let deactivated = dataset
        .users
        .iter()
        .find(|user| !user.active)
        .expect("a deactivated user")
        .clone();
    let sim = start(SimVersion::V10_2, dataset.clone(), |_| {});
    let http = Http::new(&sim);
    let user = http
        .admin_json(&format!(
            "/rest/api/user?username={}&expand=status",
            deactivated.username
        ))
        .await;
    assert_eq!(user["status"], "DEACTIVATED");
    assert_eq!(user["email"], deactivated.email);
    let plain = http
        .admin_json(&format!("/rest/api/user?key={}", deactivated.user_key))
        .await;
    assert!(plain.get("status").is_none());
    assert_eq!(plain["_expandable"]["status"], "");
    let list = http.admin_json("/rest/api/user/list?expand=status").await;
    assert_eq!(list["size"], 60, "deactivated users stay listed");

    let sim = start(SimVersion::V10_2, dataset, |options| {
        options.email_visible = false
    });
    let http = Http::new(&sim);
    let user = http
        .admin_json(&format!("/rest/api/user?key={}", deactivated.user_key))
        .await;
    assert!(user.get("email").is_none());
}

#[tokio::test]
async fn admin_user_creation_answers_each_documented_code() {
    // 57 of the fixture's users are active and licensed: one seat is left.
    let sim = start(SimVersion::V9_2, fixture(), |options| {
        options.licensed_seats = Some(58)
    });
    let http = Http::new(&sim);
    let create = |body: Value| {
        http.json(
            http.post("/rest/api/admin/user", DEFAULT_ADMIN_TOKEN)
                .json(&body),
        )
    };
    let good = json!({
        "userName": "jdoe", "fullName": "Jane Doe", "email": "jdoe@example.com",
        "password": "S3cret!", "notifyViaEmail": false
    });
    let (status, body) = create(good.clone()).await;
    assert_eq!(status, 201);
    let user_key = body["userKey"].as_str().expect("userKey").to_owned();
    assert_eq!(user_key.len(), 32);
    assert_eq!(create(good).await.0, 409, "duplicate");
    for bad_name in ["J.Doe", "j doe", "anonymous", "a,b", "o'brien"] {
        let body = json!({"userName": bad_name, "fullName": "X", "email": "x@example.com", "password": "pw"});
        assert_eq!(create(body).await.0, 400, "{bad_name}");
    }
    let both = json!({
        "userName": "both", "fullName": "B", "email": "b@example.com",
        "password": "pw", "notifyViaEmail": true
    });
    assert_eq!(create(both).await.0, 400, "password with notifyViaEmail");
    let neither = json!({"userName": "neither", "fullName": "N", "email": "n@example.com"});
    assert_eq!(
        create(neither).await.0,
        400,
        "no password without notifyViaEmail"
    );
    let emailed = json!({
        "userName": "emailed", "fullName": "E", "email": "e@example.com", "notifyViaEmail": true
    });
    assert_eq!(create(emailed).await.0, 402, "the last seat went to jdoe");

    let state = sim.dataset();
    let created = state
        .users
        .iter()
        .find(|user| user.username == "jdoe")
        .expect("jdoe exists");
    assert_eq!(created.user_key, user_key);
    let licensed = state
        .groups
        .iter()
        .find(|group| group.name == USERS_GROUP)
        .expect("confluence-users");
    assert!(
        licensed.members.contains(&user_key),
        "new users join the default group"
    );
    let log = sim.mutations();
    assert!(
        matches!(&log[0].action, MutationAction::CreateUser { username, user_key: Some(key), .. }
            if username == "jdoe" && *key == user_key)
    );
    assert_eq!(
        log.iter()
            .map(|mutation| mutation.status)
            .collect::<Vec<_>>(),
        [201, 409, 400, 400, 400, 400, 400, 400, 400, 402]
    );
}

#[tokio::test]
async fn disable_and_enable_are_idempotent() {
    let dataset = fixture();
    let user = ordinary_user(&dataset);
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    for action in ["disable", "disable", "enable", "enable"] {
        assert_eq!(
            http.status(http.put(
                &format!("/rest/api/admin/user/{user}/{action}"),
                DEFAULT_ADMIN_TOKEN
            ))
            .await,
            204
        );
    }
    assert_eq!(
        http.status(http.put("/rest/api/admin/user/nobody/disable", DEFAULT_ADMIN_TOKEN))
            .await,
        404
    );
    let changed: Vec<bool> = sim
        .mutations()
        .iter()
        .map(|mutation| mutation.changed)
        .collect();
    assert_eq!(changed, [true, false, true, false, false]);
    // A disabled user's token stops working: it becomes the anonymous user.
    assert_eq!(
        http.status(http.put(
            &format!("/rest/api/admin/user/{user}/disable"),
            DEFAULT_ADMIN_TOKEN
        ))
        .await,
        204
    );
    let me = http.admin_json("/rest/api/user/current").await;
    assert_eq!(me["type"], "known");
    let (_, them) = http
        .json(http.get("/rest/api/user/current", USER_TOKEN))
        .await;
    assert_eq!(them["type"], "anonymous");
}

#[tokio::test]
async fn the_fixture_dataset_loads_and_is_served_as_is() {
    let dataset = fixture();
    assert_eq!(
        (
            dataset.users.len(),
            dataset.groups.len(),
            dataset.spaces.len()
        ),
        (60, 12, 10)
    );
    assert_eq!(dataset.permissions.len(), 240);
    assert_eq!(dataset.unknown_users.len(), 2);
    let sim = start(SimVersion::V8_5, dataset.clone(), |_| {});
    assert_eq!(sim.dataset(), dataset, "state round-trips unchanged");
    let http = Http::new(&sim);
    let spaces = http.admin_json("/rest/api/space?limit=100").await;
    // MARK is archived: the default listing leaves it out, like the reference sync.
    assert_eq!(spaces["size"], 9);
    assert!(
        spaces["results"][0].get("status").is_none(),
        "8.5 spaces carry no status"
    );
    let personal = http.admin_json("/rest/api/space?type=personal").await;
    assert_eq!(personal["size"], 5);
}

#[tokio::test]
async fn generated_datasets_are_deterministic_and_served_over_http() {
    let options = GenerateOptions {
        seed: 99,
        users: 300,
        groups: 25,
        spaces: 40,
    };
    assert_eq!(Dataset::generate(&options), Dataset::generate(&options));
    let sim = start(SimVersion::V10_2, Dataset::generate(&options), |_| {});
    let http = Http::new(&sim);
    let served: Dataset = serde_json::from_value(
        http.json(http.client.get(format!("{}/__sim/state", sim.base_url())))
            .await
            .1,
    )
    .expect("a dataset");
    assert_eq!(served, Dataset::generate(&options));
    let admin = http
        .admin_json("/rest/api/user/memberof?username=admin")
        .await;
    let groups: Vec<&str> = admin["results"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|group| group["name"].as_str().expect("name"))
        .collect();
    assert!(groups.contains(&ADMINISTRATORS_GROUP) && groups.contains(&USERS_GROUP));
}

#[tokio::test]
async fn mutations_and_request_counts_are_readable_out_of_process() {
    let dataset = fixture();
    let user = ordinary_user(&dataset);
    let sim = start(SimVersion::V10_2, dataset, |_| {});
    let http = Http::new(&sim);
    assert_eq!(
        http.status(http.put(
            &format!("/rest/api/user/{user}/group/it-amer"),
            DEFAULT_ADMIN_TOKEN
        ))
        .await,
        204
    );
    let (_, log) = http
        .json(
            http.client
                .get(format!("{}/__sim/mutations", sim.base_url())),
        )
        .await;
    assert_eq!(log[0]["action"]["kind"], "addGroupMember");
    assert_eq!(log[0]["status"], 204);
    let (_, requests) = http
        .json(
            http.client
                .get(format!("{}/__sim/requests", sim.base_url())),
        )
        .await;
    assert_eq!(
        requests["total"], 1,
        "the simulator's own endpoints are not counted"
    );
    assert_eq!(sim.request_count(), 1);
    assert_eq!(
        sim.request_counts()
            .get("PUT /rest/api/user/{username}/group/{group}"),
        Some(&1)
    );

    let faults = json!({"seed": 1, "status503Rate": 1.0});
    let put = http
        .client
        .put(format!("{}/__sim/faults", sim.base_url()))
        .json(&faults);
    assert_eq!(http.status(put).await, 204);
    assert_eq!(
        http.status(http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN))
            .await,
        503
    );
}

/// `confluence-hub sim confluence --port 0 ARGS`, and the base URL it
/// prints once it listens.
async fn cli_sim(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args(["sim", "confluence", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("joined")
    .expect("a line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the listening line")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    (child, base)
}

#[tokio::test]
async fn the_cli_prints_its_address_and_serves_until_killed() {
    let (mut child, base) =
        cli_sim(&["--version", "9.2", "--users", "30", "--token", "cli-token"]).await;
    let response = client()
        .get(format!("{base}/rest/api/user/list"))
        .bearer_auth("cli-token")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("json")["size"], 30);
    child.kill().expect("killed");
    let _ = child.wait();
}

#[tokio::test]
async fn the_cli_injects_proxy_pages_and_cut_bodies() {
    let (mut child, base) = cli_sim(&[
        "--version",
        "8.5",
        "--fault-seed",
        "3",
        "--html-rate",
        "0.3",
        "--truncated-rate",
        "0.3",
    ])
    .await;
    let http = client();
    let rest = outcomes(40, || {
        http.get(format!("{base}/rest/api/user/list"))
            .bearer_auth(DEFAULT_ADMIN_TOKEN)
    })
    .await;
    let rpc = outcomes(40, || {
        http.post(format!("{base}{RPC}/getSpacePermissionSets"))
            .bearer_auth(DEFAULT_ADMIN_TOKEN)
            .json(&json!(["ds"]))
    })
    .await;
    child.kill().expect("killed");
    let _ = child.wait();
    for (route, seen) in [("REST", &rest), ("JSON-RPC", &rpc)] {
        for kind in ["html", "truncated", "200"] {
            assert!(
                seen.iter().any(|outcome| outcome == kind),
                "{route}: no {kind} in {seen:?}"
            );
        }
    }
}

#[tokio::test]
async fn proxy_html_pages_hit_every_route_reproducibly_by_seed() {
    let sim = start(SimVersion::V8_5, fixture(), |_| {});
    let http = Http::new(&sim);
    let faults = Faults {
        seed: 11,
        html_rate: 0.3,
        ..Faults::default()
    };
    reproducible(&sim, faults.clone(), "html", || {
        http.get("/rest/api/user/current", DEFAULT_ADMIN_TOKEN)
    })
    .await;
    reproducible(&sim, faults, "html", || {
        http.post(
            &format!("{RPC}/getSpaceLevelPermissions"),
            DEFAULT_ADMIN_TOKEN,
        )
        .json(&json!([]))
    })
    .await;
}
