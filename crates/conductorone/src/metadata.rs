//! The `ConnectorMetadata` a tenant publishes in Hello: name, description, a
//! link to its Confluence, and capabilities per resource type and
//! connector-wide, and account creation (credential options and the profile
//! schema). `provision::connector_metadata` decides what one tenant offers.

use std::collections::BTreeSet;

use baton::model::{external_link, resource_types};
use baton::pb::c1::connector::v2::{
    Capability, ConnectorAccountCreationSchema, ConnectorCapabilities, ConnectorMetadata,
    CredentialDetails, CredentialDetailsAccountProvisioning, ResourceTypeCapability,
};

pub const DISPLAY_NAME: &str = "Confluence Data Center";
pub const DESCRIPTION: &str = "Syncs users, groups and spaces of a Confluence Data Center instance, with group memberships and space permissions as grants";

/// Every resource type with `CAPABILITY_SYNC`, in resource type id order.
pub fn sync_capabilities() -> Vec<ResourceTypeCapability> {
    resource_types()
        .into_iter()
        .map(|resource_type| ResourceTypeCapability {
            resource_type: Some(resource_type),
            capabilities: vec![Capability::Sync as i32],
            ..Default::default()
        })
        .collect()
}

/// Metadata for one tenant. The connector-wide capability list is the sorted
/// union of the per-type lists, as the Go connector builder derives it.
pub fn connector_metadata(
    confluence_base_url: &str,
    mut per_type: Vec<ResourceTypeCapability>,
) -> ConnectorMetadata {
    per_type.sort_by(|a, b| type_id(a).cmp(type_id(b)));
    for entry in &mut per_type {
        entry.capabilities.sort_unstable();
        entry.capabilities.dedup();
    }
    let connector_wide: BTreeSet<i32> = per_type
        .iter()
        .flat_map(|entry| entry.capabilities.iter().copied())
        .collect();
    ConnectorMetadata {
        display_name: DISPLAY_NAME.into(),
        description: DESCRIPTION.into(),
        annotations: vec![external_link(confluence_base_url)],
        capabilities: Some(ConnectorCapabilities {
            resource_type_capabilities: per_type,
            connector_capabilities: connector_wide.into_iter().collect(),
            credential_details: None,
        }),
        ..Default::default()
    }
}

/// Adds account creation, as the Go builder does for a connector with an
/// account manager: `CAPABILITY_ACCOUNT_PROVISIONING` connector-wide, the
/// credential options ConductorOne may ask for, and the profile schema it must
/// fill in `AccountInfo.profile`.
pub fn with_account_creation(
    mut metadata: ConnectorMetadata,
    credential_options: CredentialDetailsAccountProvisioning,
    schema: ConnectorAccountCreationSchema,
) -> ConnectorMetadata {
    let capabilities = metadata.capabilities.get_or_insert_with(Default::default);
    let wide = &mut capabilities.connector_capabilities;
    wide.push(Capability::AccountProvisioning as i32);
    wide.sort_unstable();
    wide.dedup();
    capabilities.credential_details = Some(CredentialDetails {
        capability_account_provisioning: Some(credential_options),
        capability_credential_rotation: None,
    });
    metadata.account_creation_schema = Some(schema);
    metadata
}

fn type_id(entry: &ResourceTypeCapability) -> &str {
    entry
        .resource_type
        .as_ref()
        .map(|resource_type| resource_type.id.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use prost::Name;

    use super::*;
    use baton::pb::c1::connector::v2::ExternalLink;

    #[test]
    fn metadata_links_to_confluence_and_lists_capabilities_sorted() {
        let mut per_type = sync_capabilities();
        per_type.reverse();
        per_type[0].capabilities.push(Capability::Provision as i32);
        let metadata = connector_metadata("https://wiki.acme.example", per_type);

        assert_eq!(metadata.display_name, DISPLAY_NAME);
        let link = &metadata.annotations[0];
        assert_eq!(link.type_url, ExternalLink::type_url());
        assert_eq!(
            link.to_msg::<ExternalLink>().unwrap().url,
            "https://wiki.acme.example"
        );

        let capabilities = metadata.capabilities.unwrap();
        let ids: Vec<&str> = capabilities
            .resource_type_capabilities
            .iter()
            .map(type_id)
            .collect();
        assert_eq!(ids, ["group", "space", "user"]);
        assert_eq!(
            capabilities.connector_capabilities,
            [Capability::Provision as i32, Capability::Sync as i32]
        );
    }

    #[test]
    fn account_creation_adds_the_capability_once_and_in_order() {
        use baton::pb::c1::connector::v2::CapabilityDetailCredentialOption as Option_;

        let metadata = connector_metadata("https://wiki.acme.example", sync_capabilities());
        let details = CredentialDetailsAccountProvisioning {
            supported_credential_options: vec![Option_::NoPassword as i32],
            preferred_credential_option: Option_::NoPassword as i32,
        };
        let metadata = with_account_creation(
            metadata,
            details.clone(),
            ConnectorAccountCreationSchema::default(),
        );
        let metadata =
            with_account_creation(metadata, details, ConnectorAccountCreationSchema::default());
        let capabilities = metadata.capabilities.unwrap();
        assert_eq!(
            capabilities.connector_capabilities,
            [
                Capability::Sync as i32,
                Capability::AccountProvisioning as i32
            ]
        );
        let offered = capabilities
            .credential_details
            .unwrap()
            .capability_account_provisioning
            .unwrap();
        assert_eq!(
            offered.preferred_credential_option,
            Option_::NoPassword as i32
        );
        assert!(metadata.account_creation_schema.is_some());
    }
}
