//! Baton objects → c1z rows (docs/data-model.md, Tables and keys): the key
//! columns each table derives from its object, the deterministic protobuf
//! blob, and the grant's `GrantExpandable` moved into the `expansion` column.
//! Objects missing a key field are refused here, before anything is written.

use prost::{Message, Name};

use crate::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, Resource, ResourceId, ResourceType,
};

/// Baton's validation bound on ids (`min_len: 1, max_len: 1024`).
const MAX_ID_BYTES: usize = 1024;

/// Why an object cannot be stored; the writer adds which file and table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub object: String,
    pub problem: String,
}

fn reject(object: impl Into<String>, problem: impl Into<String>) -> Rejected {
    Rejected {
        object: object.into(),
        problem: problem.into(),
    }
}

fn check_id(object: &str, field: &str, value: &str) -> Result<(), Rejected> {
    if value.is_empty() {
        return Err(reject(object, format!("{field} is empty")));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(reject(
            object,
            format!("{field} is longer than {MAX_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_resource_id<'a>(
    object: &str,
    field: &str,
    id: Option<&'a ResourceId>,
) -> Result<&'a ResourceId, Rejected> {
    let id = id.ok_or_else(|| reject(object, format!("{field} is missing")))?;
    check_id(object, &format!("{field}.resource_type"), &id.resource_type)?;
    check_id(object, &format!("{field}.resource"), &id.resource)?;
    Ok(id)
}

fn encode(message: &impl Message) -> Vec<u8> {
    // prost writes fields in field-number order and our maps are BTreeMaps,
    // so equal messages always give equal bytes (Baton's Deterministic).
    message.encode_to_vec()
}

pub struct ResourceTypeRow<'a> {
    pub external_id: &'a str,
    pub data: Vec<u8>,
}

pub fn resource_type_row(item: &ResourceType) -> Result<ResourceTypeRow<'_>, Rejected> {
    check_id("resource type", "id", &item.id)?;
    Ok(ResourceTypeRow {
        external_id: &item.id,
        data: encode(item),
    })
}

pub struct ResourceRow<'a> {
    pub resource_type_id: &'a str,
    pub external_id: String,
    pub parent_resource_type_id: Option<&'a str>,
    pub parent_resource_id: Option<&'a str>,
    pub data: Vec<u8>,
}

pub fn resource_row(item: &Resource) -> Result<ResourceRow<'_>, Rejected> {
    let id = check_resource_id("resource", "id", item.id.as_ref())?;
    let external_id = format!("{}:{}", id.resource_type, id.resource);
    let parent = item.parent_resource_id.as_ref();
    Ok(ResourceRow {
        resource_type_id: &id.resource_type,
        parent_resource_type_id: parent.map(|parent| parent.resource_type.as_str()),
        parent_resource_id: parent.map(|parent| parent.resource.as_str()),
        data: encode(item),
        external_id,
    })
}

pub struct EntitlementRow<'a> {
    pub resource_type_id: &'a str,
    pub resource_id: &'a str,
    pub external_id: &'a str,
    pub data: Vec<u8>,
}

pub fn entitlement_row(item: &Entitlement) -> Result<EntitlementRow<'_>, Rejected> {
    check_id("entitlement", "id", &item.id)?;
    let object = format!("entitlement {}", item.id);
    let resource = item
        .resource
        .as_ref()
        .and_then(|resource| resource.id.as_ref());
    let resource = check_resource_id(&object, "resource.id", resource)?;
    Ok(EntitlementRow {
        resource_type_id: &resource.resource_type,
        resource_id: &resource.resource,
        external_id: &item.id,
        data: encode(item),
    })
}

pub struct GrantRow<'a> {
    pub resource_type_id: &'a str,
    pub resource_id: &'a str,
    pub entitlement_id: &'a str,
    pub principal_resource_type_id: &'a str,
    pub principal_resource_id: &'a str,
    pub external_id: &'a str,
    /// The marshalled `GrantExpandable`, when it names at least one entitlement.
    pub expansion: Option<Vec<u8>>,
    pub data: Vec<u8>,
}

impl GrantRow<'_> {
    pub fn needs_expansion(&self) -> bool {
        self.expansion.is_some()
    }
}

pub fn grant_row(item: &Grant) -> Result<GrantRow<'_>, Rejected> {
    check_id("grant", "id", &item.id)?;
    let object = format!("grant {}", item.id);
    let entitlement = item
        .entitlement
        .as_ref()
        .ok_or_else(|| reject(&object, "entitlement is missing"))?;
    check_id(&object, "entitlement.id", &entitlement.id)?;
    let resource = entitlement
        .resource
        .as_ref()
        .and_then(|resource| resource.id.as_ref());
    let resource = check_resource_id(&object, "entitlement.resource.id", resource)?;
    let principal = item
        .principal
        .as_ref()
        .and_then(|principal| principal.id.as_ref());
    let principal = check_resource_id(&object, "principal.id", principal)?;

    let expandable_url = GrantExpandable::type_url();
    let (expansion, data) = match item
        .annotations
        .iter()
        .find(|any| any.type_url == expandable_url)
    {
        None => (None, encode(item)),
        Some(first) => {
            // Baton picks the first GrantExpandable and strips every one of
            // them from `data`, valid or not.
            let expandable = GrantExpandable::decode(first.value.as_slice()).map_err(|err| {
                reject(
                    &object,
                    format!("its GrantExpandable annotation does not decode: {err}"),
                )
            })?;
            let mut stripped = item.clone();
            stripped
                .annotations
                .retain(|any| any.type_url != expandable_url);
            let names_an_entitlement = expandable
                .entitlement_ids
                .iter()
                .any(|id| !id.trim().is_empty());
            (
                names_an_entitlement.then(|| encode(&expandable)),
                encode(&stripped),
            )
        }
    };
    Ok(GrantRow {
        resource_type_id: &resource.resource_type,
        resource_id: &resource.resource,
        entitlement_id: &entitlement.id,
        principal_resource_type_id: &principal.resource_type,
        principal_resource_id: &principal.resource,
        external_id: &item.id,
        expansion,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{self, Principal, SpacePermission};

    fn expandable(ids: &[&str]) -> prost_types::Any {
        model::annotation(&GrantExpandable {
            entitlement_ids: ids.iter().map(|id| id.to_string()).collect(),
            shallow: false,
            resource_type_ids: Vec::new(),
        })
    }

    #[test]
    fn group_held_space_grant_moves_its_expandable_into_the_expansion_column() {
        let grant = model::space_grant(
            "ENG",
            SpacePermission::View,
            &Principal::Group {
                name: "devs".into(),
            },
        );
        let row = grant_row(&grant).unwrap();
        let expansion = GrantExpandable::decode(row.expansion.as_deref().unwrap()).unwrap();
        assert_eq!(expansion.entitlement_ids, ["group:devs:member"]);
        assert!(row.needs_expansion());
        let stored = Grant::decode(row.data.as_slice()).unwrap();
        assert!(stored.annotations.is_empty());
        assert_eq!(
            Grant {
                annotations: Vec::new(),
                ..grant.clone()
            },
            stored
        );
        assert_eq!(
            (row.entitlement_id, row.principal_resource_type_id),
            ("space:ENG:view", "group")
        );
    }

    #[test]
    fn blank_expandable_is_stripped_without_expansion() {
        let mut grant = model::group_membership_grant("devs", "u1");
        let other = model::external_link("https://example.test");
        grant.annotations = vec![
            expandable(&[" ", ""]),
            other.clone(),
            expandable(&["x:y:z"]),
        ];
        let row = grant_row(&grant).unwrap();
        assert_eq!(row.expansion, None);
        assert!(!row.needs_expansion());
        assert_eq!(
            Grant::decode(row.data.as_slice()).unwrap().annotations,
            [other]
        );
    }

    #[test]
    fn user_held_grant_is_stored_unchanged() {
        let grant = model::group_membership_grant("devs", "u1");
        let row = grant_row(&grant).unwrap();
        assert_eq!(row.expansion, None);
        assert_eq!(row.data, grant.encode_to_vec());
        assert_eq!(row.external_id, "group:devs:member:user:u1");
    }

    #[test]
    fn equal_grants_encode_to_equal_bytes_whatever_the_map_insertion_order() {
        use crate::pb::c1::connector::v2::{GrantSources, grant_sources::GrantSource};
        let with_sources = |order: &[&str]| {
            let mut sources = GrantSources::default();
            for id in order {
                sources.sources.insert(
                    id.to_string(),
                    GrantSource {
                        is_direct: id.ends_with('a'),
                    },
                );
            }
            Grant {
                sources: Some(sources),
                ..model::group_membership_grant("g", "u")
            }
        };
        let forward = grant_row(&with_sources(&["x:a", "y:b", "z:c"]))
            .unwrap()
            .data;
        let backward = grant_row(&with_sources(&["z:c", "y:b", "x:a"]))
            .unwrap()
            .data;
        assert_eq!(forward, backward);
    }

    #[test]
    fn resource_external_id_is_type_colon_id_and_parent_is_null_when_absent() {
        let space = model::space_resource("~jdoe", "J Doe", "");
        let row = resource_row(&space).unwrap();
        assert_eq!(row.external_id, "space:~jdoe");
        assert_eq!(
            (row.parent_resource_type_id, row.parent_resource_id),
            (None, None)
        );
    }

    #[test]
    fn objects_without_keys_are_rejected_with_the_missing_field() {
        let no_principal = Grant {
            principal: None,
            ..model::group_membership_grant("g", "u")
        };
        let rejected = grant_row(&no_principal).err().unwrap();
        assert_eq!(rejected.object, "grant group:g:member:user:u");
        assert_eq!(rejected.problem, "principal.id is missing");
        let rejected = resource_type_row(&ResourceType::default()).err().unwrap();
        assert_eq!(rejected.problem, "id is empty");
        let long = ResourceType {
            id: "x".repeat(1025),
            ..Default::default()
        };
        assert!(resource_type_row(&long).is_err());
    }
}
