//! The three fetcher actors of a tenant (users, groups, spaces). Each owns
//! the listing state of the sync it serves: the Confluence pager (cursor and
//! keys seen), what it has learned so far (the user directory, group names,
//! space keys), the queue of member or permission reads still to do and how
//! many are in flight. A read runs as a future in the actor's context and
//! hands its result back to the actor, which updates its state, sends the
//! batch on to the sync's writer and starts the next read.

mod groups;
mod spaces;
mod users;

use std::sync::Arc;

use actix::{ActorContext, Context, Handler, Message};
use tokio::sync::oneshot;

use super::child::StopChild;
use crate::sync::{SyncContext, SyncError};

pub use self::groups::GroupsFetcher;
pub use self::spaces::SpacesFetcher;
pub use self::users::UsersFetcher;

/// Run this fetcher's phase of the sync in `0`; answered when the phase ends.
#[derive(Message)]
#[rtype(result = "Result<(), SyncError>")]
pub struct Fetch(pub Arc<SyncContext>);

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
}

/// The answer to a [`Fetch`], once the phase has sent it.
async fn answered(
    phase: &'static str,
    answer: oneshot::Receiver<Result<(), SyncError>>,
) -> Result<(), SyncError> {
    answer.await.unwrap_or_else(|_| {
        Err(SyncError::FetcherLost {
            phase,
            detail: "it stopped before the phase ended".into(),
        })
    })
}

fn busy(phase: &'static str) -> SyncError {
    SyncError::FetcherLost {
        phase,
        detail: "it is still serving another sync".into(),
    }
}

macro_rules! stoppable {
    ($($fetcher:ty),*) => {$(
        impl Handler<StopChild> for $fetcher {
            type Result = ();

            fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
                ctx.stop();
            }
        }
    )*};
}

stoppable!(UsersFetcher, GroupsFetcher, SpacesFetcher);
