//! `confluence-hub config from-env [--env-file FILE ...]`: the migration path
//! from one reference connector per Confluence instance to one hub. Each env
//! file (or, without any, this process's `BATON_*` variables) becomes an
//! `[[instance]]`; secrets become references to files of each connector's
//! existing Kubernetes Secret (or to prefixed variables), never values. The
//! result is checked by the same validator as any config before it is shown.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use hub::config::HubConfig;
use hub::config::baton::{
    self, BatonSettings, CLIENT_ID, GeneratedConfig, SecretStyle, tenant_id_from,
};

#[derive(Debug, clap::Args)]
pub struct FromEnvArgs {
    /// One connector's environment as KEY=VALUE lines (e.g. the data of its
    /// Secret); repeat for each connector. The instance id is the file name
    /// without its extension. Without any, this process's BATON_* variables.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// How the config refers to secrets: files of each connector's Secret
    /// mounted under --secrets-dir, or variables prefixed with the instance id.
    #[arg(long, value_enum, default_value_t = SecretsFrom::File)]
    pub secrets: SecretsFrom,
    /// With `--secrets file`: each instance's Secret is mounted at DIR/<instance>.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/run/secrets/confluence-hub"
    )]
    pub secrets_dir: PathBuf,
    /// Write the config to FILE (replaced only once complete) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretsFrom {
    File,
    Env,
}

/// One connector's environment and where it came from.
struct Source {
    label: String,
    id: String,
    vars: BTreeMap<String, String>,
}

pub fn run(args: FromEnvArgs) -> anyhow::Result<ExitCode> {
    let sources = sources(&args.env_files)?;
    let style = match args.secrets {
        SecretsFrom::File => SecretStyle::Files(args.secrets_dir.clone()),
        SecretsFrom::Env => SecretStyle::PrefixedEnv,
    };

    let mut problems = Vec::new();
    let mut instances = Vec::new();
    let mut client_ids: HashMap<String, String> = HashMap::new();
    for source in &sources {
        let label = &source.label;
        let (settings, not_carried) = match BatonSettings::from_vars(&source.vars) {
            Ok(read) => read,
            Err(found) => {
                problems.extend(found.into_iter().map(|p| format!("{label}: {p}")));
                continue;
            }
        };
        let found = settings.problems();
        if !found.is_empty() {
            problems.extend(found.into_iter().map(|p| format!("{label}: {p}")));
            continue;
        }
        if let Some(client_id) = &settings.client_id
            && let Some(first) = client_ids.insert(client_id.clone(), label.clone())
        {
            problems.push(format!(
                "{first} and {label} have the same {CLIENT_ID}: every instance needs its own ConductorOne connector"
            ));
        }
        for note in settings.notes() {
            eprintln!("note: {label}: {note}");
        }
        for skipped in not_carried {
            eprintln!(
                "note: {label}: {} is not carried over: {}",
                skipped.var, skipped.why
            );
        }
        instances.push((source, settings));
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("error: {problem}");
        }
        anyhow::bail!("no config was written: fix the environments above");
    }

    let text = render(&instances, &style)?;
    let check_path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("hub.toml"));
    if let Err(err) = HubConfig::from_toml_without_secrets(&text, &check_path) {
        for problem in err.problems() {
            let instance = problem.tenant.as_deref().unwrap_or("hub");
            let label = sources
                .iter()
                .find(|source| source.id == instance)
                .map_or(instance, |source| source.label.as_str());
            eprintln!("error: {label}: {}", baton::describe(&problem));
        }
        anyhow::bail!("no config was written: the environments above do not make a valid config");
    }

    match &args.out {
        None => print!("{text}"),
        Some(path) => write_whole(path, &text)?,
    }
    eprintln!(
        "{} instance(s) converted. Each reads its secrets from:",
        instances.len()
    );
    for (source, settings) in &instances {
        let places: Vec<_> = settings
            .secret_settings()
            .into_iter()
            .map(|setting| style.location(&source.id, setting))
            .collect();
        eprintln!("  {} ({}): {}", source.id, source.label, places.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The env files, each with an instance id from its name; or this process's
/// `BATON_*` variables with an id from the Confluence host.
fn sources(files: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    if files.is_empty() {
        let vars: BTreeMap<_, _> = std::env::vars()
            .filter(|(name, _)| name.starts_with("BATON_"))
            .collect();
        let id = BatonSettings::from_vars(&vars)
            .map(|(settings, _)| settings.default_tenant_id())
            .unwrap_or_else(|_| "confluence".to_owned());
        return Ok(vec![Source {
            label: "the environment".into(),
            id,
            vars,
        }]);
    }
    let mut sources: Vec<Source> = Vec::new();
    for path in files {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the env file {label}"))?;
        let vars = baton::parse_env_file(&text).map_err(|err| anyhow::anyhow!("{label}: {err}"))?;
        let stem = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = tenant_id_from(&stem).with_context(|| {
            format!(
                "{label}: cannot make an instance id from the file name; rename it (e.g. acme.env)"
            )
        })?;
        if let Some(other) = sources.iter().find(|source| source.id == id) {
            anyhow::bail!(
                "{} and {label} would both be instance `{id}`; rename one of the files",
                other.label
            );
        }
        sources.push(Source { label, id, vars });
    }
    Ok(sources)
}

fn render(instances: &[(&Source, BatonSettings)], style: &SecretStyle) -> anyhow::Result<String> {
    let labels: Vec<_> = instances
        .iter()
        .map(|(source, _)| source.label.as_str())
        .collect();
    let mut text = format!(
        "# Written by `confluence-hub config from-env` from {}.\n\
         # Secrets are references, never values; hub-wide settings ([hub], [telemetry],\n\
         # [sharding], [defaults]) keep their defaults: see config/example.toml.\n",
        labels.join(", ")
    );
    if let SecretStyle::Files(dir) = style {
        text.push_str(&format!(
            "# Mount each connector's existing Secret as a directory at {}/<instance>.\n",
            dir.display()
        ));
    }
    for (source, settings) in instances {
        let one = GeneratedConfig {
            hub: None,
            instance: vec![settings.instance(&source.id, style)],
        };
        text.push_str(&format!("\n# from {}\n", source.label));
        text.push_str(&one.to_toml().context("cannot write the config")?);
    }
    Ok(text)
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`: a reader never sees half a config.
fn write_whole(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let temp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}
