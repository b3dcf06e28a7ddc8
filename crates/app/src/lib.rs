//! Gridwork 网格通, the grid worker's tablet app: a thin Rust side over
//! the device store and the sync client, and the web UI in `app-ui/`.
//!
//! - `commands`: what the UI may call (the contract is `docs/app.md`);
//! - `state`: opening the encrypted database, the phases (enroll, PIN,
//!   ready), starting over after a revocation;
//! - `vault`: where the database key lives (Secret Service or key file);
//! - `pin`: the PIN and its lock-out;
//! - `sync`: the background sync and its state;
//! - `photos`: shrinking photos before they are stored;
//! - `today`: what the Today screen lists.
//!
//! Validation, merging, scope and sync rules are not here: they live in
//! `gridwork-domain`, `gridwork-store` and `gridwork-client`, shared with
//! the server and the CLI.

pub mod commands;
pub mod error;
pub mod photos;
pub mod pin;
pub mod state;
pub mod sync;
pub mod today;
pub mod vault;

use std::sync::Arc;

use tauri::{Emitter, Manager, Runtime};

pub use state::AppState;

/// Every command the UI may call.
pub fn handlers<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        commands::app_status,
        commands::enroll,
        commands::set_pin,
        commands::unlock,
        commands::lock,
        commands::schema,
        commands::grids,
        commands::list_records,
        commands::search_residents,
        commands::get_record,
        commands::put_record,
        commands::delete_record,
        commands::today,
        commands::add_photo,
        commands::photo,
        commands::sync_now,
        commands::sync_state,
        commands::conflicts,
    ]
}

/// The app's commands and state on a Tauri builder (the real runtime, or
/// the mock one in tests). `state` is opened by the caller.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>, state: Arc<AppState>) -> tauri::Builder<R> {
    builder.manage(state).invoke_handler(handlers())
}

/// Starts the app.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let builder = tauri::Builder::default().setup(|app| {
        let data_dir = app.path().app_data_dir()?;
        let config_dir = app.path().app_config_dir()?;
        let state = Arc::new(AppState::open(&data_dir, vault::Vault::new(&config_dir)));
        let handle = app.handle().clone();
        state.set_emitter(Box::new(move |event, payload| {
            if let Err(error) = handle.emit(event, payload) {
                tracing::warn!(%error, event, "an event did not reach the UI");
            }
        }));
        tauri::async_runtime::spawn(state.clone().sync_forever());
        app.manage(state);
        Ok(())
    });
    let builder = builder.invoke_handler(handlers());
    if let Err(error) = builder.run(tauri::generate_context!()) {
        eprintln!("Gridwork 网格通 could not start: {error}");
        std::process::exit(1);
    }
}
