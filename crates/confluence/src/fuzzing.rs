//! Entry points for the fuzz targets in `fuzz/`: raw bytes take the path a
//! server's answer takes through the client's decoders, without a network.
//! Built only with the `fuzzing` feature; the hub never enables it.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use platform::secret::Secret;

use super::decode;
use super::error::ConfluenceError;
use super::pagination::{Codec, GROUPS, SPACES, USERS, WalkKind};
use super::ratelimit::{TenantLimiter, parse_retry_after};
use super::rpc::{self, RpcMethod};
use super::settings::{Auth, ClientSettings, defaults};
use super::transport::{Reply, Transport};
use super::wire::{RestPermission, RpcPermissionSet, ServerInformation};

/// The listings whose pages share the paged envelope.
#[derive(Clone, Copy, Debug)]
pub enum Listing {
    Users,
    GroupMembers,
    Groups,
    Spaces,
    ArchivedSpaces,
}

impl Listing {
    pub const ALL: [Listing; 5] = [
        Self::Users,
        Self::GroupMembers,
        Self::Groups,
        Self::Spaces,
        Self::ArchivedSpaces,
    ];
}

/// One answer as the transport hands it to a decoder.
pub struct Answer<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// A client's transport for a tenant named `fuzz`, never used to send.
pub struct Decoders {
    transport: Transport,
}

impl Default for Decoders {
    fn default() -> Self {
        let base = "http://127.0.0.1:9/".parse().expect("a literal URL parses");
        let settings = ClientSettings::new("fuzz", base, Auth::Token(Secret::new("fuzz".into())));
        Self {
            transport: Transport::new(&settings).expect("the default client builds"),
        }
    }
}

impl Decoders {
    /// Decodes one page of `listing`; the count of records with an identity.
    pub fn page(&self, listing: Listing, answer: &Answer) -> Result<usize, ConfluenceError> {
        let reply = self.reply("/rest/api/fuzz", answer);
        match listing {
            Listing::Users | Listing::GroupMembers => {
                count(&USERS, &self.transport, reply, WalkKind::Plain)
            }
            Listing::Groups => count(&GROUPS, &self.transport, reply, WalkKind::Plain),
            Listing::Spaces => count(&SPACES, &self.transport, reply, WalkKind::Plain),
            Listing::ArchivedSpaces => {
                count(&SPACES, &self.transport, reply, WalkKind::ArchivedSpaces)
            }
        }
    }

    /// Decodes `GET /rest/api/space/{key}/permissions`; the count of rows.
    pub fn rest_permissions(
        &self,
        space_key: &str,
        answer: &Answer,
    ) -> Result<usize, ConfluenceError> {
        let reply = self.reply("/rest/api/space/{key}/permissions", answer);
        let entries: Vec<RestPermission> = decode::json(&self.transport, reply)?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| entry.into_row(space_key))
            .count())
    }

    /// Decodes a JSON-RPC `getSpacePermissionSets` answer; the count of rows.
    pub fn rpc_permissions(
        &self,
        space_key: &str,
        answer: &Answer,
    ) -> Result<usize, ConfluenceError> {
        let route = "/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets";
        let reply = self.reply(route, answer);
        let sets: Vec<RpcPermissionSet> = rpc::decode_answer(
            &self.transport,
            RpcMethod::GetSpacePermissionSets,
            "fuzzing",
            reply,
        )?;
        Ok(sets
            .into_iter()
            .map(|set| set.into_rows(space_key).count())
            .sum())
    }

    /// Decodes the server-information answer version detection reads.
    pub fn server_information(&self, answer: &Answer) -> Result<(), ConfluenceError> {
        let reply = self.reply("/rest/api/server-information", answer);
        decode::json::<ServerInformation>(&self.transport, reply).map(drop)
    }

    fn reply(&self, route: &'static str, answer: &Answer) -> Reply {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(answer.content_type) {
            headers.insert(CONTENT_TYPE, value);
        }
        Reply {
            method: "GET",
            route,
            status: answer.status,
            headers,
            body: answer.body.to_vec(),
            attempts: 1,
        }
    }
}

fn count<T>(
    codec: &Codec<T>,
    transport: &Transport,
    reply: Reply,
    kind: WalkKind,
) -> Result<usize, ConfluenceError> {
    codec
        .decode_page(transport, reply, kind)
        .map(|page| page.len())
}

/// What one answer's headers did to a fresh tenant limiter.
pub struct Observed {
    /// The server's `Retry-After`, as read (the retry logic compares it
    /// with what is left of its budget).
    pub asked: Option<Duration>,
    /// How long every request of the tenant is now held back.
    pub paused: Duration,
}

/// Feeds response headers to a fresh tenant limiter, as each answer's are.
pub fn observe_headers(status: u16, headers: &[(&[u8], &[u8])], max_pause: Duration) -> Observed {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    let limiter = TenantLimiter::new(
        None,
        defaults::MAX_IN_FLIGHT,
        defaults::MAX_IN_FLIGHT_CEILING,
        max_pause,
    );
    let asked = limiter.observe(status, &map);
    // `/status` reads the pacing after every answer; whatever the headers
    // held, reading it must not panic.
    let _ = limiter.pacing();
    let paused = limiter.pause_until().map_or(Duration::ZERO, |until| {
        until.saturating_duration_since(Instant::now())
    });
    Observed { asked, paused }
}

/// Reads a `Retry-After` value as the transport does.
pub fn retry_after(value: &str) -> Option<Duration> {
    parse_retry_after(value, SystemTime::now())
}
