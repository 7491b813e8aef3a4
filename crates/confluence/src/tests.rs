//! Behaviour across the transport and the decoders, against a bare server
//! on 127.0.0.1 that answers every request with a proxy's HTML page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::models::UserRef;
use super::settings::{Auth, ClientSettings, RetryPolicy};
use super::version::ConfluenceVersion;
use super::{ConfluenceClient, ErrorKind};
use platform::secret::Secret;

const PROXY_PAGE: &str =
    "<html><head><title>Bad Gateway</title></head><body>upstream reset</body></html>";

/// Answers `200 text/html` to everything and counts the requests.
async fn proxy_error_pages() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Every request of this client fits in one read; the answer
                // closes the connection, so no second request arrives on it.
                let mut buffer = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{PROXY_PAGE}",
                    PROXY_PAGE.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{address}"), requests)
}

fn client(base_url: &str, attempts: u32) -> ConfluenceClient {
    let settings = ClientSettings {
        version: Some(ConfluenceVersion::new(8, 5, 0)),
        retry: RetryPolicy {
            max_attempts: attempts,
            max_elapsed: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        ..ClientSettings::new(
            "acme",
            base_url.parse().expect("a URL"),
            Auth::Token(Secret::new("t".into())),
        )
    };
    ConfluenceClient::new(&settings).expect("the client builds")
}

#[tokio::test]
async fn a_garbled_answer_is_asked_again_for_a_read_but_never_for_a_write() {
    let (base_url, requests) = proxy_error_pages().await;
    let client = client(&base_url, 3);

    // A name with `/` sends the membership change through JSON-RPC
    // `addUserToGroup`, a write: one request, then the error.
    let err = client
        .add_group_member(&UserRef::by_username("jdoe"), "team/ops")
        .await
        .expect_err("an HTML page is no `true`");
    assert!(err.is_garbled(), "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "the write was repeated");
    assert_eq!(client.stats().retries, 0);

    // `getSpacePermissionSets` only reads: asked until the budget is spent.
    let err = client
        .space_permissions("OPS")
        .await
        .expect_err("an HTML page is no permission set");
    assert_eq!(requests.load(Ordering::SeqCst), 1 + 3);
    let stats = client.stats();
    assert_eq!((stats.retries, stats.garbled_retries), (2, 2), "{stats:?}");
    assert!(matches!(err.kind(), ErrorKind::Undecodable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("tenant `acme`: POST"), "{text}");
    assert!(text.contains("getSpacePermissionSets"), "{text}");
    assert!(text.contains("an HTML page"), "{text}");
}

#[tokio::test]
async fn a_garbled_answer_to_a_get_is_asked_again() {
    let (base_url, requests) = proxy_error_pages().await;
    let client = client(&base_url, 4);
    let err = client
        .user_by_username("jdoe")
        .await
        .expect_err("an HTML page is no user");
    assert!(err.is_garbled(), "{err}");
    assert_eq!(requests.load(Ordering::SeqCst), 4);
    assert_eq!(client.stats().garbled_retries, 3);
}
