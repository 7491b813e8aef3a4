//! The directories a sync's grant phases wait for: the users fetcher
//! publishes who exists (userKey ↔ username), the groups fetcher which groups
//! exist. A grant is written only when its principal is in them, so the c1z
//! stays referentially closed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::SyncError;

/// Users of this sync by userKey, with the username ↔ key mapping JSON-RPC
/// permission rows need (they name users by username).
#[derive(Debug, Default)]
pub struct UserDirectory {
    username_by_key: HashMap<String, String>,
    /// Lower-cased usernames: Confluence usernames are case-insensitive.
    key_by_username: HashMap<String, String>,
}

impl UserDirectory {
    pub fn insert(&mut self, user_key: &str, username: &str) {
        self.username_by_key
            .insert(user_key.to_owned(), username.to_owned());
        self.key_by_username
            .insert(username.to_lowercase(), user_key.to_owned());
    }

    pub fn contains_key(&self, user_key: &str) -> bool {
        self.username_by_key.contains_key(user_key)
    }

    pub fn key_for_username(&self, username: &str) -> Option<&str> {
        self.key_by_username
            .get(&username.to_lowercase())
            .map(String::as_str)
    }

    pub fn username_for_key(&self, user_key: &str) -> Option<&str> {
        self.username_by_key.get(user_key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.username_by_key.len()
    }

    /// Every user key, for lookups that go user by user.
    pub fn keys(&self) -> Vec<String> {
        self.username_by_key.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.username_by_key.is_empty()
    }
}

/// Group names of this sync, exactly as Confluence returned them.
#[derive(Debug, Default)]
pub struct GroupSet(HashSet<String>);

impl GroupSet {
    pub fn insert(&mut self, name: &str) {
        self.0.insert(name.to_owned());
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Publish-once slots for both directories.
pub struct Directories {
    users: watch::Sender<Option<Arc<UserDirectory>>>,
    groups: watch::Sender<Option<Arc<GroupSet>>>,
}

impl Default for Directories {
    fn default() -> Self {
        Self {
            users: watch::Sender::new(None),
            groups: watch::Sender::new(None),
        }
    }
}

impl Directories {
    pub fn publish_users(&self, directory: UserDirectory) {
        self.users.send_replace(Some(Arc::new(directory)));
    }

    pub fn publish_groups(&self, groups: GroupSet) {
        self.groups.send_replace(Some(Arc::new(groups)));
    }

    /// Waits until the users fetcher has published, or the sync is cancelled
    /// (which is also what happens when that fetcher fails).
    pub async fn users(&self, cancel: &CancellationToken) -> Result<Arc<UserDirectory>, SyncError> {
        wait(&self.users, cancel).await
    }

    pub async fn groups(&self, cancel: &CancellationToken) -> Result<Arc<GroupSet>, SyncError> {
        wait(&self.groups, cancel).await
    }
}

async fn wait<T>(
    slot: &watch::Sender<Option<Arc<T>>>,
    cancel: &CancellationToken,
) -> Result<Arc<T>, SyncError> {
    let mut receiver = slot.subscribe();
    tokio::select! {
        published = receiver.wait_for(Option::is_some) => match published {
            Ok(value) => value.clone().ok_or(SyncError::Cancelled),
            // The sender lives in the context the waiter borrows from, so it
            // cannot be dropped while anyone waits; treat it as cancellation.
            Err(_) => Err(SyncError::Cancelled),
        },
        () = cancel.cancelled() => Err(SyncError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_get_the_published_directory() {
        let directories = Directories::default();
        let cancel = CancellationToken::new();
        let waiter = async { directories.users(&cancel).await };
        let publisher = async {
            let mut directory = UserDirectory::default();
            directory.insert("k1", "Alice");
            directories.publish_users(directory);
        };
        let (directory, ()) = tokio::join!(waiter, publisher);
        let directory = directory.unwrap();
        assert_eq!(directory.key_for_username("alice"), Some("k1"));
        assert_eq!(directory.username_for_key("k1"), Some("Alice"));
    }

    #[tokio::test]
    async fn cancellation_releases_waiters() {
        let directories = Directories::default();
        let cancel = CancellationToken::new();
        cancel.cancel();
        assert!(matches!(
            directories.groups(&cancel).await,
            Err(SyncError::Cancelled)
        ));
    }
}
