//! Thin shim: the board is C (`board_main` in board_main.c). Rust is here because
//! cargo is the one-command build (build.rs compiles wasm3 and the C).

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;

// With the crates.io wasm3, links its static library (libwasm3.a) into the binary;
// otherwise build.rs compiled wasm3 itself.
#[cfg(feature = "wasm3-sys")]
use wasm3_sys as _;

extern "C" {
    fn board_main(argc: c_int, argv: *const *const c_char) -> c_int;
}

fn main() {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_else(|_| {
            eprintln!("trackagent-linux: an argument contains a NUL byte");
            std::process::exit(2);
        }))
        .collect();
    let mut argv: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: argv holds args.len() valid NUL-terminated strings and a NULL, all
    // alive until board_main returns.
    let rc = unsafe { board_main(args.len() as c_int, argv.as_ptr()) };
    std::process::exit(rc);
}
