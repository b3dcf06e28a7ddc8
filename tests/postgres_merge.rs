//! The PostgreSQL backend merges exactly like the merge engine: the same
//! differential property test the embedded store passes
//! (`the_stored_merge_matches_the_merge_engine` in `crates/store`), run
//! against the backend on a real PostgreSQL. After every delivery, in any
//! order, with any timestamps, the stored register is the engine's join,
//! and the fields in conflict are listed.

use std::sync::OnceLock;

use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_server::backend::Backend;
use gridwork_server::postgres::PgBackend;
use gridwork_tests::cluster::new_database;
use proptest::prelude::*;

const T0: u64 = 1_800_000_000_000;

#[derive(Clone, Debug)]
enum Step {
    /// A replica writes a field, with any timestamp.
    Write { replica: usize, field: usize, ms: u64 },
    /// One replica merges another's register.
    Exchange { from: usize, to: usize, field: usize },
    /// The server receives a replica's register.
    Deliver { from: usize, field: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..4, 0usize..3, 1u64..60).prop_map(|(replica, field, ms)| Step::Write { replica, field, ms }),
        2 => (0usize..4, 0usize..4, 0usize..3).prop_map(|(from, to, field)| Step::Exchange { from, to, field }),
        3 => (0usize..4, 0usize..3).prop_map(|(from, field)| Step::Deliver { from, field }),
    ]
}

/// One backend on one database for every case; each case has its record.
fn backend() -> &'static (PgBackend, tokio::runtime::Runtime) {
    static BACKEND: OnceLock<(PgBackend, tokio::runtime::Runtime)> = OnceLock::new();
    BACKEND.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let backend = PgBackend::connect(&new_database(), runtime.handle().clone()).expect("connects");
        (backend, runtime)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).map_or(60, |c: u32| c / 16),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_postgres_backend_merges_like_the_merge_engine(steps in prop::collection::vec(step(), 1..80)) {
        let (backend, _) = backend();
        let fields = ["phone", "room", "notes"];
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).unwrap();
        let id = RecordId::from_parts(T0, random);
        let base = |field: &str, value: &str| FieldState {
            field: field.into(),
            register: Register::first_write(Value::from(value), DeviceId(50), Hlc::new(T0, 0)),
        };
        let create = RecordChanges { id, kind: Kind::Resident, fields: vec![base("grid", "G1"), base("name", "测试")] };
        backend.write(|w| Ok(w.apply(vec![create])?)).unwrap();
        let mut replicas: Vec<Vec<Option<Register<Value>>>> = vec![vec![None; 3]; 4];
        let mut reference: Vec<Option<Register<Value>>> = vec![None; 3];
        let mut written = 0u32;
        for step in steps {
            match step {
                Step::Write { replica, field, ms } => {
                    written += 1;
                    let value: Value = match fields[field] {
                        "phone" => format!("139{:08}", written).into(),
                        other => format!("{other}-{written}").into(),
                    };
                    let (device, hlc) = (DeviceId(replica as u32 + 1), Hlc::new(T0 + ms, 0));
                    match &mut replicas[replica][field] {
                        Some(register) => { register.write(value, device, hlc); }
                        empty @ None => *empty = Some(Register::first_write(value, device, hlc)),
                    }
                }
                Step::Exchange { from, to, field } => {
                    if let Some(theirs) = replicas[from][field].clone() {
                        match &mut replicas[to][field] {
                            Some(ours) => { ours.merge(theirs); }
                            empty @ None => *empty = Some(theirs),
                        }
                    }
                }
                Step::Deliver { from, field } => {
                    let Some(register) = replicas[from][field].clone() else { continue };
                    match &mut reference[field] {
                        Some(ours) => { ours.merge(register.clone()); }
                        empty @ None => *empty = Some(register.clone()),
                    }
                    let change = RecordChanges { id, kind: Kind::Resident, fields: vec![FieldState { field: fields[field].into(), register }] };
                    backend.write(|w| Ok(w.apply(vec![change])?)).unwrap();
                    let (stored, conflicts) = backend
                        .read(|r| Ok((r.export(Kind::Resident, id)?, r.conflicts(None, 100_000)?)))
                        .unwrap();
                    let stored = stored.expect("the record is stored");
                    let held = stored.fields.iter().find(|f| f.field == fields[field]).map(|f| &f.register);
                    prop_assert_eq!(held, reference[field].as_ref());
                    let conflicted = conflicts.iter().filter(|c| c.id == id).count();
                    prop_assert_eq!(conflicted, reference.iter().flatten().filter(|r| r.in_conflict()).count());
                }
            }
        }
    }
}
