//! Supervision of child actors, written once: a [`Child`] notices that its
//! actor has died (a panic closes the mailbox; actix restarts nothing on its
//! own) and re-creates it after an exponential backoff.

use std::time::{Duration, Instant};

use actix::{Actor, Addr, Message};

use platform::backoff::{Backoff, BackoffPolicy, Jitter};

/// Asks a child actor to stop; every child actor handles it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChild;

/// 200 ms doubling to a minute; equal jitter, so a restart is never
/// immediate and children that died together come back spread out.
const RESTART: BackoffPolicy =
    BackoffPolicy::new(Duration::from_millis(200), Duration::from_secs(60))
        .with_jitter(Jitter::Equal);
/// A child that has lived this long since its last start is well again: its
/// next death starts the backoff from the beginning.
const STABLE_RUN: Duration = Duration::from_secs(60);

pub struct Child<A: Actor> {
    name: &'static str,
    addr: Option<Addr<A>>,
    backoff: Backoff,
    restart_at: Option<Instant>,
    restarts: u32,
    started_at: Instant,
}

/// What a supervision check found.
#[derive(Debug, PartialEq, Eq)]
pub enum ChildCheck {
    Alive,
    /// Dead; a restart is scheduled after the backoff.
    Waiting,
    Restarted,
}

impl<A: Actor> Child<A> {
    pub fn new(name: &'static str, addr: Addr<A>) -> Self {
        Self {
            name,
            addr: Some(addr),
            backoff: RESTART.start(),
            restart_at: None,
            restarts: 0,
            started_at: Instant::now(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The live address, if the child is running.
    pub fn addr(&self) -> Option<&Addr<A>> {
        self.addr.as_ref().filter(|addr| addr.connected())
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Restarts the child with `start` once it is dead and its backoff has passed.
    pub fn check(&mut self, now: Instant, start: impl FnOnce() -> Addr<A>) -> ChildCheck {
        if self.addr().is_some() {
            if now.saturating_duration_since(self.started_at) >= STABLE_RUN {
                self.backoff.reset();
            }
            return ChildCheck::Alive;
        }
        match self.restart_at {
            None => {
                // RESTART has no elapsed budget, so there is always a delay.
                let delay = self.backoff.next_delay().unwrap_or(RESTART.max);
                tracing::warn!(
                    child = self.name,
                    ?delay,
                    "child actor died; restarting after backoff"
                );
                self.restart_at = Some(now + delay);
                ChildCheck::Waiting
            }
            Some(at) if at > now => ChildCheck::Waiting,
            Some(_) => {
                self.addr = Some(start());
                self.restart_at = None;
                self.started_at = now;
                self.restarts += 1;
                ChildCheck::Restarted
            }
        }
    }

    /// Takes the address out, e.g. to stop the child for good.
    pub fn take(&mut self) -> Option<Addr<A>> {
        self.addr.take()
    }
}

#[cfg(test)]
mod tests {
    use actix::{ActorContext, Context, Handler};

    use super::*;

    struct Fragile;

    impl Actor for Fragile {
        type Context = Context<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Explode;

    impl Handler<Explode> for Fragile {
        type Result = ();

        fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
            panic!("a bug in a tenant's actor");
        }
    }

    impl Handler<StopChild> for Fragile {
        type Result = ();

        fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    #[actix_rt::test]
    async fn a_panicked_child_is_restarted_after_backoff_and_its_neighbours_live_on() {
        let neighbour = Fragile.start();
        let mut child = Child::new("fragile", Fragile.start());
        let dead = child.addr().cloned().unwrap();
        assert!(
            dead.send(Explode).await.is_err(),
            "the panic should close the mailbox"
        );
        assert!(child.addr().is_none());
        assert!(
            neighbour.connected(),
            "a panic in one actor stopped another"
        );

        let now = Instant::now();
        assert_eq!(child.check(now, || Fragile.start()), ChildCheck::Waiting);
        assert_eq!(child.check(now, || Fragile.start()), ChildCheck::Waiting);
        let later = now + RESTART.max;
        assert_eq!(
            child.check(later, || Fragile.start()),
            ChildCheck::Restarted
        );
        assert_eq!(child.restarts(), 1);
        assert_eq!(child.check(later, || Fragile.start()), ChildCheck::Alive);

        // Dying again soon waits longer; after a stable run, the backoff
        // starts over from 200 ms.
        let kill = |child: &Child<Fragile>| child.addr().unwrap().do_send(StopChild);
        kill(&child);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(child.check(later, || Fragile.start()), ChildCheck::Waiting);
        let soon = later + Duration::from_millis(199);
        assert_eq!(child.check(soon, || Fragile.start()), ChildCheck::Waiting);
        let second = later + RESTART.max;
        assert_eq!(
            child.check(second, || Fragile.start()),
            ChildCheck::Restarted
        );
        let stable = second + STABLE_RUN;
        assert_eq!(child.check(stable, || Fragile.start()), ChildCheck::Alive);
        kill(&child);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(child.check(stable, || Fragile.start()), ChildCheck::Waiting);
        let first_delay = stable + Duration::from_millis(200);
        assert_eq!(
            child.check(first_delay, || Fragile.start()),
            ChildCheck::Restarted
        );
        child.addr().unwrap().send(StopChild).await.unwrap();
    }
}
