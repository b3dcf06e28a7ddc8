//! The architecture invariants of ARCHITECTURE.md, checked on the real
//! dependency graph (`cargo tree`): what each crate must never depend on.

use std::collections::BTreeSet;

use gridwork_tests::cargo;

/// The packages in a crate's normal (non-dev, non-build) dependency tree.
fn tree(package: &str) -> BTreeSet<String> {
    let output = cargo()
        .args(["tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

const IO: &[&str] = &["rusqlite", "libsqlite3-sys", "tokio", "mio", "reqwest", "hyper", "axum", "tauri"];

fn assert_absent(package: &str, forbidden: &[&str]) {
    let tree = tree(package);
    assert!(tree.contains(package), "{package}'s tree should list itself: {tree:?}");
    let found: Vec<_> = forbidden.iter().filter(|f| tree.contains(**f)).collect();
    assert!(found.is_empty(), "{package} must not depend on {found:?}");
}

#[test]
fn the_domain_depends_on_no_other_gridwork_crate_and_does_no_io() {
    let mut forbidden = vec!["gridwork-merge", "gridwork-protocol", "gridwork-store", "getrandom"];
    forbidden.extend(IO);
    assert_absent("gridwork-domain", &forbidden);
}

#[test]
fn the_merge_engine_is_pure() {
    // No IO, no randomness (and no clock reads: see below).
    let mut forbidden = vec!["gridwork-protocol", "gridwork-store", "getrandom"];
    forbidden.extend(IO);
    assert_absent("gridwork-merge", &forbidden);
}

#[test]
fn the_protocol_does_no_io() {
    let mut forbidden = vec!["gridwork-store"];
    forbidden.extend(IO);
    assert_absent("gridwork-protocol", &forbidden);
}

#[test]
fn the_store_knows_nothing_of_networks() {
    assert_absent("gridwork-store", &["tokio", "mio", "reqwest", "hyper", "axum", "tauri", "gridwork-cli"]);
}

#[test]
fn the_store_does_use_sqlite() {
    // The checks above would pass vacuously if `tree` listed nothing.
    assert!(tree("gridwork-store").contains("rusqlite"));
}

#[test]
fn no_library_depends_on_a_binary() {
    for library in ["gridwork-domain", "gridwork-merge", "gridwork-protocol", "gridwork-store"] {
        assert_absent(library, &["gridwork-cli", "gridwork-bench", "gridwork-server"]);
    }
}

/// The pure crates take the time from their callers: their sources never
/// read a clock or touch files, sockets or threads.
#[test]
fn the_pure_crates_never_read_a_clock_nor_do_io() {
    let reads = [
        "SystemTime",
        "Instant::now",
        "Utc::now",
        "Local::now",
        "std::fs",
        "std::net",
        "std::thread",
        "std::env",
    ];
    for krate in ["domain", "merge", "protocol"] {
        let dir = gridwork_tests::workspace_root().join("crates").join(krate).join("src");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("crate sources") {
            let path = entry.expect("entry").path();
            // Property tests may read PROPTEST_CASES from the environment.
            if path.file_name().is_some_and(|n| n == "proptests.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("readable source");
            for read in reads {
                assert!(!source.contains(read), "{} uses {read}", path.display());
            }
            checked += 1;
        }
        assert!(checked > 0, "no sources found in {}", dir.display());
    }
}

#[test]
fn only_the_app_links_webkit_and_the_app_keeps_no_rules_of_its_own() {
    for package in ["gridwork-server", "gridwork-cli", "gridwork-client", "gridwork-store"] {
        assert_absent(package, &["tauri", "webkit2gtk", "gridwork-app"]);
    }
    assert!(tree("gridwork-app").contains("tauri"), "the checks above would pass vacuously");
    // Thin: the app calls the store, it does not reach into its tables.
    let dir = gridwork_tests::workspace_root().join("crates/app/src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("app sources") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("readable source");
        for sql in ["SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "rusqlite", ".connection()"] {
            assert!(
                !source.contains(sql),
                "{} uses {sql:?}: data access belongs in gridwork-store",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked > 0);
}

/// The API's OpenAPI description is the server's: utoipa comes in through
/// gridwork-protocol's `openapi` feature, which only the server turns on.
#[test]
fn the_app_the_client_and_the_cli_never_compile_utoipa() {
    for package in ["gridwork-client", "gridwork-cli", "gridwork-app", "gridwork-protocol"] {
        assert_absent(package, &["utoipa", "utoipa-gen", "utoipa-swagger-ui"]);
    }
    assert!(tree("gridwork-server").contains("utoipa"), "the checks above would pass vacuously");
}
