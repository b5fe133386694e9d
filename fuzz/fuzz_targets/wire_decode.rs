//! `Message::decode` on arbitrary bytes: never panics; what it accepts round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| passerelle_core::fuzzing::wire_decode(data));
