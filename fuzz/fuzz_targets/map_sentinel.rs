//! The core `map` on arbitrary bytes, Sentinel target, every record kind (auto and forced).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::run(defender_bridge::Target::Sentinel, data));
