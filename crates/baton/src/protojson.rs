//! Protobuf's canonical JSON mapping for the few messages the hub prints
//! (`capabilities`): lowerCamelCase field names, enum value names, default
//! values left out, and `Any` as an object carrying `@type`. Only what
//! these messages use is covered; an `Any` whose payload we cannot name
//! field by field is refused rather than printed wrongly.

use prost::Name;
use prost_types::Any;
use serde_json::{Map, Value, json};

use super::pb::c1::connector::v2::{
    Capability, CapabilityDetailCredentialOption, CapabilityPermissions, ConnectorCapabilities,
    CredentialDetails, CredentialDetailsAccountProvisioning, CredentialDetailsCredentialRotation,
    ResourceType, ResourceTypeCapability, resource_type::Trait,
};

/// `ConnectorCapabilities` as Baton's `capabilities` command prints it,
/// with its own `@type` at the top.
pub fn connector_capabilities(message: &ConnectorCapabilities) -> Result<Value, String> {
    let mut out = Map::new();
    out.insert("@type".into(), json!(ConnectorCapabilities::type_url()));
    let per_type = message
        .resource_type_capabilities
        .iter()
        .map(resource_type_capability)
        .collect::<Result<Vec<_>, _>>()?;
    put_list(&mut out, "resourceTypeCapabilities", per_type);
    put_list(
        &mut out,
        "connectorCapabilities",
        enum_names(&message.connector_capabilities, capability_name),
    );
    if let Some(details) = &message.credential_details {
        out.insert("credentialDetails".into(), credential_details(details));
    }
    Ok(Value::Object(out))
}

fn resource_type_capability(entry: &ResourceTypeCapability) -> Result<Value, String> {
    let mut out = Map::new();
    if let Some(resource_type) = &entry.resource_type {
        out.insert("resourceType".into(), self::resource_type(resource_type)?);
    }
    put_list(
        &mut out,
        "capabilities",
        enum_names(&entry.capabilities, capability_name),
    );
    if let Some(permissions) = &entry.permissions {
        out.insert("permissions".into(), capability_permissions(permissions));
    }
    Ok(Value::Object(out))
}

fn resource_type(resource_type: &ResourceType) -> Result<Value, String> {
    let mut out = Map::new();
    put_str(&mut out, "id", &resource_type.id);
    put_str(&mut out, "displayName", &resource_type.display_name);
    put_list(
        &mut out,
        "traits",
        enum_names(&resource_type.traits, |value| {
            Trait::try_from(value).ok().map(|t| t.as_str_name())
        }),
    );
    let annotations = resource_type
        .annotations
        .iter()
        .map(any)
        .collect::<Result<Vec<_>, _>>()?;
    put_list(&mut out, "annotations", annotations);
    put_str(&mut out, "description", &resource_type.description);
    if resource_type.sourced_externally {
        out.insert("sourcedExternally".into(), Value::Bool(true));
    }
    Ok(Value::Object(out))
}

fn capability_permissions(permissions: &CapabilityPermissions) -> Value {
    let list = permissions
        .permissions
        .iter()
        .map(|entry| {
            let mut out = Map::new();
            put_str(&mut out, "permission", &entry.permission);
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    put_list(&mut out, "permissions", list);
    Value::Object(out)
}

fn credential_details(details: &CredentialDetails) -> Value {
    let mut out = Map::new();
    if let Some(CredentialDetailsAccountProvisioning {
        supported_credential_options,
        preferred_credential_option,
    }) = &details.capability_account_provisioning
    {
        out.insert(
            "capabilityAccountProvisioning".into(),
            credential_options(supported_credential_options, *preferred_credential_option),
        );
    }
    if let Some(CredentialDetailsCredentialRotation {
        supported_credential_options,
        preferred_credential_option,
    }) = &details.capability_credential_rotation
    {
        out.insert(
            "capabilityCredentialRotation".into(),
            credential_options(supported_credential_options, *preferred_credential_option),
        );
    }
    Value::Object(out)
}

fn credential_options(supported: &[i32], preferred: i32) -> Value {
    let name = |value: i32| {
        CapabilityDetailCredentialOption::try_from(value)
            .ok()
            .map(|option| option.as_str_name())
    };
    let mut out = Map::new();
    put_list(
        &mut out,
        "supportedCredentialOptions",
        enum_names(supported, name),
    );
    if preferred != 0 {
        out.insert(
            "preferredCredentialOption".into(),
            enum_value(preferred, name),
        );
    }
    Value::Object(out)
}

/// An `Any`. Every annotation the hub puts on a resource type is a message
/// without fields set, which the mapping prints as `{"@type": ...}`.
fn any(annotation: &Any) -> Result<Value, String> {
    if annotation.value.is_empty() {
        Ok(json!({ "@type": annotation.type_url }))
    } else {
        Err(format!(
            "cannot print the annotation {} as JSON: only field-less annotations are supported",
            annotation.type_url
        ))
    }
}

fn capability_name(value: i32) -> Option<&'static str> {
    Capability::try_from(value)
        .ok()
        .map(|capability| capability.as_str_name())
}

/// Enum values by name; a number the schema does not know stays a number,
/// as the mapping prescribes.
fn enum_names(values: &[i32], name: impl Fn(i32) -> Option<&'static str>) -> Vec<Value> {
    values
        .iter()
        .map(|&value| enum_value(value, &name))
        .collect()
}

fn enum_value(value: i32, name: impl Fn(i32) -> Option<&'static str>) -> Value {
    name(value).map_or_else(|| json!(value), |name| json!(name))
}

fn put_str(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.into(), json!(value));
    }
}

fn put_list(out: &mut Map<String, Value>, key: &str, values: Vec<Value>) {
    if !values.is_empty() {
        out.insert(key.into(), Value::Array(values));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceKind, resource_type as model_type};

    #[test]
    fn follows_the_canonical_mapping() {
        let message = ConnectorCapabilities {
            resource_type_capabilities: vec![ResourceTypeCapability {
                resource_type: Some(model_type(ResourceKind::User)),
                capabilities: vec![Capability::Sync as i32, 99],
                permissions: None,
            }],
            connector_capabilities: vec![Capability::Sync as i32],
            credential_details: Some(CredentialDetails {
                capability_account_provisioning: Some(CredentialDetailsAccountProvisioning {
                    supported_credential_options: vec![
                        CapabilityDetailCredentialOption::NoPassword as i32,
                    ],
                    preferred_credential_option: CapabilityDetailCredentialOption::NoPassword
                        as i32,
                }),
                capability_credential_rotation: None,
            }),
        };
        let json = connector_capabilities(&message).unwrap();
        assert_eq!(
            json,
            json!({
                "@type": "type.googleapis.com/c1.connector.v2.ConnectorCapabilities",
                "resourceTypeCapabilities": [{
                    "resourceType": {
                        "id": "user",
                        "displayName": "User",
                        "traits": ["TRAIT_USER"],
                        "annotations": [{"@type": "type.googleapis.com/c1.connector.v2.SkipEntitlementsAndGrants"}],
                    },
                    "capabilities": ["CAPABILITY_SYNC", 99],
                }],
                "connectorCapabilities": ["CAPABILITY_SYNC"],
                "credentialDetails": {
                    "capabilityAccountProvisioning": {
                        "supportedCredentialOptions": ["CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD"],
                        "preferredCredentialOption": "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
                    }
                }
            })
        );
    }

    #[test]
    fn an_annotation_with_fields_is_refused_not_misprinted() {
        let mut resource_type = model_type(ResourceKind::Group);
        resource_type.annotations.push(Any {
            type_url: "type.googleapis.com/c1.connector.v2.V1Identifier".into(),
            value: vec![10, 1, b'x'],
        });
        let message = ConnectorCapabilities {
            resource_type_capabilities: vec![ResourceTypeCapability {
                resource_type: Some(resource_type),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = connector_capabilities(&message).unwrap_err();
        assert!(err.contains("V1Identifier"), "{err}");
    }
}
