//! The sample configs shipped in the repository load: `config/example.toml` (every key) and
//! the TOML of every Kubernetes ConfigMap under `deploy/`, each with placeholder secret and
//! CA files standing in for the real ones, and agree with the manifests around them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use confluence::settings::Auth;
use hub::config::{Deprovisioning, HubConfig};
use sim::conductorone::gen_credentials;

/// Where the StatefulSet mounts the secrets and CA bundles that the ConfigMaps reference.
const SECRETS_MOUNT: &str = "/var/run/secrets/confluence-hub/";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("hub-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A value for the secret or CA file called `name` that passes validation,
/// which parses certificates and client secrets.
fn placeholder_content(name: &str) -> String {
    if name.ends_with(".pem") {
        rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()])
            .expect("a throwaway certificate")
            .cert
            .pem()
    } else if name.contains("c1-client-secret") {
        let (_, secret, _) = gen_credentials("tenant", "tenant.conductor.one");
        format!("{}\n", secret.expose())
    } else if name.contains("c1-client-id") {
        "confluence-hub@tenant.conductor.one/pcc\n".to_owned()
    } else {
        "placeholder-secret\n".to_owned()
    }
}

fn write_placeholder(dir: &Path, relative: &str) {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, placeholder_content(relative)).unwrap();
}

#[test]
fn example_config_loads_with_every_key_it_documents() {
    let dir = TempDir::new("example-config");
    let text = std::fs::read_to_string(repository().join("config/example.toml")).unwrap();
    for file in [
        "secrets/admin-token",
        "secrets/acme-c1-client-secret",
        "secrets/globex-confluence-password",
        "secrets/initech-confluence-token",
        "secrets/initech-c1-client-secret",
        "certs/globex-ca.pem",
        "certs/c1-proxy-ca.pem",
    ] {
        write_placeholder(&dir.0, file);
    }
    // SAFETY: these variables are set only here, to the same values, and no other test
    // reads them; Rust's own environment accesses are serialised by the standard library.
    unsafe {
        std::env::set_var("ACME_CONFLUENCE_PAT", "placeholder-pat");
        std::env::set_var("ACME_C1_CLIENT_ID", "confluence-hub@acme.conductor.one/pcc");
    }
    let path = dir.0.join("hub.toml");
    let config = HubConfig::from_toml(&text, &path).unwrap_or_else(|err| panic!("{err}"));

    assert_eq!(config.hub.watch_config, Some(Duration::from_secs(30)));
    assert_eq!(config.hub.reload_grace, Duration::from_secs(300));
    assert_eq!(config.hub.workers, 2);
    assert_eq!(config.hub.max_concurrent_syncs, 16);
    assert!(config.telemetry.otlp_endpoint.is_some());
    let ids: Vec<&str> = config
        .tenants
        .iter()
        .map(|tenant| tenant.id.as_str())
        .collect();
    assert_eq!(ids, ["acme", "globex", "initech"]);

    let acme = config.tenant("acme").unwrap();
    assert!(
        matches!(&acme.confluence.auth, Auth::Token(token) if token.expose() == "placeholder-pat")
    );
    assert!(acme.provisioning);
    assert_eq!(acme.deprovisioning, Deprovisioning::Disable);
    assert_eq!(acme.confluence.version, None, "auto-detected");
    let acme_c1 = acme
        .conductorone
        .as_ref()
        .expect("acme has ConductorOne credentials");
    assert_eq!(
        acme_c1.credentials.client_id().as_str(),
        "confluence-hub@acme.conductor.one/pcc"
    );

    let globex = config.tenant("globex").unwrap();
    assert!(
        matches!(&globex.confluence.auth, Auth::Basic { username, .. } if username == "svc-confluence-hub")
    );
    assert!(globex.confluence.ca.is_some());
    assert_eq!(
        globex.confluence.version.map(|v| (v.major, v.minor)),
        Some((8, 5))
    );
    assert!(!globex.sync.include_archived_spaces && !globex.sync.include_personal_spaces);
    assert_eq!(globex.confluence.page_size, 100);
    assert_eq!(
        globex
            .confluence
            .rate_ceiling
            .map(|c| c.requests_per_second),
        Some(4.0)
    );
    assert_eq!(globex.sync.interval, Duration::from_secs(12 * 3600));
    assert!(globex.conductorone.is_none());

    let initech = config.tenant("initech").unwrap();
    let initech_c1 = initech
        .conductorone
        .as_ref()
        .expect("initech has ConductorOne credentials");
    assert_eq!(initech_c1.host_id, "hub-initech");
    assert_eq!(
        initech_c1.api_host.as_deref(),
        Some("c1-proxy.initech.example:443")
    );
    assert_eq!(initech_c1.task_concurrency, 5);
    assert!(initech_c1.ca.is_some());
}

/// Every `hub.toml` that a kustomization turns into the hub's ConfigMap.
fn kubernetes_configs() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![repository().join("deploy")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|name| name == "hub.toml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `terminationGracePeriodSeconds` of the base StatefulSet.
fn termination_grace() -> Duration {
    let manifest =
        std::fs::read_to_string(repository().join("deploy/base/statefulset.yaml")).unwrap();
    let seconds = manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("terminationGracePeriodSeconds:"))
        .expect("the StatefulSet sets terminationGracePeriodSeconds");
    Duration::from_secs(seconds.trim().parse().unwrap())
}

#[test]
fn kubernetes_configmap_configs_load_and_fit_the_statefulset() {
    let configs = kubernetes_configs();
    assert!(configs.len() >= 2, "base and example overlay: {configs:?}");
    let grace = termination_grace();
    for source in configs {
        let dir = TempDir::new("k8s-config");
        let text = std::fs::read_to_string(&source).unwrap();
        // Secret and CA files live where the pod mounts them; stand them up in a temp dir.
        for reference in text
            .split('"')
            .filter(|part| part.starts_with(SECRETS_MOUNT))
        {
            write_placeholder(&dir.0, &reference[SECRETS_MOUNT.len()..]);
        }
        let text = text.replace(SECRETS_MOUNT, &format!("{}/", dir.0.display()));
        let config = HubConfig::from_toml(&text, &dir.0.join("hub.toml"))
            .unwrap_or_else(|err| panic!("{}: {err}", source.display()));

        let at = source.display();
        assert!(!config.tenants.is_empty(), "{at}: no tenant");
        assert!(
            config.hub.watch_config.is_some(),
            "{at}: ConfigMap changes need watch_config"
        );
        assert_eq!(
            config.hub.data_dir,
            Path::new("/var/lib/confluence-hub"),
            "{at}: the volume"
        );
        assert_eq!(
            config.hub.admin_listen.port(),
            9090,
            "{at}: the probes' port"
        );
        assert!(
            config.hub.shutdown_grace + Duration::from_secs(10) < grace,
            "{at}: shutdown_grace plus the telemetry flush must fit terminationGracePeriodSeconds"
        );
    }
}

#[test]
fn one_ca_file_is_parsed_once_and_shared_by_every_client_that_names_it() {
    let dir = TempDir::new("shared-ca");
    write_placeholder(&dir.0, "certs/internal-ca.pem");
    let (client_id, secret, _) = gen_credentials("acme", "acme.conductor.one");
    std::fs::write(dir.0.join("c1-secret"), secret.expose()).unwrap();
    std::fs::write(dir.0.join("pat"), "placeholder-pat").unwrap();
    let text = format!(
        "[[instance]]\nid = \"acme\"\nbase_url = \"https://wiki.acme.example\"\n\
         token = {{ file = \"pat\" }}\nca_file = \"certs/internal-ca.pem\"\n\
         [instance.conductorone]\nclient_id = \"{client_id}\"\nclient_secret = {{ file = \"c1-secret\" }}\n\
         ca_file = \"certs/internal-ca.pem\"\n\
         [[instance]]\nid = \"globex\"\nbase_url = \"https://wiki.globex.example\"\n\
         token = {{ file = \"pat\" }}\nca_file = \"certs/internal-ca.pem\"\n"
    );
    let config =
        HubConfig::from_toml(&text, &dir.0.join("hub.toml")).unwrap_or_else(|err| panic!("{err}"));
    let acme = config.tenant("acme").unwrap();
    let globex = config.tenant("globex").unwrap();
    let confluence_ca = acme.confluence.ca.as_ref().expect("acme's CA");
    let c1_ca = acme
        .conductorone
        .as_ref()
        .unwrap()
        .ca
        .as_ref()
        .expect("the C1 CA");
    assert!(std::sync::Arc::ptr_eq(confluence_ca, c1_ca));
    assert!(std::sync::Arc::ptr_eq(
        confluence_ca,
        globex.confluence.ca.as_ref().expect("globex's CA")
    ));
}
