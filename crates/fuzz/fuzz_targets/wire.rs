#![no_main]
//! Request and response bodies of the sync, query and submit protocols.
use flashback_types::wire::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request::<SyncRequest>(data);
    let _ = decode_request::<QueryRequest>(data);
    let _ = decode_request::<SubmitRequest>(data);
    let _ = decode_response::<SyncResponse>(data);
    let _ = decode_response::<QueryResponse>(data);
    let _ = decode_response::<SubmitResponse>(data);
});
