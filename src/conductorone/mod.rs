//! ConductorOne service mode for one tenant: client-credential auth, the
//! BatonService client, and the c1z uploader.

pub mod settings;
