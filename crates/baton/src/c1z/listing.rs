//! The full listing of a c1z in the shape of `fixtures/reference.listing.json`
//! (what the `baton` CLI shows), so the two diff cleanly: keys sorted, ids as
//! strings, enums by name, annotations by message name, trait contents in
//! protobuf JSON. Like the reference it leaves descriptions out; keys it
//! lacks (a resource's parent, the grant expansion columns) appear only when set.

use std::collections::BTreeMap;
use std::io;

use prost::Name;
use prost_types::{Any, Struct, Timestamp, Value, value::Kind};
use serde::Serialize;
use serde_json::{Map, Number, Value as Json};

use crate::pb::c1::connector::v2::{
    AssetRef, Entitlement, GrantExpandable, GroupTrait, Resource, ResourceId, ResourceType,
    UserTrait, entitlement::PurposeValue, resource_type::Trait, user_trait,
};

use super::StoredGrant;

const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Field order is alphabetical throughout: serde writes declaration order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Listing {
    pub entitlements: Vec<ListedEntitlement>,
    pub grants: Vec<ListedGrant>,
    pub resource_types: Vec<ListedResourceType>,
    pub resources: Vec<ListedResource>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedResourceType {
    pub annotations: Vec<String>,
    pub display_name: String,
    pub id: String,
    pub traits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedResource {
    pub annotations: Vec<String>,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_trait: Option<Json>,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ListedResourceId>,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_trait: Option<Json>,
}

/// A `ResourceId` in protobuf JSON.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ListedResourceId {
    pub resource: String,
    #[serde(rename = "resourceType")]
    pub resource_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedEntitlement {
    pub display_name: String,
    pub grantable_to: Vec<String>,
    pub id: String,
    pub purpose: String,
    pub resource: ListedResourceId,
    pub slug: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedGrant {
    pub annotations: Vec<String>,
    pub entitlement_id: String,
    /// The `expansion` column, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expansion: Option<ListedExpansion>,
    pub id: String,
    /// The `needs_expansion` column, when 1.
    #[serde(skip_serializing_if = "is_false")]
    pub needs_expansion: bool,
    pub principal: ListedResourceId,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ListedExpansion {
    pub entitlement_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_type_ids: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub shallow: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

impl Listing {
    /// Pretty JSON as the reference listing is written: one-space indent,
    /// sorted keys, non-ASCII escaped as `\uXXXX`.
    pub fn write_json(&self, out: impl io::Write) -> serde_json::Result<()> {
        let mut serializer = serde_json::Serializer::with_formatter(out, AsciiFormatter::default());
        self.serialize(&mut serializer)
    }
}

pub fn build(
    resource_types: &[ResourceType],
    resources: &[Resource],
    entitlements: &[Entitlement],
    grants: &[StoredGrant],
) -> Result<Listing, String> {
    Ok(Listing {
        resource_types: resource_types.iter().map(list_resource_type).collect(),
        resources: resources
            .iter()
            .map(list_resource)
            .collect::<Result<_, _>>()?,
        entitlements: entitlements.iter().map(list_entitlement).collect(),
        grants: grants.iter().map(list_grant).collect(),
    })
}

fn list_resource_type(item: &ResourceType) -> ListedResourceType {
    ListedResourceType {
        annotations: annotation_names(&item.annotations),
        display_name: item.display_name.clone(),
        id: item.id.clone(),
        traits: item
            .traits
            .iter()
            .map(|&value| enum_name(Trait::try_from(value), value))
            .collect(),
    }
}

fn list_resource(item: &Resource) -> Result<ListedResource, String> {
    let id = item.id.clone().unwrap_or_default();
    let object = format!("resource {}:{}", id.resource_type, id.resource);
    let user_trait = find::<UserTrait>(&item.annotations)
        .map(|found| found.map(|user| user_trait_json(&user)))
        .transpose()
        .map_err(|err| format!("{object}: its UserTrait does not decode: {err}"))?;
    let group_trait = find::<GroupTrait>(&item.annotations)
        .map(|found| found.map(|group| group_trait_json(&group)))
        .transpose()
        .map_err(|err| format!("{object}: its GroupTrait does not decode: {err}"))?;
    Ok(ListedResource {
        annotations: annotation_names(&item.annotations),
        display_name: item.display_name.clone(),
        group_trait,
        id: id.resource,
        parent: item.parent_resource_id.as_ref().map(listed_id),
        resource_type: id.resource_type,
        user_trait,
    })
}

fn list_entitlement(item: &Entitlement) -> ListedEntitlement {
    ListedEntitlement {
        display_name: item.display_name.clone(),
        grantable_to: item.grantable_to.iter().map(|rt| rt.id.clone()).collect(),
        id: item.id.clone(),
        purpose: enum_name(PurposeValue::try_from(item.purpose), item.purpose),
        resource: resource_of(item.resource.as_ref()),
        slug: item.slug.clone(),
    }
}

fn list_grant(stored: &StoredGrant) -> ListedGrant {
    let grant = &stored.grant;
    ListedGrant {
        annotations: annotation_names(&grant.annotations),
        entitlement_id: grant
            .entitlement
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_default(),
        expansion: stored
            .expansion
            .as_ref()
            .map(|expansion: &GrantExpandable| ListedExpansion {
                entitlement_ids: expansion.entitlement_ids.clone(),
                resource_type_ids: expansion.resource_type_ids.clone(),
                shallow: expansion.shallow,
            }),
        id: grant.id.clone(),
        needs_expansion: stored.needs_expansion,
        principal: resource_of(grant.principal.as_ref()),
    }
}

fn resource_of(resource: Option<&Resource>) -> ListedResourceId {
    resource
        .and_then(|resource| resource.id.as_ref())
        .map(listed_id)
        .unwrap_or(ListedResourceId {
            resource: String::new(),
            resource_type: String::new(),
        })
}

fn listed_id(id: &ResourceId) -> ListedResourceId {
    ListedResourceId {
        resource: id.resource.clone(),
        resource_type: id.resource_type.clone(),
    }
}

fn annotation_names(annotations: &[Any]) -> Vec<String> {
    annotations
        .iter()
        .map(|any| {
            any.type_url
                .strip_prefix(TYPE_URL_PREFIX)
                .unwrap_or(&any.type_url)
                .to_owned()
        })
        .collect()
}

/// The first annotation of type `M`, decoded.
fn find<M: Name + Default>(annotations: &[Any]) -> Option<Result<M, prost::DecodeError>> {
    let url = M::type_url();
    annotations
        .iter()
        .find(|any| any.type_url == url)
        .map(|any| any.to_msg())
}

/// An enum value by its protobuf name; unknown values as their number.
fn enum_name<E: EnumName>(known: Result<E, prost::UnknownEnumValue>, value: i32) -> String {
    known
        .map(|value| value.name().to_owned())
        .unwrap_or_else(|_| value.to_string())
}

trait EnumName {
    fn name(&self) -> &'static str;
}

macro_rules! enum_names {
    ($($enum:ty),*) => {$(
        impl EnumName for $enum {
            fn name(&self) -> &'static str {
                self.as_str_name()
            }
        }
    )*};
}

enum_names!(
    Trait,
    PurposeValue,
    user_trait::AccountType,
    user_trait::status::Status
);

/// Builds a JSON object from sorted fields, skipping proto3 defaults.
#[derive(Default)]
struct Object(BTreeMap<&'static str, Json>);

impl Object {
    fn set(mut self, key: &'static str, value: Option<Json>) -> Self {
        if let Some(value) = value {
            self.0.insert(key, value);
        }
        self
    }

    fn string(self, key: &'static str, value: &str) -> Self {
        let value = (!value.is_empty()).then(|| Json::from(value));
        self.set(key, value)
    }

    fn flag(self, key: &'static str, value: bool) -> Self {
        self.set(key, value.then_some(Json::Bool(true)))
    }

    fn enumeration<E: EnumName>(
        self,
        key: &'static str,
        known: Result<E, prost::UnknownEnumValue>,
        value: i32,
    ) -> Self {
        let value = (value != 0).then(|| Json::from(enum_name(known, value)));
        self.set(key, value)
    }

    fn list(self, key: &'static str, items: Vec<Json>) -> Self {
        let value = (!items.is_empty()).then_some(Json::Array(items));
        self.set(key, value)
    }

    fn build(self) -> Json {
        Json::Object(
            self.0
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        )
    }
}

fn user_trait_json(user: &UserTrait) -> Json {
    let emails = user
        .emails
        .iter()
        .map(|email| {
            Object::default()
                .string("address", &email.address)
                .flag("isPrimary", email.is_primary)
                .build()
        })
        .collect();
    let status = user.status.as_ref().map(|status| {
        Object::default()
            .enumeration(
                "status",
                user_trait::status::Status::try_from(status.status),
                status.status,
            )
            .string("details", &status.details)
            .build()
    });
    Object::default()
        .list("emails", emails)
        .set("status", status)
        .set("profile", user.profile.as_ref().map(struct_json))
        .set("icon", user.icon.as_ref().map(asset_json))
        .enumeration(
            "accountType",
            user_trait::AccountType::try_from(user.account_type),
            user.account_type,
        )
        .string("login", &user.login)
        .list(
            "loginAliases",
            user.login_aliases
                .iter()
                .map(|alias| Json::from(alias.as_str()))
                .collect(),
        )
        .set("createdAt", user.created_at.as_ref().map(timestamp_json))
        .set("lastLogin", user.last_login.as_ref().map(timestamp_json))
        .build()
}

fn group_trait_json(group: &GroupTrait) -> Json {
    Object::default()
        .set("icon", group.icon.as_ref().map(asset_json))
        .set("profile", group.profile.as_ref().map(struct_json))
        .build()
}

fn asset_json(asset: &AssetRef) -> Json {
    Object::default().string("id", &asset.id).build()
}

/// `google.protobuf.Struct` as the JSON object it stands for.
fn struct_json(value: &Struct) -> Json {
    Json::Object(
        value
            .fields
            .iter()
            .map(|(key, value)| (key.clone(), value_json(value)))
            .collect::<Map<_, _>>(),
    )
}

fn value_json(value: &Value) -> Json {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::NumberValue(number)) => number_json(*number),
        Some(Kind::StringValue(text)) => Json::from(text.as_str()),
        Some(Kind::BoolValue(flag)) => Json::Bool(*flag),
        Some(Kind::StructValue(inner)) => struct_json(inner),
        Some(Kind::ListValue(list)) => Json::Array(list.values.iter().map(value_json).collect()),
    }
}

/// Whole numbers print without a fraction, as Go's protojson prints them.
fn number_json(number: f64) -> Json {
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    if number.fract() == 0.0 && number.abs() < EXACT_INTEGER_LIMIT {
        // Exact: a whole number below 2^53 converts to i64 without loss.
        Json::Number(Number::from(number as i64))
    } else {
        Number::from_f64(number)
            .map(Json::Number)
            .unwrap_or_else(|| {
                Json::from(if number.is_nan() {
                    "NaN"
                } else if number > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                })
            })
    }
}

/// RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, as protojson writes it.
fn timestamp_json(timestamp: &Timestamp) -> Json {
    let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    let Ok(instant) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return Json::Null;
    };
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        instant.year(),
        u8::from(instant.month()),
        instant.day(),
        instant.hour(),
        instant.minute(),
        instant.second()
    );
    let fraction = instant.nanosecond();
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        let keep = if fraction % 1_000_000 == 0 {
            3
        } else if fraction % 1_000 == 0 {
            6
        } else {
            9
        };
        text.push('.');
        text.push_str(&digits[..keep]);
    }
    text.push('Z');
    Json::from(text)
}

/// Pretty-prints with a one-space indent and escapes every non-ASCII
/// character as `\uXXXX` (UTF-16 units), like the reference listing.
struct AsciiFormatter {
    pretty: serde_json::ser::PrettyFormatter<'static>,
}

impl Default for AsciiFormatter {
    fn default() -> Self {
        Self {
            pretty: serde_json::ser::PrettyFormatter::with_indent(b" "),
        }
    }
}

macro_rules! delegate {
    ($($method:ident($($arg:ident: $type:ty),*)),* $(,)?) => {$(
        fn $method<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $type)*) -> io::Result<()> {
            serde_json::ser::Formatter::$method(&mut self.pretty, writer $(, $arg)*)
        }
    )*};
}

impl serde_json::ser::Formatter for AsciiFormatter {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        end_object_key(),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut units = [0u16; 2];
        for character in fragment.chars() {
            if character.is_ascii() {
                writer.write_all(&[character as u8])?;
            } else {
                for unit in character.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{self, UserRecord};

    fn json_text(listing: &Listing) -> String {
        let mut out = Vec::new();
        listing.write_json(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn user_trait_is_protobuf_json_with_camel_case_keys_and_enum_names() {
        let user = model::user_resource(&UserRecord {
            user_key: "k1".into(),
            username: "zoe".into(),
            display_name: "Zoë".into(),
            email: Some("zoe@example.test".into()),
            enabled: false,
            account_type: "known".into(),
        });
        let listed = list_resource(&user).unwrap();
        assert_eq!(
            listed.user_trait.unwrap(),
            serde_json::json!({
                "accountType": "ACCOUNT_TYPE_HUMAN",
                "emails": [{"address": "zoe@example.test", "isPrimary": true}],
                "login": "zoe",
                "profile": {"account_type": "known", "email": "zoe@example.test", "id": "k1", "user_name": "zoe"},
                "status": {"status": "STATUS_DISABLED"}
            })
        );
        assert_eq!(listed.annotations, ["c1.connector.v2.UserTrait"]);
    }

    #[test]
    fn json_escapes_non_ascii_like_the_reference_listing() {
        let listing = Listing {
            entitlements: Vec::new(),
            grants: Vec::new(),
            resource_types: vec![ListedResourceType {
                annotations: Vec::new(),
                display_name: "佐藤 Zoë 😀".into(),
                id: "user".into(),
                traits: vec!["TRAIT_USER".into()],
            }],
            resources: Vec::new(),
        };
        let text = json_text(&listing);
        assert!(
            text.contains(r#""display_name": "\u4f50\u85e4 Zo\u00eb \ud83d\ude00""#),
            "{text}"
        );
        assert!(text.starts_with("{\n \"entitlements\": [],\n \"grants\": [],\n \"resource_types\": [\n  {\n   \"annotations\": [],"));
    }

    #[test]
    fn numbers_and_timestamps_print_as_protojson_does() {
        assert_eq!(number_json(3.0), serde_json::json!(3));
        assert_eq!(number_json(2.5), serde_json::json!(2.5));
        assert_eq!(number_json(f64::NAN), serde_json::json!("NaN"));
        let at = |seconds, nanos| timestamp_json(&Timestamp { seconds, nanos });
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.120Z");
        assert_eq!(at(1_700_000_000, 1_000), "2023-11-14T22:13:20.000001Z");
        assert_eq!(at(1_700_000_000, 7), "2023-11-14T22:13:20.000000007Z");
    }
}
