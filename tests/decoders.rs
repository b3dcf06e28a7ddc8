//! The decoders a device's or an attacker's bytes reach, fed what once
//! broke them and what no honest client sends: the regression files the
//! fuzzer left (`tests/fuzz/regressions/TARGET/`), its seeds, arbitrary
//! bytes, and valid bodies with bytes flipped, cut or repeated. Each input
//! must be answered (an error is fine) without a panic. The coverage-guided
//! runs themselves are `cargo fuzz run --fuzz-dir tests/fuzz TARGET`
//! (see `tests/fuzz/README.md`).

#[path = "fuzz/targets.rs"]
mod targets;

use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::sync::PushRequest;
use gridwork_protocol::{Encoding, FieldState, RecordChanges};
use proptest::prelude::*;

fn fuzz_dir() -> std::path::PathBuf {
    gridwork_tests::workspace_root().join("tests").join("fuzz")
}

#[test]
fn every_saved_input_is_answered_without_a_panic() {
    let mut replayed = 0;
    for folder in ["regressions", "seeds"] {
        for (name, target) in targets::TARGETS {
            let dir = fuzz_dir().join(folder).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let bytes = std::fs::read(&path).expect("readable");
                let outcome = std::panic::catch_unwind(|| target(&bytes));
                assert!(outcome.is_ok(), "{name}: {} panicked", path.display());
                replayed += 1;
            }
        }
    }
    // Every target has its seeds at least: the folders are where they
    // should be.
    assert!(
        replayed >= targets::TARGETS.len(),
        "only {replayed} inputs found under {}",
        fuzz_dir().display()
    );
}

/// A push as a device builds it: residents and cases, with a conflict.
fn valid_push(records: usize) -> PushRequest {
    let write = |field: &str, value: Value, device: u32, ms: u64| FieldState {
        field: field.into(),
        register: Register::first_write(value, DeviceId(device), Hlc::new(ms, 0)),
    };
    let records = (0..records)
        .map(|i| {
            let id = RecordId::from_parts(1_800_000_000_000 + i as u64, [i as u8; 10]);
            if i % 2 == 0 {
                let mut name = write("name", "张三".into(), 7, 1_800_000_000_000).register;
                name.merge(write("name", "李四".into(), 8, 1_800_000_000_001).register);
                RecordChanges {
                    id,
                    kind: Kind::Resident,
                    fields: vec![
                        write("grid", "G1".into(), 7, 1_800_000_000_000),
                        FieldState { field: "name".into(), register: name },
                        write("id_number", "11010519491231002X".into(), 7, 1_800_000_000_000),
                        write("tags", Value::List(vec!["disabled".into()]), 7, 1_800_000_000_000),
                    ],
                }
            } else {
                RecordChanges {
                    id,
                    kind: Kind::Case,
                    fields: vec![
                        write("grid", "G1".into(), 7, 1_800_000_000_000),
                        write("category", "sanitation".into(), 7, 1_800_000_000_000),
                        write("description", "井盖破损".into(), 7, 1_800_000_000_000),
                        write("status", "reported".into(), 7, 1_800_000_000_000),
                        write("latitude", Value::Float(29.08), 7, 1_800_000_000_000),
                    ],
                }
            }
        })
        .collect();
    PushRequest { up_to_counter: 3, pending: 0, records }
}

/// Changes to bytes: flip some, cut the tail, repeat a slice.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Repeat(usize, usize),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match *mutation {
            Mutation::Flip(at, with) => {
                let at = at % bytes.len();
                bytes[at] ^= with;
            }
            Mutation::Cut(at) => bytes.truncate(at % bytes.len()),
            Mutation::Repeat(at, len) => {
                let at = at % bytes.len();
                let slice = bytes[at..(at + len).min(bytes.len())].to_vec();
                bytes.splice(at..at, slice);
            }
        }
    }
    bytes
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        prop_oneof![
            4 => (any::<usize>(), 1u8..).prop_map(|(at, with)| Mutation::Flip(at, with)),
            1 => any::<usize>().prop_map(Mutation::Cut),
            1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Repeat(at, len)),
        ],
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_answered_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for (_, target) in targets::TARGETS {
            target(&bytes);
        }
    }

    #[test]
    fn valid_bodies_with_bytes_flipped_cut_or_repeated_are_answered_without_a_panic(
        records in 1usize..6,
        mutations in mutations(),
    ) {
        let push = valid_push(records);
        let json = mutate(Encoding::Json.encode(&push), &mutations);
        targets::push_json(&json);
        let binary = mutate(Encoding::Binary.encode(&push), &mutations);
        targets::push_postcard(&binary);
        targets::apply(&binary);
        let compressed = mutate(zstd::bulk::compress(&Encoding::Binary.encode(&push), 3).unwrap(), &mutations);
        targets::zstd(&compressed);
    }
}

#[test]
fn the_valid_push_the_mutations_start_from_is_applied_whole() {
    // Otherwise the mutations above would only ever test refusals.
    let push = valid_push(4);
    assert!(push.check_shape().is_ok());
    let back: PushRequest = Encoding::Binary.decode(&Encoding::Binary.encode(&push)).unwrap();
    assert_eq!(back, push);
    let clock = std::sync::Arc::new(gridwork_store::ManualClock::new(1_800_000_000_000));
    let mut store = gridwork_store::Store::open_in_memory(gridwork_store::Role::Server, clock).unwrap();
    store
        .put(Kind::Grid, None, &[("code", "G1".into()), ("name", "网格".into()), ("level", "unit".into())])
        .unwrap();
    let report = store.apply_remote(push.records).unwrap();
    assert_eq!(report.created, 4);
}
