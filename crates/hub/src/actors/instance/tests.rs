use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::Message;
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, SimOptions, SimVersion};
use tokio::sync::Semaphore;

use super::*;
use crate::actors::status::{Health, StatusBoard, TenantState};
use crate::config::HubConfig;

/// Closes the fetchers' mailboxes as a panic would, leaving them for the
/// Instance's supervision to find dead and restart.
#[derive(Message)]
#[rtype(result = "()")]
struct KillFetchers;

impl Handler<KillFetchers> for Instance {
    type Result = ();

    fn handle(&mut self, _: KillFetchers, _: &mut Context<Self>) {
        fn kill<A>(child: &Option<Child<A>>)
        where
            A: Actor<Context = Context<A>> + Handler<StopChild>,
        {
            if let Some(addr) = child.as_ref().and_then(Child::addr) {
                addr.do_send(StopChild);
            }
        }
        kill(&self.users);
        kill(&self.groups);
        kill(&self.spaces);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-instance-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_for(board: &StatusBoard, what: &str, done: impl Fn(&TenantStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = board.tenant("acme");
        if status.as_ref().is_some_and(&done) {
            return;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn a_tenant_whose_actors_keep_dying_is_degraded_until_a_stable_period_passes() {
    let sim = ConfluenceSim::start(SimOptions::new(
        SimVersion::V9_2,
        Dataset::generate(&GenerateOptions {
            seed: 5,
            users: 8,
            groups: 2,
            spaces: 2,
        }),
    ))
    .unwrap();
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("HUB_INSTANCE_TEST_TOKEN", "sim-admin-token") };
    let text = format!(
        "[hub]\ndata_dir = \"data\"\n[[instance]]\nid = \"acme\"\nbase_url = \"{}\"\n\
         token = {{ env = \"HUB_INSTANCE_TEST_TOKEN\" }}\n",
        sim.base_url()
    );
    let config = HubConfig::from_toml(&text, Path::new("/nonexistent/hub.toml")).unwrap();
    let dir = scratch_dir("degraded");
    let board = StatusBoard::new(0, 1);
    let stable_period = Duration::from_secs(3);
    let spec = InstanceSpec {
        tenant: config.tenants[0].clone(),
        generation: 1,
        mode: Mode::OnDemand,
        tenant_dir: dir.clone(),
        board: board.clone(),
        sync_slots: Arc::new(Semaphore::new(1)),
        lifecycle: LifecycleSettings {
            stable_period,
            ..LifecycleSettings::default()
        },
        restarted: false,
        history: None,
    };
    let instance = Instance::new(spec).start();
    wait_for(&board, "a healthy start", |s| s.health == Health::Healthy).await;

    let mut rounds = 0;
    while board.tenant("acme").unwrap().health != Health::Degraded {
        rounds += 1;
        assert!(rounds <= 3, "{:?}", board.tenant("acme"));
        let before = board.tenant("acme").unwrap().restarts;
        instance.send(KillFetchers).await.unwrap();
        wait_for(&board, "the fetchers' restart", |s| {
            s.restarts >= before + 3
        })
        .await;
    }
    let degraded_at = Instant::now();
    let status = board.tenant("acme").unwrap();
    assert_eq!(status.state, TenantState::Degraded);
    assert!(status.last_error.unwrap().contains("restarted"));

    // A clean sync does not clear it; the stable period without a restart does.
    let out = dir.join("acme.c1z");
    let sync = RunSync::new(Trigger::OneShot, SyncTarget::Path(out.clone()));
    instance.send(sync).await.unwrap().unwrap();
    if degraded_at.elapsed() < stable_period / 2 {
        assert_eq!(board.tenant("acme").unwrap().health, Health::Degraded);
    }
    wait_for(&board, "recovery", |s| s.health == Health::Healthy).await;
    assert!(degraded_at.elapsed() >= stable_period / 2);
    let status = board.tenant("acme").unwrap();
    assert_eq!((status.state, status.last_error), (TenantState::Idle, None));
    assert!(status.restarts >= 5, "{}", status.restarts);

    instance
        .send(Stop {
            grace: Duration::from_secs(1),
        })
        .await
        .unwrap();
    assert_eq!(board.tenant("acme").unwrap().health, Health::Stopped);
    let _ = std::fs::remove_dir_all(&dir);
}
