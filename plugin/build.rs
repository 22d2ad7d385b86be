//! Links the plugin with `-z nodelete`: Fluent Bit dlclose()s the .so on shutdown and hot reload,
//! and a Rust library cannot be unloaded safely (thread-local destructors, process-wide statics in
//! dependencies such as ureq's lazily built headers). With nodelete the image stays mapped and is
//! reused when the same path is loaded again.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
