//! Builds the board's C: wasm3, the shared glue (boards/common) and the Linux
//! platform (boards/linux), and links libcurl.
//!
//! Where wasm3 comes from (see README.md, "Which wasm3"):
//! - default: wasm3 0.5.0. `WASM3_SOURCE_DIR` may name its `source/` directory;
//!   otherwise this script takes the C sources from the sdist of `pywasm3 0.5.0`
//!   on PyPI (byte-identical to wasm3's v0.5.0 `source/` core), downloaded once
//!   with pip into target/wasm3-src and checked against a pinned SHA-256.
//! - feature `wasm3-sys`: the crates.io crate `wasm3-sys` 0.3.0 compiles the
//!   wasm3 it bundles (0.4.7) and links it; this script only finds its headers
//!   (through `cargo metadata`: the crate exports no include directory). wasm3
//!   0.4.7 cannot run the agent module: kept to show it, and for the day a newer
//!   wasm3-sys is published.
//!
//! No -march=native anywhere (cc's default is -march=x86-64): the binary must run
//! under valgrind.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const PYWASM3_VERSION: &str = "0.5.0";
const PYWASM3_SHA256: &str = "5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc";

/// wasm3's configuration, shared with the ESP32 build: boards/common/wasm3.defines
/// (NAME=VALUE lines, '#' comments). `TRACKAGENT_WASM3_DEFINES="name=value ..."`
/// overrides or adds some, for experiments.
fn wasm3_defines(common: &Path) -> Vec<(String, String)> {
    let path = common.join("wasm3.defines");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut v = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (k, val) = line.split_once('=').unwrap_or((line, "1"));
        v.push((k.trim().to_string(), val.trim().to_string()));
    }
    v
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let common = manifest_dir.join("../common");
    let crates_io = env::var_os("CARGO_FEATURE_WASM3_SYS").is_some();
    println!("cargo:rerun-if-env-changed=WASM3_SOURCE_DIR");

    println!("cargo:rerun-if-env-changed=TRACKAGENT_WASM3_DEFINES");
    let extra = env::var("TRACKAGENT_WASM3_DEFINES").unwrap_or_default();
    let mut defines = wasm3_defines(&common);
    for kv in extra.split_whitespace() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, "1"));
        defines.retain(|(name, _)| name != k);
        defines.push((k.to_string(), v.to_string()));
    }
    let wasm3_src = if crates_io {
        // wasm3-sys compiles wasm3 with 64-bit slots and no log output; the glue
        // reads a runtime field, so it must see the same configuration.
        defines = vec![("d_m3LogOutput".into(), "0".into()), ("d_m3Use32BitSlots".into(), "0".into())];
        wasm3_sys_source(&manifest_dir)
    } else {
        let src = match env::var_os("WASM3_SOURCE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => fetch_pywasm3(&manifest_dir.join("target").join("wasm3-src")),
        };
        let mut m3 = cc::Build::new();
        for f in files_with_ext(&src, "c") {
            m3.file(f);
        }
        for (k, v) in &defines {
            m3.define(k, Some(v.as_str()));
        }
        // Route wasm3's own heap calls through heap_meter.c (boards/linux), which
        // counts them: the wasm3 heap figure of the JSON summary.
        for f in ["calloc", "realloc", "free", "malloc"] {
            m3.define(f, Some(format!("trackagent_m3_{f}").as_str()));
        }
        m3.include(&src).warnings(false).extra_warnings(false).flag_if_supported("-w");
        m3.compile("wasm3");
        src
    };
    if !wasm3_src.join("wasm3.h").is_file() {
        panic!("no wasm3.h in {}", wasm3_src.display());
    }

    let mut glue = cc::Build::new();
    for dir in [&common, &manifest_dir] {
        for f in files_with_ext(dir, "c") {
            println!("cargo:rerun-if-changed={}", f.display());
            glue.file(f);
        }
        for h in files_with_ext(dir, "h") {
            println!("cargo:rerun-if-changed={}", h.display());
        }
    }
    for (k, v) in &defines {
        glue.define(k, Some(v.as_str()));
    }
    if !crates_io {
        glue.define("TRACKAGENT_HEAP_METER", Some("1"));
    }
    glue.define("AGENT_HOST_MEASURE", Some("1"))
        .include(&common)
        .flag("-isystem")
        .flag(wasm3_src.to_str().expect("wasm3 path is not UTF-8"))
        .flag("-std=c99")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true);
    glue.compile("trackagent_board");

    // libcurl (Debian: libcurl4-openssl-dev); pkg-config when it is there.
    let libs = Command::new("pkg-config").args(["--libs", "libcurl"]).output();
    match libs {
        Ok(out) if out.status.success() => {
            for tok in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Some(dir) = tok.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={dir}");
                } else if let Some(lib) = tok.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib={lib}");
                }
            }
        }
        _ => println!("cargo:rustc-link-lib=curl"),
    }
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=m");
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|s| s.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !status.success() {
        panic!("{what} failed ({status})");
    }
}

/// The wasm3 0.5.0 core sources from PyPI's pywasm3 sdist, fetched once.
fn fetch_pywasm3(dir: &Path) -> PathBuf {
    let src = dir.join(format!("pywasm3-{PYWASM3_VERSION}")).join("wasm3");
    if src.join("wasm3.h").is_file() {
        return src;
    }
    std::fs::create_dir_all(dir).expect("cannot create target/wasm3-src");
    let sdist = dir.join(format!("pywasm3-{PYWASM3_VERSION}.tar.gz"));
    if !sdist.is_file() {
        println!("cargo:warning=fetching wasm3 {PYWASM3_VERSION} sources (pywasm3 sdist) from PyPI with pip");
        run(
            Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"])
                .arg(format!("pywasm3=={PYWASM3_VERSION}"))
                .arg("-d")
                .arg(dir),
            "pip download pywasm3",
        );
    }
    let out = Command::new("sha256sum").arg(&sdist).output().expect("cannot run sha256sum");
    let sum = String::from_utf8_lossy(&out.stdout);
    if !sum.starts_with(PYWASM3_SHA256) {
        let _ = std::fs::remove_file(&sdist);
        panic!("{} does not have the pinned SHA-256; removed, build again", sdist.display());
    }
    run(Command::new("tar").arg("-xzf").arg(&sdist).arg("-C").arg(dir), "tar");
    src
}

/// The `wasm3/source` directory of the wasm3-sys package this build resolved to.
fn wasm3_sys_source(manifest_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .args(["--features", "wasm3-sys"])
        .output()
        .expect("cannot run cargo metadata");
    if !out.status.success() {
        panic!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let json = String::from_utf8_lossy(&out.stdout);
    // Every package has a "manifest_path"; wasm3-sys's is the one beside wasm3/source.
    let key = "\"manifest_path\":\"";
    let mut rest: &str = &json;
    while let Some(at) = rest.find(key) {
        rest = &rest[at + key.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        let manifest = PathBuf::from(&rest[..end]);
        if let Some(dir) = manifest.parent() {
            let src = dir.join("wasm3").join("source");
            if src.join("wasm3.h").is_file() {
                return src;
            }
        }
    }
    panic!("wasm3-sys sources not found through cargo metadata");
}
