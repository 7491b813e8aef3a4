//! Every paged listing's decoder (users, group members, groups, spaces,
//! archived spaces), the REST space-permission decoder and the server
//! information decoder, fed one answer body. The first byte picks the status
//! and content type so error answers are decoded too.
#![no_main]

use std::sync::LazyLock;

use confluence::fuzzing::{Answer, Decoders, Listing};
use libfuzzer_sys::fuzz_target;

static DECODERS: LazyLock<Decoders> = LazyLock::new(Decoders::default);

const STATUSES: [u16; 8] = [200, 200, 200, 400, 401, 404, 429, 503];
const CONTENT_TYPES: [&str; 4] = ["application/json", "", "text/html", "application/xml"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let answer = Answer {
        status: STATUSES[usize::from(selector & 7)],
        content_type: CONTENT_TYPES[usize::from(selector >> 3 & 3)],
        body,
    };
    for listing in Listing::ALL {
        if let Err(error) = DECODERS.page(listing, &answer) {
            let _ = error.to_string();
        }
    }
    if let Err(error) = DECODERS.rest_permissions("FUZZ", &answer) {
        let _ = error.to_string();
    }
    if let Err(error) = DECODERS.server_information(&answer) {
        let _ = error.to_string();
    }
});
