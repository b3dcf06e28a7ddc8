//! Embeds the SQL files of `migrations/` into the store: each set (common,
//! device, server) becomes a list of (version, name, sql), in file-name order.

use std::fmt::Write;
use std::path::Path;
use std::{env, fs};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out = String::new();
    for set in ["common", "device", "server"] {
        let dir = root.join(set);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        writeln!(out, "pub const {}: &[Migration] = &[", set.to_uppercase()).unwrap();
        for (i, path) in files.iter().enumerate() {
            let name = path.file_name().unwrap().to_str().expect("utf-8 file name");
            let version: u32 = name
                .split('_')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name}: migration files start with their number"));
            assert_eq!(
                version as usize,
                i + 1,
                "{set}/{name}: migrations are numbered 1, 2, 3... without gaps"
            );
            println!("cargo:rerun-if-changed={}", path.display());
            writeln!(
                out,
                "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},",
                path.canonicalize().unwrap()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs");
    fs::write(dest, out).unwrap();
}
