//! defender-bridge as WebAssembly. One crate, two targets (see docs/wasm.md):
//!
//! - `wasm32-wasip1`: exports for Fluent Bit's filter_wasm (`defender_to_ecs`,
//!   `defender_to_sentinel`, …), plus `malloc`, `free` and `_initialize`.
//! - `wasm32-unknown-unknown`: the wasm-bindgen API (`map`, `mapToJson`, `mapEntries`).
//!
//! The shared logic in [`shell`] builds natively too, where its tests run. The only `unsafe` is in
//! the filter exports (reading the record the host copied in; running constructors).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod shell;

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
pub mod filter;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod js;
