//! The case flow over the data-access trait: receiving a case (its place
//! in the flow, its deadlines counted from now by the server's clock, the
//! first line of its trail), taking a step (the rules in `cases.rs`, the
//! trail, and the case record's fields written back so the step reaches
//! the reporting worker's tablet), and who may see which case. The rules
//! of steps are `cases.rs`'s; counting working days is `deadlines.rs`'s.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use gridwork_domain::{Kind, RecordId, Value};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::admin::Role;
use gridwork_protocol::cases::{CaseStepInfo, CaseSummary, CaseView, StepRequest};

use crate::backend::{CaseFlowRow, CaseStepRow, Category, Reads, Writes};
use crate::cases::{self, Actor, Flow, Status, StepError};
use crate::deadlines::{Calendar, DayKind, Due, Limit};
use crate::storage::{CaseReport, Department, Principal, Result, StorageError};

/// The city's time zone, which deadlines count working days in.
pub const CITY_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// A case is "due soon" within this long of its deadline.
const DUE_SOON_MS: u64 = 24 * 60 * 60 * 1000;

/// The calendar as stored.
fn calendar(r: &mut dyn Reads) -> Result<Calendar> {
    let (days, years) = r.calendar()?;
    let days = days.into_iter().filter_map(|(day, kind)| {
        let day: NaiveDate = day.parse().ok()?;
        let kind = match kind.as_str() {
            "holiday" => DayKind::Holiday,
            "workday" => DayKind::Workday,
            _ => return None,
        };
        Some((day, kind))
    });
    Ok(Calendar::new(days, years))
}

/// A category's limits: to solve a case (7 working days when the category
/// is unknown or its limit unreadable) and to be on site, if any.
fn limits(category: Option<&Category>) -> (Limit, Option<Limit>) {
    let solve = category.and_then(|c| Limit::parse(&c.solve_limit)).unwrap_or(Limit::WorkingDays(7));
    (solve, category.and_then(|c| c.on_site_limit.as_deref()).and_then(Limit::parse))
}

/// When a case received at `received_ms` is due under `category`'s
/// limits: to be solved, and on site.
fn due_dates(calendar: &Calendar, category: Option<&Category>, received_ms: u64) -> (Due, Option<u64>) {
    let (solve, on_site) = limits(category);
    let due = crate::deadlines::due(calendar, CITY_ZONE, received_ms, solve);
    (due, on_site.map(|limit| crate::deadlines::due(calendar, CITY_ZONE, received_ms, limit).at_ms))
}

/// A line of a case's trail at `at_ms`, with the flow's status and
/// department as they are after the step; who took it and the rest are
/// the caller's to fill in.
fn trail_line(flow: &CaseFlowRow, step: &str, at_ms: u64) -> CaseStepRow {
    CaseStepRow {
        case_id: flow.case_id,
        at_ms,
        step: step.to_owned(),
        user_id: None,
        device_id: None,
        from_status: None,
        to_status: flow.status.clone(),
        department: flow.department.clone(),
        note: None,
    }
}

/// The refusal of a department that does not exist.
pub fn unknown_department(code: &str) -> StorageError {
    StorageError::Said {
        code: gridwork_protocol::codes::ErrorCode::Invalid,
        en: format!("there is no department with code `{code}`"),
        zh: format!("没有编码为`{code}`的部门"),
    }
}

/// The value of one of a record's fields.
fn value_of<'a>(record: &'a RecordChanges, field: &str) -> Option<&'a Value> {
    record.fields.iter().find(|f| f.field == field).map(|f| f.register.value())
}

/// A latitude's or longitude's value as a number.
fn degrees(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        _ => None,
    }
}

fn text_of(record: &RecordChanges, field: &str) -> Option<String> {
    value_of(record, field).and_then(Value::as_text).map(str::to_owned)
}

/// An instant as the case record's `deadline` holds it (RFC 3339 with the
/// city's offset, `+08:00`), to the second.
pub fn rfc3339(ms: u64) -> String {
    CITY_ZONE
        .timestamp_millis_opt(ms as i64)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
        .unwrap_or_default()
}

/// After a device's push touched the case `id`: receives it if it is
/// reported and new to the flow, and takes what the tablet may decide
/// itself as steps: a returned case reported again, a small matter the
/// worker closed in the grid (小事不出格). Whatever else the tablet wrote
/// of the centre's fields (status, department, deadline) is written back
/// as the flow has it: the flow, not the record, is the authority.
pub fn after_push(
    w: &mut dyn Writes,
    id: RecordId,
    now_ms: u64,
    user_id: &str,
    device_id: &str,
) -> Result<()> {
    let Some(record) = w.export(Kind::Case, id)? else { return Ok(()) };
    let Some(mut flow) = w.case_flow(id)? else {
        // A small matter closed in the grid before the tablet first
        // synced: received, then closed, both in the trail.
        let closed_offline = text_of(&record, "status").as_deref() == Some(Status::Closed.as_str())
            && value_of(&record, "handled_in_grid").is_some_and(|v| *v == Value::Bool(true));
        if closed_offline {
            w.put_record(Kind::Case, Some(id), &[("status", Value::Text(Status::Reported.as_str().into()))])?;
        }
        receive(w, id, now_ms, Some(user_id), Some(device_id))?;
        if w.case_flow(id)?.is_none() {
            return Ok(()); // a draft, deleted, or from before the flow
        }
        if closed_offline {
            w.put_record(Kind::Case, Some(id), &[("status", Value::Text(Status::Closed.as_str().into()))])?;
        }
        return after_push(w, id, now_ms, user_id, device_id);
    };
    let status = text_of(&record, "status").unwrap_or_default();
    let in_grid = value_of(&record, "handled_in_grid").is_some_and(|v| *v == Value::Bool(true));
    let open = Status::parse(&flow.status)
        .is_some_and(|s| matches!(s, Status::Reported | Status::Accepted | Status::Returned));
    let step = if status == flow.status {
        None
    } else if status == Status::Reported.as_str() && flow.status == Status::Returned.as_str() {
        Some(("report", Status::Reported, None))
    } else if status == Status::Closed.as_str() && in_grid && open {
        Some(("close", Status::Closed, text_of(&record, "result")))
    } else {
        None
    };
    // Moved to another grid from the tablet: the flow follows, so the
    // new grid's staff see it and the old grid's no longer do.
    if let Some(grid) = text_of(&record, "grid").filter(|g| *g != flow.grid) {
        let old = std::mem::replace(&mut flow.grid, grid.clone());
        if flow.handling_grid == old {
            flow.handling_grid = grid.clone();
        }
        flow.updated_at_ms = now_ms;
        w.save_case_flow(&flow)?;
        w.add_case_step(&CaseStepRow {
            user_id: Some(user_id.to_owned()),
            device_id: Some(device_id.to_owned()),
            from_status: Some(flow.status.clone()),
            note: Some(format!("{old} → {grid}")),
            ..trail_line(&flow, "move", now_ms)
        })?;
    }
    if let Some((name, to, note)) = step {
        let from = std::mem::replace(&mut flow.status, to.as_str().to_owned());
        if to == Status::Closed {
            flow.handled_in_grid = true;
            flow.handled_at_ms = Some(now_ms);
            flow.closed_at_ms = Some(now_ms);
        }
        flow.updated_at_ms = now_ms;
        w.save_case_flow(&flow)?;
        w.add_case_step(&CaseStepRow {
            user_id: Some(user_id.to_owned()),
            device_id: Some(device_id.to_owned()),
            from_status: Some(from),
            note,
            ..trail_line(&flow, name, now_ms)
        })?;
    }
    // The centre's fields as the flow has them.
    let mut fields: Vec<(&str, Value)> = Vec::new();
    if status != flow.status {
        fields.push(("status", Value::Text(flow.status.clone())));
    }
    if text_of(&record, "department") != flow.department {
        fields.push(("department", flow.department.clone().map_or(Value::Null, Value::Text)));
    }
    if in_grid != flow.handled_in_grid {
        fields.push(("handled_in_grid", Value::Bool(flow.handled_in_grid)));
    }
    let deadline = rfc3339(flow.due_at_ms);
    if text_of(&record, "deadline").as_deref() != Some(deadline.as_str()) {
        fields.push(("deadline", Value::Text(deadline)));
    }
    if !fields.is_empty() {
        w.put_record(Kind::Case, Some(id), &fields)?;
    }
    Ok(())
}

/// Receives the case `id` if it is reported and the server has not yet:
/// its place in the flow, its deadlines from `now_ms`, `report` in its
/// trail, its `deadline` written back to the record. Drafts wait; a case
/// in another status with no place in the flow (from before the server
/// kept one) is left as it is.
pub fn receive(
    w: &mut dyn Writes,
    id: RecordId,
    now_ms: u64,
    user_id: Option<&str>,
    device_id: Option<&str>,
) -> Result<()> {
    if w.case_flow(id)?.is_some() {
        return Ok(());
    }
    let Some(record) = w.export(Kind::Case, id)? else { return Ok(()) };
    let deleted = value_of(&record, "deleted").is_some_and(|v| *v == Value::Bool(true));
    // Only a case reported (not a draft, and not one that was in some
    // other state before the server kept the flow) starts it.
    let status = text_of(&record, "status").unwrap_or_default();
    if deleted || status != Status::Reported.as_str() {
        return Ok(());
    }
    let (Some(grid), Some(category)) = (text_of(&record, "grid"), text_of(&record, "category")) else {
        return Ok(());
    };
    let limits = w.category(&category)?;
    let (due, on_site_due) = due_dates(&calendar(w)?, limits.as_ref(), now_ms);
    let row = CaseFlowRow {
        case_id: id,
        grid: grid.clone(),
        handling_grid: grid,
        category,
        status: Status::Reported.as_str().to_owned(),
        department: None,
        received_at_ms: now_ms,
        due_at_ms: due.at_ms,
        on_site_due_at_ms: on_site_due,
        handled_at_ms: None,
        closed_at_ms: None,
        handled_in_grid: false,
        satisfaction: None,
        updated_at_ms: now_ms,
    };
    w.save_case_flow(&row)?;
    w.add_case_step(&CaseStepRow {
        user_id: user_id.map(str::to_owned),
        device_id: device_id.map(str::to_owned),
        ..trail_line(&row, "report", now_ms)
    })?;
    // The status the tablet gave stays for `after_push` to take as a step
    // or to write back.
    w.put_record(Kind::Case, Some(id), &[("deadline", Value::Text(rfc3339(due.at_ms)))])?;
    Ok(())
}

/// Counts the deadline of every open case again (after the calendar or a
/// category's limits changed): the cases whose deadline moved, each
/// written back to its record.
pub fn recount_open_cases(w: &mut dyn Writes) -> Result<usize> {
    let calendar = calendar(w)?;
    let categories: std::collections::HashMap<String, Category> =
        w.categories()?.into_iter().map(|c| (c.code.clone(), c)).collect();
    let mut moved = 0;
    let mut after = None;
    loop {
        let query = crate::backend::CaseQuery { open_only: true, after, limit: 500, ..Default::default() };
        let page = w.case_page(&query)?;
        let Some(last) = page.last() else { return Ok(moved) };
        after = Some((last.received_at_ms, last.case_id));
        for mut flow in page {
            let (due, on_site_due) =
                due_dates(&calendar, categories.get(&flow.category), flow.received_at_ms);
            if (due.at_ms, on_site_due) != (flow.due_at_ms, flow.on_site_due_at_ms) {
                flow.due_at_ms = due.at_ms;
                flow.on_site_due_at_ms = on_site_due;
                w.save_case_flow(&flow)?;
                w.put_record(
                    Kind::Case,
                    Some(flow.case_id),
                    &[("deadline", Value::Text(rfc3339(due.at_ms)))],
                )?;
                moved += 1;
            }
        }
    }
}

/// Whether `who` may see the case: admins every case; staff the cases of
/// their part of the tree (`scope`, every grid when city-wide), by where
/// the case is or whose centre handles it; a handler those with their
/// department.
pub fn visible(who: &Principal, department: Option<&str>, scope: &[String], flow: &CaseFlowRow) -> bool {
    match who.role {
        Role::Admin => true,
        Role::Staff => scope.iter().any(|g| *g == flow.grid || *g == flow.handling_grid),
        Role::Handler => department.is_some() && flow.department.as_deref() == department,
        Role::Worker => false,
    }
}

/// The list's view of a case.
pub fn summary(flow: &CaseFlowRow, record: Option<&RecordChanges>, now_ms: u64) -> CaseSummary {
    let open = Status::parse(&flow.status).is_some_and(Status::is_open);
    CaseSummary {
        id: flow.case_id,
        grid: flow.grid.clone(),
        handling_grid: flow.handling_grid.clone(),
        category: flow.category.clone(),
        status: flow.status.clone(),
        department: flow.department.clone(),
        description: record.and_then(|r| text_of(r, "description")).unwrap_or_default(),
        received_at_ms: flow.received_at_ms,
        due_at_ms: flow.due_at_ms,
        on_site_due_at_ms: flow.on_site_due_at_ms,
        overdue: open && now_ms > flow.due_at_ms,
        due_soon: open && now_ms <= flow.due_at_ms && flow.due_at_ms - now_ms <= DUE_SOON_MS,
        handled_in_grid: flow.handled_in_grid,
        latitude: record.and_then(|r| degrees(value_of(r, "latitude"))),
        longitude: record.and_then(|r| degrees(value_of(r, "longitude"))),
    }
}

/// The flow's value of a case record's field when `value` is not it, for
/// the fields the flow owns (status, department, deadline, handled in the
/// grid, grid); `None` when they agree or the flow does not own the field.
pub fn disagrees(flow: &CaseFlowRow, field: &str, value: &Value) -> Option<Value> {
    let owned = owned_value(flow, field)?;
    let same = match (field, value) {
        // The record holds nothing until a case is handled in its grid.
        ("handled_in_grid", Value::Null) => owned == Value::Bool(false),
        _ => owned == *value,
    };
    (!same).then_some(owned)
}

/// The case fields the flow owns: what a tablet writes of them is written
/// back as the flow has it.
pub const OWNED: [&str; 5] = ["status", "department", "deadline", "handled_in_grid", "grid"];

fn owned_value(flow: &CaseFlowRow, field: &str) -> Option<Value> {
    Some(match field {
        "status" => Value::Text(flow.status.clone()),
        "department" => flow.department.clone().map_or(Value::Null, Value::Text),
        "deadline" => Value::Text(rfc3339(flow.due_at_ms)),
        "handled_in_grid" => Value::Bool(flow.handled_in_grid),
        "grid" => Value::Text(flow.grid.clone()),
        _ => return None,
    })
}

/// The whole case for who may see it.
pub fn view(r: &mut dyn Reads, flow: &CaseFlowRow, now_ms: u64) -> Result<CaseView> {
    let record = r.export(Kind::Case, flow.case_id)?;
    let fields = record
        .as_ref()
        .map(|rec| rec.fields.iter().map(|f| (f.field.clone(), f.register.value().clone())).collect())
        .unwrap_or_default();
    let mut steps = Vec::new();
    for (step_id, step) in r.case_steps(flow.case_id)? {
        // Who took it: a person, or an integration key (a case a city
        // system filed) by its name.
        let user_name = match &step.user_id {
            Some(user) => match r.user(user)? {
                Some(user) => Some(user.name),
                None => r.integration_key(user)?.map(|k| k.name),
            },
            None => None,
        };
        steps.push(CaseStepInfo {
            id: step_id,
            at_ms: step.at_ms,
            step: step.step,
            user_id: step.user_id,
            user_name,
            device_id: step.device_id,
            from_status: step.from_status,
            to_status: step.to_status,
            department: step.department,
            note: step.note,
        });
    }
    let calendar = calendar(r)?;
    let category = r.category(&flow.category)?;
    let (Due { unknown_years, .. }, _) = due_dates(&calendar, category.as_ref(), flow.received_at_ms);
    Ok(CaseView {
        summary: summary(flow, record.as_ref(), now_ms),
        fields,
        steps,
        uncounted_years: unknown_years.into_iter().collect(),
        open_steps: Vec::new(),
    })
}

/// Names a list of reports looks up once each: departments by code, grids'
/// names by code.
#[derive(Debug, Default)]
pub struct ReportNames {
    departments: std::collections::HashMap<String, Option<Department>>,
    grids: std::collections::HashMap<String, Option<String>>,
}

/// What a city system may be told of a case (`crate::open311`): the
/// flow's facts and, of the record, only the description and where it
/// happened. The reporter, their phone, the resident concerned, photos and
/// who took each step are never read into it.
pub fn report(r: &mut dyn Reads, flow: &CaseFlowRow, names: &mut ReportNames) -> Result<CaseReport> {
    let record = r.export(Kind::Case, flow.case_id)?;
    let number = |field: &str| match record.as_ref().and_then(|rec| value_of(rec, field)) {
        Some(Value::Float(x)) => Some(*x),
        Some(Value::Int(n)) => Some(*n as f64),
        _ => None,
    };
    let (latitude, longitude) = (number("latitude"), number("longitude"));
    let department = match &flow.department {
        Some(code) => match names.departments.get(code) {
            Some(found) => found.clone(),
            None => {
                let found = r.department(code)?;
                names.departments.insert(code.clone(), found.clone());
                found
            }
        },
        None => None,
    };
    let handling_grid_name = match names.grids.get(&flow.handling_grid) {
        Some(name) => name.clone(),
        None => {
            let name = r.grid_outline(&flow.handling_grid)?.and_then(|grid| text_of(&grid, "name"));
            names.grids.insert(flow.handling_grid.clone(), name.clone());
            name
        }
    };
    let latest_note = r.case_steps(flow.case_id)?.pop().and_then(|(_, step)| step.note);
    Ok(CaseReport {
        id: flow.case_id,
        grid: flow.grid.clone(),
        category: flow.category.clone(),
        status: flow.status.clone(),
        department,
        handling_grid: flow.handling_grid.clone(),
        handling_grid_name,
        description: record.as_ref().and_then(|rec| text_of(rec, "description")).unwrap_or_default(),
        location: record.as_ref().and_then(|rec| text_of(rec, "location")),
        latitude,
        longitude,
        received_at_ms: flow.received_at_ms,
        updated_at_ms: flow.updated_at_ms,
        due_at_ms: flow.due_at_ms,
        latest_note,
    })
}

/// Takes `request` on the case in `flow` for `who` (whose department is
/// `department`, for a handler): the new place in the flow, the step in
/// the trail, the record's fields written back. Visibility is the
/// caller's to check first.
pub fn take_step(
    w: &mut dyn Writes,
    who: &Principal,
    department: Option<&str>,
    mut flow: CaseFlowRow,
    request: &StepRequest,
    now_ms: u64,
) -> Result<CaseFlowRow> {
    let (state, actor) = state_and_actor(w, who, department, &flow)?;
    let outcome = cases::take(&state, &actor, request).map_err(refused)?;
    if let Some(code) = &outcome.department
        && outcome.department != flow.department
        && w.department(code)?.is_none()
    {
        return Err(unknown_department(code));
    }
    let step = request.step.expect("take() refuses a request without a step");
    let note = request.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    let from = flow.status.clone();
    flow.status = outcome.status.as_str().to_owned();
    flow.department = outcome.department.clone();
    flow.handling_grid = outcome.handling_grid.clone();
    flow.handled_in_grid = flow.handled_in_grid || outcome.handled_in_grid;
    if outcome.status == Status::Handled {
        flow.handled_at_ms = Some(now_ms);
    }
    if outcome.status == Status::Closed {
        flow.closed_at_ms = Some(now_ms);
    }
    let mut note = note;
    if let (cases::Step::Visit, Some(satisfaction)) = (step, request.satisfaction) {
        flow.satisfaction = Some(satisfaction.as_str().to_owned());
        // The answer goes in the trail too, which nothing changes.
        let answer = format!("satisfaction: {}", satisfaction.as_str());
        note = Some(match note {
            Some(note) => format!("{answer}; {note}"),
            None => answer,
        });
    }
    flow.updated_at_ms = now_ms;
    w.save_case_flow(&flow)?;
    w.add_case_step(&CaseStepRow {
        user_id: Some(who.user_id.clone()),
        device_id: who.device.as_ref().map(|d| d.id.clone()),
        from_status: Some(from),
        note: note.clone(),
        ..trail_line(&flow, step.as_str(), now_ms)
    })?;
    // What the reporting worker's tablet shows of the case.
    let mut fields: Vec<(&str, Value)> = vec![("status", Value::Text(flow.status.clone()))];
    fields.push(("department", flow.department.clone().map_or(Value::Null, Value::Text)));
    if let (cases::Step::Handle | cases::Step::Close, Some(note)) = (step, &note) {
        fields.push(("result", Value::Text(note.clone())));
    }
    if outcome.handled_in_grid {
        fields.push(("handled_in_grid", Value::Bool(true)));
    }
    w.put_record(Kind::Case, Some(flow.case_id), &fields)?;
    Ok(flow)
}

/// The case's state as the rules see it, and who is acting.
fn state_and_actor(
    r: &mut dyn Reads,
    who: &Principal,
    department: Option<&str>,
    flow: &CaseFlowRow,
) -> Result<(Flow, Actor)> {
    let status = Status::parse(&flow.status)
        .ok_or_else(|| StorageError::Internal(format!("a case in the unknown status {}", flow.status)))?;
    let actor = match (who.role, department) {
        (Role::Handler, Some(department)) => Actor::Handler { department: department.to_owned() },
        _ => Actor::Centre,
    };
    let parent_grid = r.grid_parent(&flow.handling_grid)?.flatten();
    let state = Flow {
        status,
        department: flow.department.clone(),
        handling_grid: flow.handling_grid.clone(),
        parent_grid,
    };
    Ok((state, actor))
}

/// The steps `who` may take on the case now (what they must add, a note
/// or a department, aside): the console offers these.
pub fn open_steps(
    r: &mut dyn Reads,
    who: &Principal,
    department: Option<&str>,
    flow: &CaseFlowRow,
) -> Result<Vec<cases::Step>> {
    let (state, actor) = state_and_actor(r, who, department, flow)?;
    Ok(cases::open_steps(&state, &actor))
}

/// A refused step as the storage's error: named in both languages.
fn refused(error: StepError) -> StorageError {
    if let StepError::Needs { what, .. } = &error {
        let field = match *what {
            "a department" => "department",
            "a note" => "note",
            "a satisfaction" => "satisfaction",
            _ => "step",
        };
        return gridwork_domain::ValidationError::required(field).into();
    }
    let code = match error {
        StepError::NotYourDepartment => gridwork_protocol::codes::ErrorCode::Forbidden,
        StepError::CentreOnly { .. } => gridwork_protocol::codes::ErrorCode::Forbidden,
        _ => gridwork_protocol::codes::ErrorCode::Conflict,
    };
    StorageError::Said { code, en: error.to_string(), zh: error.zh() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> CaseFlowRow {
        CaseFlowRow {
            case_id: RecordId::from_parts(1_780_000_000_000, [7; 10]),
            grid: "C1-01".into(),
            handling_grid: "C1-01".into(),
            category: "utilities".into(),
            status: "dispatched".into(),
            department: Some("water".into()),
            received_at_ms: 1_780_000_000_000,
            due_at_ms: 1_780_300_000_000,
            on_site_due_at_ms: None,
            handled_at_ms: None,
            closed_at_ms: None,
            handled_in_grid: false,
            satisfaction: None,
            updated_at_ms: 1_780_000_000_000,
        }
    }

    /// Settling a conflict on a field the flow owns keeps only the flow's
    /// value; other fields are not the flow's to decide.
    #[test]
    fn the_flow_owns_status_department_deadline_grid_and_handled_in_grid() {
        let flow = flow();
        assert_eq!(
            disagrees(&flow, "status", &Value::Text("closed".into())),
            Some(Value::Text("dispatched".into()))
        );
        assert_eq!(disagrees(&flow, "status", &Value::Text("dispatched".into())), None);
        assert_eq!(disagrees(&flow, "department", &Value::Null), Some(Value::Text("water".into())));
        assert_eq!(disagrees(&flow, "department", &Value::Text("water".into())), None);
        assert_eq!(disagrees(&flow, "grid", &Value::Text("C1-02".into())), Some(Value::Text("C1-01".into())));
        assert_eq!(disagrees(&flow, "deadline", &Value::Text(rfc3339(flow.due_at_ms))), None);
        assert!(disagrees(&flow, "deadline", &Value::Text(rfc3339(flow.due_at_ms + 1000))).is_some());
        assert_eq!(disagrees(&flow, "handled_in_grid", &Value::Null), None, "nothing written yet is false");
        assert_eq!(disagrees(&flow, "handled_in_grid", &Value::Bool(true)), Some(Value::Bool(false)));
        assert_eq!(disagrees(&flow, "description", &Value::Text("anything".into())), None);
        for field in Kind::Case.def().fields {
            assert_eq!(
                owned_value(&flow, field.name).is_some(),
                OWNED.contains(&field.name),
                "{}",
                field.name
            );
        }
    }
}
