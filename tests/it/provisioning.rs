//! The provisioning engine against the Confluence simulator on 127.0.0.1, on
//! every supported version: grants and revokes of all 14 space permissions and
//! of group membership (checked in the simulator's state, its log of mutating
//! calls, and a following sync), idempotency, account creation with sealed
//! passwords, the provisioning gate, group names containing `/`, and
//! deprovisioning.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use prost::Name;
use prost_types::{Struct, Value, value::Kind};
use reqwest::Url;
use sha2::{Digest, Sha256};
use tonic::Code;

use baton::c1z::C1zReader;
use baton::model::{
    ResourceKind, SpacePermission, grant_id, group_member_entitlement, group_resource, resource_id,
    space_entitlement, space_resource,
};
use baton::pb::c1::connector::v2::credential_options::{NoPassword, Options, RandomPassword};
use baton::pb::c1::connector::v2::encryption_config::{Config, JwkPublicKeyConfig};
use baton::pb::c1::connector::v2::{
    AccountInfo, Capability, CreateAccountResponse, CredentialOptions, EncryptionConfig,
    Entitlement, Grant, GrantAlreadyExists, GrantAlreadyRevoked, PasswordConstraint, Resource,
    ResourceDoesNotExist, UserTrait, account_info, create_account_response,
};
use conductorone::TaskError;
use conductorone::task::{CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask};
use confluence::settings::{Auth, ClientSettings, RetryPolicy};
use confluence::{ConfluenceClient, RateCeiling};
use hub::actors::oneshot::sync_once;
use hub::config::{Deprovisioning, SyncSettings, TenantConfig, TenantId};
use hub::provision::{Provisioner, age, connector_metadata};
use hub::sync::Progress;
use platform::secret::Secret;
use sim::confluence::{
    Api, ConfluenceSim, Dataset, Mutation, MutationAction, SimGroup, SimOptions, SimPermission,
    SimSpace, SimUser, SimVersion, Subject,
};

use crate::support::{CapturedLogs, run_alone};

const VERSIONS: [SimVersion; 3] = [SimVersion::V8_5, SimVersion::V9_2, SimVersion::V10_2];

const ADMIN_KEY: &str = "5a1100000000000000000000000000a1";
const JDOE_KEY: &str = "5a1100000000000000000000000000a2";
const MROE_KEY: &str = "5a1100000000000000000000000000a3";
const SPACE: &str = "TEST";
const SPACE_NAME: &str = "Test space";
const GROUP: &str = "devs";
const SLASH_GROUP: &str = "eng/platform";
const MEMBER_TOKEN: &str = "jdoe-token";

// ---------- the instance and the tenant ----------

fn user(user_key: &str, username: &str, display_name: &str) -> SimUser {
    SimUser {
        user_key: user_key.into(),
        username: username.into(),
        display_name: display_name.into(),
        email: format!("{username}@example.com"),
        active: true,
        password: None,
    }
}

/// An admin, two users, one space where only `confluence-users` can view.
fn dataset() -> Dataset {
    let group = |name: &str, members: &[&str]| SimGroup {
        name: name.into(),
        members: members.iter().map(|key| (*key).to_owned()).collect(),
    };
    Dataset {
        users: vec![
            user(ADMIN_KEY, "admin", "Admin"),
            user(JDOE_KEY, "jdoe", "Jane Doe"),
            user(MROE_KEY, "mroe", "Mark Roe"),
        ],
        groups: vec![
            group("confluence-administrators", &[ADMIN_KEY]),
            group("confluence-users", &[ADMIN_KEY, JDOE_KEY, MROE_KEY]),
            group(GROUP, &[MROE_KEY]),
            group(SLASH_GROUP, &[]),
        ],
        spaces: vec![SimSpace {
            id: 1,
            key: SPACE.into(),
            name: SPACE_NAME.into(),
            r#type: "global".into(),
            status: "current".into(),
            description: String::new(),
        }],
        permissions: vec![SimPermission {
            space_key: SPACE.into(),
            r#type: "VIEWSPACE".into(),
            user_key: None,
            group_name: Some("confluence-users".into()),
        }],
        unknown_users: Vec::new(),
    }
}

fn options(version: SimVersion) -> SimOptions {
    let mut options = SimOptions::new(version, dataset());
    options.tokens = vec![(MEMBER_TOKEN.into(), "jdoe".into())];
    options
}

fn start(options: SimOptions) -> ConfluenceSim {
    ConfluenceSim::start(options).expect("the simulator starts")
}

fn tenant(
    sim: &ConfluenceSim,
    token: &str,
    provisioning: bool,
    deprovisioning: Deprovisioning,
) -> TenantConfig {
    let base_url = Url::parse(&sim.base_url()).expect("the simulator's URL parses");
    let confluence = ClientSettings {
        request_timeout: Duration::from_secs(10),
        rate_ceiling: Some(RateCeiling {
            requests_per_second: 10_000.0,
            burst: 1_000,
        }),
        max_in_flight: 4,
        page_size: 200,
        retry: RetryPolicy {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        },
        ..ClientSettings::new("acme", base_url, Auth::Token(Secret::new(token.into())))
    };
    TenantConfig {
        provisioning,
        deprovisioning,
        sync: SyncSettings {
            interval: Duration::from_secs(3600),
            ..SyncSettings::default()
        },
        ..TenantConfig::new(
            TenantId::parse("acme").expect("a valid tenant id"),
            confluence,
        )
    }
}

fn admin_tenant(sim: &ConfluenceSim, deprovisioning: Deprovisioning) -> TenantConfig {
    tenant(
        sim,
        &options(SimVersion::V8_5).admin_token,
        true,
        deprovisioning,
    )
}

fn provisioner(tenant: &TenantConfig) -> Provisioner {
    let client = ConfluenceClient::new(&tenant.confluence).expect("the client builds");
    Provisioner::new(client, tenant)
}

/// One runtime per test, kept across calls so pooled connections stay valid;
/// `sync_once` runs between calls, outside it, on its own actix system.
struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    fn new() -> Self {
        Self(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime"),
        )
    }

    fn run<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

/// The grant ids a full sync of `tenant` writes.
fn synced_grants(tenant: &TenantConfig, label: &str) -> BTreeSet<String> {
    let dir = std::env::temp_dir().join(format!(
        "hub-provisioning-{label}-{}-{}",
        std::process::id(),
        baton::c1z::new_sync_id()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let out = dir.join("sync.c1z");
    sync_once(tenant.clone(), out.clone(), Arc::new(Progress::default())).expect("the sync runs");
    let grants = C1zReader::open(&out)
        .expect("the c1z opens")
        .grants()
        .expect("grants decode")
        .into_iter()
        .map(|stored| stored.grant.id)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    grants
}

// ---------- tasks ----------

fn principal(kind: ResourceKind, id: &str) -> Resource {
    Resource {
        id: Some(resource_id(kind, id)),
        ..Default::default()
    }
}

fn space_permission(permission: SpacePermission) -> Entitlement {
    space_entitlement(&space_resource(SPACE, SPACE_NAME, ""), permission)
}

fn grant_task(entitlement: Entitlement, principal: Resource) -> GrantTask {
    GrantTask {
        entitlement: Some(entitlement),
        principal: Some(principal),
        ..Default::default()
    }
}

/// A revoke as ConductorOne may send it: the entitlement by id only (no
/// slug, no resource), the principal by id.
fn revoke_task(entitlement: &Entitlement, principal: Resource) -> RevokeTask {
    let id = principal.id.clone().expect("the principal has an id");
    let kind = ResourceKind::parse(&id.resource_type).expect("a known principal type");
    RevokeTask {
        grant: Some(Grant {
            id: grant_id(&entitlement.id, kind, &id.resource),
            entitlement: Some(Entitlement {
                id: entitlement.id.clone(),
                ..Default::default()
            }),
            principal: Some(principal),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn has_annotation<M: Name>(annotations: &[prost_types::Any]) -> bool {
    annotations.iter().any(|any| any.type_url == M::type_url())
}

fn mutations_after(sim: &ConfluenceSim, before: usize) -> Vec<Mutation> {
    sim.mutations().into_iter().skip(before).collect()
}

/// `user:<key>` or `group:<name>` for a permission subject in the log.
fn holder(subject: &Subject) -> String {
    match subject {
        Subject::User { user_key, .. } => format!("user:{}", user_key.as_deref().unwrap_or("?")),
        Subject::Group { name } => format!("group:{name}"),
        other => format!("{other:?}"),
    }
}

/// Every `(holder, legacy key)` row on the test space.
fn permission_rows(dataset: &Dataset) -> BTreeSet<(String, String)> {
    dataset
        .permissions
        .iter()
        .filter(|row| row.space_key == SPACE)
        .map(|row| {
            let holder = match (&row.user_key, &row.group_name) {
                (Some(key), _) => format!("user:{key}"),
                (None, Some(name)) => format!("group:{name}"),
                (None, None) => "anonymous".into(),
            };
            (holder, row.r#type.clone())
        })
        .collect()
}

fn members_of(dataset: &Dataset, group: &str) -> Vec<String> {
    dataset
        .groups
        .iter()
        .find(|candidate| candidate.name == group)
        .map(|found| found.members.clone())
        .unwrap_or_default()
}

// ---------- grants and revokes, every version ----------

/// Grants then revokes all 14 space permissions to a user and to a group, and
/// group membership to a user: the calls the simulator logs, its state, what
/// repeats do, and what the next sync shows.
fn grants_and_revokes_round_trip(version: SimVersion) {
    let sim = start(options(version));
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let rest = version != SimVersion::V8_5;
    let principals = [
        principal(ResourceKind::User, JDOE_KEY),
        principal(ResourceKind::Group, GROUP),
    ];
    let membership = group_member_entitlement(&group_resource(GROUP));
    let mut expected_rows = BTreeSet::new();
    let mut expected_grants = BTreeSet::new();
    for permission in SpacePermission::all() {
        let entitlement = space_permission(permission);
        for (kind, id) in [(ResourceKind::User, JDOE_KEY), (ResourceKind::Group, GROUP)] {
            expected_rows.insert((
                format!("{}:{id}", kind.as_str()),
                permission.legacy_key().to_owned(),
            ));
            expected_grants.insert(grant_id(&entitlement.id, kind, id));
        }
    }
    expected_grants.insert(grant_id(&membership.id, ResourceKind::User, JDOE_KEY));
    let before = permission_rows(&sim.dataset());

    // Grant everything once: one changing call each, through the version's API.
    for permission in SpacePermission::all() {
        for principal in &principals {
            let task = grant_task(space_permission(permission), principal.clone());
            let response = runtime
                .run(provisioner.grant("grant", task))
                .expect("granted");
            assert!(
                response.annotations.is_empty(),
                "{version}: {permission:?} was new"
            );
        }
    }
    let task = grant_task(membership.clone(), principals[0].clone());
    runtime
        .run(provisioner.grant("member", task))
        .expect("membership granted");

    let granted = sim.mutations();
    assert_eq!(granted.len(), 29, "{version}: {granted:#?}");
    let mut rows = BTreeSet::new();
    for mutation in &granted[..28] {
        assert!(
            mutation.succeeded() && mutation.changed,
            "{version}: {mutation:?}"
        );
        let MutationAction::GrantSpacePermissions {
            space_key,
            subject,
            permissions,
        } = &mutation.action
        else {
            panic!("{version}: not a space grant: {mutation:?}");
        };
        assert_eq!(space_key, SPACE);
        assert_eq!(permissions.len(), 1, "{version}: one permission per call");
        let expected_route = match (rest, subject) {
            (false, _) => "addPermissionsToSpace",
            (true, Subject::Group { .. }) => {
                "PUT /rest/api/space/{key}/permissions/group/{group}/{action}"
            }
            (true, _) => "PUT /rest/api/space/{key}/permissions/user/{user_key}/{action}",
        };
        assert_eq!(
            mutation.api,
            if rest { Api::Rest } else { Api::JsonRpc },
            "{version}"
        );
        assert_eq!(mutation.route, expected_route, "{version}");
        rows.insert((holder(subject), permissions[0].clone()));
    }
    assert_eq!(
        rows, expected_rows,
        "{version}: every permission to both principals"
    );
    assert_eq!(
        granted[28].action,
        MutationAction::AddGroupMember {
            username: "jdoe".into(),
            group: GROUP.into()
        }
    );
    assert_eq!(
        (granted[28].api, granted[28].route.as_str()),
        (Api::Rest, "PUT /rest/api/user/{username}/group/{group}")
    );
    let state = sim.dataset();
    assert_eq!(
        permission_rows(&state),
        before.union(&expected_rows).cloned().collect(),
        "{version}: the simulator holds the new rows"
    );
    assert!(members_of(&state, GROUP).contains(&JDOE_KEY.to_owned()));

    let synced = synced_grants(&tenant, "granted");
    assert!(
        synced.is_superset(&expected_grants),
        "{version}: missing after grant: {:?}",
        expected_grants.difference(&synced).collect::<Vec<_>>()
    );

    // Granting again changes nothing and says so.
    for permission in SpacePermission::all() {
        for principal in &principals {
            let task = grant_task(space_permission(permission), principal.clone());
            let response = runtime
                .run(provisioner.grant("again", task))
                .expect("no-op");
            assert!(
                has_annotation::<GrantAlreadyExists>(&response.annotations),
                "{version}"
            );
        }
    }
    let task = grant_task(membership.clone(), principals[0].clone());
    let response = runtime
        .run(provisioner.grant("again", task))
        .expect("no-op");
    assert!(has_annotation::<GrantAlreadyExists>(&response.annotations));
    assert_eq!(
        sim.mutations().len(),
        29,
        "{version}: a repeated grant sends nothing"
    );

    // Revoke everything, with entitlements that carry only their id.
    for permission in SpacePermission::all() {
        for principal in &principals {
            let task = revoke_task(&space_permission(permission), principal.clone());
            let response = runtime
                .run(provisioner.revoke("revoke", task))
                .expect("revoked");
            assert!(
                response.annotations.is_empty(),
                "{version}: {permission:?} was held"
            );
        }
    }
    let task = revoke_task(&membership, principals[0].clone());
    runtime
        .run(provisioner.revoke("member", task))
        .expect("membership revoked");

    let revoked = mutations_after(&sim, 29);
    assert_eq!(revoked.len(), 29, "{version}: {revoked:#?}");
    let mut rows = BTreeSet::new();
    for mutation in &revoked[..28] {
        assert!(
            mutation.succeeded() && mutation.changed,
            "{version}: {mutation:?}"
        );
        let MutationAction::RevokeSpacePermissions {
            subject,
            permissions,
            ..
        } = &mutation.action
        else {
            panic!("{version}: not a space revoke: {mutation:?}");
        };
        assert_eq!(
            mutation.api,
            if rest { Api::Rest } else { Api::JsonRpc },
            "{version}"
        );
        if !rest {
            assert_eq!(mutation.route, "removePermissionFromSpace");
        }
        rows.insert((holder(subject), permissions[0].clone()));
    }
    assert_eq!(rows, expected_rows, "{version}: every grant revoked once");
    assert_eq!(
        (revoked[28].api, &revoked[28].action),
        (
            Api::Rest,
            &MutationAction::RemoveGroupMember {
                username: "jdoe".into(),
                group: GROUP.into()
            }
        )
    );
    let state = sim.dataset();
    assert_eq!(
        permission_rows(&state),
        before,
        "{version}: back to the start"
    );
    assert!(!members_of(&state, GROUP).contains(&JDOE_KEY.to_owned()));

    // Revoking again changes nothing and says so.
    for permission in SpacePermission::all() {
        for principal in &principals {
            let task = revoke_task(&space_permission(permission), principal.clone());
            let response = runtime
                .run(provisioner.revoke("again", task))
                .expect("no-op");
            assert!(
                has_annotation::<GrantAlreadyRevoked>(&response.annotations),
                "{version}"
            );
        }
    }
    let task = revoke_task(&membership, principals[0].clone());
    let response = runtime
        .run(provisioner.revoke("again", task))
        .expect("no-op");
    assert!(has_annotation::<GrantAlreadyRevoked>(&response.annotations));
    assert_eq!(
        sim.mutations().len(),
        58,
        "{version}: a repeated revoke sends nothing"
    );

    let synced = synced_grants(&tenant, "revoked");
    assert!(
        synced.is_disjoint(&expected_grants),
        "{version}: still there after revoke: {:?}",
        synced.intersection(&expected_grants).collect::<Vec<_>>()
    );
}

#[test]
fn every_grant_and_revoke_on_8_5_goes_through_json_rpc_and_shows_in_the_next_sync() {
    grants_and_revokes_round_trip(SimVersion::V8_5);
}

#[test]
fn every_grant_and_revoke_on_9_2_goes_through_rest_and_shows_in_the_next_sync() {
    grants_and_revokes_round_trip(SimVersion::V9_2);
}

#[test]
fn every_grant_and_revoke_on_10_2_goes_through_rest_and_shows_in_the_next_sync() {
    grants_and_revokes_round_trip(SimVersion::V10_2);
}

// ---------- the gate ----------

#[test]
fn with_provisioning_off_every_task_is_refused_before_confluence_is_asked() {
    for version in VERSIONS {
        let sim = start(options(version));
        let token = options(version).admin_token;
        let tenant = tenant(&sim, &token, false, Deprovisioning::Disable);
        let provisioner = provisioner(&tenant);
        let runtime = Runtime::new();
        let user = principal(ResourceKind::User, JDOE_KEY);
        let errors: Vec<TaskError> = vec![
            runtime
                .run(provisioner.grant(
                    "t",
                    grant_task(space_permission(SpacePermission::View), user.clone()),
                ))
                .unwrap_err(),
            runtime
                .run(provisioner.revoke(
                    "t",
                    revoke_task(&space_permission(SpacePermission::View), user),
                ))
                .unwrap_err(),
            runtime
                .run(provisioner.create_account("t", account_task("newbie", no_password())))
                .unwrap_err(),
            runtime
                .run(provisioner.delete_resource("t", delete_task(ResourceKind::User, JDOE_KEY)))
                .unwrap_err(),
        ];
        for error in errors {
            assert_eq!(error.code(), Code::FailedPrecondition, "{version}");
            assert_eq!(error.message(), "provisioning is not enabled");
            assert!(error.is_non_retryable());
        }
        assert!(sim.mutations().is_empty(), "{version}: no mutating call");
        assert_eq!(sim.request_count(), 0, "{version}: not even a read");
    }
}

// ---------- malformed tasks ----------

#[test]
fn tasks_that_cannot_be_right_are_refused_with_baton_codes_before_any_call() {
    let sim = start(options(SimVersion::V10_2));
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let group = principal(ResourceKind::Group, GROUP);
    let user = principal(ResourceKind::User, JDOE_KEY);
    let bare = |id: &str| Entitlement {
        id: id.into(),
        ..Default::default()
    };
    let cases = [
        (
            grant_task(
                group_member_entitlement(&group_resource(GROUP)),
                group.clone(),
            ),
            Code::InvalidArgument,
            "users only",
        ),
        (
            grant_task(bare("space:TEST:fly"), user.clone()),
            Code::InvalidArgument,
            "unknown entitlement slug",
        ),
        (
            grant_task(bare("group:devs:owner"), user.clone()),
            Code::InvalidArgument,
            "unknown entitlement slug",
        ),
        (
            grant_task(bare("page:1:view"), user.clone()),
            Code::Unimplemented,
            "resource type `page`",
        ),
        (
            grant_task(bare("user:x:member"), user.clone()),
            Code::Unimplemented,
            "resource type `user`",
        ),
        (
            grant_task(bare("space:TEST"), user.clone()),
            Code::InvalidArgument,
            "malformed",
        ),
        (
            grant_task(
                space_permission(SpacePermission::View),
                principal(ResourceKind::Space, SPACE),
            ),
            Code::InvalidArgument,
            "cannot hold",
        ),
        (
            GrantTask {
                entitlement: Some(space_permission(SpacePermission::View)),
                principal: None,
                ..Default::default()
            },
            Code::InvalidArgument,
            "malformed",
        ),
    ];
    for (task, code, needle) in cases {
        let error = runtime.run(provisioner.grant("bad", task)).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
        assert!(error.message().contains(needle), "{error}");
        assert!(error.message().contains("tenant `acme`"), "{error}");
        assert!(error.is_non_retryable(), "{error}");
    }
    assert_eq!(sim.request_count(), 0, "nothing was sent");
}

#[test]
fn a_principal_confluence_does_not_know_is_not_found_on_grant_and_already_gone_on_revoke() {
    let sim = start(options(SimVersion::V9_2));
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let ghost = principal(ResourceKind::User, "5a11000000000000000000000000dead");
    let entitlement = space_permission(SpacePermission::View);
    let error = runtime
        .run(provisioner.grant("t", grant_task(entitlement.clone(), ghost.clone())))
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound, "{error}");
    assert!(
        error.message().contains("5a11000000000000000000000000dead"),
        "{error}"
    );
    let response = runtime
        .run(provisioner.revoke("t", revoke_task(&entitlement, ghost)))
        .expect("nothing to revoke");
    assert!(has_annotation::<GrantAlreadyRevoked>(&response.annotations));
    assert!(sim.mutations().is_empty());
}

// ---------- group names containing `/` ----------

fn slash_membership(
    version: SimVersion,
    remote_api: bool,
) -> (ConfluenceSim, Result<(), TaskError>) {
    let mut options = options(version);
    options.remote_api_enabled = remote_api;
    let sim = start(options);
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let entitlement = group_member_entitlement(&group_resource(SLASH_GROUP));
    let user = principal(ResourceKind::User, JDOE_KEY);
    let result = runtime
        .run(provisioner.grant("slash", grant_task(entitlement.clone(), user.clone())))
        .and_then(|_| {
            runtime
                .run(provisioner.revoke("slash", revoke_task(&entitlement, user)))
                .map(|_| ())
        });
    (sim, result)
}

/// No version takes `/` in a REST path, and none documents a query-parameter
/// membership write; JSON-RPC `addUserToGroup`/`removeUserFromGroup` serve
/// every version (docs/confluence-api-notes.md §8.1), so 8.5 and 10.2 behave alike.
#[test]
fn a_slash_group_membership_goes_through_json_rpc_on_8_5_and_10_2() {
    for version in [SimVersion::V8_5, SimVersion::V10_2] {
        let (sim, result) = slash_membership(version, true);
        result.unwrap_or_else(|err| panic!("{version}: {err}"));
        let calls: Vec<(Api, String, MutationAction)> = sim
            .mutations()
            .into_iter()
            .map(|mutation| (mutation.api, mutation.route, mutation.action))
            .collect();
        assert_eq!(
            calls,
            [
                (
                    Api::JsonRpc,
                    "addUserToGroup".to_owned(),
                    MutationAction::AddGroupMember {
                        username: "jdoe".into(),
                        group: SLASH_GROUP.into()
                    }
                ),
                (
                    Api::JsonRpc,
                    "removeUserFromGroup".to_owned(),
                    MutationAction::RemoveGroupMember {
                        username: "jdoe".into(),
                        group: SLASH_GROUP.into()
                    }
                ),
            ],
            "{version}"
        );
    }
}

/// Without the Remote API there is no way left: the task fails, non-retryable,
/// naming `/` and the Remote API setting, and nothing changes.
#[test]
fn a_slash_group_membership_without_the_remote_api_fails_with_the_reason() {
    for version in [SimVersion::V8_5, SimVersion::V10_2] {
        let (sim, result) = slash_membership(version, false);
        let error = result.expect_err("no API can carry the name");
        assert_eq!(error.code(), Code::FailedPrecondition, "{version}: {error}");
        assert!(error.is_non_retryable());
        assert!(error.message().contains("names containing `/`"), "{error}");
        assert!(error.message().contains("Remote API"), "{error}");
        assert!(
            sim.mutations().iter().all(|mutation| !mutation.succeeded()),
            "{version}: nothing changed"
        );
        assert!(members_of(&sim.dataset(), SLASH_GROUP).is_empty());
    }
}

/// Space permissions for such a group also travel over JSON-RPC on the REST
/// versions, and the read before the write still sees what the group holds.
#[test]
fn a_space_permission_for_a_slash_group_goes_through_json_rpc_on_rest_versions() {
    for version in [SimVersion::V9_2, SimVersion::V10_2] {
        let sim = start(options(version));
        let tenant = admin_tenant(&sim, Deprovisioning::Off);
        let provisioner = provisioner(&tenant);
        let runtime = Runtime::new();
        let group = principal(ResourceKind::Group, SLASH_GROUP);
        let entitlement = space_permission(SpacePermission::AddComment);
        for expect_new in [true, false] {
            let task = grant_task(entitlement.clone(), group.clone());
            let response = runtime
                .run(provisioner.grant("slash", task))
                .unwrap_or_else(|err| panic!("{version}: {err}"));
            assert_eq!(
                has_annotation::<GrantAlreadyExists>(&response.annotations),
                !expect_new,
                "{version}"
            );
        }
        let mutations = sim.mutations();
        let [mutation] = mutations.as_slice() else {
            panic!("{version}: one grant, then nothing: {mutations:#?}");
        };
        assert_eq!(
            (mutation.api, mutation.route.as_str()),
            (Api::JsonRpc, "addPermissionsToSpace")
        );
        assert!(
            permission_rows(&sim.dataset())
                .contains(&(format!("group:{SLASH_GROUP}"), "COMMENT".to_owned()))
        );
    }
}

// ---------- account creation ----------

fn no_password() -> CredentialOptions {
    CredentialOptions {
        force_change_at_next_login: false,
        options: Some(Options::NoPassword(NoPassword {})),
    }
}

fn random_password(length: i64, constraints: &[(&str, u32)]) -> CredentialOptions {
    CredentialOptions {
        force_change_at_next_login: false,
        options: Some(Options::RandomPassword(RandomPassword {
            length,
            constraints: constraints
                .iter()
                .map(|(char_set, min_count)| PasswordConstraint {
                    char_set: (*char_set).into(),
                    min_count: *min_count,
                })
                .collect(),
        })),
    }
}

fn text(value: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(value.into())),
    }
}

/// A task with every profile field set.
fn account_task(username: &str, credentials: CredentialOptions) -> CreateAccountTask {
    CreateAccountTask {
        account_info: Some(AccountInfo {
            profile: Some(Struct {
                fields: [
                    ("username".to_owned(), text(username)),
                    ("full_name".to_owned(), text("New Person")),
                    ("email".to_owned(), text(&format!("{username}@example.com"))),
                ]
                .into_iter()
                .collect(),
            }),
            ..Default::default()
        }),
        credential_options: Some(credentials),
        encryption_configs: Vec::new(),
        resource_type_id: "user".into(),
    }
}

/// The public JWK of `seed`, as ConductorOne sends it, and its thumbprint
/// (RFC 7638, computed here independently of the hub).
fn encryption_config(seed: [u8; 32]) -> (EncryptionConfig, String) {
    let x = URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
    let jwk = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","use":"enc"}}"#);
    let thumbprint = hex::encode(Sha256::digest(format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#
    )));
    let config = EncryptionConfig {
        principal: None,
        provider: "baton/jwk/v1".into(),
        key_id: thumbprint.clone(),
        config: Some(Config::JwkPublicKeyConfig(JwkPublicKeyConfig {
            pub_key: jwk.into_bytes(),
        })),
    };
    (config, thumbprint)
}

fn created_resource(response: &CreateAccountResponse) -> &Resource {
    match &response.result {
        Some(create_account_response::Result::Success(success)) => {
            assert!(success.is_create_account_result);
            success.resource.as_ref().expect("the new user")
        }
        other => panic!("not a success: {other:?}"),
    }
}

fn login_of(resource: &Resource) -> String {
    let any = resource
        .annotations
        .iter()
        .find(|any| any.type_url == UserTrait::type_url())
        .expect("a user trait");
    any.to_msg::<UserTrait>().expect("decodes").login
}

#[test]
fn an_account_without_a_password_is_created_and_confluence_emails_the_link() {
    for version in VERSIONS {
        let sim = start(options(version));
        let tenant = admin_tenant(&sim, Deprovisioning::Off);
        let provisioner = provisioner(&tenant);
        let runtime = Runtime::new();
        let response = runtime
            .run(provisioner.create_account("t", account_task("newbie", no_password())))
            .unwrap_or_else(|err| panic!("{version}: {err}"));
        assert!(response.encrypted_data.is_empty());
        let resource = created_resource(&response);
        let state = sim.dataset();
        let created = state
            .users
            .iter()
            .find(|user| user.username == "newbie")
            .expect("the user exists");
        assert_eq!(
            resource.id,
            Some(resource_id(ResourceKind::User, &created.user_key))
        );
        assert_eq!(login_of(resource), "newbie");
        assert_eq!(created.display_name, "New Person");
        assert_eq!(created.password, None);
        let mutations = sim.mutations();
        let [mutation] = mutations.as_slice() else {
            panic!("{version}: {mutations:#?}");
        };
        assert_eq!(mutation.route, "POST /rest/api/admin/user");
        assert!(matches!(
            &mutation.action,
            MutationAction::CreateUser { notify_via_email: true, email, .. } if email == "newbie@example.com"
        ));
    }
}

#[test]
fn a_random_password_is_set_and_returned_only_sealed_to_each_key() {
    for version in VERSIONS {
        let sim = start(options(version));
        let tenant = admin_tenant(&sim, Deprovisioning::Off);
        let provisioner = provisioner(&tenant);
        let runtime = Runtime::new();
        let (first, first_id) = encryption_config([31; 32]);
        let (second, second_id) = encryption_config([32; 32]);
        // The profile lacks username and email: login and the primary email stand in.
        let mut task = account_task(
            "ignored",
            random_password(24, &[("0123456789", 3), ("#@!", 2)]),
        );
        let info = task.account_info.as_mut().expect("account info");
        info.profile
            .as_mut()
            .expect("a profile")
            .fields
            .retain(|name, _| name == "full_name");
        info.login = "randy".into();
        info.emails = vec![
            account_info::Email {
                address: "other@example.com".into(),
                is_primary: false,
            },
            account_info::Email {
                address: "randy@example.com".into(),
                is_primary: true,
            },
        ];
        task.encryption_configs = vec![first, second];
        let response = runtime
            .run(provisioner.create_account("t", task))
            .unwrap_or_else(|err| panic!("{version}: {err}"));

        let state = sim.dataset();
        let created = state
            .users
            .iter()
            .find(|user| user.username == "randy")
            .expect("the user exists");
        assert_eq!(created.email, "randy@example.com");
        let stored = created.password.clone().expect("a password was set");
        assert_eq!(stored.chars().count(), 24);
        assert!(
            stored.chars().filter(char::is_ascii_digit).count() >= 3,
            "{version}"
        );
        assert!(
            stored.chars().filter(|c| "#@!".contains(*c)).count() >= 2,
            "{version}"
        );
        assert_eq!(
            created_resource(&response).id,
            Some(resource_id(ResourceKind::User, &created.user_key))
        );

        assert_eq!(response.encrypted_data.len(), 2);
        for (sealed, (seed, key_id)) in response
            .encrypted_data
            .iter()
            .zip([([31; 32], &first_id), ([32; 32], &second_id)])
        {
            assert_eq!(sealed.provider, "baton/jwk/v1");
            assert_eq!(sealed.key_ids, std::slice::from_ref(key_id));
            let text = std::str::from_utf8(&sealed.encrypted_bytes).expect("base64 text");
            assert!(
                !text.contains(&stored),
                "the password never travels in the clear"
            );
            let file = STANDARD.decode(text).expect("standard base64");
            let opened = age::decrypt(&seed, &file).expect("opens with the private key");
            assert_eq!(String::from_utf8(opened).unwrap(), stored, "{version}");
            assert!(
                age::decrypt(&[33; 32], &file).is_err(),
                "no other key opens it"
            );
        }
        let debug = format!("{response:?}");
        assert!(
            !debug.contains(&stored),
            "{version}: the response shows no plaintext"
        );
        assert!(
            matches!(
                &sim.mutations()[0].action,
                MutationAction::CreateUser {
                    notify_via_email: false,
                    ..
                }
            ),
            "{version}"
        );
    }
}

#[test]
fn provisioning_logs_name_the_task_and_ids_and_never_the_password() {
    run_alone("provisioning::provisioning_logged_at_trace");
}

/// An account creation and a grant, logged at TRACE from every crate and thread.
#[test]
#[ignore = "run in its own process by provisioning_logs_name_the_task_and_ids_and_never_the_password"]
fn provisioning_logged_at_trace() {
    let logs = CapturedLogs::install_globally();

    let sim = start(options(SimVersion::V10_2));
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let mut task = account_task("logged", random_password(32, &[]));
    task.encryption_configs = vec![encryption_config([41; 32]).0];
    runtime
        .run(provisioner.create_account("task-create-1", task))
        .expect("created");
    let entitlement = space_permission(SpacePermission::View);
    let grant = grant_task(entitlement.clone(), principal(ResourceKind::User, JDOE_KEY));
    runtime
        .run(provisioner.grant("task-grant-2", grant))
        .expect("granted");

    let password = sim
        .dataset()
        .users
        .into_iter()
        .find(|user| user.username == "logged")
        .and_then(|user| user.password)
        .expect("a password was set");
    logs.assert_absent(&password, "the new account's password");
    let text = logs.text();
    let line = |task_id: &str| {
        text.lines()
            .find(|line| line.contains(task_id) && line.contains("provisioning done"))
            .unwrap_or_else(|| panic!("no log line for {task_id}:\n{text}"))
            .to_owned()
    };
    let created = line("task-create-1");
    for needle in [
        "tenant=acme",
        "operation=\"create_account\"",
        "login:logged",
        "outcome=\"ok\"",
    ] {
        assert!(created.contains(needle), "{needle} missing: {created}");
    }
    let granted = line("task-grant-2");
    for needle in [
        "operation=\"grant\"".to_owned(),
        format!("entitlement={}", entitlement.id),
        format!("principal=user:{JDOE_KEY}"),
    ] {
        assert!(granted.contains(&needle), "{needle} missing: {granted}");
    }
}

#[test]
fn a_taken_username_answers_already_exists_with_the_existing_user() {
    let sim = start(options(SimVersion::V9_2));
    let tenant = admin_tenant(&sim, Deprovisioning::Off);
    let provisioner = provisioner(&tenant);
    let runtime = Runtime::new();
    let response = runtime
        .run(provisioner.create_account("t", account_task("jdoe", no_password())))
        .expect("already exists is not a failure");
    let Some(create_account_response::Result::AlreadyExists(existing)) = &response.result else {
        panic!("{response:?}");
    };
    let resource = existing.resource.as_ref().expect("the existing user");
    assert_eq!(resource.id, Some(resource_id(ResourceKind::User, JDOE_KEY)));
    assert_eq!(login_of(resource), "jdoe");
    assert_eq!(sim.mutations()[0].status, 409);
    assert_eq!(sim.dataset().users.len(), 3, "nothing was created");
}

#[test]
fn invalid_usernames_full_licences_and_missing_rights_fail_clearly() {
    let mut full = options(SimVersion::V10_2);
    full.licensed_seats = Some(3);
    let sim = start(full);
    let runtime = Runtime::new();
    let admin = provisioner(&admin_tenant(&sim, Deprovisioning::Off));

    for (username, reason) in [
        ("New Person", "whitespace"),
        ("Newbie", "upper-case"),
        ("anonymous", "reserved"),
    ] {
        let error = runtime
            .run(admin.create_account("t", account_task(username, no_password())))
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{error}");
        assert!(error.message().contains(reason), "{error}");
    }
    assert!(
        sim.mutations().is_empty(),
        "invalid usernames never reach Confluence"
    );

    let error = runtime
        .run(admin.create_account("t", account_task("newbie", no_password())))
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error}");
    assert!(error.message().contains("seats"), "{error}");
    assert!(error.is_non_retryable());
    assert_eq!(sim.mutations()[0].status, 402);

    let member = provisioner(&tenant(&sim, MEMBER_TOKEN, true, Deprovisioning::Off));
    let error = runtime
        .run(member.create_account("t", account_task("newbie", no_password())))
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied, "{error}");
    assert!(error.message().contains("administrator"), "{error}");

    let mut short = account_task("newbie", random_password(4, &[]));
    short.encryption_configs = vec![encryption_config([1; 32]).0];
    let refused = [
        (account_task("newbie", sso()), Code::Unimplemented, "SSO"),
        (
            account_task("newbie", encrypted_password()),
            Code::Unimplemented,
            "encrypted_password",
        ),
        (
            account_task("newbie", random_password(16, &[])),
            Code::InvalidArgument,
            "encryption config",
        ),
        (short, Code::InvalidArgument, "between 8 and 64"),
    ];
    for (task, code, needle) in refused {
        let error = runtime.run(admin.create_account("t", task)).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
        assert!(error.message().contains(needle), "{error}");
    }
    assert_eq!(
        sim.mutations().len(),
        2,
        "refused options never reach Confluence"
    );
}

fn sso() -> CredentialOptions {
    CredentialOptions {
        options: Some(Options::Sso(Default::default())),
        ..Default::default()
    }
}

fn encrypted_password() -> CredentialOptions {
    CredentialOptions {
        options: Some(Options::EncryptedPassword(Default::default())),
        ..Default::default()
    }
}

// ---------- deprovisioning ----------

fn delete_task(kind: ResourceKind, id: &str) -> DeleteResourceTask {
    DeleteResourceTask {
        resource_id: Some(resource_id(kind, id)),
        parent_resource_id: None,
    }
}

#[test]
fn deprovisioning_disables_a_user_once_and_is_idempotent() {
    for version in VERSIONS {
        let sim = start(options(version));
        let tenant = admin_tenant(&sim, Deprovisioning::Disable);
        let provisioner = provisioner(&tenant);
        let runtime = Runtime::new();
        for _ in 0..2 {
            let response = runtime
                .run(provisioner.delete_resource("t", delete_task(ResourceKind::User, JDOE_KEY)))
                .unwrap_or_else(|err| panic!("{version}: {err}"));
            assert!(response.annotations.is_empty());
        }
        let mutations = sim.mutations();
        let [mutation] = mutations.as_slice() else {
            panic!("{version}: one disable, then nothing: {mutations:#?}");
        };
        assert_eq!(
            (mutation.api, mutation.route.as_str(), &mutation.action),
            (
                Api::Rest,
                "PUT /rest/api/admin/user/{username}/disable",
                &MutationAction::DisableUser {
                    username: "jdoe".into()
                }
            )
        );
        let state = sim.dataset();
        let jdoe = state
            .users
            .iter()
            .find(|user| user.user_key == JDOE_KEY)
            .expect("kept");
        assert!(!jdoe.active, "{version}: disabled, not deleted");

        let response = runtime
            .run(provisioner.delete_resource(
                "t",
                delete_task(ResourceKind::User, "5a11000000000000000000000000dead"),
            ))
            .expect("an unknown user is already gone");
        assert!(has_annotation::<ResourceDoesNotExist>(
            &response.annotations
        ));
        let error = runtime
            .run(provisioner.delete_resource("t", delete_task(ResourceKind::Group, GROUP)))
            .unwrap_err();
        assert_eq!(error.code(), Code::Unimplemented, "{error}");
        assert_eq!(sim.mutations().len(), 1, "{version}");
    }
}

#[test]
fn deprovisioning_off_refuses_deletes_and_does_not_advertise_them() {
    let sim = start(options(SimVersion::V10_2));
    let off = admin_tenant(&sim, Deprovisioning::Off);
    let runtime = Runtime::new();
    let error = runtime
        .run(provisioner(&off).delete_resource("t", delete_task(ResourceKind::User, JDOE_KEY)))
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.message().contains("deprovisioning = \"disable\""),
        "{error}"
    );
    assert!(error.is_non_retryable());
    assert_eq!(sim.request_count(), 0);

    let user_capabilities = |tenant: &TenantConfig| {
        connector_metadata(tenant)
            .capabilities
            .expect("capabilities")
            .resource_type_capabilities
            .into_iter()
            .find(|entry| {
                entry
                    .resource_type
                    .as_ref()
                    .is_some_and(|kind| kind.id == "user")
            })
            .expect("the user type")
            .capabilities
    };
    let delete = Capability::ResourceDelete as i32;
    assert!(!user_capabilities(&off).contains(&delete));
    assert!(user_capabilities(&admin_tenant(&sim, Deprovisioning::Disable)).contains(&delete));
}
