//! Supervision of child actors, written once: a [`Child`] notices that its
//! actor has died (a panic closes the mailbox; actix restarts nothing on its
//! own) and re-creates it after an exponential backoff.

use std::time::{Duration, Instant};

use actix::{Actor, Addr, Message};

use super::backoff::Backoff;

/// Asks a child actor to stop; every child actor handles it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopChild;

const FIRST_RESTART: Duration = Duration::from_millis(200);
const MAX_RESTART: Duration = Duration::from_secs(60);

pub struct Child<A: Actor> {
    name: &'static str,
    addr: Option<Addr<A>>,
    backoff: Backoff,
    restart_at: Option<Instant>,
    restarts: u32,
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
            backoff: Backoff::new(FIRST_RESTART, MAX_RESTART),
            restart_at: None,
            restarts: 0,
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
            return ChildCheck::Alive;
        }
        match self.restart_at {
            None => {
                let delay = self.backoff.next_delay();
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
