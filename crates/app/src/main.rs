//! The desktop entry point of Gridwork 网格通 (Android and iOS start the
//! library's mobile entry point instead).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    gridwork_app::run();
}
