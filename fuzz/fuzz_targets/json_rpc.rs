//! The JSON-RPC answer decoder (`getSpacePermissionSets`, < 9.1): both
//! framings, error objects, and the permission sets turned into rows.
#![no_main]

use std::sync::LazyLock;

use confluence::fuzzing::{Answer, Decoders};
use libfuzzer_sys::fuzz_target;

static DECODERS: LazyLock<Decoders> = LazyLock::new(Decoders::default);

const STATUSES: [u16; 4] = [200, 200, 500, 404];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let answer = Answer {
        status: STATUSES[usize::from(selector & 3)],
        content_type: if selector & 4 == 0 {
            "application/json"
        } else {
            ""
        },
        body,
    };
    if let Err(error) = DECODERS.rpc_permissions("FUZZ", &answer) {
        let _ = error.to_string();
    }
});
