//! Paging through Confluence lists the way its bugs demand: the next `start`
//! is `start + results returned` (the server caps `limit` silently and its
//! `_links.next` assumes the requested limit), paging continues while
//! `_links.next` is present and the page is non-empty, and records are
//! de-duplicated (the space listing may repeat pages past its end). A
//! [`Pager`] hands pages to the caller one at a time, so a sync can write
//! batches without holding everything.

use std::collections::{HashSet, VecDeque};

use super::client::ConfluenceClient;
use super::decode;
use super::error::{ConfluenceError, ErrorKind};
use super::models::{Group, Space, User};
use super::route::Route;
use super::transport::{Reply, Request, Transport};
use super::wire::{GroupWire, Page, SpaceWire, UserWire};

/// Where one paged walk stands. Pure, so it is tested without a server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageState {
    start: u64,
    finished: bool,
}

impl PageState {
    /// The `start` of the next request, or `None` when the walk is over.
    pub fn next_start(&self) -> Option<u64> {
        (!self.finished).then_some(self.start)
    }

    /// Records a page: how many results it held, whether every one of them
    /// had already been seen in this walk (the server is repeating itself),
    /// and whether it carried `_links.next`.
    pub fn record(&mut self, returned: usize, all_repeats: bool, has_next: bool) {
        if returned == 0 || all_repeats || !has_next {
            self.finished = true;
        } else {
            self.start += returned as u64;
        }
    }
}

/// Which listing a record came from, for flags the record itself may omit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkKind {
    Plain,
    ArchivedSpaces,
}

/// One page as decoded: each entry converted (`None` when it carried no
/// identity), and whether the server offered a next page.
pub(crate) struct DecodedPage<T> {
    entries: Vec<Option<T>>,
    has_next: bool,
}

impl<T> DecodedPage<T> {
    /// The entries that carried an identity.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    fn new<W>(page: Page<W>, convert: impl FnMut(W) -> Option<T>) -> Self {
        Self {
            has_next: page.links.next.is_some(),
            entries: page.results.into_iter().map(convert).collect(),
        }
    }
}

type Decoder<T> = fn(&Transport, Reply, WalkKind) -> Result<DecodedPage<T>, ConfluenceError>;

/// How to read one kind of record from a page and what de-duplicates it.
pub(crate) struct Codec<T> {
    decode: Decoder<T>,
    key: fn(&T) -> &str,
}

/// Users, de-duplicated by user key.
pub(crate) const USERS: Codec<User> = Codec {
    decode: |transport, reply, _| {
        let page: Page<UserWire> = decode::json(transport, reply)?;
        Ok(DecodedPage::new(page, UserWire::into_user))
    },
    key: |user| &user.user_key,
};

/// Groups, de-duplicated by name.
pub(crate) const GROUPS: Codec<Group> = Codec {
    decode: |transport, reply, _| {
        let page: Page<GroupWire> = decode::json(transport, reply)?;
        Ok(DecodedPage::new(page, GroupWire::into_group))
    },
    key: |group| &group.name,
};

/// Spaces, de-duplicated by key.
pub(crate) const SPACES: Codec<Space> = Codec {
    decode: |transport, reply, walk| {
        let page: Page<SpaceWire> = decode::json(transport, reply)?;
        let archived = walk == WalkKind::ArchivedSpaces;
        Ok(DecodedPage::new(page, |wire| wire.into_space(archived)))
    },
    key: |space| &space.key,
};

#[cfg(feature = "fuzzing")]
impl<T> Codec<T> {
    pub(crate) fn decode_page(
        &self,
        transport: &Transport,
        reply: Reply,
        kind: WalkKind,
    ) -> Result<DecodedPage<T>, ConfluenceError> {
        (self.decode)(transport, reply, kind)
    }
}

/// What a walk does when its endpoint answers 404 on the first page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnMissing {
    Fail,
    /// `/rest/api/user/list` is not on every release: list the members of
    /// every group instead (docs/confluence-api-notes.md §2.2).
    ListGroupMembers,
}

/// One listing endpoint with its fixed query parameters.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    pub route: Route,
    pub query: Vec<(&'static str, String)>,
    pub kind: WalkKind,
    on_missing: OnMissing,
}

impl Walk {
    pub fn new(route: Route) -> Self {
        Self {
            route,
            query: Vec::new(),
            kind: WalkKind::Plain,
            on_missing: OnMissing::Fail,
        }
    }

    pub fn on_missing(mut self, on_missing: OnMissing) -> Self {
        self.on_missing = on_missing;
        self
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn kind(mut self, kind: WalkKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Pages of de-duplicated records from one or more listings (spaces are
/// listed twice: without `status` and with `status=archived`).
pub struct Pager<T> {
    client: ConfluenceClient,
    codec: Codec<T>,
    walks: VecDeque<Walk>,
    state: PageState,
    limit: u32,
    seen: HashSet<String>,
    seen_in_walk: HashSet<String>,
    pages: u64,
    /// Pages of the current walk, checked against the client's `max_pages`.
    pages_in_walk: u64,
    skipped: u64,
}

impl<T> Pager<T> {
    pub(crate) fn new(
        client: ConfluenceClient,
        codec: Codec<T>,
        walks: Vec<Walk>,
        limit: u32,
    ) -> Self {
        Self {
            client,
            codec,
            walks: walks.into(),
            state: PageState::default(),
            limit: limit.max(1),
            seen: HashSet::new(),
            seen_in_walk: HashSet::new(),
            pages: 0,
            pages_in_walk: 0,
            skipped: 0,
        }
    }

    /// The next batch of records not returned before, or `None` at the end.
    /// A returned batch is never empty.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ConfluenceError> {
        loop {
            let Some(walk) = self.walks.front() else {
                return Ok(None);
            };
            let Some(start) = self.state.next_start() else {
                self.walks.pop_front();
                self.state = PageState::default();
                self.seen_in_walk.clear();
                self.pages_in_walk = 0;
                continue;
            };
            let cap = self.client.max_pages();
            if self.pages_in_walk >= cap {
                let route = walk.route.template;
                return Err(self.client.error(ErrorKind::TooManyPages { route, cap }));
            }
            let mut request = Request::get(walk.route.clone());
            for (name, value) in &walk.query {
                request = request.query(name, value.clone());
            }
            let request = request
                .query("start", start.to_string())
                .query("limit", self.limit.to_string());
            let kind = walk.kind;
            let falls_back = start == 0 && walk.on_missing == OnMissing::ListGroupMembers;
            let decode = self.codec.decode;
            let page = self
                .client
                .transport()
                .fetch(&request, |transport, reply| {
                    if reply.status == 404 && falls_back {
                        return Ok(None);
                    }
                    decode(transport, reply, kind).map(Some)
                })
                .await?;
            let Some(page) = page else {
                self.walks.pop_front();
                for member_walk in self
                    .client
                    .member_walks_of_every_group()
                    .await?
                    .into_iter()
                    .rev()
                {
                    self.walks.push_front(member_walk);
                }
                continue;
            };
            self.pages += 1;
            self.pages_in_walk += 1;

            let returned = page.entries.len();
            let mut repeats = 0;
            let mut fresh = Vec::new();
            for entry in page.entries {
                let Some(item) = entry else {
                    self.skipped += 1;
                    continue;
                };
                let key = (self.codec.key)(&item);
                if !self.seen_in_walk.insert(key.to_owned()) {
                    repeats += 1;
                }
                if self.seen.insert(key.to_owned()) {
                    fresh.push(item);
                }
            }
            self.state
                .record(returned, repeats == returned, page.has_next);
            if !fresh.is_empty() {
                return Ok(Some(fresh));
            }
        }
    }

    /// Every remaining record, in order.
    pub async fn collect_all(mut self) -> Result<Vec<T>, ConfluenceError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Entries that carried no identity (a user without a key, a group
    /// without a name) and were left out.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A model of Confluence's listing: caps `limit` silently, offers
    /// `_links.next` while more records exist (its `start` assumes the
    /// requested limit, so a client following it would skip records), and
    /// optionally keeps answering past the end (CONFSERVER-95272) by
    /// repeating the last page.
    struct ModelServer {
        total: u64,
        cap: u64,
        repeats_past_end: bool,
    }

    impl ModelServer {
        fn page(&self, start: u64, limit: u64) -> (Vec<u64>, bool) {
            let size = limit.min(self.cap);
            let (from, to) = if start >= self.total && self.repeats_past_end {
                (self.total.saturating_sub(size), self.total)
            } else {
                (start.min(self.total), (start + size).min(self.total))
            };
            let next = to < self.total || self.repeats_past_end;
            ((from..to).collect(), next)
        }
    }

    fn walk(server: &ModelServer, limit: u64) -> Vec<u64> {
        let mut state = PageState::default();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut requests = 0;
        while let Some(start) = state.next_start() {
            requests += 1;
            assert!(requests < 10_000, "the walk never ends");
            let (items, next) = server.page(start, limit);
            let mut repeats = 0;
            for item in &items {
                if seen.insert(*item) {
                    out.push(*item);
                } else {
                    repeats += 1;
                }
            }
            state.record(items.len(), repeats == items.len(), next);
        }
        out
    }

    #[test]
    fn next_start_counts_returned_records_not_the_requested_limit() {
        let mut state = PageState::default();
        state.record(200, false, true);
        assert_eq!(state.next_start(), Some(200));
        state.record(37, false, true);
        assert_eq!(state.next_start(), Some(237));
    }

    #[test]
    fn an_empty_page_ends_the_walk_even_with_a_next_link() {
        let mut state = PageState::default();
        state.record(0, false, true);
        assert_eq!(state.next_start(), None);
    }

    #[test]
    fn a_missing_next_link_ends_the_walk() {
        let mut state = PageState::default();
        state.record(5, false, false);
        assert_eq!(state.next_start(), None);
    }

    #[test]
    fn a_page_of_repeats_ends_the_walk() {
        let mut state = PageState::default();
        state.record(25, true, true);
        assert_eq!(state.next_start(), None);
    }

    #[test]
    fn every_record_is_fetched_exactly_once_under_any_cap_and_limit() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for _ in 0..2_000 {
            let server = ModelServer {
                total: rng.random_range(0..700),
                cap: rng.random_range(1..=250),
                repeats_past_end: rng.random_bool(0.3),
            };
            let limit = rng.random_range(1..=500);
            let fetched = walk(&server, limit);
            let expected: Vec<u64> = (0..server.total).collect();
            assert_eq!(
                fetched, expected,
                "total {} cap {} limit {limit} repeats {}",
                server.total, server.cap, server.repeats_past_end
            );
        }
    }
}
