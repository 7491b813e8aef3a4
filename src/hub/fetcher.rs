//! The three fetcher actors of a tenant (users, groups, spaces). Each runs
//! its phase of a sync when the Instance sends [`Fetch`]; the phase itself is
//! plain async code in `crate::sync`. One generic actor, three phases, so the
//! actor plumbing exists once.

use std::marker::PhantomData;
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture};
use futures::future::BoxFuture;
use tracing::Instrument;

use crate::sync::{SyncContext, SyncError};

/// One phase of a sync.
pub trait Phase: Unpin + 'static {
    /// The Baton resource type the phase lists, for spans and errors.
    const NAME: &'static str;
    fn fetch(context: Arc<SyncContext>) -> BoxFuture<'static, Result<(), SyncError>>;
}

pub struct Fetcher<P: Phase> {
    phase: PhantomData<P>,
}

impl<P: Phase> Default for Fetcher<P> {
    fn default() -> Self {
        Self { phase: PhantomData }
    }
}

impl<P: Phase> Actor for Fetcher<P> {
    type Context = Context<Self>;
}

/// Run this fetcher's phase of the sync in `0`.
#[derive(Message)]
#[rtype(result = "Result<(), SyncError>")]
pub struct Fetch(pub Arc<SyncContext>);

impl<P: Phase> Handler<Fetch> for Fetcher<P> {
    type Result = ResponseFuture<Result<(), SyncError>>;

    fn handle(&mut self, Fetch(context): Fetch, _: &mut Context<Self>) -> Self::Result {
        let span = tracing::info_span!(
            "fetch",
            tenant = %context.tenant,
            sync_id = %context.sync_id,
            resource_type = P::NAME,
        );
        Box::pin(P::fetch(context).instrument(span))
    }
}

pub struct Users;
pub struct Groups;
pub struct Spaces;

impl Phase for Users {
    const NAME: &'static str = "user";
    fn fetch(context: Arc<SyncContext>) -> BoxFuture<'static, Result<(), SyncError>> {
        Box::pin(async move { crate::sync::users::fetch(&context).await })
    }
}

impl Phase for Groups {
    const NAME: &'static str = "group";
    fn fetch(context: Arc<SyncContext>) -> BoxFuture<'static, Result<(), SyncError>> {
        Box::pin(async move { crate::sync::groups::fetch(&context).await })
    }
}

impl Phase for Spaces {
    const NAME: &'static str = "space";
    fn fetch(context: Arc<SyncContext>) -> BoxFuture<'static, Result<(), SyncError>> {
        Box::pin(async move { crate::sync::spaces::fetch(&context).await })
    }
}

pub type UsersFetcher = Fetcher<Users>;
pub type GroupsFetcher = Fetcher<Groups>;
pub type SpacesFetcher = Fetcher<Spaces>;
