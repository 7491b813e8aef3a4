//! Baton's side of the hub: its protobuf messages (generated from `proto/`),
//! the data model that maps a Confluence tenant onto them, and the `.c1z`
//! file (writer, reader, grant expansion). Plain blocking code, no async
//! runtime: callers put it on a thread of their own.

pub mod c1z;
pub mod model;
pub mod protojson;

/// Generated code; module paths mirror the protobuf packages.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    pub mod c1 {
        pub mod connector {
            pub mod v2 {
                include!(concat!(env!("OUT_DIR"), "/c1.connector.v2.rs"));
            }
        }
        pub mod connectorapi {
            pub mod baton {
                pub mod v1 {
                    include!(concat!(env!("OUT_DIR"), "/c1.connectorapi.baton.v1.rs"));
                }
            }
        }
    }
    pub mod google {
        pub mod rpc {
            include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
        }
    }
}
