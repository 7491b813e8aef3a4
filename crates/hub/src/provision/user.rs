//! The Confluence account behind a principal's user key. Write endpoints need
//! its username; a key Confluence no longer resolves to a live account (never
//! known, or `type: unknown` after deletion) is treated as no account at all.

use confluence::{ConfluenceClient, ConfluenceError, User, UserRef};

/// A known account: its key and its current username.
#[derive(Clone, Debug)]
pub(super) struct Account {
    pub user: User,
    pub username: String,
}

impl Account {
    /// Both identifiers, so no client call has to look either up again.
    pub(super) fn user_ref(&self) -> UserRef {
        UserRef {
            user_key: Some(self.user.user_key.clone()),
            username: Some(self.username.clone()),
        }
    }
}

/// The account with `user_key`, or `None` when Confluence has none.
pub(super) async fn find(
    client: &ConfluenceClient,
    user_key: &str,
) -> Result<Option<Account>, ConfluenceError> {
    Ok(client.user_by_key(user_key).await?.and_then(account))
}

/// The account named `username`, or `None`.
pub(super) async fn find_by_username(
    client: &ConfluenceClient,
    username: &str,
) -> Result<Option<Account>, ConfluenceError> {
    Ok(client.user_by_username(username).await?.and_then(account))
}

fn account(user: User) -> Option<Account> {
    if user.account_type.eq_ignore_ascii_case("unknown") {
        return None;
    }
    let username = user.username.clone().filter(|name| !name.is_empty())?;
    Some(Account { user, username })
}
