//! Account creation through Confluence 8.4+'s admin user REST. ConductorOne
//! fills the profile fields `username`, `full_name` and `email` (the schema in
//! `metadata.rs`); `AccountInfo.login` and its primary email stand in for the
//! first and last. With `no_password` Confluence emails the user a link to set
//! one; with `random_password` the hub sets a generated password and returns
//! it only sealed for ConductorOne's keys.

use prost_types::value::Kind;
use rand::rngs::StdRng;

use super::encrypt::{self, ConfigError, Sealer};
use super::error::{
    failed_precondition, from_confluence, internal, invalid_argument, unimplemented,
};
use super::outcome::Done;
use super::{password, user, username};
use crate::sync::users::record;
use baton::model::{ResourceKind, UserRecord, user_resource};
use baton::pb::c1::connector::v2::create_account_response::{
    AlreadyExistsResult, Result as AccountResult, SuccessResult,
};
use baton::pb::c1::connector::v2::credential_options::Options;
use baton::pb::c1::connector::v2::{AccountInfo, CreateAccountResponse, Resource};
use conductorone::TaskError;
use conductorone::task::CreateAccountTask;
use confluence::{ConfluenceClient, ErrorKind, NewUser};
use platform::secret::Secret;

/// The profile fields of the account creation schema.
pub(super) const USERNAME: &str = "username";
pub(super) const FULL_NAME: &str = "full_name";
pub(super) const EMAIL: &str = "email";

const PASSWORD_NAME: &str = "password";

/// A validated request: the account for Confluence and, for a generated
/// password, the keys it is returned sealed to. Without a password Confluence
/// emails the user a link to choose one.
#[derive(Debug)]
pub(super) struct Request {
    new_user: NewUser,
    sealers: Vec<Sealer>,
}

/// The login to log for `task`, before it is validated.
pub(super) fn login_of(task: &CreateAccountTask) -> String {
    task.account_info
        .as_ref()
        .and_then(|info| profile_text(info, USERNAME).or_else(|| non_empty(&info.login)))
        .unwrap_or_default()
}

/// Checks everything Confluence and ConductorOne would otherwise trip over,
/// and generates the password, before anything is created.
pub(super) fn parse(
    tenant: &str,
    task: &CreateAccountTask,
    rng: &mut StdRng,
) -> Result<Request, TaskError> {
    if !task.resource_type_id.is_empty() && task.resource_type_id != ResourceKind::User.as_str() {
        return Err(unimplemented(
            tenant,
            format!(
                "accounts of resource type `{}` cannot be created; Confluence accounts are `user`",
                task.resource_type_id
            ),
        ));
    }
    let info = task
        .account_info
        .as_ref()
        .ok_or_else(|| invalid_argument(tenant, "the task carries no account_info"))?;
    let username = profile_text(info, USERNAME)
        .or_else(|| non_empty(&info.login))
        .ok_or_else(|| invalid_argument(tenant, "no username: set profile.username or login"))?;
    username::validate(&username).map_err(|reason| invalid_argument(tenant, reason))?;
    let full_name = profile_text(info, FULL_NAME)
        .ok_or_else(|| invalid_argument(tenant, "no full name: set profile.full_name"))?;
    let email = profile_text(info, EMAIL)
        .or_else(|| primary_email(info))
        .ok_or_else(|| {
            invalid_argument(tenant, "no email: set profile.email or a primary email")
        })?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(invalid_argument(
            tenant,
            format!("`{email}` is not an email address"),
        ));
    }
    let options = task
        .credential_options
        .as_ref()
        .and_then(|options| options.options.as_ref())
        .ok_or_else(|| invalid_argument(tenant, "the task carries no credential_options"))?;
    let (password, sealers) = match options {
        Options::NoPassword(_) => (None, Vec::new()),
        Options::RandomPassword(wanted) => {
            if task.encryption_configs.is_empty() {
                return Err(invalid_argument(
                    tenant,
                    "random_password needs at least one encryption config: the password could \
                     not be returned",
                ));
            }
            let sealers = encrypt::sealers(&task.encryption_configs).map_err(|err| match err {
                ConfigError::Provider { .. } | ConfigError::KeyType { .. } => {
                    unimplemented(tenant, err.to_string())
                }
                _ => invalid_argument(tenant, err.to_string()),
            })?;
            let password = password::generate(wanted, rng)
                .map_err(|err| invalid_argument(tenant, err.to_string()))?;
            (Some(password), sealers)
        }
        Options::Sso(_) => {
            return Err(unimplemented(
                tenant,
                "SSO credentials are not supported: Confluence Data Center creates local \
                 accounts; use no_password or random_password",
            ));
        }
        Options::EncryptedPassword(_) => {
            return Err(unimplemented(
                tenant,
                "encrypted_password is not supported; use no_password or random_password",
            ));
        }
    };
    if task
        .credential_options
        .as_ref()
        .is_some_and(|options| options.force_change_at_next_login)
    {
        tracing::warn!(
            %tenant, %username,
            "force_change_at_next_login is ignored: Confluence's admin user API cannot require it"
        );
    }
    Ok(Request {
        new_user: NewUser {
            username,
            full_name,
            email,
            password,
        },
        sealers,
    })
}

/// Creates the account. A taken username answers AlreadyExists with the
/// existing account; a generated password leaves only sealed.
pub(super) async fn create(
    client: &ConfluenceClient,
    request: Request,
) -> Result<(CreateAccountResponse, Done), TaskError> {
    let Request { new_user, sealers } = request;
    let user_key = match client.create_user(&new_user).await {
        Ok(user_key) => user_key,
        Err(err) if matches!(err.kind(), ErrorKind::Conflict { .. }) => {
            return already_exists(client, &new_user.username).await;
        }
        Err(err) => return Err(from_confluence(&err)),
    };
    let resource = created_resource(client, &new_user, &user_key).await?;
    let encrypted_data = match &new_user.password {
        Some(password) => sealers
            .iter()
            .map(|sealer| seal(client.tenant(), sealer, &new_user.username, password))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let response = CreateAccountResponse {
        result: Some(AccountResult::Success(SuccessResult {
            resource: Some(resource),
            is_create_account_result: true,
        })),
        encrypted_data,
        annotations: Vec::new(),
    };
    Ok((response, Done::Changed))
}

/// The account that holds the username already (Confluence answered 409).
async fn already_exists(
    client: &ConfluenceClient,
    username: &str,
) -> Result<(CreateAccountResponse, Done), TaskError> {
    let existing = user::find_by_username(client, username)
        .await
        .map_err(|err| from_confluence(&err))?
        .and_then(|account| record(&account.user))
        .ok_or_else(|| {
            failed_precondition(
                client.tenant(),
                format!("Confluence says `{username}` exists but does not show that account"),
            )
        })?;
    let response = CreateAccountResponse {
        result: Some(AccountResult::AlreadyExists(AlreadyExistsResult {
            resource: Some(user_resource(&existing)),
            is_create_account_result: true,
        })),
        ..Default::default()
    };
    Ok((response, Done::AlreadyDone))
}

fn seal(
    tenant: &str,
    sealer: &Sealer,
    username: &str,
    password: &Secret,
) -> Result<baton::pb::c1::connector::v2::EncryptedData, TaskError> {
    sealer
        .seal(
            PASSWORD_NAME,
            &format!("Confluence password of {username}"),
            password,
        )
        .map_err(|err| {
            internal(
                tenant,
                format!(
                    "the account `{username}` was created but its password could not be \
                     sealed ({err}); reset the password in Confluence"
                ),
            )
        })
}

/// The new account as Confluence shows it, or as it was asked for when the
/// lookup does not find it yet.
async fn created_resource(
    client: &ConfluenceClient,
    new_user: &NewUser,
    user_key: &str,
) -> Result<Resource, TaskError> {
    let found = user::find(client, user_key)
        .await
        .map_err(|err| from_confluence(&err))?
        .and_then(|account| record(&account.user));
    let record = found.unwrap_or_else(|| UserRecord {
        user_key: user_key.to_owned(),
        username: new_user.username.clone(),
        display_name: new_user.full_name.clone(),
        email: Some(new_user.email.clone()),
        enabled: true,
        account_type: "known".to_owned(),
    });
    Ok(user_resource(&record))
}

fn profile_text(info: &AccountInfo, field: &str) -> Option<String> {
    match info.profile.as_ref()?.fields.get(field)?.kind.as_ref()? {
        Kind::StringValue(text) => non_empty(text),
        _ => None,
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The primary email, else the only one given.
fn primary_email(info: &AccountInfo) -> Option<String> {
    let primary = info.emails.iter().find(|email| email.is_primary);
    let chosen = primary.or(match info.emails.as_slice() {
        [only] => Some(only),
        _ => None,
    })?;
    non_empty(&chosen.address)
}
