//! Exports of the console's lists as a spreadsheet: CSV (UTF-8 with a byte
//! order mark, so Excel reads Chinese) or XLSX (`rust_xlsxwriter`); and of
//! the cases and the grids as GeoJSON, for GIS software.
//!
//! Everything devices send is untrusted: a cell whose text a spreadsheet
//! would run as a formula (starting, after any blanks or byte order mark,
//! with `=`, `+`, `-`, `@`, their full-width forms, a tab or a carriage
//! return) is written so that it stays text: in CSV with a leading `'`, in
//! XLSX as a string cell with Excel's quote prefix (shown as typed, kept as
//! text when edited). XLSX cells are strings or numbers, never formulas.
//!
//! Which rows go in is the caller's (the storage checks scope); this
//! module lays out their tables (the case list: [`case_table`]; the
//! registry's and a day's patrols or visits: [`record_table`]) and writes
//! them.

use std::collections::HashMap;

use chrono::TimeZone;
use gridwork_domain::kinds::CASE_STATUSES;
use gridwork_domain::{Choice, FieldType, Kind, Value};
use gridwork_protocol::admin::{Conflict, DeviceInfo, ParkedSummary, Role, UserInfo};
use gridwork_protocol::cases::{CaseSummary, Category, Department};
use gridwork_protocol::console::GridInfo;
use gridwork_protocol::registry::{ActivityPeriod, RecordItem};
use rust_xlsxwriter::Workbook;

use crate::flow::CITY_ZONE;

/// A file format: a spreadsheet, or GeoJSON (grids and cases only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    GeoJson,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "geojson" => Some(Format::GeoJson),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::GeoJson => "application/geo+json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::GeoJson => "geojson",
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

/// Whether a spreadsheet could read `text` as a formula.
fn formula_like(text: &str) -> bool {
    let start = text.trim_start_matches(['\u{feff}', ' ', '\u{a0}', '\u{3000}', '\n']);
    matches!(start.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠'))
        || matches!(text.chars().next(), Some('\t' | '\r'))
}

/// `text` as a spreadsheet keeps it as text (CSV).
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(text) { format!("'{text}").into() } else { text.into() }
}

/// The table as a file of `sheet`'s format.
pub fn write(sheet: Format, title: &str, header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, String> {
    match sheet {
        Format::GeoJson => Err("a table is written as a spreadsheet, not GeoJSON".into()),
        Format::Csv => {
            let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
            out.write_record(header).map_err(|e| e.to_string())?;
            for row in rows {
                out.write_record(row.iter().map(|cell| match cell {
                    Cell::Text(text) => neutralise(text).into_owned(),
                    Cell::Number(n) => n.to_string(),
                }))
                .map_err(|e| e.to_string())?;
            }
            out.into_inner().map_err(|e| e.to_string())
        }
        Format::Xlsx => {
            let mut book = Workbook::new();
            let page = book.add_worksheet();
            page.set_name(title).map_err(|e| e.to_string())?;
            let bold = rust_xlsxwriter::Format::new().set_bold();
            let as_text = rust_xlsxwriter::Format::new().set_quote_prefix();
            for (col, name) in header.iter().enumerate() {
                page.write_string_with_format(0, col as u16, *name, &bold).map_err(|e| e.to_string())?;
            }
            for (i, row) in rows.iter().enumerate() {
                let at = i as u32 + 1;
                for (col, cell) in row.iter().enumerate() {
                    match cell {
                        Cell::Text(text) if formula_like(text) => {
                            page.write_string_with_format(at, col as u16, text, &as_text)
                        }
                        Cell::Text(text) => page.write_string(at, col as u16, text),
                        Cell::Number(n) => page.write_number(at, col as u16, *n),
                    }
                    .map_err(|e| e.to_string())?;
                }
            }
            page.set_freeze_panes(1, 0).map_err(|e| e.to_string())?;
            book.save_to_buffer().map_err(|e| e.to_string())
        }
    }
}

/// Each worker's span of days: name, patrols, visits, days worked.
pub fn period_table(period: &ActivityPeriod, english: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if english {
        vec!["Grid worker", "Patrols", "Visits", "Days worked", "From", "To"]
    } else {
        vec!["网格员", "巡查次数", "走访次数", "在岗天数", "开始日期", "结束日期"]
    };
    let rows = period
        .workers
        .iter()
        .map(|w| {
            vec![
                w.worker.clone().into(),
                Cell::Number(f64::from(w.patrols)),
                Cell::Number(f64::from(w.visits)),
                Cell::Number(f64::from(w.days)),
                period.from.clone().into(),
                period.to.clone().into(),
            ]
        })
        .collect();
    (header, rows)
}

/// The cases as a GeoJSON FeatureCollection: a Point where the tablet had
/// a position (WGS-84), no geometry where it had none; the properties are
/// the list's columns (no reporter, no phone), names in one language.
pub fn cases_geojson(cases: &[CaseSummary], names: &Names) -> Vec<u8> {
    let (header, rows) = case_table(cases, names);
    let keys = [
        "id",
        "grid",
        "category",
        "status",
        "department",
        "description",
        "received",
        "due",
        "overdue",
        "handled_in_grid",
    ];
    debug_assert_eq!(header.len(), keys.len());
    let features: Vec<serde_json::Value> = cases
        .iter()
        .zip(rows)
        .map(|(case, row)| {
            let mut properties = serde_json::Map::new();
            for (key, cell) in keys.iter().zip(row) {
                let value = match cell {
                    Cell::Text(text) => serde_json::Value::String(text),
                    Cell::Number(n) => serde_json::json!(n),
                };
                properties.insert((*key).to_owned(), value);
            }
            properties.insert("grid_code".into(), case.grid.clone().into());
            let geometry = match (case.longitude, case.latitude) {
                (Some(lon), Some(lat)) => serde_json::json!({"type": "Point", "coordinates": [lon, lat]}),
                _ => serde_json::Value::Null,
            };
            serde_json::json!({"type": "Feature", "id": case.id.to_string(), "geometry": geometry, "properties": properties})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection", "features": features}))
        .expect("JSON serialises")
}

/// The grids as a GeoJSON FeatureCollection: each grid's own boundary
/// (the geometry of a Feature kept as one), none where it has none.
pub fn grids_geojson(grids: &[GridInfo]) -> Vec<u8> {
    let features: Vec<serde_json::Value> = grids
        .iter()
        .map(|grid| {
            let geometry = grid
                .boundary
                .as_deref()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .and_then(|shape| gridwork_domain::formats::boundary_geometry(&shape).cloned())
                .unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "type": "Feature",
                "id": grid.code,
                "geometry": geometry,
                "properties": {"code": grid.code, "name": grid.name, "parent": grid.parent, "level": grid.level},
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection", "features": features}))
        .expect("JSON serialises")
}

/// The grids as a table: code, name, parent, level, whether drawn.
pub fn grid_table(grids: &[GridInfo], english: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if english {
        vec!["Code", "Name", "Parent", "Level", "Boundary drawn"]
    } else {
        vec!["编码", "名称", "上级网格", "层级", "已绘制边界"]
    };
    let rows = grids
        .iter()
        .map(|g| {
            vec![
                g.code.clone().into(),
                g.name.clone().into(),
                g.parent.clone().unwrap_or_default().into(),
                g.level.clone().into(),
                yes_no(g.boundary.is_some(), english).into(),
            ]
        })
        .collect();
    (header, rows)
}

/// A time in the city's zone, to the minute; empty for none.
fn minute(ms: Option<u64>) -> String {
    ms.and_then(|ms| CITY_ZONE.timestamp_millis_opt(ms as i64).single())
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The enrolled devices: number, id, user, app version, enrolled, last
/// sync, changes still on the device, revoked.
pub fn device_table(devices: &[DeviceInfo], english: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if english {
        vec![
            "Number",
            "Device",
            "User",
            "App version",
            "Enrolled",
            "Last sync",
            "Pending changes",
            "Refused changes",
            "Revoked",
        ]
    } else {
        vec!["编号", "设备", "使用人", "应用版本", "注册时间", "最后同步", "待上传修改", "被拒修改", "已停用"]
    };
    let rows = devices
        .iter()
        .map(|d| {
            vec![
                Cell::Number(f64::from(d.number)),
                d.id.clone().into(),
                d.user_name.clone().into(),
                d.app_version.clone().into(),
                minute(Some(d.enrolled_at_ms)).into(),
                minute(d.last_sync_ms).into(),
                Cell::Number(d.pending as f64),
                Cell::Number(d.refused as f64),
                yes_no(d.revoked, english).into(),
            ]
        })
        .collect();
    (header, rows)
}

/// The accounts: name, role, grids, department, created.
pub fn user_table(users: &[UserInfo], english: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if english {
        vec!["Name", "Role", "Grids", "Department", "Created"]
    } else {
        vec!["账号", "角色", "负责网格", "所属部门", "创建时间"]
    };
    let role = |r: Role| match (r, english) {
        (Role::Admin, true) => "admin",
        (Role::Staff, true) => "centre staff",
        (Role::Worker, true) => "grid worker",
        (Role::Handler, true) => "department handler",
        (Role::Admin, false) => "系统管理员",
        (Role::Staff, false) => "中心工作人员",
        (Role::Worker, false) => "网格员",
        (Role::Handler, false) => "处置人员",
    };
    let rows = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone().into(),
                role(u.role).into(),
                u.grids.join("、").into(),
                u.department.clone().unwrap_or_default().into(),
                minute(Some(u.created_at_ms)).into(),
            ]
        })
        .collect();
    (header, rows)
}

/// The conflict inbox: one row per field, the value shown and the others.
pub fn conflict_table(conflicts: &[Conflict], english: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if english {
        vec!["Kind", "Record", "Field", "Current value", "Other values", "Writers", "Latest write"]
    } else {
        vec!["类型", "记录", "字段", "当前值", "其他值", "写入设备", "最近写入"]
    };
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::Text(t) => t.clone(),
        Value::List(items) => items.join("、"),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    let rows = conflicts
        .iter()
        .map(|c| {
            let def = c.kind.def();
            let field = def.fields.iter().find(|f| f.name == c.field);
            let label = field.map_or(c.field.as_str(), |f| if english { f.label.en } else { f.label.zh });
            let versions = std::iter::once(&c.winner).chain(&c.losers);
            vec![
                (if english { def.label.en } else { def.label.zh }).into(),
                c.id.to_string().into(),
                label.into(),
                text(&c.winner.value).into(),
                c.losers.iter().map(|l| text(&l.value)).collect::<Vec<_>>().join(" | ").into(),
                versions.clone().map(|v| format!("#{}", v.writer.0)).collect::<Vec<_>>().join(", ").into(),
                minute(versions.map(|v| v.at_ms).max()).into(),
            ]
        })
        .collect();
    (header, rows)
}

/// The parked refusals (without the values they carried).
pub fn parked_table(parked: &[ParkedSummary], names: &Names) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if names.english {
        vec!["Number", "When", "Device", "Kind", "Record", "Grid", "Refusal", "Field", "Message"]
    } else {
        vec!["编号", "时间", "设备", "类型", "记录", "网格", "拒绝代码", "字段", "原因"]
    };
    let rows = parked
        .iter()
        .map(|p| {
            let kind = Kind::parse(&p.kind).ok().map(|k| k.def().label);
            let grid = names.grid(p.grid.as_deref().unwrap_or_default());
            vec![
                Cell::Number(p.id as f64),
                minute(Some(p.at_ms)).into(),
                p.device_id.clone().into(),
                kind.map_or(p.kind.clone(), |l| (if names.english { l.en } else { l.zh }).to_owned()).into(),
                p.record.clone().into(),
                grid.into(),
                p.code.as_str().into(),
                p.field.clone().unwrap_or_default().into(),
                p.message.clone().into(),
            ]
        })
        .collect();
    (header, rows)
}

/// A choice's label in one language (its code if it is not one).
fn choice(choices: &[Choice], code: &str, english: bool) -> String {
    choices.iter().find(|c| c.code == code).map_or(code, |c| if english { c.en } else { c.zh }).to_owned()
}

/// A yes or a no, in one language.
fn yes_no(yes: bool, english: bool) -> &'static str {
    match (yes, english) {
        (true, true) => "yes",
        (false, true) => "no",
        (true, false) => "是",
        (false, false) => "否",
    }
}

/// Names to show instead of codes, in one language.
#[derive(Debug, Default)]
pub struct Names {
    pub english: bool,
    pub grids: HashMap<String, String>,
    pub categories: Vec<Category>,
    pub departments: Vec<Department>,
}

impl Names {
    /// A grid as a cell shows it: its name and code (the code alone when
    /// the name is unknown).
    pub fn grid(&self, code: &str) -> String {
        self.grids.get(code).map_or_else(|| code.to_owned(), |name| format!("{name} ({code})"))
    }
}

/// The case list's header and rows: times in the city's zone, statuses,
/// categories, departments and grids by name.
pub fn case_table(cases: &[CaseSummary], names: &Names) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    let header = if names.english {
        vec![
            "Case",
            "Grid",
            "Category",
            "Status",
            "Department",
            "Description",
            "Received",
            "Due",
            "Overdue",
            "Handled in the grid",
        ]
    } else {
        vec![
            "事件编号",
            "网格",
            "类别",
            "状态",
            "处置部门",
            "事件描述",
            "接收时间",
            "办理时限",
            "是否超期",
            "网格内解决",
        ]
    };
    let yes_no = |b: bool| yes_no(b, names.english);
    let category = |code: &str| {
        names
            .categories
            .iter()
            .find(|c| c.code == code)
            .map_or(code, |c| if names.english { &c.name_en } else { &c.name_zh })
            .to_owned()
    };
    let department = |code: &Option<String>| match code {
        None => String::new(),
        Some(code) => names
            .departments
            .iter()
            .find(|d| &d.code == code)
            .map_or(code.as_str(), |d| if names.english { &d.name_en } else { &d.name_zh })
            .to_owned(),
    };
    let rows = cases
        .iter()
        .map(|case| {
            vec![
                case.id.to_string().into(),
                names.grid(&case.grid).into(),
                category(&case.category).into(),
                choice(CASE_STATUSES, &case.status, names.english).into(),
                department(&case.department).into(),
                case.description.clone().into(),
                minute(Some(case.received_at_ms)).into(),
                minute(Some(case.due_at_ms)).into(),
                yes_no(case.overdue).into(),
                yes_no(case.handled_in_grid).into(),
            ]
        })
        .collect();
    (header, rows)
}

/// Fields a list's export leaves out: the record's own bookkeeping, and
/// what does not read as a cell (photos' digests, a route's points).
const NOT_EXPORTED: [&str; 4] = ["deleted", "grid", "attachments", "route"];

/// A list of records of one kind: their id and grid (by name), then every
/// field of the kind in the schema's order, labelled in one language,
/// choices and tags by their labels, numbers as numbers.
pub fn record_table(kind: Kind, items: &[RecordItem], names: &Names) -> (Vec<String>, Vec<Vec<Cell>>) {
    let fields: Vec<_> = kind.def().fields.iter().filter(|f| !NOT_EXPORTED.contains(&f.name)).collect();
    let (id, grid) = if names.english { ("Id", "Grid") } else { ("编号", "网格") };
    let mut header = vec![id.to_owned(), grid.to_owned()];
    header.extend(fields.iter().map(|f| if names.english { f.label.en } else { f.label.zh }.to_owned()));
    let label = |choices: &[Choice], code: &str| choice(choices, code, names.english);
    let rows = items
        .iter()
        .map(|item| {
            let grid = names.grid(item.grid.as_deref().unwrap_or_default());
            let mut row: Vec<Cell> = vec![item.id.to_string().into(), grid.into()];
            row.extend(fields.iter().map(|field| match (item.fields.get(field.name), &field.ty) {
                (None | Some(Value::Null), _) => Cell::Text(String::new()),
                (Some(Value::Text(code)), FieldType::Choice { choices }) => label(choices, code).into(),
                (Some(Value::List(codes)), FieldType::Tags { choices }) => {
                    codes.iter().map(|c| label(choices, c)).collect::<Vec<_>>().join("、").into()
                }
                (Some(Value::List(items)), _) => items.join("、").into(),
                (Some(Value::Int(n)), _) => Cell::Number(*n as f64),
                (Some(Value::Float(x)), _) => Cell::Number(*x),
                (Some(Value::Bool(b)), _) => yes_no(*b, names.english).into(),
                (Some(Value::Text(text)), _) => text.clone().into(),
            }));
            row
        })
        .collect();
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_stay_text() {
        for formula in
            ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\u{feff}=1+1", "＝1+1", " =1", "\u{3000}@x"]
        {
            assert!(neutralise(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(neutralise("井盖破损"), "井盖破损");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn csv_quotes_and_neutralises() {
        let bytes = write(
            Format::Csv,
            "cases",
            &["a", "b"],
            &[vec!["=HYPERLINK(\"x\")".into(), "一,二".into()], vec![Cell::Number(3.0), "x".into()]],
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text, "\u{feff}a,b\n\"'=HYPERLINK(\"\"x\"\")\",\"一,二\"\n3,x\n");
    }

    #[test]
    fn xlsx_is_a_zip() {
        let bytes = write(Format::Xlsx, "cases", &["a"], &[vec!["=1".into()]]).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
