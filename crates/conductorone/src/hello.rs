//! The Hello call: who we are (build and OS info, every field filled with a
//! fallback when unknown) and what the connector can do (its metadata), sent
//! once at startup, retried with backoff, and again for every `hello` task.

use std::sync::OnceLock;
use std::time::Duration;

use platform::backoff::BackoffPolicy;

use baton::pb::c1::connector::v2::ConnectorMetadata;
use baton::pb::c1::connectorapi::baton::v1::BatonServiceHelloRequest;
use baton::pb::c1::connectorapi::baton::v1::baton_service_hello_request::{BuildInfo, OsInfo};

use super::client::{BatonClient, RpcError};

/// The startup Hello: 1 s doubling to 5 min, full jitter, for as long as it
/// takes (a connector that cannot say Hello has nothing else to do).
const HELLO_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(300));

/// The Hello request without host and task id (the client stamps those).
pub(crate) fn hello_request(metadata: &ConnectorMetadata) -> BatonServiceHelloRequest {
    BatonServiceHelloRequest {
        build_info: Some(build_info()),
        os_info: Some(os_info().clone()),
        connector_metadata: Some(metadata.clone()),
        ..Default::default()
    }
}

/// These codes mean the session cannot work until someone fixes the config
/// or ConductorOne's side; retrying would only hide that.
pub(crate) fn is_permanent(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unauthenticated
            | tonic::Code::PermissionDenied
            | tonic::Code::InvalidArgument
            | tonic::Code::Unimplemented
            | tonic::Code::FailedPrecondition
            | tonic::Code::NotFound
    )
}

/// Sends the startup Hello until it succeeds (retried under `HELLO_RETRY`)
/// or fails permanently. `on_retry` sees each transient error.
pub(crate) async fn startup_hello(
    client: &BatonClient,
    metadata: &ConnectorMetadata,
    mut on_retry: impl FnMut(&RpcError, Duration),
) -> Result<(), RpcError> {
    let request = hello_request(metadata);
    let mut backoff = HELLO_RETRY.start();
    loop {
        match client.hello("", request.clone()).await {
            Ok(()) => return Ok(()),
            Err(err) if is_permanent(err.code()) => return Err(err),
            Err(err) => {
                // HELLO_RETRY has no elapsed budget, so there is always a delay.
                let delay = backoff.next_delay().unwrap_or(HELLO_RETRY.max);
                on_retry(&err, delay);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn build_info() -> BuildInfo {
    BuildInfo {
        lang_version: format!("rust{}", env!("CARGO_PKG_RUST_VERSION")),
        // The product ConductorOne sees is the binary, whichever crate builds this.
        package: "confluence-hub".into(),
        package_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Read once: none of it changes while the process runs.
fn os_info() -> &'static OsInfo {
    static INFO: OnceLock<OsInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.strip_prefix('=')?.trim_matches('"');
                (!value.is_empty()).then(|| value.to_owned())
            })
        };
        os_info_with_fallbacks(
            read_trimmed("/proc/sys/kernel/hostname"),
            field("ID"),
            field("VERSION_ID"),
            field("ID_LIKE"),
            read_trimmed("/proc/sys/kernel/osrelease"),
        )
    })
}

/// Every field non-empty, with the same fallbacks ConductorOne's Go SDK uses.
fn os_info_with_fallbacks(
    hostname: Option<String>,
    platform: Option<String>,
    platform_version: Option<String>,
    platform_family: Option<String>,
    kernel_version: Option<String>,
) -> OsInfo {
    let os = std::env::consts::OS.to_owned();
    let kernel_version = kernel_version.unwrap_or_else(|| "unknown".into());
    let platform = platform.unwrap_or_else(|| os.clone());
    OsInfo {
        hostname: hostname.unwrap_or_else(|| "unknown".into()),
        platform_family: platform_family.unwrap_or_else(|| platform.clone()),
        platform_version: platform_version.unwrap_or_else(|| kernel_version.clone()),
        platform,
        kernel_version,
        kernel_arch: std::env::consts::ARCH.into(),
        virtualization_system: "none".into(),
        os,
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_info_has_no_empty_field_when_nothing_is_known() {
        let info = os_info_with_fallbacks(None, None, None, None, None);
        for (name, value) in [
            ("hostname", &info.hostname),
            ("os", &info.os),
            ("platform", &info.platform),
            ("platform_version", &info.platform_version),
            ("platform_family", &info.platform_family),
            ("kernel_version", &info.kernel_version),
            ("kernel_arch", &info.kernel_arch),
            ("virtualization_system", &info.virtualization_system),
        ] {
            assert!(!value.is_empty(), "{name} is empty");
        }
        assert_eq!(info.platform, info.os);
        assert_eq!(info.platform_version, "unknown");
    }

    #[test]
    fn build_info_names_the_product() {
        let info = build_info();
        assert_eq!(info.package, "confluence-hub");
        assert!(!info.package_version.is_empty() && !info.lang_version.is_empty());
    }

    #[test]
    fn credential_and_contract_errors_are_permanent_and_outages_are_not() {
        assert!(is_permanent(tonic::Code::Unauthenticated));
        assert!(is_permanent(tonic::Code::FailedPrecondition));
        assert!(!is_permanent(tonic::Code::Unavailable));
        assert!(!is_permanent(tonic::Code::Internal));
    }
}
