//! The tasks a test or the control API can queue, in plain terms, and the
//! BatonService `Task` each becomes.

use std::collections::BTreeMap;

use prost_types::{Struct, Value, value::Kind};
use serde::{Deserialize, Serialize};

use baton::pb::c1::connector::v2::{
    AccountInfo, CredentialOptions, EncryptionConfig, Entitlement, Grant, Resource, ResourceId,
    account_info::Email,
    credential_options::{NoPassword, Options, RandomPassword},
    encryption_config::{Config, JwkPublicKeyConfig},
};
use baton::pb::c1::connectorapi::baton::v1::task::{
    CreateAccountTask, DeleteResourceTask, GrantTask, HelloTask, RevokeTask, SyncFullTask, TaskType,
};

/// `resource_type` + `resource`, e.g. `group` / `developers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    pub resource_type: String,
    pub resource: String,
}

/// An entitlement by its resource and slug; its id is `<type>:<id>:<slug>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementRef {
    pub resource: ResourceRef,
    pub slug: String,
}

/// A `random_password` credential request and the key to seal it to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomPasswordRequest {
    pub length: i64,
    /// `{"kty":"OKP","crv":"Ed25519","x":"..."}`
    pub public_jwk: serde_json::Value,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncOptions {
    pub skip_expand_grants: bool,
    pub skip_entitlements_and_grants: bool,
    pub skip_grants: bool,
    pub sync_resource_type_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SimTask {
    Hello,
    SyncFull(SyncOptions),
    Grant {
        entitlement: EntitlementRef,
        principal: ResourceRef,
    },
    Revoke {
        entitlement: EntitlementRef,
        principal: ResourceRef,
    },
    CreateAccount {
        login: String,
        email: String,
        #[serde(default)]
        profile: BTreeMap<String, String>,
        #[serde(default)]
        resource_type_id: String,
        /// Ask for a random password of this length, sealed to this public
        /// Ed25519 JWK; `None` asks for no password.
        #[serde(default)]
        random_password: Option<RandomPasswordRequest>,
    },
    DeleteResource {
        resource: ResourceRef,
    },
    /// A task type this protocol version does not know (it arrives with an
    /// empty `task_type`), to exercise the "unsupported" path.
    Unsupported,
}

impl SimTask {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::SyncFull(_) => "sync_full",
            Self::Grant { .. } => "grant",
            Self::Revoke { .. } => "revoke",
            Self::CreateAccount { .. } => "create_account",
            Self::DeleteResource { .. } => "delete_resource",
            Self::Unsupported => "unsupported",
        }
    }

    pub fn to_task_type(&self) -> Option<TaskType> {
        Some(match self {
            Self::Hello => TaskType::Hello(HelloTask::default()),
            Self::SyncFull(options) => TaskType::SyncFull(SyncFullTask {
                skip_expand_grants: options.skip_expand_grants,
                skip_entitlements_and_grants: options.skip_entitlements_and_grants,
                skip_grants: options.skip_grants,
                sync_resource_type_ids: options.sync_resource_type_ids.clone(),
                ..Default::default()
            }),
            Self::Grant {
                entitlement,
                principal,
            } => TaskType::Grant(GrantTask {
                entitlement: Some(entitlement.to_proto()),
                principal: Some(principal.to_resource()),
                ..Default::default()
            }),
            Self::Revoke {
                entitlement,
                principal,
            } => {
                let grant_entitlement = entitlement.to_proto();
                let id = format!(
                    "{}:{}:{}",
                    grant_entitlement.id, principal.resource_type, principal.resource
                );
                TaskType::Revoke(RevokeTask {
                    grant: Some(Grant {
                        entitlement: Some(grant_entitlement),
                        principal: Some(principal.to_resource()),
                        id,
                        ..Default::default()
                    }),
                    annotations: Vec::new(),
                })
            }
            Self::CreateAccount {
                login,
                email,
                profile,
                resource_type_id,
                random_password,
            } => {
                let (options, encryption_configs) = match random_password {
                    None => (Options::NoPassword(NoPassword {}), Vec::new()),
                    Some(request) => (
                        Options::RandomPassword(RandomPassword {
                            length: request.length,
                            constraints: Vec::new(),
                        }),
                        vec![EncryptionConfig {
                            provider: "baton/jwk/v1".into(),
                            config: Some(Config::JwkPublicKeyConfig(JwkPublicKeyConfig {
                                pub_key: request.public_jwk.to_string().into_bytes(),
                            })),
                            ..Default::default()
                        }],
                    ),
                };
                TaskType::CreateAccount(CreateAccountTask {
                    account_info: Some(AccountInfo {
                        emails: vec![Email {
                            address: email.clone(),
                            is_primary: true,
                        }],
                        login: login.clone(),
                        profile: Some(string_struct(profile)),
                        ..Default::default()
                    }),
                    credential_options: Some(CredentialOptions {
                        options: Some(options),
                        ..Default::default()
                    }),
                    encryption_configs,
                    resource_type_id: resource_type_id.clone(),
                })
            }
            Self::DeleteResource { resource } => TaskType::DeleteResource(DeleteResourceTask {
                resource_id: Some(resource.to_id()),
                parent_resource_id: None,
            }),
            Self::Unsupported => return None,
        })
    }
}

impl ResourceRef {
    fn to_id(&self) -> ResourceId {
        ResourceId {
            resource_type: self.resource_type.clone(),
            resource: self.resource.clone(),
            baton_resource: false,
        }
    }

    fn to_resource(&self) -> Resource {
        Resource {
            id: Some(self.to_id()),
            ..Default::default()
        }
    }
}

impl EntitlementRef {
    fn to_proto(&self) -> Entitlement {
        Entitlement {
            resource: Some(self.resource.to_resource()),
            id: format!(
                "{}:{}:{}",
                self.resource.resource_type, self.resource.resource, self.slug
            ),
            slug: self.slug.clone(),
            ..Default::default()
        }
    }
}

fn string_struct(fields: &BTreeMap<String, String>) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(key, value)| {
                (
                    key.clone(),
                    Value {
                        kind: Some(Kind::StringValue(value.clone())),
                    },
                )
            })
            .collect(),
    }
}
