//! The three fetcher actors of a tenant (users, groups, spaces). Each owns
//! the listing state of the sync it serves: the Confluence pager (cursor and
//! keys seen), what it has learned so far (the user directory, group names,
//! space keys), the queue of member or permission reads still to do and how
//! many are in flight. A read runs as a future in the actor's context and
//! hands its result back to the actor, which updates its state, sends the
//! batch on to the sync's writer and starts the next read.
//!
//! What the three share lives here: the [`Walker`] trait each implements,
//! the page loop ([`read_page`]), one step of follow-up work
//! ([`spawn_step`]) and the bounded queue of reads ([`ReadQueue`]).

mod groups;
mod spaces;
mod users;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseFuture,
    WrapFuture,
};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::child::StopChild;
use crate::sync::{Batch, SyncContext, SyncError, cancellable};
use confluence::Pager;

pub use self::groups::GroupsFetcher;
pub use self::spaces::SpacesFetcher;
pub use self::users::UsersFetcher;

/// Run this fetcher's phase of the sync in `0`; answered when the phase ends.
#[derive(Message)]
#[rtype(result = "Result<(), SyncError>")]
pub struct Fetch(pub Arc<SyncContext>);

/// A phase as its fetcher actor runs it.
trait Walker: Actor<Context = Context<Self>> + Sized {
    /// The Baton resource type the phase lists, for spans and errors.
    const PHASE: &'static str;
    type Record: 'static;

    fn runs(&mut self) -> &mut Runs;
    /// The listing this phase pages through.
    fn pager(sync: &SyncContext) -> Pager<Self::Record>;
    /// Takes on a new run; only called when the fetcher is idle.
    fn begin(&mut self, run: Run);
    fn is_busy(&self) -> bool;
    /// The sync of run `run_id`, while the fetcher still serves it (a
    /// result of an earlier, failed run finds `None` and is dropped).
    fn serving(&self, run_id: u64) -> Option<Arc<SyncContext>>;
    /// One page of the listing: what to write for it.
    fn absorb(&mut self, records: Vec<Self::Record>) -> Vec<Batch>;
    /// The listing is over; the phase goes on or finishes.
    fn listed(&mut self, run_id: u64, ctx: &mut Context<Self>);
    /// Ends the run and answers its [`Fetch`].
    fn finish(&mut self, result: Result<(), SyncError>);
}

/// What every phase keeps about the sync it serves. `id` tells the results
/// of this run from late results of an earlier, failed one.
struct Run {
    id: u64,
    sync: Arc<SyncContext>,
    reply: oneshot::Sender<Result<(), SyncError>>,
}

/// Hands out run ids and the reply a [`Fetch`] waits on.
#[derive(Default)]
struct Runs {
    next_id: u64,
}

impl Runs {
    fn start(&mut self, sync: Arc<SyncContext>) -> (Run, oneshot::Receiver<Result<(), SyncError>>) {
        self.next_id += 1;
        let (reply, answer) = oneshot::channel();
        let run = Run {
            id: self.next_id,
            sync,
            reply,
        };
        (run, answer)
    }
}

impl Run {
    /// Answers the [`Fetch`]. A failed phase cancels the sync, so the other
    /// phases and this phase's own reads still in flight stop.
    fn finish(self, result: Result<(), SyncError>) {
        if result.is_err() {
            self.sync.cancel.cancel();
        }
        let _ = self.reply.send(result);
    }

    fn serving(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        (self.id == run_id).then(|| self.sync.clone())
    }
}

/// Starts a phase: the first page is read at once, and the answer comes
/// when [`Walker::finish`] is called.
fn start<W: Walker>(
    walker: &mut W,
    sync: Arc<SyncContext>,
    ctx: &mut Context<W>,
) -> ResponseFuture<Result<(), SyncError>> {
    if walker.is_busy() {
        let busy = SyncError::FetcherLost {
            phase: W::PHASE,
            detail: "it is still serving another sync".into(),
        };
        return Box::pin(std::future::ready(Err(busy)));
    }
    let pager = W::pager(&sync);
    let (run, answer) = walker.runs().start(sync);
    let run_id = run.id;
    walker.begin(run);
    read_page(walker, ctx, run_id, pager, Vec::new());
    Box::pin(async move {
        answer.await.unwrap_or_else(|_| {
            Err(SyncError::FetcherLost {
                phase: W::PHASE,
                detail: "it stopped before the phase ended".into(),
            })
        })
    })
}

/// Reads the next page while the previous page's batches are written, then
/// hands the page back to the actor.
fn read_page<W: Walker>(
    walker: &mut W,
    ctx: &mut Context<W>,
    run_id: u64,
    mut pager: Pager<W::Record>,
    batches: Vec<Batch>,
) {
    let Some(sync) = walker.serving(run_id) else {
        return;
    };
    let span = fetch_span::<W>(&sync);
    let work = async move {
        let write = async {
            for batch in batches {
                sync.put(batch).await?;
            }
            Ok(())
        };
        let (written, page) = futures::join!(write, cancellable(&sync, pager.next_page()));
        (pager, written.and(page))
    };
    ctx.spawn(
        work.instrument(span)
            .into_actor(walker)
            .map(move |(pager, page), walker, ctx| {
                if walker.serving(run_id).is_none() {
                    return;
                }
                match page {
                    Ok(Some(records)) => {
                        let batches = walker.absorb(records);
                        read_page(walker, ctx, run_id, pager, batches);
                    }
                    Ok(None) => walker.listed(run_id, ctx),
                    Err(err) => walker.finish(Err(err)),
                }
            }),
    );
}

/// Runs one step of run `run_id` in the actor's context: a failure ends the
/// phase, a success is handed to `then` with the actor.
fn spawn_step<W, T>(
    walker: &mut W,
    ctx: &mut Context<W>,
    run_id: u64,
    work: impl Future<Output = Result<T, SyncError>> + 'static,
    then: impl FnOnce(&mut W, T, &mut Context<W>) + 'static,
) where
    W: Walker,
    T: 'static,
{
    let Some(sync) = walker.serving(run_id) else {
        return;
    };
    let span = fetch_span::<W>(&sync);
    ctx.spawn(
        work.instrument(span)
            .into_actor(walker)
            .map(move |result, walker, ctx| {
                if walker.serving(run_id).is_none() {
                    return;
                }
                match result {
                    Ok(value) => then(walker, value, ctx),
                    Err(err) => walker.finish(Err(err)),
                }
            }),
    );
}

fn fetch_span<W: Walker>(sync: &SyncContext) -> tracing::Span {
    tracing::info_span!(
        "fetch",
        tenant = %sync.tenant,
        sync_id = %sync.sync_id,
        resource_type = W::PHASE,
    )
}

/// Reads still to do (groups' members, spaces' permissions), and how many
/// are in flight, bounded by the tenant's concurrency.
struct ReadQueue<T> {
    waiting: VecDeque<T>,
    in_flight: usize,
}

impl<T> ReadQueue<T> {
    fn new(items: impl IntoIterator<Item = T>) -> Self {
        Self {
            waiting: items.into_iter().collect(),
            in_flight: 0,
        }
    }

    /// The reads to start now so that at most `limit` are in flight.
    fn start(&mut self, limit: usize) -> Vec<T> {
        let mut started = Vec::new();
        while self.in_flight < limit.max(1) {
            let Some(item) = self.waiting.pop_front() else {
                break;
            };
            self.in_flight += 1;
            started.push(item);
        }
        started
    }

    fn finished_one(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    fn is_drained(&self) -> bool {
        self.waiting.is_empty() && self.in_flight == 0
    }
}

macro_rules! fetcher_handlers {
    ($($fetcher:ty),*) => {$(
        impl Handler<Fetch> for $fetcher {
            type Result = ResponseFuture<Result<(), SyncError>>;

            fn handle(&mut self, Fetch(sync): Fetch, ctx: &mut Context<Self>) -> Self::Result {
                crate::actors::fault::fetch_started(&sync.tenant, <$fetcher as Walker>::PHASE);
                start(self, sync, ctx)
            }
        }

        impl Handler<StopChild> for $fetcher {
            type Result = ();

            fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
                ctx.stop();
            }
        }
    )*};
}

fetcher_handlers!(UsersFetcher, GroupsFetcher, SpacesFetcher);

#[cfg(test)]
mod tests {
    use super::ReadQueue;

    #[test]
    fn the_read_queue_keeps_at_most_the_limit_in_flight() {
        let mut queue = ReadQueue::new(1..=5);
        assert_eq!(queue.start(2), vec![1, 2]);
        assert!(queue.start(2).is_empty());
        queue.finished_one();
        assert_eq!(queue.start(2), vec![3]);
        queue.finished_one();
        queue.finished_one();
        assert_eq!(queue.start(0), vec![4], "a limit of 0 still makes progress");
        assert!(!queue.is_drained());
        queue.finished_one();
        assert_eq!(queue.start(8), vec![5]);
        queue.finished_one();
        assert!(queue.is_drained());
    }
}
