//! Builds the web UI from `ui/` (TypeScript, bundled by esbuild through npm) into OUT_DIR and
//! writes `assets.rs`, the list of files `include_bytes!` embeds.
//!
//! - Node.js and npm present: `npm ci` when `ui/node_modules` is missing or older than the lock
//!   file, then `node build.mjs OUT_DIR/ui`. A failure there fails the build: a UI that does not
//!   build is a bug, not a missing tool.
//! - No Node.js (or `FAULTLINE_UI=skip`): no assets; the binary serves a page that says how to
//!   get the UI, and everything else as usual.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    for p in ["src", "index.html", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={}", ui.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=FAULTLINE_UI");
    let skip = std::env::var("FAULTLINE_UI").is_ok_and(|v| v == "skip");
    let files = if skip || !ui.join("package.json").exists() {
        Vec::new()
    } else if !has("node") || !has("npm") {
        println!("cargo:warning=Node.js and npm not found: building faultline without its web UI");
        Vec::new()
    } else {
        build(&ui, &out.join("ui"))
    };
    write_assets(&out, &files);
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed ({status}); set FAULTLINE_UI=skip to build without the UI");
}

fn build(ui: &Path, dest: &Path) -> Vec<PathBuf> {
    let lock = ui.join("package-lock.json");
    let installed = ui.join("node_modules/.package-lock.json");
    if modified(&installed).is_none() || modified(&installed) < modified(&lock) {
        run(
            Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(ui),
            "npm ci in ui/",
        );
    }
    run(Command::new("node").arg("build.mjs").arg(dest).current_dir(ui), "building the UI (node build.mjs)");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dest)
        .expect("the UI build wrote its directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn write_assets(out: &Path, files: &[PathBuf]) {
    let mut src =
        String::from("/// The UI's files: (name, bytes).\npub static ASSETS: &[(&str, &[u8])] = &[\n");
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("bundle file names are UTF-8");
        src.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", f.display().to_string()));
    }
    src.push_str("];\n");
    std::fs::write(out.join("assets.rs"), src).expect("OUT_DIR is writable");
}
