//! Baton's protobuf messages (generated from `proto/`) and the data model
//! that maps a Confluence tenant onto them.

pub mod model;
pub mod protojson;

/// Generated code; module paths mirror the protobuf packages.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    pub mod c1 {
        pub mod connector {
            pub mod v2 {
                tonic::include_proto!("c1.connector.v2");
            }
        }
        pub mod connectorapi {
            pub mod baton {
                pub mod v1 {
                    tonic::include_proto!("c1.connectorapi.baton.v1");
                }
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}
