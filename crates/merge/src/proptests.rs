//! Property tests of the merge laws on whole replicated histories.
//!
//! A world of 5 to 7 replicas writes a few contended fields with clocks that
//! may be a year off, and exchanges versions through a network that delivers
//! in any order, duplicates, drops and re-sends. The test keeps its own
//! ground truth of who had seen which write, independent of version vectors,
//! and checks at the end, after a final re-send of everything:
//!
//! - every replica holds exactly the same registers, losers included, so the
//!   conflicts recorded are the same everywhere;
//! - each register's versions are exactly the writes no other write had
//!   seen, so a write made after seeing another always wins over it, whatever
//!   the clocks said, and no concurrent overwrite is lost;
//! - the winner is the highest (HLC, device) among them, and the register's
//!   context has seen every write;
//! - merge is commutative, associative and idempotent on the states reached.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gridwork_domain::DeviceId;
use proptest::prelude::*;

use crate::hlc::Hlc;
use crate::register::{Register, Version};
use crate::vv::VersionVector;

type Key = (u8, u8);
type Dot = (DeviceId, u32);

const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;
const START_MS: u64 = 1_750_000_000_000;

#[derive(Clone, Debug)]
enum Step {
    Write {
        replica: usize,
        key: Key,
    },
    /// Send the sender's versions of one key, or of every key.
    Send {
        from: usize,
        to: usize,
        key: Option<Key>,
    },
    /// Deliver a queued message; `keep` leaves a copy queued (a duplicate).
    Deliver {
        pick: usize,
        keep: bool,
    },
    Drop {
        pick: usize,
    },
    Advance {
        ms: u64,
    },
}

struct Replica {
    device: DeviceId,
    skew_ms: i64,
    clock: Hlc,
    state: BTreeMap<Key, Register<u32>>,
}

struct Message {
    to: usize,
    registers: Vec<(Key, Register<u32>)>,
}

struct World {
    replicas: Vec<Replica>,
    network: Vec<Message>,
    now_ms: u64,
    next_value: u32,
    /// Ground truth: for each write, the writes its writer had seen.
    past: HashMap<(Key, Dot), BTreeSet<Dot>>,
    /// Every write made, per key, with its value and HLC.
    writes: BTreeMap<Key, Vec<(Dot, u32, Hlc)>>,
}

impl World {
    fn new(skews: &[i64]) -> World {
        let replicas = skews
            .iter()
            .enumerate()
            // Device numbers are scrambled so they do not follow replica order.
            .map(|(i, &skew_ms)| Replica {
                device: DeviceId((i as u32 * 7 + 3) % 11),
                skew_ms,
                clock: Hlc::ZERO,
                state: BTreeMap::new(),
            })
            .collect();
        World {
            replicas,
            network: Vec::new(),
            now_ms: START_MS,
            next_value: 0,
            past: HashMap::new(),
            writes: BTreeMap::new(),
        }
    }

    fn step(&mut self, step: &Step) {
        let n = self.replicas.len();
        match *step {
            Step::Write { replica, key } => self.write(replica % n, key),
            Step::Send { from, to, key } => {
                let (from, to) = (from % n, to % n);
                let registers = self.replicas[from]
                    .state
                    .iter()
                    .filter(|(k, _)| key.is_none_or(|key| **k == key))
                    .map(|(k, reg)| (*k, reg.clone()))
                    .collect();
                self.network.push(Message { to, registers });
            }
            Step::Deliver { pick, keep } => {
                if !self.network.is_empty() {
                    let i = pick % self.network.len();
                    let message = if keep {
                        Message { to: self.network[i].to, registers: self.network[i].registers.clone() }
                    } else {
                        self.network.swap_remove(i)
                    };
                    self.deliver(message);
                }
            }
            Step::Drop { pick } => {
                if !self.network.is_empty() {
                    let i = pick % self.network.len();
                    self.network.swap_remove(i);
                }
            }
            Step::Advance { ms } => self.now_ms += ms,
        }
    }

    fn write(&mut self, r: usize, key: Key) {
        let replica = &mut self.replicas[r];
        let wall = (self.now_ms as i64 + replica.skew_ms) as u64;
        replica.clock = replica.clock.tick(wall);
        let value = self.next_value;
        self.next_value += 1;
        let (device, hlc) = (replica.device, replica.clock);
        let seen: BTreeSet<Dot> = match replica.state.get(&key) {
            Some(reg) => reg
                .versions()
                .iter()
                .flat_map(|v| self.past[&(key, v.dot())].iter().copied().chain([v.dot()]))
                .collect(),
            None => BTreeSet::new(),
        };
        let dot = match replica.state.get_mut(&key) {
            Some(reg) => reg.write(value, device, hlc).dot(),
            None => {
                let reg = Register::first_write(value, device, hlc);
                let dot = reg.winner().dot();
                replica.state.insert(key, reg);
                dot
            }
        };
        assert!(self.past.insert((key, dot), seen).is_none(), "dot {dot:?} reused");
        self.writes.entry(key).or_default().push((dot, value, hlc));
    }

    fn deliver(&mut self, message: Message) {
        let replica = &mut self.replicas[message.to];
        for (key, register) in message.registers {
            for version in register.versions() {
                replica.clock = replica.clock.observe(version.hlc);
            }
            match replica.state.get_mut(&key) {
                Some(reg) => {
                    reg.merge(register);
                }
                None => {
                    replica.state.insert(key, register);
                }
            }
        }
    }

    /// Every replica sends everything to every other, in the given order.
    fn resend_everything(&mut self, order: &[usize]) {
        let n = self.replicas.len();
        let mut messages: Vec<Message> = Vec::new();
        for from in 0..n {
            for to in (0..n).filter(|&to| to != from) {
                let registers = self.replicas[from].state.iter().map(|(k, reg)| (*k, reg.clone())).collect();
                messages.push(Message { to, registers });
            }
        }
        // Deliver in a scrambled order: pick by the given indices.
        while !messages.is_empty() {
            let pick = order.get(messages.len() % order.len().max(1)).copied().unwrap_or(0);
            let message = messages.swap_remove(pick % messages.len());
            self.deliver(message);
        }
    }

    /// The writes no other write had seen, per key (the ground-truth frontier).
    fn unseen_writes(&self, key: Key) -> BTreeSet<Dot> {
        let writes = &self.writes[&key];
        writes
            .iter()
            .map(|w| w.0)
            .filter(|dot| !writes.iter().any(|other| self.past[&(key, other.0)].contains(dot)))
            .collect()
    }
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let key = (0u8..3, 0u8..2);
    prop_oneof![
        4 => (0usize..8, key.clone()).prop_map(|(replica, key)| Step::Write { replica, key }),
        3 => (0usize..8, 0usize..8, prop::option::of(key)).prop_map(|(from, to, key)| Step::Send { from, to, key }),
        4 => (any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(pick, keep)| Step::Deliver { pick, keep }),
        1 => any::<usize>().prop_map(|pick| Step::Drop { pick }),
        2 => (0u64..5_000).prop_map(|ms| Step::Advance { ms }),
    ]
}

fn skew_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), -YEAR_MS..YEAR_MS, Just(-YEAR_MS), Just(YEAR_MS), -2_000i64..2_000]
}

fn merged(a: &Register<u32>, b: &Register<u32>) -> Register<u32> {
    let mut out = a.clone();
    out.merge(b.clone());
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_and_keep_exactly_the_unseen_writes(
        skews in prop::collection::vec(skew_strategy(), 5..=7),
        steps in prop::collection::vec(step_strategy(), 1..250),
        order in prop::collection::vec(any::<usize>(), 1..20),
    ) {
        let mut world = World::new(&skews);
        for step in &steps {
            world.step(step);
        }

        // The laws, on the states the replicas reached (before the re-send,
        // while they still differ).
        for key in world.writes.keys().copied().collect::<Vec<_>>() {
            let states: Vec<&Register<u32>> =
                world.replicas.iter().filter_map(|r| r.state.get(&key)).collect();
            for (i, a) in states.iter().enumerate() {
                prop_assert_eq!(&merged(a, a), *a, "idempotent");
                let b = states[(i + 1) % states.len()];
                let c = states[(i + 2) % states.len()];
                prop_assert_eq!(merged(a, b), merged(b, a), "commutative");
                prop_assert_eq!(merged(&merged(a, b), c), merged(a, &merged(b, c)), "associative");
            }
        }

        world.resend_everything(&order);

        let first = &world.replicas[0].state;
        for replica in &world.replicas[1..] {
            prop_assert_eq!(&replica.state, first, "replicas differ");
        }
        for (key, reg) in first {
            let every_write = VersionVector::from_entries(world.writes[key].iter().map(|w| w.0));
            prop_assert_eq!(reg.context(), &every_write, "the context is every write of the key");
            let kept: BTreeSet<Dot> = reg.versions().iter().map(Version::dot).collect();
            prop_assert_eq!(&kept, &world.unseen_writes(*key), "key {:?}", key);
            let best = world.writes[key]
                .iter()
                .filter(|w| kept.contains(&w.0))
                .max_by_key(|w| (w.2, w.0.0, w.0.1))
                .expect("a register holds at least one write");
            prop_assert_eq!(reg.winner().dot(), best.0);
            prop_assert_eq!(*reg.value(), best.1);
            for version in reg.versions() {
                let written = world.writes[key].iter().find(|w| w.0 == version.dot()).unwrap();
                prop_assert_eq!((version.value, version.hlc), (written.1, written.2));
            }
        }
    }
}
