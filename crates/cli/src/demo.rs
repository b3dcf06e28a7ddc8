//! `gridwork demo`: the merge engine and the store at work, with no network.
//!
//! A server-role store (the centre) draws a grid tree; two device stores (two
//! grid workers' tablets) sync with it, register a resident, edit her offline
//! at the same time, sync again, and end identical, with the concurrent
//! overwrite kept for review until the centre settles it. Each step prints
//! what the stores hold, as JSON.

use std::sync::Arc;

use anyhow::{Context, Result};
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_store::{ManualClock, PullPosition, Role, Store};
use serde_json::json;

/// A sync without a network: push the outbox, pull what is new.
struct Link {
    cursor: u64,
}

impl Link {
    fn sync(&mut self, device: &mut Store, server: &mut Store) -> Result<(usize, usize)> {
        let outgoing = device.outgoing(gridwork_store::PageLimit::records(1000))?;
        let pushed = outgoing.records.len();
        server.apply_remote(outgoing.records)?;
        device.acknowledge(outgoing.up_to_counter)?;
        let mut pulled = 0;
        let mut position = PullPosition::start(self.cursor);
        loop {
            let page =
                server.changes_in_scope(position, None, None, gridwork_store::PageLimit::records(500))?;
            pulled += page.records.len();
            device.apply_remote(page.records)?;
            if !page.more {
                self.cursor = page.next;
                break;
            }
            position.after = page.next;
        }
        Ok((pushed, pulled))
    }
}

fn show(title: &str, value: serde_json::Value) -> Result<()> {
    println!("\n== {title}");
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

fn resident(store: &Store, id: RecordId) -> Result<serde_json::Value> {
    Ok(store.get(Kind::Resident, id)?.context("the resident is missing")?.to_json())
}

pub fn run() -> Result<()> {
    // 2024-05-06 09:00 Beijing time; the demo's clock moves by hand.
    let clock = Arc::new(ManualClock::new(1_714_957_200_000));
    let mut centre = Store::open_in_memory(Role::Server, clock.clone())?;
    let grids = [
        ("3307", "金华市", None, "city"),
        ("330702", "婺城区", Some("3307"), "district"),
        ("330702001", "城东街道", Some("330702"), "street"),
        ("330702001001", "东苑社区", Some("330702001"), "community"),
        ("330702001001-01", "东苑社区第一网格", Some("330702001001"), "unit"),
    ];
    for (code, name, parent, level) in grids {
        let mut fields = vec![("code", Value::from(code)), ("name", name.into()), ("level", level.into())];
        if let Some(parent) = parent {
            fields.push(("parent", parent.into()));
        }
        centre.put(Kind::Grid, None, &fields)?;
    }
    show(
        "The centre draws the grid tree",
        json!(grids.iter().map(|g| json!({"code": g.0, "name": g.1})).collect::<Vec<_>>()),
    )?;

    let mut tablets = Vec::new();
    for n in [1, 2] {
        let mut store = Store::open_in_memory(Role::Device, clock.clone())?;
        store.set_device_id(DeviceId(n))?;
        let mut link = Link { cursor: 0 };
        link.sync(&mut store, &mut centre)?;
        tablets.push((store, link));
    }
    let [(mut a, mut link_a), (mut b, mut link_b)] =
        <[_; 2]>::try_from(tablets).ok().context("two tablets")?;

    let id = a.put(
        Kind::Resident,
        None,
        &[
            ("grid", "330702001001-01".into()),
            ("name", "张秀英".into()),
            ("id_number", "330702194603150020".into()),
            ("phone", "138 0579 0001".into()),
            ("room", "3幢1单元201".into()),
            ("tags", Value::List(vec!["elderly_alone".into()])),
        ],
    )?;
    show("Tablet 1 registers a resident (phone normalised, ID number checked)", resident(&a, id)?)?;
    link_a.sync(&mut a, &mut centre)?;
    link_b.sync(&mut b, &mut centre)?;
    show("After syncing, tablet 2 has her too", resident(&b, id)?)?;

    clock.advance(60_000);
    a.put(Kind::Resident, Some(id), &[("phone", "13805790002".into())])?;
    clock.advance(30_000);
    b.put(Kind::Resident, Some(id), &[("phone", "13805790003".into()), ("notes", "儿子每周日探望".into())])?;
    show(
        "Both tablets edit her offline: tablet 1 the phone, tablet 2 (half a minute later) the phone and a note",
        json!({"tablet_1": resident(&a, id)?, "tablet_2": resident(&b, id)?}),
    )?;

    for _ in 0..2 {
        link_a.sync(&mut a, &mut centre)?;
        link_b.sync(&mut b, &mut centre)?;
    }
    let same = a.get(Kind::Resident, id)? == b.get(Kind::Resident, id)?
        && a.get(Kind::Resident, id)? == centre.get(Kind::Resident, id)?;
    show(
        "After syncing, all three hold the same record: the note merged, the later phone won",
        json!({"identical_everywhere": same, "record": resident(&centre, id)?}),
    )?;
    show(
        "The overwritten phone is kept for the centre to review",
        serde_json::to_value(centre.conflicts(10)?)?,
    )?;

    clock.advance(3_600_000);
    centre.put(Kind::Resident, Some(id), &[("phone", "13805790002".into())])?;
    link_a.sync(&mut a, &mut centre)?;
    link_b.sync(&mut b, &mut centre)?;
    show(
        "The centre calls her and settles the phone; the settlement reaches both tablets",
        json!({
            "tablet_1": resident(&a, id)?,
            "tablet_2": resident(&b, id)?,
            "open_conflicts": centre.conflicts(10)?.len(),
        }),
    )?;
    Ok(())
}
