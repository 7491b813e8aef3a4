//! The demo's world: three simulated Confluence tenants, a simulated
//! ConductorOne that knows each tenant's credentials, and the hub config that
//! ties them together, all on 127.0.0.1 with files under the demo directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use baton::pb::c1::connector::v2::CreateAccountResponse;
use sim::conductorone::{
    ConductorOneSim, EntitlementRef, RandomPasswordRequest, ResourceRef, SimOptions as C1Options,
    SimTask, SimTenant, TaskRecord, gen_credentials,
};
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, RateLimit, SimOptions, SimVersion};

/// One simulated tenant.
pub struct DemoTenant {
    pub id: String,
    pub version: &'static str,
    pub sim: ConfluenceSim,
    pub rate_limited: bool,
}

struct TenantPlan {
    id: &'static str,
    version: SimVersion,
    version_label: &'static str,
    seed: u64,
    users: usize,
    groups: usize,
    spaces: usize,
    /// Confluence's own limiter on (capacity, fill per second), and the
    /// hub's pace for this tenant.
    rate_limit: Option<(u32, u32)>,
    requests_per_second: u32,
}

const PLANS: [TenantPlan; 3] = [
    TenantPlan {
        id: "atlas",
        version: SimVersion::V8_5,
        version_label: "8.5",
        seed: 11,
        users: 400,
        groups: 40,
        spaces: 30,
        rate_limit: None,
        requests_per_second: 400,
    },
    TenantPlan {
        id: "borealis",
        version: SimVersion::V9_2,
        version_label: "9.2",
        seed: 12,
        users: 1500,
        groups: 120,
        spaces: 80,
        rate_limit: None,
        requests_per_second: 400,
    },
    // Confluence's limiter refills slower than the hub would like to go, so
    // the hub meets 429s and Retry-After and still finishes.
    TenantPlan {
        id: "cirrus",
        version: SimVersion::V10_2,
        version_label: "10.2",
        seed: 13,
        users: 300,
        groups: 30,
        spaces: 20,
        rate_limit: Some((20, 15)),
        requests_per_second: 40,
    },
];

pub struct Scenario {
    pub tenants: Vec<DemoTenant>,
    pub c1: ConductorOneSim,
    pub config_path: PathBuf,
    pub uploads_dir: PathBuf,
    pub data_dir: PathBuf,
    pub admin_url: String,
    http: reqwest::Client,
}

/// The outcome of one provisioning task, for the summary.
pub struct Provisioning {
    pub tenant: String,
    pub what: String,
    pub outcome: String,
}

impl Scenario {
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        let secrets = dir.join("secrets");
        let uploads_dir = dir.join("uploads");
        let data_dir = dir.join("data");
        for path in [&secrets, &uploads_dir, &data_dir] {
            std::fs::create_dir_all(path)?;
        }
        let mut tenants = Vec::new();
        let mut sim_tenants = Vec::new();
        let mut instances = String::new();
        for plan in &PLANS {
            let dataset = Dataset::generate(&GenerateOptions {
                seed: plan.seed,
                users: plan.users,
                groups: plan.groups,
                spaces: plan.spaces,
            });
            let mut options = SimOptions::new(plan.version, dataset);
            options.admin_token = format!("demo-pat-{}", hex::encode(rand::random::<[u8; 12]>()));
            options.rate_limit = plan.rate_limit.map(|(capacity, fill_rate)| RateLimit {
                capacity,
                fill_rate,
                interval: Duration::from_secs(1),
            });
            let token_file = secrets.join(format!("{}-confluence-pat", plan.id));
            std::fs::write(&token_file, &options.admin_token)?;
            let sim = ConfluenceSim::start(options).with_context(|| {
                format!("cannot start the Confluence simulator for {}", plan.id)
            })?;

            let (client_id, secret, public_jwk) = gen_credentials(plan.id, "127.0.0.1");
            let secret_file = secrets.join(format!("{}-c1-client-secret", plan.id));
            std::fs::write(&secret_file, secret.expose())?;
            sim_tenants.push(SimTenant {
                name: plan.id.to_owned(),
                client_id: client_id.clone(),
                public_jwk,
            });

            instances.push_str(&format!(
                "\n[[instance]]\nid = \"{id}\"\nbase_url = \"{url}\"\ntoken = {{ file = \"{token}\" }}\n\
                 requests_per_second = {rps}\nburst = {burst}\nmax_in_flight = 8\nprovisioning = true\n\
                 [instance.conductorone]\nclient_id = \"{client_id}\"\nclient_secret = {{ file = \"{secret}\" }}\n\
                 ca_file = \"{{ca}}\"\napi_host = \"{{api_host}}\"\n",
                id = plan.id,
                url = sim.base_url(),
                token = token_file.display(),
                rps = plan.requests_per_second,
                burst = plan.rate_limit.map_or(50, |(capacity, _)| capacity),
                secret = secret_file.display(),
            ));
            tenants.push(DemoTenant {
                id: plan.id.to_owned(),
                version: plan.version_label,
                sim,
                rate_limited: plan.rate_limit.is_some(),
            });
        }

        let c1 = ConductorOneSim::start(C1Options {
            tenants: sim_tenants,
            next_poll: Duration::from_millis(250),
            next_heartbeat: Duration::from_secs(2),
            upload_dir: Some(uploads_dir.clone()),
            ..C1Options::default()
        })
        .context("cannot start the ConductorOne simulator")?;
        let ca_file = secrets.join("conductorone-ca.pem");
        std::fs::write(&ca_file, c1.ca_pem())?;

        let admin_port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = format!(
            "# Written by `confluence-hub demo`.\n[hub]\ndata_dir = \"{data}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\nshutdown_grace = \"5s\"\n{instances}",
            data = data_dir.display(),
        )
        .replace("{ca}", &ca_file.display().to_string())
        .replace("{api_host}", &c1.api_host());
        let config_path = dir.join("hub.toml");
        std::fs::write(&config_path, config)?;

        confluence::http::install_crypto_provider();
        Ok(Self {
            tenants,
            c1,
            config_path,
            uploads_dir,
            data_dir,
            admin_url: format!("http://127.0.0.1:{admin_port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        })
    }

    pub async fn status(&self) -> Option<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}/status", self.admin_url))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    pub async fn wait_until_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.admin_url))
                .send()
                .await;
            if ready.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the hub did not become ready within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A grant on 9.2, a revoke on 8.5 and an account creation on 10.2,
    /// each through ConductorOne; answers with what happened.
    pub async fn provision(&self, timeout: Duration) -> anyhow::Result<Vec<Provisioning>> {
        let mut queued = Vec::new();
        if let Some((tenant, space_key, user_key)) = self.grant_target("borealis") {
            let task = SimTask::Grant {
                entitlement: EntitlementRef {
                    resource: resource("space", &space_key),
                    slug: "view".into(),
                },
                principal: resource("user", &user_key),
            };
            queued.push((
                tenant,
                format!("grant space:{space_key}:view"),
                self.c1.enqueue(tenant, &task)?,
            ));
        }
        if let Some((tenant, group, user_key)) = self.revoke_target("atlas") {
            let task = SimTask::Revoke {
                entitlement: EntitlementRef {
                    resource: resource("group", &group),
                    slug: "member".into(),
                },
                principal: resource("user", &user_key),
            };
            queued.push((
                tenant,
                format!("revoke group:{group}:member"),
                self.c1.enqueue(tenant, &task)?,
            ));
        }
        // ConductorOne's side of the password exchange: a key pair whose
        // public half goes with the task; only its holder can open the answer.
        let seed: [u8; 32] = rand::random();
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let public_jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public)});
        let login = "demo.newcomer";
        let task = SimTask::CreateAccount {
            login: login.into(),
            email: "demo.newcomer@example.com".into(),
            profile: [("full_name".to_owned(), "Demo Newcomer".to_owned())].into(),
            resource_type_id: String::new(),
            random_password: Some(RandomPasswordRequest {
                length: 20,
                public_jwk,
            }),
        };
        let task_id = self.c1.enqueue("cirrus", &task)?;
        queued.push(("cirrus", format!("create account {login}"), task_id));

        let mut results = Vec::new();
        for (tenant, what, task_id) in queued {
            let record = self
                .c1
                .wait_for_finish(&task_id, timeout)
                .await
                .with_context(|| format!("{tenant}: `{what}` did not finish within {timeout:?}"))?;
            let mut outcome = outcome(&record);
            if let Some(response) = record
                .finish
                .as_ref()
                .and_then(|finish| finish.response.as_ref())
                && let Ok(created) = response.to_msg::<CreateAccountResponse>()
            {
                outcome.push_str(&self.check_sealed_password(tenant, login, &created, &seed));
            }
            results.push(Provisioning {
                tenant: tenant.to_owned(),
                what,
                outcome,
            });
        }
        Ok(results)
    }

    /// Opens the sealed password with ConductorOne's private key and compares
    /// it with what Confluence stored.
    fn check_sealed_password(
        &self,
        tenant: &str,
        login: &str,
        created: &CreateAccountResponse,
        seed: &[u8; 32],
    ) -> String {
        let Some(sealed) = created.encrypted_data.first() else {
            return "; no password returned".to_owned();
        };
        let opened = STANDARD
            .decode(&sealed.encrypted_bytes)
            .ok()
            .and_then(|file| hub::provision::age::decrypt(seed, &file).ok());
        let stored = self
            .tenant(tenant)
            .and_then(|t| {
                t.sim
                    .dataset()
                    .users
                    .into_iter()
                    .find(|user| user.username == login)
            })
            .and_then(|user| user.password);
        match opened {
            Some(password) if stored.as_deref().map(str::as_bytes) == Some(password.as_slice()) => {
                format!(
                    "; a {}-character random password came back sealed (age), opened with ConductorOne's key and matches Confluence's",
                    password.len()
                )
            }
            Some(_) => "; the sealed password does not match what Confluence stored".to_owned(),
            None => "; the sealed password did not open with ConductorOne's key".to_owned(),
        }
    }

    fn tenant(&self, id: &str) -> Option<&DemoTenant> {
        self.tenants.iter().find(|tenant| tenant.id == id)
    }

    /// A global space and an active user without a direct view permission on it.
    fn grant_target(&self, id: &'static str) -> Option<(&'static str, String, String)> {
        let dataset = self.tenant(id)?.sim.dataset();
        let space = dataset
            .spaces
            .iter()
            .find(|space| space.r#type == "global" && space.status == "current")?;
        let holders: Vec<&str> = dataset
            .permissions
            .iter()
            .filter(|row| row.space_key == space.key && row.r#type == "VIEWSPACE")
            .filter_map(|row| row.user_key.as_deref())
            .collect();
        let user = dataset.users.iter().find(|user| {
            user.active && user.username != "admin" && !holders.contains(&user.user_key.as_str())
        })?;
        Some((id, space.key.clone(), user.user_key.clone()))
    }

    /// A member of a group, to take out of it.
    fn revoke_target(&self, id: &'static str) -> Option<(&'static str, String, String)> {
        let dataset = self.tenant(id)?.sim.dataset();
        let group = dataset
            .groups
            .iter()
            .find(|group| !group.name.starts_with("confluence-") && !group.members.is_empty())?;
        Some((id, group.name.clone(), group.members[0].clone()))
    }
}

fn resource(resource_type: &str, id: &str) -> ResourceRef {
    ResourceRef {
        resource_type: resource_type.into(),
        resource: id.into(),
    }
}

fn outcome(record: &TaskRecord) -> String {
    match &record.finish {
        Some(finish) if finish.success => {
            let notes: Vec<&str> = finish
                .annotation_type_urls
                .iter()
                .filter_map(|url| url.rsplit('.').next())
                .collect();
            if notes.is_empty() {
                "ok".to_owned()
            } else {
                format!("ok ({})", notes.join(", "))
            }
        }
        Some(finish) => format!("failed: {}", finish.message),
        None => "not finished".to_owned(),
    }
}

/// What a tenant is doing, for its progress line.
pub fn live_line(status: &serde_json::Value, id: &str) -> String {
    let Some(tenant) = status["tenants"]
        .as_array()
        .and_then(|tenants| tenants.iter().find(|t| t["id"] == id))
    else {
        return "starting".to_owned();
    };
    let state = tenant["state"].as_str().unwrap_or("starting");
    let session = tenant["conductorone"]["session"]
        .as_str()
        .unwrap_or("starting");
    let version = tenant["confluence_version"].as_str().unwrap_or("?");
    format!("{state:<8} Confluence {version:<8} ConductorOne session {session}")
}
