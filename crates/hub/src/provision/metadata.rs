//! What one tenant advertises in Hello, by Baton's builder rules: every type
//! syncs; `group` and `space` provision (grant/revoke); `user` creates
//! accounts, and deletes (disables) them only when the tenant sets
//! `deprovisioning = "disable"`. Connector-wide: the sorted union. Advertised
//! whether or not `provisioning` is on, as Baton does; that switch gates
//! execution only.
//!
//! Credential options: `no_password` and `random_password`, preferring
//! `no_password` — no credential is generated, sent or stored anywhere, and
//! the user chooses one through Confluence's own emailed link. It needs
//! outgoing mail configured in Confluence; `random_password` serves instances
//! without mail.

use std::collections::BTreeMap;

use super::account::{EMAIL, FULL_NAME, USERNAME};
use crate::config::{Deprovisioning, TenantConfig};
use baton::model::{ResourceKind, resource_type};
use baton::pb::c1::connector::v2::connector_account_creation_schema::{Field, StringField, field};
use baton::pb::c1::connector::v2::{
    Capability, CapabilityDetailCredentialOption, ConnectorAccountCreationSchema,
    ConnectorCapabilities, ConnectorMetadata, CredentialDetailsAccountProvisioning,
    ResourceTypeCapability,
};
use conductorone::metadata as c1;

/// The metadata the hub sends in Hello for `tenant`.
pub fn connector_metadata(tenant: &TenantConfig) -> ConnectorMetadata {
    let link = tenant.confluence.base_url.as_str().trim_end_matches('/');
    metadata(link, tenant.deprovisioning)
}

/// What a tenant with this deprovisioning setting advertises, for the
/// `capabilities` command.
pub fn connector_capabilities(deprovisioning: Deprovisioning) -> ConnectorCapabilities {
    metadata("", deprovisioning)
        .capabilities
        .unwrap_or_default()
}

fn metadata(link: &str, deprovisioning: Deprovisioning) -> ConnectorMetadata {
    let per_type = ResourceKind::ALL
        .into_iter()
        .map(|kind| ResourceTypeCapability {
            resource_type: Some(resource_type(kind)),
            capabilities: capabilities(kind, deprovisioning)
                .into_iter()
                .map(|capability| capability as i32)
                .collect(),
            ..Default::default()
        })
        .collect();
    let metadata = c1::connector_metadata(link, per_type);
    c1::with_account_creation(metadata, credential_options(), account_creation_schema())
}

fn capabilities(kind: ResourceKind, deprovisioning: Deprovisioning) -> Vec<Capability> {
    match kind {
        ResourceKind::User => {
            let mut offered = vec![Capability::Sync, Capability::AccountProvisioning];
            if deprovisioning == Deprovisioning::Disable {
                offered.push(Capability::ResourceDelete);
            }
            offered
        }
        ResourceKind::Group | ResourceKind::Space => vec![Capability::Sync, Capability::Provision],
    }
}

fn credential_options() -> CredentialDetailsAccountProvisioning {
    CredentialDetailsAccountProvisioning {
        supported_credential_options: vec![
            CapabilityDetailCredentialOption::NoPassword as i32,
            CapabilityDetailCredentialOption::RandomPassword as i32,
        ],
        preferred_credential_option: CapabilityDetailCredentialOption::NoPassword as i32,
    }
}

/// `username`, `full_name` and `email`, all required, in that order.
fn account_creation_schema() -> ConnectorAccountCreationSchema {
    let field = |order: i32, display_name: &str, description: &str, placeholder: &str| Field {
        display_name: display_name.to_owned(),
        required: true,
        description: description.to_owned(),
        placeholder: placeholder.to_owned(),
        order,
        deprecated: false,
        field: Some(field::Field::StringField(StringField {
            default_value: None,
        })),
    };
    let field_map = BTreeMap::from([
        (
            USERNAME.to_owned(),
            field(
                1,
                "Username",
                "Confluence username: lower case, no spaces, none of \\ , + < > ' \"",
                "jdoe",
            ),
        ),
        (
            FULL_NAME.to_owned(),
            field(
                2,
                "Full name",
                "Shown as the user's display name",
                "Jane Doe",
            ),
        ),
        (
            EMAIL.to_owned(),
            field(
                3,
                "Email",
                "Where Confluence sends the link to set a password",
                "jdoe@example.com",
            ),
        ),
    ]);
    ConnectorAccountCreationSchema { field_map }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TenantId;
    use confluence::settings::{Auth, ClientSettings};
    use platform::secret::Secret;

    fn tenant(deprovisioning: Deprovisioning, provisioning: bool) -> TenantConfig {
        let confluence = ClientSettings::new(
            "acme",
            "https://wiki.acme.example".parse().unwrap(),
            Auth::Token(Secret::new("t".into())),
        );
        TenantConfig {
            provisioning,
            deprovisioning,
            ..TenantConfig::new(TenantId::parse("acme").unwrap(), confluence)
        }
    }

    fn per_type(metadata: &ConnectorMetadata) -> Vec<(String, Vec<i32>)> {
        metadata
            .capabilities
            .as_ref()
            .unwrap()
            .resource_type_capabilities
            .iter()
            .map(|entry| {
                (
                    entry.resource_type.as_ref().unwrap().id.clone(),
                    entry.capabilities.clone(),
                )
            })
            .collect()
    }

    const PROVISION: i32 = Capability::Provision as i32;
    const SYNC: i32 = Capability::Sync as i32;
    const ACCOUNTS: i32 = Capability::AccountProvisioning as i32;
    const DELETE: i32 = Capability::ResourceDelete as i32;

    #[test]
    fn capabilities_follow_the_builder_rules_sorted_by_type_id() {
        let metadata = connector_metadata(&tenant(Deprovisioning::Off, true));
        assert_eq!(
            per_type(&metadata),
            [
                ("group".to_owned(), vec![PROVISION, SYNC]),
                ("space".to_owned(), vec![PROVISION, SYNC]),
                ("user".to_owned(), vec![SYNC, ACCOUNTS]),
            ]
        );
        assert_eq!(
            metadata.capabilities.unwrap().connector_capabilities,
            [PROVISION, SYNC, ACCOUNTS]
        );
    }

    #[test]
    fn deletion_is_advertised_only_with_deprovisioning_on() {
        let metadata = connector_metadata(&tenant(Deprovisioning::Disable, true));
        assert_eq!(
            per_type(&metadata)[2],
            ("user".to_owned(), vec![SYNC, ACCOUNTS, DELETE])
        );
        assert_eq!(
            metadata.capabilities.unwrap().connector_capabilities,
            [PROVISION, SYNC, ACCOUNTS, DELETE]
        );
    }

    #[test]
    fn capabilities_are_advertised_even_with_provisioning_off() {
        assert_eq!(
            connector_metadata(&tenant(Deprovisioning::Off, false)),
            connector_metadata(&tenant(Deprovisioning::Off, true))
        );
    }

    #[test]
    fn account_creation_is_described_for_conductorone() {
        let metadata = connector_metadata(&tenant(Deprovisioning::Off, true));
        let details = metadata
            .capabilities
            .unwrap()
            .credential_details
            .unwrap()
            .capability_account_provisioning
            .unwrap();
        assert_eq!(
            details.supported_credential_options,
            [
                CapabilityDetailCredentialOption::NoPassword as i32,
                CapabilityDetailCredentialOption::RandomPassword as i32
            ]
        );
        assert_ne!(
            details.preferred_credential_option,
            CapabilityDetailCredentialOption::Unspecified as i32
        );
        let schema = metadata.account_creation_schema.unwrap();
        let mut fields: Vec<(&str, i32, bool)> = schema
            .field_map
            .iter()
            .map(|(name, field)| (name.as_str(), field.order, field.required))
            .collect();
        fields.sort_by_key(|(_, order, _)| *order);
        assert_eq!(
            fields,
            [
                ("username", 1, true),
                ("full_name", 2, true),
                ("email", 3, true)
            ]
        );
        assert!(
            schema
                .field_map
                .values()
                .all(|field| matches!(field.field, Some(field::Field::StringField(_))))
        );
    }
}
