//! Export `malloc` / `free` from the WASI module so that Fluent Bit's WAMR allocates the copies of
//! large records with them instead of its 8 KiB default app heap (see docs/wasm.md).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "wasm32" && os == "wasi" {
        println!("cargo:rustc-cdylib-link-arg=--export=malloc");
        println!("cargo:rustc-cdylib-link-arg=--export=free");
    }
}
