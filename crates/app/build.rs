//! Tauri's build step: reads tauri.conf.json, the capabilities and the
//! icons. With `custom-protocol` (the default) the UI is embedded from
//! `app-ui/dist`, which `npm run build` in `app-ui/` makes.

fn main() {
    let embeds_ui = std::env::var_os("CARGO_FEATURE_CUSTOM_PROTOCOL").is_some();
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../app-ui/dist/index.html");
    println!("cargo:rerun-if-changed={}", dist.display());
    if embeds_ui && !dist.exists() {
        panic!(
            "the app embeds its UI, which is not built yet: run `npm --prefix app-ui ci && npm --prefix app-ui run build` (scripts/test and scripts/run do it), or build without the default `custom-protocol` feature to use the Vite dev server"
        );
    }
    tauri_build::build()
}
