//! An engine serving two documents to a well-behaved peer receives a sequence of arbitrary
//! sync messages and batch deltas from another peer (`passerelle_core::fuzzing::engine_receive`
//! says what is checked).
//!
//! automerge panics on some malformed changes; the engine catches those panics, poisons the
//! document and reloads it from storage. libfuzzer-sys aborts on every panic, caught or not, so
//! this target lets panics raised inside automerge unwind (to the engine's `catch_unwind`) and
//! aborts on any other, and on any panic that escapes the engine.
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use libfuzzer_sys::fuzz_target;

fn panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_automerge = info
                .location()
                .is_some_and(|l| l.file().contains("automerge-0."));
            if !in_automerge {
                default(info);
                std::process::abort();
            }
        }));
    });
}

fuzz_target!(
    init: panic_hook(),
    |data: &[u8]| {
        let outcome = catch_unwind(AssertUnwindSafe(|| passerelle_core::fuzzing::engine_receive(data)));
        if outcome.is_err() {
            // An automerge panic the engine did not contain.
            eprintln!("a panic inside automerge escaped the engine");
            std::process::abort();
        }
    }
);
