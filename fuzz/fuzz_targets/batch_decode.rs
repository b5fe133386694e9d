//! The `POST /v1/sync` body decoders on arbitrary bytes: never panic; what they accept
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| passerelle_core::fuzzing::batch_decode(data));
