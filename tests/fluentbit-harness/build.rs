//! Compiles harness.c into an executable (with the C compiler the `cc` crate finds) and tells
//! the tests where it is through HARNESS_BIN.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=harness.c");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bin = out.join("fluentbit-harness");
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let status = compiler
        .to_command()
        .args([
            "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-pthread",
        ])
        .arg("harness.c")
        .arg("-o")
        .arg(&bin)
        .arg("-ldl")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling harness.c failed");
    println!("cargo:rustc-env=HARNESS_BIN={}", bin.display());
}
