//! Confluence users as Baton user records. The users fetcher
//! (`actors::fetcher`) pages them; provisioning returns the same record for
//! a created account.

use baton::model::UserRecord;
use confluence::User;

/// The user resource record of a Confluence user. Every listed user has a
/// username; one without (a `type: unknown` key that leaked into the
/// listing) cannot log in and is not an account.
pub fn record(user: &User) -> Option<UserRecord> {
    let username = user.username.clone().filter(|name| !name.is_empty())?;
    Some(UserRecord {
        user_key: user.user_key.clone(),
        username,
        display_name: user.display_name.clone(),
        email: user.email.clone().filter(|email| !email.is_empty()),
        enabled: user.is_enabled(),
        account_type: user.account_type.clone(),
    })
}
