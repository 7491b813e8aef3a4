//! The config file: TOML parsing and every validation rule, as `check` and a
//! reload run them (secrets left unread, so no file or variable is touched).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) =
        hub::config::HubConfig::from_toml_without_secrets(text, Path::new("/fuzz/hub.toml"))
    {
        // Rendering the error is part of the contract: it must not panic.
        let _ = error.to_string();
    }
});
