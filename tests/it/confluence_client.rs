//! The tenant's Confluence client against the Confluence DC simulator on
//! 127.0.0.1, on every supported version: complete and duplicate-free walks,
//! credentials, version detection, rate limiting, faults, writes, and the
//! `check` command as a real process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use baton::model::SpacePermission;
use confluence::settings::{Auth, ClientSettings, RetryPolicy};
use confluence::{
    ConfluenceClient, ConfluenceError, NewUser, PermissionKey, PermissionSubject, RateCeiling,
    Space, SpacePermissionRow, User, UserRef, VersionSource,
};
use platform::secret::Secret;
use reqwest::Url;
use sim::confluence::{
    ConfluenceSim, Dataset, Faults, GenerateOptions, RateLimit, SimOptions, SimVersion,
    UserStatusStyle,
};

use crate::support::run_alone;

const VERSIONS: [SimVersion; 3] = [SimVersion::V8_5, SimVersion::V9_2, SimVersion::V10_2];

/// A group name no path endpoint can carry, plus the characters that must be
/// percent-encoded correctly when they do travel in a path.
const SLASH_GROUP: &str = "eng/platform";
const ENCODED_GROUP: &str = "r&d + ops équipe";

fn dataset(users: usize, groups: usize, spaces: usize) -> Dataset {
    let mut dataset = Dataset::generate(&GenerateOptions {
        seed: 42,
        users,
        groups,
        spaces,
    });
    rename_group(&mut dataset, 2, SLASH_GROUP);
    rename_group(&mut dataset, 3, ENCODED_GROUP);
    dataset
}

/// Renames the `index`th group everywhere it is referenced.
fn rename_group(dataset: &mut Dataset, index: usize, new_name: &str) {
    let old = std::mem::replace(&mut dataset.groups[index].name, new_name.to_owned());
    for permission in &mut dataset.permissions {
        if permission.group_name.as_deref() == Some(old.as_str()) {
            permission.group_name = Some(new_name.to_owned());
        }
    }
}

fn start(options: SimOptions) -> ConfluenceSim {
    ConfluenceSim::start(options).expect("the simulator starts")
}

fn settings(sim: &ConfluenceSim, auth: Auth) -> ClientSettings {
    let base_url = Url::parse(&sim.base_url()).expect("the simulator's URL parses");
    ClientSettings {
        request_timeout: Duration::from_secs(10),
        rate_ceiling: Some(RateCeiling {
            requests_per_second: 10_000.0,
            burst: 1_000,
        }),
        max_in_flight: 4,
        page_size: 200,
        retry: RetryPolicy {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(200),
        },
        ..ClientSettings::new("acme", base_url, auth)
    }
}

fn admin(options: &SimOptions) -> Auth {
    Auth::Token(Secret::new(options.admin_token.clone()))
}

fn client(sim: &ConfluenceSim, auth: Auth) -> ConfluenceClient {
    ConfluenceClient::new(&settings(sim, auth)).expect("the client builds")
}

/// Who holds a permission, normalised to user keys so rows from JSON-RPC
/// (usernames) and REST (user keys) compare with the dataset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Holder {
    User(String),
    Group(String),
    Anonymous,
}

type PermissionTuple = (String, String, Holder);

/// Everything one walk of a tenant fetched.
#[derive(Debug, Default)]
struct Walked {
    users: Vec<User>,
    groups: Vec<String>,
    memberships: BTreeSet<(String, String)>,
    spaces: Vec<Space>,
    permissions: Vec<SpacePermissionRow>,
}

/// Walks a tenant the way a sync does: pages of users, groups, members
/// (per group, or per user for names no endpoint can address), spaces, and
/// each space's permissions.
async fn walk(client: &ConfluenceClient) -> Result<Walked, ConfluenceError> {
    let mut walked = Walked::default();
    let mut users = client.users();
    while let Some(page) = users.next_page().await? {
        assert!(!page.is_empty(), "a returned page is never empty");
        walked.users.extend(page);
    }
    walked.groups = client
        .groups()
        .collect_all()
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let mut unaddressable = Vec::new();
    for group in &walked.groups {
        if client.can_list_group_members(group).await? {
            let members = client.group_members(group).await?.collect_all().await?;
            walked
                .memberships
                .extend(members.into_iter().map(|u| (group.clone(), u.user_key)));
        } else {
            unaddressable.push(group.clone());
        }
    }
    let user_keys: Vec<String> = walked.users.iter().map(|u| u.user_key.clone()).collect();
    let via_users = client
        .group_members_via_users(&unaddressable, &user_keys)
        .await?;
    for (group, keys) in via_users {
        walked
            .memberships
            .extend(keys.into_iter().map(|key| (group.clone(), key)));
    }
    walked.spaces = client.spaces().collect_all().await?;
    for space in &walked.spaces {
        walked
            .permissions
            .extend(client.space_permissions(&space.key).await?);
    }
    Ok(walked)
}

fn key_of(row: &SpacePermissionRow, username_to_key: &HashMap<String, String>) -> PermissionTuple {
    let permission = match &row.permission {
        PermissionKey::Known(permission) => permission.legacy_key().to_owned(),
        PermissionKey::Unknown(raw) => raw.clone(),
    };
    let holder = match &row.subject {
        PermissionSubject::User(user) => Holder::User(match (&user.user_key, &user.username) {
            (Some(key), _) => key.clone(),
            (None, Some(username)) => username_to_key
                .get(username)
                .cloned()
                .unwrap_or_else(|| panic!("no user is named {username}")),
            (None, None) => panic!("a user row without a key or a name: {row:?}"),
        }),
        PermissionSubject::Group { name } => Holder::Group(name.clone()),
        PermissionSubject::Anonymous => Holder::Anonymous,
    };
    (row.space_key.clone(), permission, holder)
}

/// Asserts that `walked` holds exactly the dataset's records, each once.
fn assert_complete(walked: &Walked, data: &Dataset, version: SimVersion) {
    let users: BTreeMap<&str, &User> = walked
        .users
        .iter()
        .map(|user| (user.user_key.as_str(), user))
        .collect();
    assert_eq!(
        users.len(),
        walked.users.len(),
        "{version:?}: duplicate users"
    );
    assert_eq!(users.len(), data.users.len(), "{version:?}: user count");
    for expected in &data.users {
        let user = users
            .get(expected.user_key.as_str())
            .unwrap_or_else(|| panic!("{version:?}: user {} missing", expected.username));
        assert_eq!(user.username.as_deref(), Some(expected.username.as_str()));
        assert_eq!(user.display_name, expected.display_name);
        assert_eq!(user.email.as_deref(), Some(expected.email.as_str()));
        assert_eq!(
            user.is_enabled(),
            expected.active,
            "{version:?}: {}",
            expected.username
        );
    }

    let groups: BTreeSet<&str> = walked.groups.iter().map(String::as_str).collect();
    assert_eq!(
        groups.len(),
        walked.groups.len(),
        "{version:?}: duplicate groups"
    );
    let expected_groups: BTreeSet<&str> = data.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, expected_groups, "{version:?}: groups");

    let expected_memberships: BTreeSet<(String, String)> = data
        .groups
        .iter()
        .flat_map(|group| {
            group
                .members
                .iter()
                .map(|key| (group.name.clone(), key.clone()))
        })
        .collect();
    assert_eq!(
        walked.memberships, expected_memberships,
        "{version:?}: memberships"
    );
    assert!(
        walked
            .memberships
            .iter()
            .any(|(group, _)| group == SLASH_GROUP)
    );

    let spaces: BTreeMap<&str, &Space> = walked
        .spaces
        .iter()
        .map(|space| (space.key.as_str(), space))
        .collect();
    assert_eq!(
        spaces.len(),
        walked.spaces.len(),
        "{version:?}: duplicate spaces"
    );
    assert_eq!(spaces.len(), data.spaces.len(), "{version:?}: space count");
    for expected in &data.spaces {
        let space = spaces
            .get(expected.key.as_str())
            .unwrap_or_else(|| panic!("{version:?}: space {} missing", expected.key));
        assert_eq!(space.name, expected.name);
        assert_eq!(
            space.personal,
            expected.r#type == "personal",
            "{}",
            expected.key
        );
        assert_eq!(
            space.archived,
            expected.status == "archived",
            "{}",
            expected.key
        );
        assert_eq!(space.id, Some(expected.id));
    }

    let username_to_key: HashMap<String, String> = data
        .users
        .iter()
        .map(|user| (user.username.clone(), user.user_key.clone()))
        .chain(
            data.unknown_users
                .iter()
                .map(|u| (u.username.clone(), u.user_key.clone())),
        )
        .collect();
    let rows: Vec<PermissionTuple> = walked
        .permissions
        .iter()
        .map(|row| key_of(row, &username_to_key))
        .collect();
    let unique: BTreeSet<PermissionTuple> = rows.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        rows.len(),
        "{version:?}: duplicate permission rows"
    );
    let expected: BTreeSet<PermissionTuple> = data
        .permissions
        .iter()
        .map(|permission| {
            let holder = match (&permission.user_key, &permission.group_name) {
                (Some(key), _) => Holder::User(key.clone()),
                (None, Some(group)) => Holder::Group(group.clone()),
                (None, None) => Holder::Anonymous,
            };
            (
                permission.space_key.clone(),
                permission.r#type.clone(),
                holder,
            )
        })
        .collect();
    let missing: Vec<_> = expected.difference(&unique).take(5).collect();
    let extra: Vec<_> = unique.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{version:?}: missing {missing:?}, extra {extra:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_walk_returns_every_record_exactly_once_on_every_version() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(500, 60, 40));
        assert_eq!(options.quirks.page_cap, 200);
        assert!(options.quirks.next_link_from_requested_limit);
        let auth = admin(&options);
        let sim = start(options);
        // Ask for more than the server's cap, so following its `_links.next`
        // (built from the requested limit) would skip records.
        let mut settings = settings(&sim, auth);
        settings.page_size = 500;
        let client = ConfluenceClient::new(&settings).expect("builds");
        let walked = walk(&client)
            .await
            .unwrap_or_else(|err| panic!("{version:?}: {err}"));
        assert_complete(&walked, &sim.dataset(), version);
        let stats = client.stats();
        assert_eq!(
            (stats.rate_limited, stats.retries),
            (0, 0),
            "{version:?}: {stats:?}"
        );
        sim.shutdown();
    }
}

#[tokio::test]
async fn users_are_paged_by_returned_count_under_a_small_server_cap() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(230, 5, 4));
    options.quirks.page_cap = 7;
    options.quirks.space_page_cap = 3;
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let mut pager = client.users();
    let mut keys = BTreeSet::new();
    while let Some(page) = pager.next_page().await.expect("pages") {
        assert!(page.len() <= 7);
        keys.extend(page.into_iter().map(|user| user.user_key));
    }
    assert_eq!(keys.len(), 230);
    assert_eq!(pager.pages(), 230_u64.div_ceil(7));
    let spaces = client.spaces().collect_all().await.expect("spaces");
    assert_eq!(spaces.len(), 4);
}

#[tokio::test]
async fn repeating_space_pages_end_the_walk_without_duplicates() {
    for overpaging in [
        sim::confluence::SpaceOverpaging::RepeatLastPage,
        sim::confluence::SpaceOverpaging::EmptyPageWithNext,
    ] {
        let mut options = SimOptions::new(SimVersion::V8_5, dataset(20, 4, 9));
        options.quirks.space_overpaging = overpaging;
        options.quirks.space_page_cap = 4;
        let auth = admin(&options);
        let sim = start(options);
        let spaces = client(&sim, auth)
            .spaces()
            .collect_all()
            .await
            .expect("spaces");
        let keys: BTreeSet<_> = spaces.iter().map(|space| space.key.clone()).collect();
        assert_eq!((keys.len(), spaces.len()), (9, 9), "{overpaging:?}");
    }
}

#[tokio::test]
async fn group_names_with_reserved_characters_reach_the_server_intact() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(60, 6, 2));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let expected: BTreeSet<String> = sim.dataset().groups[3].members.iter().cloned().collect();
        let members = client
            .group_members(ENCODED_GROUP)
            .await
            .expect("addressable");
        let members: BTreeSet<String> = members
            .collect_all()
            .await
            .expect("members")
            .into_iter()
            .map(|u| u.user_key)
            .collect();
        assert_eq!(members, expected, "{version:?}");
    }
}

#[tokio::test]
async fn slash_group_uses_the_query_endpoint_on_10_and_is_refused_by_path_before() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(60, 6, 2));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let result = client.group_members(SLASH_GROUP).await;
        if version == SimVersion::V10_2 {
            let members = result
                .expect("10.2 has ?name=")
                .collect_all()
                .await
                .expect("members");
            assert_eq!(members.len(), sim.dataset().groups[2].members.len());
        } else {
            let err = result.err().expect("no endpoint can address the name");
            assert_eq!(err.label(), "name_not_addressable", "{err}");
            assert!(err.to_string().contains("memberof"), "{err}");
        }
    }
}

/// The first release with `/rest/api/group/member?name=` is not documented,
/// so a pre-10 tenant is probed once; where it answers, slash groups are read
/// through it instead of asking every user.
#[tokio::test]
async fn a_pre_10_tenant_that_has_the_query_endpoint_uses_it_after_one_probe() {
    // A 10.2 server the client is told is 9.2.
    let options = SimOptions::new(SimVersion::V10_2, dataset(60, 6, 2));
    let auth = admin(&options);
    let sim = start(options);
    let mut settings = settings(&sim, auth);
    settings.version = Some("9.2".parse().unwrap());
    let client = ConfluenceClient::new(&settings).unwrap();
    assert!(client.can_list_group_members(SLASH_GROUP).await.unwrap());
    assert!(client.can_list_group_members(SLASH_GROUP).await.unwrap());
    let members = client
        .group_members(SLASH_GROUP)
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(members.len(), sim.dataset().groups[2].members.len());
    let counts = sim.request_counts();
    assert_eq!(
        counts.get("GET /rest/api/group/member"),
        Some(&2),
        "one probe, one page: {counts:?}"
    );
    assert!(
        !counts.keys().any(|route| route.contains("memberof")),
        "{counts:?}"
    );
}

#[tokio::test]
async fn bad_token_is_reported_as_bad_credentials() {
    for version in VERSIONS {
        let sim = start(SimOptions::new(version, dataset(10, 4, 2)));
        let client = client(&sim, Auth::Token(Secret::new("not-a-real-token".into())));
        let err = client
            .current_user()
            .await
            .expect_err("an unknown token is no login");
        assert_eq!(err.label(), "bad_credentials", "{version:?}: {err}");
        assert!(err.to_string().contains("tenant `acme`"), "{err}");
        assert!(!err.to_string().contains("not-a-real-token"), "{err}");
    }
}

#[tokio::test]
async fn wrong_password_is_reported_as_bad_credentials_and_the_right_one_logs_in() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(10, 4, 2));
    options
        .passwords
        .push(("admin".into(), "correct horse".into()));
    let sim = start(options);
    let wrong = Auth::Basic {
        username: "admin".into(),
        password: Secret::new("nope".into()),
    };
    let err = client(&sim, wrong)
        .current_user()
        .await
        .expect_err("wrong password");
    assert_eq!(err.label(), "bad_credentials", "{err}");
    assert!(!err.to_string().contains("nope"));
    let right = Auth::Basic {
        username: "admin".into(),
        password: Secret::new("correct horse".into()),
    };
    let user = client(&sim, right)
        .current_user()
        .await
        .expect("the right password logs in");
    assert_eq!(user.username, "admin");
    assert!(!user.user_key.is_empty());
}

#[tokio::test]
async fn version_is_detected_once_per_client() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(10, 4, 2));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let detected = client.server_version().await.expect("detected");
        let requests = sim.request_count();
        assert_eq!(
            client.clone().server_version().await.expect("cached"),
            detected
        );
        assert_eq!(sim.request_count(), requests, "the version is cached");
        match version {
            SimVersion::V8_5 => {
                assert!(!detected.version.has_rest_space_permissions(), "{detected}");
            }
            SimVersion::V9_2 => {
                assert_eq!((detected.version.major, detected.version.minor), (9, 2));
                assert_eq!(detected.source, VersionSource::ServerInformation);
            }
            SimVersion::V10_2 => {
                assert_eq!((detected.version.major, detected.version.minor), (10, 2));
            }
        }
    }
}

#[tokio::test]
async fn configured_version_skips_detection() {
    let options = SimOptions::new(SimVersion::V9_2, dataset(10, 4, 2));
    let auth = admin(&options);
    let sim = start(options);
    let mut settings = settings(&sim, auth);
    settings.version = Some("9.2.1".parse().expect("a version"));
    let client = ConfluenceClient::new(&settings).expect("builds");
    let before = sim.request_count();
    let version = client.server_version().await.expect("configured");
    assert_eq!(version.source, VersionSource::Configured);
    assert_eq!(sim.request_count(), before);
}

/// Samples the client's request counter so a test can check every window.
fn sample_requests(
    client: &ConfluenceClient,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(Instant, u64)>> {
    let client = client.clone();
    tokio::spawn(async move {
        let mut samples = Vec::new();
        while !done.load(Ordering::Relaxed) {
            samples.push((Instant::now(), client.stats().requests));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples.push((Instant::now(), client.stats().requests));
        samples
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_tenant_stays_within_the_server_bucket_and_completes() {
    // 10.2 lists every group by name, so the walk is ~70 requests: the burst
    // of 20, then five seconds at the fill rate.
    let mut options = SimOptions::new(SimVersion::V10_2, dataset(500, 40, 20));
    options.rate_limit = Some(RateLimit {
        capacity: 20,
        fill_rate: 10,
        interval: Duration::from_secs(1),
    });
    let auth = admin(&options);
    let sim = start(options);
    let mut settings = settings(&sim, auth);
    settings.rate_ceiling = Some(RateCeiling {
        requests_per_second: 10.0,
        burst: 20,
    });
    let client = ConfluenceClient::new(&settings).expect("builds");

    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_requests(&client, done.clone());
    let started = Instant::now();
    let walked = walk(&client)
        .await
        .expect("the walk completes under rate limiting");
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.expect("sampler");
    let elapsed = started.elapsed();
    assert_complete(&walked, &sim.dataset(), SimVersion::V10_2);

    let stats = client.stats();
    assert!(stats.rate_limited <= 2, "few or no 429s: {stats:?}");
    assert!(
        stats.requests > 40,
        "the test must outrun the burst: {stats:?}"
    );
    // Never more than the burst above the fill rate, over any window. The
    // counter moves when answers arrive, and the answers of the 4 requests
    // in flight may arrive together, hence 4 requests of slack.
    for (i, (from, before)) in samples.iter().enumerate() {
        for (to, after) in &samples[i + 1..] {
            let allowed = 20.0 + 10.0 * to.duration_since(*from).as_secs_f64() + 4.0;
            assert!(
                (*after - *before) as f64 <= allowed,
                "{} requests in {:?}",
                after - before,
                to.duration_since(*from)
            );
        }
    }
    assert!(stats.rate_limit_wait > Duration::from_secs(1), "{stats:?}");
    eprintln!("rate limited walk: {stats:?} in {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_faster_than_the_server_is_paced_by_its_rate_limit_headers() {
    let mut options = SimOptions::new(SimVersion::V10_2, dataset(300, 20, 10));
    options.rate_limit = Some(RateLimit {
        capacity: 20,
        fill_rate: 10,
        interval: Duration::from_secs(1),
    });
    let auth = admin(&options);
    let sim = start(options);
    // 10,000 requests/second locally: only the server's feedback slows it.
    let client = client(&sim, auth);
    let started = Instant::now();
    let walked = walk(&client).await.expect("completes");
    assert_complete(&walked, &sim.dataset(), SimVersion::V10_2);
    let stats = client.stats();
    assert!(stats.rate_limited <= 2, "{stats:?}");
    let allowed = 20.0 + 10.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(
        (stats.requests as f64) <= allowed,
        "{stats:?} in {:?}",
        started.elapsed()
    );
    assert!(
        stats.rate_limit_wait > Duration::from_millis(500),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_pauses_the_tenant_and_the_walk_completes() {
    let mut options = SimOptions::new(SimVersion::V10_2, dataset(300, 20, 10));
    options.rate_limit = Some(RateLimit {
        capacity: 20,
        fill_rate: 10,
        interval: Duration::from_secs(1),
    });
    let token = options.admin_token.clone();
    let auth = admin(&options);
    let sim = start(options);
    // Someone else drains the account's bucket just before the walk starts.
    confluence::http::install_crypto_provider();
    let other = reqwest::Client::new();
    let url = format!("{}/rest/api/user/current", sim.base_url());
    let drained =
        futures::future::join_all((0..25).map(|_| other.get(&url).bearer_auth(&token).send()))
            .await;
    let refused = drained
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 429))
        .count();
    assert!(refused > 0, "the bucket is drained");

    let client = client(&sim, auth);
    // The client paces by the server's X-RateLimit-Remaining once it has
    // seen it, so the other client drains the bucket again mid-walk, after
    // this one last heard how many tokens were left.
    let drain_again = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        futures::future::join_all((0..25).map(|_| other.get(&url).bearer_auth(&token).send()))
            .await;
    };
    let (walked, ()) = tokio::join!(walk(&client), drain_again);
    let walked = walked.expect("completes after waiting");
    assert_complete(&walked, &sim.dataset(), SimVersion::V10_2);
    let stats = client.stats();
    assert!(
        stats.rate_limited >= 1 && stats.retries >= stats.rate_limited,
        "{stats:?}"
    );
    assert!(stats.rate_limited * 4 < stats.requests, "{stats:?}");
    assert!(
        stats.rate_limit_wait > Duration::from_millis(500),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_server_with_503s_and_resets_yields_identical_results() {
    for version in VERSIONS {
        let mut options = SimOptions::new(version, dataset(500, 60, 40));
        options.faults = Faults {
            seed: 7,
            status_503_rate: 0.15,
            reset_rate: 0.05,
            retry_after_secs: 0,
            ..Faults::default()
        };
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let walked = walk(&client)
            .await
            .unwrap_or_else(|err| panic!("{version:?}: {err}"));
        assert_complete(&walked, &sim.dataset(), version);
        assert!(
            client.stats().retries > 10,
            "{version:?}: {:?}",
            client.stats()
        );
    }
}

/// A 9.2 client that has walked a small dataset, with the simulator and
/// the connections the walk left open (at least one).
async fn walked_client() -> (ConfluenceSim, ConfluenceClient, usize) {
    let options = SimOptions::new(SimVersion::V9_2, dataset(300, 20, 10));
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let walked = walk(&client).await.unwrap();
    assert_complete(&walked, &sim.dataset(), SimVersion::V9_2);
    let open = sim.open_connections();
    assert!(open > 0, "the client kept no connection between requests");
    (sim, client, open)
}

/// Waits up to `limit` for the simulator to hold no open connection, and
/// says how long it waited.
async fn until_no_connection_is_open(sim: &ConfluenceSim, limit: Duration) -> Duration {
    let started = Instant::now();
    while sim.open_connections() > 0 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_walk_closes_its_idle_connections_within_seconds() {
    let (sim, client, open_after_walk) = walked_client().await;

    // The client lives on (as a tenant's does between syncs); its pooled
    // connections must not.
    let closed_after = until_no_connection_is_open(&sim, Duration::from_secs(30)).await;
    assert_eq!(
        sim.open_connections(),
        0,
        "{open_after_walk} connections still open {closed_after:?} after the walk"
    );
    assert!(
        closed_after < Duration::from_secs(15),
        "idle connections were closed only after {closed_after:?}"
    );
    drop(client);
}

#[tokio::test]
async fn releasing_idle_connections_closes_them_at_once_and_keeps_the_client_working() {
    let (sim, client, open_after_walk) = walked_client().await;
    let requests = client.stats().requests;

    // What a tenant does when its sync ends: well before the idle timeout.
    client.release_idle_connections();
    let waited = until_no_connection_is_open(&sim, Duration::from_secs(2)).await;
    assert_eq!(
        sim.open_connections(),
        0,
        "{open_after_walk} connections still open {waited:?} after the release"
    );

    // The next sync opens new ones, and what the client counted stays.
    let walked = walk(&client).await.unwrap();
    assert_complete(&walked, &sim.dataset(), SimVersion::V9_2);
    assert!(client.stats().requests > requests);
}

#[tokio::test]
async fn truncated_json_is_a_clear_error_never_a_short_result() {
    let options = SimOptions::new(SimVersion::V9_2, dataset(100, 4, 2));
    let auth = admin(&options);
    let sim = start(options);
    sim.set_faults(Faults {
        seed: 1,
        truncated_rate: 1.0,
        ..Faults::default()
    });
    let client = client(&sim, auth);
    let err = client
        .users()
        .collect_all()
        .await
        .expect_err("a cut body is no page");
    assert_eq!(err.label(), "undecodable", "{err}");
    let text = err.to_string();
    assert!(text.contains("malformed or truncated JSON"), "{text}");
    assert!(text.contains("/rest/api/user/list"), "{text}");

    // Some truncated pages among good ones: either everything or an error.
    sim.set_faults(Faults {
        seed: 3,
        truncated_rate: 0.2,
        ..Faults::default()
    });
    match client.users().collect_all().await {
        Ok(users) => assert_eq!(users.len(), 100),
        Err(err) => assert_eq!(err.label(), "undecodable", "{err}"),
    }
}

#[tokio::test]
async fn websudo_html_instead_of_json_rpc_is_an_error() {
    let options = SimOptions::new(SimVersion::V8_5, dataset(20, 4, 2));
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let key = sim.dataset().spaces[0].key.clone();
    client.version().await.expect("detected");
    sim.set_faults(Faults {
        seed: 1,
        html_rpc_rate: 1.0,
        ..Faults::default()
    });
    let err = client
        .space_permissions(&key)
        .await
        .expect_err("HTML is no permission set");
    assert_eq!(err.label(), "undecodable", "{err}");
    assert!(err.to_string().contains("HTML"), "{err}");
}

#[tokio::test]
async fn disabled_remote_api_is_reported_on_8_5() {
    let mut options = SimOptions::new(SimVersion::V8_5, dataset(20, 4, 2));
    options.remote_api_enabled = false;
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let key = sim.dataset().spaces[0].key.clone();
    let err = client
        .space_permissions(&key)
        .await
        .expect_err("needs the Remote API");
    assert_eq!(err.label(), "remote_api_disabled", "{err}");
    assert!(
        err.to_string().contains("Remote API (XML-RPC & SOAP)"),
        "{err}"
    );
    assert_eq!(
        client.probe_remote_api().await.expect_err("off").label(),
        "remote_api_disabled"
    );
}

#[tokio::test]
async fn unreachable_server_fails_with_bounded_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let base_url = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    let settings = ClientSettings {
        request_timeout: Duration::from_secs(2),
        rate_ceiling: Some(RateCeiling {
            requests_per_second: 100.0,
            burst: 10,
        }),
        max_in_flight: 2,
        page_size: 200,
        retry: RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        ..ClientSettings::new("gone", base_url, Auth::Token(Secret::new("t".into())))
    };
    let client = ConfluenceClient::new(&settings).expect("builds");
    let err = client.current_user().await.expect_err("nobody listens");
    assert_eq!(err.label(), "transport", "{err}");
    assert!(err.to_string().contains("after 3 attempt(s)"), "{err}");
    assert_eq!(client.stats().requests, 3);
    assert_eq!(client.stats().retries, 2);
}

#[tokio::test]
async fn single_user_lookups_by_key_and_by_username() {
    let options = SimOptions::new(SimVersion::V10_2, dataset(20, 4, 2));
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let expected = sim.dataset().users[5].clone();
    let by_key = client
        .user_by_key(&expected.user_key)
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(by_key.username.as_deref(), Some(expected.username.as_str()));
    let by_name = client
        .user_by_username(&expected.username)
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(by_name.user_key, expected.user_key);
    assert_eq!(
        client
            .user_by_username("nobody-here")
            .await
            .expect("lookup"),
        None
    );
}

#[tokio::test]
async fn hidden_emails_are_absent_not_empty() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(20, 4, 2));
    options.email_visible = false;
    let auth = admin(&options);
    let sim = start(options);
    let users = client(&sim, auth)
        .users()
        .collect_all()
        .await
        .expect("users");
    assert_eq!(users.len(), 20);
    assert!(users.iter().all(|user| user.email.is_none()));
}

#[tokio::test]
async fn group_membership_writes_take_effect_on_every_version() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(30, 6, 2));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let data = sim.dataset();
        for group in [SLASH_GROUP, ENCODED_GROUP] {
            let outsider = data
                .users
                .iter()
                .find(|user| {
                    !data
                        .groups
                        .iter()
                        .any(|g| g.name == group && g.members.contains(&user.user_key))
                })
                .expect("someone outside the group");
            let user = UserRef::by_key(outsider.user_key.clone());
            let member_of = |client: ConfluenceClient, user: UserRef| async move {
                client
                    .user_groups(&user)
                    .collect_all()
                    .await
                    .expect("memberof")
                    .into_iter()
                    .any(|g| g.name == group)
            };
            client
                .add_group_member(&user, group)
                .await
                .unwrap_or_else(|err| panic!("{version:?} {group}: {err}"));
            client
                .add_group_member(&user, group)
                .await
                .expect("adding twice is fine");
            assert!(
                member_of(client.clone(), user.clone()).await,
                "{version:?} {group}"
            );
            client
                .remove_group_member(&user, group)
                .await
                .expect("removed");
            assert!(
                !member_of(client.clone(), user.clone()).await,
                "{version:?} {group}"
            );
        }
        assert!(
            sim.mutations().iter().all(|mutation| mutation.succeeded()),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn space_permission_grants_and_revokes_round_trip_on_every_version() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(30, 6, 4));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let data = sim.dataset();
        let space = data
            .spaces
            .iter()
            .find(|space| space.r#type == "global")
            .expect("a global space");
        let user = &data.users[7];
        let subjects = [
            PermissionSubject::User(UserRef::by_key(user.user_key.clone())),
            PermissionSubject::User(UserRef::by_username(user.username.clone())),
            PermissionSubject::Group {
                name: ENCODED_GROUP.into(),
            },
            PermissionSubject::Group {
                name: SLASH_GROUP.into(),
            },
            PermissionSubject::Anonymous,
        ];
        for subject in &subjects {
            for permission in [SpacePermission::RemoveMail, SpacePermission::ExportSpace] {
                let held =
                    |keys: Vec<PermissionKey>| keys.contains(&PermissionKey::Known(permission));
                client
                    .revoke_space_permission(&space.key, permission, subject)
                    .await
                    .unwrap_or_else(|err| panic!("{version:?} {subject:?}: {err}"));
                let before = client
                    .subject_space_permissions(&space.key, subject)
                    .await
                    .expect("read");
                assert!(!held(before), "{version:?} {subject:?}");
                client
                    .grant_space_permission(&space.key, permission, subject)
                    .await
                    .expect("granted");
                client
                    .grant_space_permission(&space.key, permission, subject)
                    .await
                    .expect("granting twice is fine");
                let after = client
                    .subject_space_permissions(&space.key, subject)
                    .await
                    .expect("read");
                assert!(held(after), "{version:?} {subject:?} {permission:?}");
                let rows = client.space_permissions(&space.key).await.expect("rows");
                let unique: BTreeSet<_> = rows.iter().collect();
                assert_eq!(unique.len(), rows.len());
            }
        }
        assert!(
            sim.mutations().iter().all(|mutation| mutation.succeeded()),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn created_user_can_be_disabled_and_enabled() {
    for version in VERSIONS {
        let options = SimOptions::new(version, dataset(10, 4, 2));
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let new_user = NewUser {
            username: "new.hire".into(),
            full_name: "New Hire".into(),
            email: "new.hire@example.com".into(),
            password: Some(Secret::new("Initial-Passw0rd".into())),
        };
        let user_key = client
            .create_user(&new_user)
            .await
            .unwrap_or_else(|err| panic!("{version:?}: {err}"));
        let created = client
            .user_by_key(&user_key)
            .await
            .expect("lookup")
            .expect("exists");
        assert_eq!(created.username.as_deref(), Some("new.hire"));
        let again = client
            .create_user(&new_user)
            .await
            .expect_err("the name is taken");
        assert_eq!(again.label(), "conflict", "{again}");
        assert!(!again.to_string().contains("Initial-Passw0rd"));

        let user = UserRef::by_key(user_key.clone());
        client.disable_user(&user).await.expect("disabled");
        let disabled = client
            .user_by_key(&user_key)
            .await
            .expect("lookup")
            .expect("exists");
        assert!(!disabled.is_enabled(), "{version:?}: {disabled:?}");
        client.enable_user(&user).await.expect("enabled");
        let enabled = client
            .user_by_key(&user_key)
            .await
            .expect("lookup")
            .expect("exists");
        assert!(enabled.is_enabled(), "{version:?}");
    }
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let options = SimOptions::new(SimVersion::V9_2, dataset(5, 4, 1));
    let sim = start(options);
    let settings = settings(&sim, Auth::Token(Secret::new("very-secret-pat".into())));
    let client = ConfluenceClient::new(&settings).expect("builds");
    let err = client
        .current_user()
        .await
        .expect_err("not a token the sim knows");
    for text in [
        format!("{settings:?}"),
        format!("{client:?}"),
        format!("{err:?}"),
        err.to_string(),
    ] {
        assert!(!text.contains("very-secret-pat"), "{text}");
    }
}

/// A scratch directory for a config file and its secret files.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn write_config(dir: &std::path::Path, tenants: &[(&str, &str, &str)]) -> PathBuf {
    let mut text = format!("[hub]\ndata_dir = \"{}\"\n", dir.join("data").display());
    for (id, url, token) in tenants {
        let token_file = dir.join(format!("{id}.pat"));
        std::fs::write(&token_file, token).expect("token file");
        text.push_str(&format!(
            "[[instance]]\nid = \"{id}\"\nbase_url = \"{url}\"\ntoken = {{ file = \"{}\" }}\n",
            token_file.display()
        ));
    }
    let path = dir.join("hub.toml");
    std::fs::write(&path, text).expect("config file");
    path
}

fn run_check(config: &std::path::Path) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args([
            "--log-format",
            "console",
            "--log-level",
            "warn",
            "check",
            "--config",
        ])
        .arg(config)
        .env_remove("CONFLUENCE_HUB_CONFIG")
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_exits_1_for_a_bad_tenant_and_0_when_all_are_good() {
    let good_sim = start(SimOptions::new(SimVersion::V9_2, dataset(5, 4, 1)));
    let old_sim = start(SimOptions::new(SimVersion::V8_5, dataset(5, 4, 1)));
    let good_url = good_sim.base_url();
    let old_url = old_sim.base_url();
    let token = SimOptions::new(SimVersion::V9_2, dataset(1, 4, 1)).admin_token;
    let dir = scratch_dir("mixed");

    let config = write_config(
        &dir,
        &[
            ("acme", &good_url, &token),
            ("beta", &good_url, "wrong-token"),
            ("old", &old_url, &token),
        ],
    );
    let (code, stdout, stderr) = run_check(&config);
    assert_eq!(code, Some(1), "stdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("acme ok confluence 9.2"), "{stdout}");
    assert!(lines[0].ends_with("as admin"), "{stdout}");
    assert!(
        lines[1].starts_with("beta FAILED bad credentials:"),
        "{stdout}"
    );
    assert!(lines[1].contains("check the tenant's `token`"), "{stdout}");
    assert!(lines[2].starts_with("old ok confluence 8"), "{stdout}");
    assert!(!stdout.contains("wrong-token") && !stderr.contains("wrong-token"));

    let config = write_config(
        &dir,
        &[("acme", &good_url, &token), ("old", &old_url, &token)],
    );
    let (code, stdout, stderr) = run_check(&config);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn check_reports_every_config_problem_and_exits_1() {
    let dir = scratch_dir("invalid");
    let path = dir.join("hub.toml");
    std::fs::write(
        &path,
        "[[instance]]\nid = \"Bad Id\"\nbase_url = \"ftp://x\"\ntoken = { env = \"HUB_CHECK_UNSET_VAR\" }\n\
         [[instance]]\nid = \"two\"\nbase_url = \"https://ok.example\"\npage_size = 0\ntoken = { env = \"HUB_CHECK_UNSET_VAR\" }\n",
    )
    .expect("config");
    let (code, stdout, stderr) = run_check(&path);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    // The bad id is located by line and key; values from the file are never repeated.
    assert!(stderr.contains("line 1: key `id`"), "{stderr}");
    assert!(!stderr.contains("Bad Id"), "{stderr}");
    assert!(stderr.contains("page_size"), "{stderr}");
    assert!(stderr.contains("HUB_CHECK_UNSET_VAR"), "{stderr}");
    assert!(stderr.lines().count() >= 3, "{stderr}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A span's id and its fields, as text.
type RecordedSpan = (u64, BTreeMap<String, String>);

/// Records the fields of every `confluence.request` span.
#[derive(Clone, Default)]
struct SpanRecorder {
    spans: Arc<std::sync::Mutex<Vec<RecordedSpan>>>,
}

struct FieldWriter<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanRecorder {
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attributes.metadata().name() == "confluence.request" {
            let mut fields = BTreeMap::new();
            attributes.record(&mut FieldWriter(&mut fields));
            self.spans
                .lock()
                .expect("lock")
                .push((id.into_u64(), fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut spans = self.spans.lock().expect("lock");
        if let Some((_, fields)) = spans
            .iter_mut()
            .rev()
            .find(|(span, _)| *span == id.into_u64())
        {
            values.record(&mut FieldWriter(fields));
        }
    }
}

#[test]
fn every_request_is_traced_with_its_route_template_status_and_retries() {
    run_alone("confluence_client::request_spans_of_a_flaky_walk");
}

/// Requests against a server that answers half of them with a 503, recorded
/// by a global subscriber.
#[tokio::test]
#[ignore = "run in its own process by every_request_is_traced_with_its_route_template_status_and_retries"]
async fn request_spans_of_a_flaky_walk() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let recorder = SpanRecorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .expect("no other subscriber in a process of its own");
    let mut options = SimOptions::new(SimVersion::V8_5, dataset(20, 6, 2));
    options.faults = Faults {
        seed: 11,
        status_503_rate: 0.5,
        ..Faults::default()
    };
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let members = client
        .group_members(ENCODED_GROUP)
        .await
        .expect("addressable");
    members.collect_all().await.expect("members");
    let space = sim.dataset().spaces[0].key.clone();
    client.space_permissions(&space).await.expect("permissions");
    for user in sim.dataset().users.iter().take(10) {
        client.user_by_key(&user.user_key).await.expect("lookup");
    }

    let spans = recorder.spans.lock().expect("lock").clone();
    let find = |template: &str| {
        spans
            .iter()
            .map(|(_, fields)| fields)
            .find(|fields| fields.get("url.template").map(String::as_str) == Some(template))
            .unwrap_or_else(|| panic!("no span for {template}: {spans:?}"))
            .clone()
    };
    let member_span = find("/rest/api/group/{name}/member");
    assert_eq!(member_span["http.request.method"], "GET");
    assert_eq!(member_span["http.response.status_code"], "200");
    assert_eq!(member_span["tenant"], "acme");
    let rpc_span = find("/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets");
    assert_eq!(rpc_span["http.request.method"], "POST");
    assert!(
        spans
            .iter()
            .all(|(_, fields)| fields.contains_key("retries")),
        "{spans:?}"
    );
    assert!(
        spans.iter().any(|(_, fields)| fields["retries"] != "0"),
        "half the answers are 503s, so some request was retried: {spans:?}"
    );
    let text = format!("{spans:?}");
    assert!(
        !text.contains("équipe") && !text.contains("r&d") && !text.contains("%20"),
        "{text}"
    );
    assert!(!text.contains(&space), "{text}");
}

#[tokio::test]
async fn user_status_is_understood_in_either_spelling() {
    for style in [UserStatusStyle::Enum, UserStatusStyle::Words] {
        let mut options = SimOptions::new(SimVersion::V9_2, dataset(80, 4, 1));
        options.quirks.user_status_style = style;
        let auth = admin(&options);
        let sim = start(options);
        let users = client(&sim, auth)
            .users()
            .collect_all()
            .await
            .expect("users");
        let enabled: BTreeMap<String, bool> = users
            .iter()
            .map(|user| (user.user_key.clone(), user.is_enabled()))
            .collect();
        let data = sim.dataset();
        assert!(
            data.users.iter().any(|user| !user.active),
            "the dataset has disabled users"
        );
        for user in &data.users {
            assert_eq!(
                enabled[&user.user_key], user.active,
                "{style:?}: {}",
                user.username
            );
        }
    }
}

#[tokio::test]
async fn a_503_retry_after_given_as_an_http_date_is_honoured() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(5, 4, 1));
    options.quirks.retry_after_http_date = true;
    options.faults = Faults {
        seed: 1,
        status_503_rate: 1.0,
        retry_after_secs: 2,
        ..Faults::default()
    };
    let auth = admin(&options);
    let sim = start(options);
    let mut settings = settings(&sim, auth);
    settings.retry.max_attempts = 3;
    let client = ConfluenceClient::new(&settings).expect("builds");
    let started = Instant::now();
    let err = client.current_user().await.expect_err("always 503");
    assert_eq!(err.label(), "server_error", "{err}");
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("after 3 attempt(s)"), "{err}");
    // Two waits of one to two seconds (an HTTP-date has whole seconds),
    // far above the 10-200 ms backoff this client is configured with.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        client.stats().rate_limit_wait >= Duration::from_secs(2),
        "{:?}",
        client.stats()
    );
}

#[tokio::test]
async fn a_non_admin_account_gets_errors_that_say_it_lacks_admin_rights() {
    for version in [SimVersion::V8_5, SimVersion::V9_2] {
        let mut options = SimOptions::new(version, dataset(20, 6, 3));
        let member = options.dataset.users[4].username.clone();
        options.tokens.push(("member-token".into(), member.clone()));
        let sim = start(options);
        let client = client(&sim, Auth::Token(Secret::new("member-token".into())));
        assert_eq!(
            client.current_user().await.expect("a real login").username,
            member
        );

        // CONFSERVER-98582: group members need admin, refused with a 401 in XML.
        let members = client
            .group_members(ENCODED_GROUP)
            .await
            .expect("addressable");
        let err = members.collect_all().await.expect_err("members need admin");
        assert_eq!(err.label(), "unauthorized", "{version:?}: {err}");
        assert!(
            err.to_string().contains("Client must be authenticated"),
            "{err}"
        );
        assert!(err.to_string().contains("admin"), "{err}");

        if version == SimVersion::V9_2 {
            // CONFSERVER-99908: 500 instead of 403 for a non-space-admin.
            let space = sim
                .dataset()
                .spaces
                .iter()
                .find(|s| s.r#type == "global")
                .expect("global")
                .key
                .clone();
            let err = client
                .space_permissions(&space)
                .await
                .expect_err("needs space admin");
            assert_eq!(
                (err.label(), err.status()),
                ("server_error", Some(500)),
                "{err}"
            );
            assert!(err.to_string().contains("CONFSERVER-99908"), "{err}");
            assert!(
                err.to_string().contains("after 1 attempt(s)"),
                "a 500 is not retried: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_captcha_lock_is_reported_as_bad_credentials_with_its_reason() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(5, 4, 1));
    options.passwords.push(("admin".into(), "right".into()));
    options.quirks.login_attempts_before_captcha = Some(2);
    let sim = start(options);
    let basic = |password: &str| Auth::Basic {
        username: "admin".into(),
        password: Secret::new(password.into()),
    };
    for _ in 0..3 {
        let err = client(&sim, basic("wrong"))
            .current_user()
            .await
            .expect_err("wrong");
        assert_eq!(err.label(), "bad_credentials");
    }
    let err = client(&sim, basic("right"))
        .current_user()
        .await
        .expect_err("locked");
    assert_eq!(err.label(), "bad_credentials", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("AUTHENTICATION_DENIED") && text.contains("CAPTCHA"),
        "{text}"
    );
}

#[tokio::test]
async fn a_json_rpc_error_is_an_error_whatever_the_http_status() {
    for status in [200, 500] {
        let mut options = SimOptions::new(SimVersion::V8_5, dataset(10, 4, 2));
        options.quirks.rpc_light_error_status = status;
        let auth = admin(&options);
        let sim = start(options);
        let client = client(&sim, auth);
        let err = client
            .grant_space_permission(
                "NOSUCHSPACE",
                SpacePermission::View,
                &PermissionSubject::Anonymous,
            )
            .await
            .expect_err("no such space");
        assert_eq!(err.label(), "json_rpc", "{status}: {err}");
        assert!(
            err.to_string().contains("addAnonymousPermissionsToSpace"),
            "{err}"
        );
        let err = client
            .space_permissions("NOSUCHSPACE")
            .await
            .expect_err("no such space");
        assert_eq!(err.label(), "json_rpc", "{status}: {err}");
    }
}

#[tokio::test]
async fn a_missing_anonymous_permission_endpoint_falls_back_to_the_full_list() {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(10, 4, 3));
    options.quirks.anonymous_permission_endpoint_missing = true;
    let auth = admin(&options);
    let sim = start(options);
    let client = client(&sim, auth);
    let data = sim.dataset();
    let space = data
        .permissions
        .iter()
        .find(|p| p.user_key.is_none() && p.group_name.is_none())
        .expect("some space grants anonymous access")
        .space_key
        .clone();
    let expected: BTreeSet<String> = data
        .permissions
        .iter()
        .filter(|p| p.space_key == space && p.user_key.is_none() && p.group_name.is_none())
        .map(|p| p.r#type.clone())
        .collect();
    let held = client
        .subject_space_permissions(&space, &PermissionSubject::Anonymous)
        .await
        .expect("read through the full list");
    let held: BTreeSet<String> = held
        .into_iter()
        .map(|key| match key {
            PermissionKey::Known(permission) => permission.legacy_key().to_owned(),
            PermissionKey::Unknown(raw) => raw,
        })
        .collect();
    assert_eq!(held, expected);
}

/// A Confluence behind an internal CA is reached through the tenant's
/// `ca_file` (added to the system roots, which every tenant's client shares)
/// and refused without it. Any TLS server signed by its own CA will do: the
/// ConductorOne simulator's answers an HTTP error, which proves the handshake.
#[tokio::test]
async fn https_confluence_is_trusted_through_the_tenants_ca_file_only() {
    use sim::conductorone::{ConductorOneSim, SimOptions as C1Options};

    let server = ConductorOneSim::start(C1Options::default()).expect("the TLS server starts");
    let tenant = |ca_pem: Option<Vec<u8>>| {
        let base_url = Url::parse(&format!("https://{}", server.api_host())).expect("a URL");
        let settings = ClientSettings {
            ca: ca_pem.map(|pem| {
                std::sync::Arc::new(
                    platform::tls::CaCertificates::from_pem(pem).expect("the server's CA"),
                )
            }),
            request_timeout: Duration::from_secs(5),
            rate_ceiling: Some(RateCeiling {
                requests_per_second: 100.0,
                burst: 10,
            }),
            max_in_flight: 1,
            page_size: 200,
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientSettings::new(
                "internal-ca",
                base_url,
                Auth::Token(Secret::new("pat".into())),
            )
        };
        ConfluenceClient::new(&settings).expect("the client builds")
    };

    let trusted = tenant(Some(server.ca_pem().as_bytes().to_vec()))
        .current_user()
        .await
        .expect_err("the TLS server is not a Confluence");
    assert!(
        !matches!(trusted.kind().label(), "transport" | "timeout" | "setup"),
        "the handshake succeeds with the tenant's CA: {trusted}"
    );

    let untrusted = tenant(None)
        .current_user()
        .await
        .expect_err("an unknown CA is refused");
    assert_eq!(untrusted.kind().label(), "transport", "{untrusted}");
    assert!(untrusted.to_string().contains("certificate"), "{untrusted}");
}
