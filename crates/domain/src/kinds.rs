//! The catalogue of record kinds: grids, buildings, households, residents,
//! patrol logs, visits, cases and tasks, with their fields, labels, choice
//! lists and cross-field rules.
//!
//! Append-only: a field's `tag` and a choice's `code` are stored on devices
//! and servers. New fields take new tags; retired ones keep theirs.

use crate::error::{Reason, ValidationError};
use crate::formats;
use crate::schema::{Choice, FieldDef, FieldType, Kind, KindDef, Label};
use crate::value::Value;

const fn field(name: &'static str, tag: u8, ty: FieldType, zh: &'static str, en: &'static str) -> FieldDef {
    FieldDef { name, tag, ty, required: false, label: Label { zh, en } }
}

const fn required(
    name: &'static str,
    tag: u8,
    ty: FieldType,
    zh: &'static str,
    en: &'static str,
) -> FieldDef {
    FieldDef { name, tag, ty, required: true, label: Label { zh, en } }
}

const fn choice(code: &'static str, zh: &'static str, en: &'static str) -> Choice {
    Choice { code, zh, en }
}

const DELETED: FieldDef = field("deleted", 0, FieldType::Bool, "已删除", "Deleted");
const GRID: FieldDef = required("grid", 1, FieldType::GridCode, "所属网格", "Grid");
const NAME: FieldType = FieldType::Text { max: 50 };
const LINE: FieldType = FieldType::Text { max: 200 };
const PARAGRAPH: FieldType = FieldType::Text { max: 5000 };
const LATITUDE: FieldType = FieldType::Float { min: -90.0, max: 90.0 };
const LONGITUDE: FieldType = FieldType::Float { min: -180.0, max: 180.0 };

pub const GRID_LEVELS: &[Choice] = &[
    choice("city", "市", "City"),
    choice("district", "县(区)", "District / county"),
    choice("street", "街道(镇)", "Street / town"),
    choice("community", "社区(村)", "Community / village"),
    choice("unit", "单元网格", "Unit grid"),
    choice("micro", "微网格", "Micro-grid"),
];

pub const BUILDING_USES: &[Choice] = &[
    choice("residential", "住宅", "Residential"),
    choice("commercial", "商业", "Commercial"),
    choice("mixed", "商住混合", "Mixed use"),
    choice("industrial", "工业", "Industrial"),
    choice("public", "公共建筑", "Public"),
    choice("other", "其他", "Other"),
];

pub const RENTAL_STATUS: &[Choice] = &[
    choice("owner_occupied", "自住", "Owner-occupied"),
    choice("rented", "出租", "Rented"),
    choice("group_rental", "群租", "Group rental"),
    choice("vacant", "空置", "Vacant"),
];

pub const RISK_LEVELS: &[Choice] = &[
    choice("none", "无", "None"),
    choice("low", "低", "Low"),
    choice("medium", "中", "Medium"),
    choice("high", "高", "High"),
];

pub const HOUSEHOLD_TYPES: &[Choice] = &[
    choice("family", "家庭户", "Family household"),
    choice("collective", "集体户", "Collective household"),
    choice("rented", "租住户", "Tenant household"),
];

pub const HOUSEHOLD_TAGS: &[Choice] = &[
    choice("poverty_aid", "精准帮扶户", "Poverty-aid household"),
    choice("low_income", "低保户", "Low-income household"),
    choice("empty_nest", "空巢家庭", "Empty-nest household"),
    choice("military_family", "军属", "Military family"),
];

pub const SEXES: &[Choice] = &[choice("male", "男", "Male"), choice("female", "女", "Female")];

pub const RESIDENCE_TYPES: &[Choice] = &[
    choice("registered", "户籍人口", "Registered resident"),
    choice("permanent", "常住人口", "Permanent resident"),
    choice("floating", "流动人口", "Floating population"),
];

pub const RESIDENT_TAGS: &[Choice] = &[
    choice("elderly_alone", "独居老人", "Elderly living alone"),
    choice("disabled", "残疾人", "Disabled"),
    choice("low_income", "低保对象", "Low-income"),
    choice("poverty_aid", "精准帮扶对象", "Poverty aid"),
    choice("released_prisoner", "刑满释放人员", "Released prisoner"),
    choice("community_correction", "社区矫正人员", "Community correction"),
    choice("petitioner", "信访人员", "Petitioner"),
    choice("mental_illness", "严重精神障碍患者", "Severe mental illness"),
    choice("left_behind_child", "留守儿童", "Left-behind child"),
    choice("veteran", "退役军人", "Veteran"),
];

pub const PATROL_ITEMS: &[Choice] = &[
    choice("fire_safety", "消防安全", "Fire safety"),
    choice("sanitation", "环境卫生", "Sanitation"),
    choice("river_safety", "河道安全", "River safety"),
    choice("group_rental", "群租房", "Group-rental housing"),
    choice("chemicals", "小化工", "Small chemical plants"),
    choice("typhoon_risk", "台风危房", "Typhoon-risk houses"),
    choice("epidemic", "疫情防控", "Epidemic checks"),
    choice("public_facilities", "公共设施", "Public facilities"),
    choice("public_order", "社会治安", "Public order"),
];

pub const VISIT_PURPOSES: &[Choice] = &[
    choice("routine", "日常走访", "Routine visit"),
    choice("care", "关爱探访", "Care visit"),
    choice("survey", "入户调查", "Survey"),
    choice("proxy_service", "代办服务", "Proxy service"),
    choice("dispute", "矛盾调解", "Dispute mediation"),
    choice("return_visit", "回访", "Return visit"),
];

/// The case classification list (事件分类清单).
pub const CASE_CATEGORIES: &[Choice] = &[
    choice("city_appearance", "市容环境", "City appearance"),
    choice("sanitation", "环境卫生", "Sanitation"),
    choice("public_facilities", "公共设施", "Public facilities"),
    choice("roads_traffic", "道路交通", "Roads and traffic"),
    choice("fire_safety", "消防安全", "Fire safety"),
    choice("work_safety", "安全生产", "Work safety"),
    choice("public_order", "社会治安", "Public order"),
    choice("dispute", "矛盾纠纷", "Dispute"),
    choice("livelihood", "民生服务", "Livelihood services"),
    choice("utilities", "水电气", "Water, power and gas"),
    choice("environment", "生态环保", "Environment"),
    choice("housing_safety", "房屋安全", "Housing safety"),
    choice("health", "卫生健康", "Health"),
    choice("market", "市场监管", "Market supervision"),
    choice("other", "其他", "Other"),
];

pub const CASE_STATUSES: &[Choice] = &[
    choice("draft", "草稿", "Draft"),
    choice("reported", "已上报", "Reported"),
    choice("accepted", "已受理", "Accepted"),
    choice("dispatched", "已派遣", "Dispatched"),
    choice("handling", "处置中", "Being handled"),
    choice("handled", "已处置", "Handled"),
    choice("closed", "已结案", "Closed"),
    choice("rejected", "不予受理", "Rejected"),
    // The centre's steps (server/src/cases.rs): sent back to the grid, and
    // closed with the reporter asked how it went.
    choice("returned", "已退回", "Returned to the grid"),
    choice("visited", "已回访", "Visited"),
];

pub const URGENCIES: &[Choice] = &[
    choice("normal", "一般", "Normal"),
    choice("urgent", "紧急", "Urgent"),
    choice("critical", "特急", "Critical"),
];

pub const TASK_TYPES: &[Choice] = &[
    choice("census", "信息采集", "Census"),
    choice("survey", "入户调查", "Survey"),
    choice("inspection", "专项检查", "Inspection campaign"),
    choice("proxy_service", "代办服务", "Proxy service"),
    choice("other", "其他", "Other"),
];

pub const TASK_STATUSES: &[Choice] = &[
    choice("open", "待办", "Open"),
    choice("in_progress", "进行中", "In progress"),
    choice("done", "已完成", "Done"),
    choice("cancelled", "已取消", "Cancelled"),
];

static GRID_DEF: KindDef = KindDef {
    kind: Kind::Grid,
    label: Label { zh: "网格", en: "Grid" },
    table: "grids",
    scope_field: "code",
    fields: &[
        DELETED,
        required("code", 1, FieldType::GridCode, "网格编码", "Code"),
        required("name", 2, NAME, "网格名称", "Name"),
        field("parent", 3, FieldType::GridCode, "上级网格", "Parent grid"),
        required("level", 4, FieldType::Choice { choices: GRID_LEVELS }, "层级", "Level"),
        field("chief", 5, NAME, "网格长", "Grid chief"),
        field("chief_phone", 6, FieldType::Phone, "网格长电话", "Chief's phone"),
        field("boundary", 7, FieldType::Text { max: 100_000 }, "边界(GeoJSON)", "Boundary (GeoJSON)"),
    ],
    check: Some(check_grid),
};

static BUILDING_DEF: KindDef = KindDef {
    kind: Kind::Building,
    label: Label { zh: "房屋楼栋", en: "Building" },
    table: "buildings",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("address", 2, LINE, "地址", "Address"),
        field("name", 3, NAME, "楼栋名称", "Name"),
        field("floors", 4, FieldType::Int { min: 1, max: 200 }, "层数", "Floors"),
        field("units", 5, FieldType::Int { min: 1, max: 100 }, "单元数", "Units"),
        field("use", 6, FieldType::Choice { choices: BUILDING_USES }, "用途", "Use"),
        field("rental", 7, FieldType::Choice { choices: RENTAL_STATUS }, "出租情况", "Rental status"),
        field("risk", 8, FieldType::Choice { choices: RISK_LEVELS }, "风险等级", "Risk level"),
        field("risk_notes", 9, PARAGRAPH, "隐患说明", "Risk notes"),
        field("latitude", 10, LATITUDE, "纬度", "Latitude"),
        field("longitude", 11, LONGITUDE, "经度", "Longitude"),
    ],
    check: None,
};

static HOUSEHOLD_DEF: KindDef = KindDef {
    kind: Kind::Household,
    label: Label { zh: "户", en: "Household" },
    table: "households",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("address", 2, LINE, "住址", "Address"),
        field("building", 3, FieldType::Ref { kind: Kind::Building }, "所在楼栋", "Building"),
        field("room", 4, FieldType::Text { max: 20 }, "房号", "Room"),
        field("head", 5, NAME, "户主", "Head of household"),
        field("phone", 6, FieldType::Phone, "联系电话", "Phone"),
        field("household_type", 7, FieldType::Choice { choices: HOUSEHOLD_TYPES }, "户别", "Type"),
        field("tags", 8, FieldType::Tags { choices: HOUSEHOLD_TAGS }, "户标签", "Tags"),
        field("notes", 9, PARAGRAPH, "备注", "Notes"),
    ],
    check: None,
};

static RESIDENT_DEF: KindDef = KindDef {
    kind: Kind::Resident,
    label: Label { zh: "人口", en: "Resident" },
    table: "residents",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("name", 2, NAME, "姓名", "Name"),
        field("id_number", 3, FieldType::IdNumber, "身份证号", "ID-card number"),
        field("sex", 4, FieldType::Choice { choices: SEXES }, "性别", "Sex"),
        field("birth_date", 5, FieldType::Date, "出生日期", "Birth date"),
        field("phone", 6, FieldType::Phone, "联系电话", "Phone"),
        field("household", 7, FieldType::Ref { kind: Kind::Household }, "所属户", "Household"),
        field("building", 8, FieldType::Ref { kind: Kind::Building }, "所在楼栋", "Building"),
        field("room", 9, FieldType::Text { max: 20 }, "房号", "Room"),
        field(
            "residence_type",
            10,
            FieldType::Choice { choices: RESIDENCE_TYPES },
            "人口类型",
            "Residence type",
        ),
        field("tags", 11, FieldType::Tags { choices: RESIDENT_TAGS }, "特殊人群", "Special groups"),
        field("notes", 12, PARAGRAPH, "备注", "Notes"),
    ],
    check: Some(check_resident),
};

static PATROL_DEF: KindDef = KindDef {
    kind: Kind::Patrol,
    label: Label { zh: "巡查日志", en: "Patrol log" },
    table: "patrols",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("worker", 2, NAME, "网格员", "Grid worker"),
        required("started_at", 3, FieldType::DateTime, "开始时间", "Started at"),
        field("ended_at", 4, FieldType::DateTime, "结束时间", "Ended at"),
        field("route", 5, FieldType::Text { max: 100_000 }, "巡查路线", "Route"),
        field("items", 6, FieldType::Tags { choices: PATROL_ITEMS }, "巡查事项", "Items checked"),
        field("findings", 7, PARAGRAPH, "发现情况", "Findings"),
    ],
    check: Some(check_patrol),
};

static VISIT_DEF: KindDef = KindDef {
    kind: Kind::Visit,
    label: Label { zh: "走访记录", en: "Visit" },
    table: "visits",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        field("household", 2, FieldType::Ref { kind: Kind::Household }, "走访户", "Household"),
        field("resident", 3, FieldType::Ref { kind: Kind::Resident }, "走访对象", "Resident"),
        required("visited_at", 4, FieldType::DateTime, "走访时间", "Visited at"),
        required("purpose", 5, FieldType::Choice { choices: VISIT_PURPOSES }, "走访目的", "Purpose"),
        field("worker", 6, NAME, "网格员", "Grid worker"),
        field("notes", 7, PARAGRAPH, "走访情况", "Notes"),
        field("follow_up", 8, PARAGRAPH, "后续跟进", "Follow-up"),
        field("follow_up_due", 9, FieldType::Date, "跟进期限", "Follow-up due"),
    ],
    check: Some(check_visit),
};

static CASE_DEF: KindDef = KindDef {
    kind: Kind::Case,
    label: Label { zh: "事件", en: "Case" },
    table: "cases",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("category", 2, FieldType::Choice { choices: CASE_CATEGORIES }, "事件类别", "Category"),
        required("description", 3, PARAGRAPH, "事件描述", "Description"),
        required("status", 4, FieldType::Choice { choices: CASE_STATUSES }, "状态", "Status"),
        field("urgency", 5, FieldType::Choice { choices: URGENCIES }, "紧急程度", "Urgency"),
        field("location", 6, LINE, "发生地点", "Location"),
        field("latitude", 7, LATITUDE, "纬度", "Latitude"),
        field("longitude", 8, LONGITUDE, "经度", "Longitude"),
        field("reporter", 9, NAME, "上报人", "Reporter"),
        field("reporter_phone", 10, FieldType::Phone, "上报人电话", "Reporter's phone"),
        field("reported_at", 11, FieldType::DateTime, "上报时间", "Reported at"),
        field("attachments", 12, FieldType::Attachments, "现场照片", "Photos"),
        field("resident", 13, FieldType::Ref { kind: Kind::Resident }, "涉及人员", "Resident concerned"),
        field("building", 14, FieldType::Ref { kind: Kind::Building }, "涉及楼栋", "Building concerned"),
        field("department", 15, LINE, "处置部门", "Department"),
        field("deadline", 16, FieldType::DateTime, "办理时限", "Deadline"),
        field("handled_in_grid", 17, FieldType::Bool, "网格内自行处置", "Handled in the grid"),
        field("result", 18, PARAGRAPH, "处置结果", "Result"),
    ],
    check: None,
};

static TASK_DEF: KindDef = KindDef {
    kind: Kind::Task,
    label: Label { zh: "任务", en: "Task" },
    table: "tasks",
    scope_field: "grid",
    fields: &[
        DELETED,
        GRID,
        required("title", 2, LINE, "任务名称", "Title"),
        field("description", 3, PARAGRAPH, "任务内容", "Description"),
        required("task_type", 4, FieldType::Choice { choices: TASK_TYPES }, "任务类型", "Type"),
        field("assignee", 5, NAME, "承办人", "Assignee"),
        field("due", 6, FieldType::Date, "截止日期", "Due"),
        required("status", 7, FieldType::Choice { choices: TASK_STATUSES }, "状态", "Status"),
    ],
    check: None,
};

pub(crate) fn def(kind: Kind) -> &'static KindDef {
    match kind {
        Kind::Grid => &GRID_DEF,
        Kind::Building => &BUILDING_DEF,
        Kind::Household => &HOUSEHOLD_DEF,
        Kind::Resident => &RESIDENT_DEF,
        Kind::Patrol => &PATROL_DEF,
        Kind::Visit => &VISIT_DEF,
        Kind::Case => &CASE_DEF,
        Kind::Task => &TASK_DEF,
    }
}

fn value<'a>(def: &KindDef, values: &'a [Value], name: &str) -> &'a Value {
    &values[def.index_of(name).expect("checks name fields of their own kind")]
}

fn check_grid(def: &KindDef, values: &[Value]) -> Result<(), ValidationError> {
    let code = value(def, values, "code");
    if !code.is_null() && value(def, values, "parent") == code {
        return Err(ValidationError::invalid("parent", Reason::SelfReference));
    }
    if let Some(boundary) = value(def, values, "boundary").as_text() {
        formats::check_boundary(boundary).map_err(|r| ValidationError::invalid("boundary", r))?;
    }
    Ok(())
}

/// An ID-card number carries its holder's birth date and sex: when both are
/// given they must agree.
fn check_resident(def: &KindDef, values: &[Value]) -> Result<(), ValidationError> {
    let Some(id_text) = value(def, values, "id_number").as_text() else { return Ok(()) };
    let id = formats::parse_id_number(id_text).map_err(|r| ValidationError::invalid("id_number", r))?;
    if let Some(birth) = value(def, values, "birth_date").as_text()
        && birth != id.birth_date.format("%Y-%m-%d").to_string()
    {
        return Err(ValidationError::invalid("birth_date", Reason::Disagrees { other: "id_number" }));
    }
    if let Some(sex) = value(def, values, "sex").as_text()
        && (sex == "male") != id.male
    {
        return Err(ValidationError::invalid("sex", Reason::Disagrees { other: "id_number" }));
    }
    Ok(())
}

/// The latest calendar date anywhere on Earth at `now_ms` (UTC+14): a date
/// after it has not come yet for anyone.
pub fn latest_date(now_ms: u64) -> chrono::NaiveDate {
    const FOURTEEN_HOURS_MS: i64 = 14 * 60 * 60 * 1000;
    chrono::DateTime::from_timestamp_millis((now_ms as i64).saturating_add(FOURTEEN_HOURS_MS))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
        .date_naive()
}

/// The rules that need to know the date, which the caller reads from its
/// clock (a device from its own, the server from its own): a birth date,
/// given or inside an ID-card number, has already happened on `latest`
/// (see [`latest_date`]). Checks `value` as the new value of `field` of a
/// `kind` record; values that are not valid dates are other rules' business.
pub fn check_not_in_future(
    kind: Kind,
    field: &str,
    value: &Value,
    latest: chrono::NaiveDate,
) -> Result<(), ValidationError> {
    // Read as digits, not parsed as dates: this runs for every resident a
    // device pushes, and whether the date is a real one is another rule's.
    let digits = |text: Option<&str>| -> Option<u32> {
        text?.bytes().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    };
    let (year, month, day) = match (kind, field, value.as_text()) {
        (Kind::Resident, "birth_date", Some(text)) if text.len() == 10 => {
            (digits(text.get(..4)), digits(text.get(5..7)), digits(text.get(8..10)))
        }
        (Kind::Resident, "id_number", Some(text)) if text.len() == 18 => {
            (digits(text.get(6..10)), digits(text.get(10..12)), digits(text.get(12..14)))
        }
        _ => return Ok(()),
    };
    let (Some(year), Some(month), Some(day)) = (year, month, day) else { return Ok(()) };
    use chrono::Datelike;
    if (year as i32, month, day) > (latest.year(), latest.month(), latest.day()) {
        return Err(ValidationError::invalid(
            field,
            Reason::InTheFuture { latest: latest.format("%Y-%m-%d").to_string() },
        ));
    }
    Ok(())
}

fn check_patrol(def: &KindDef, values: &[Value]) -> Result<(), ValidationError> {
    let start = value(def, values, "started_at").as_text();
    let end = value(def, values, "ended_at").as_text();
    if let (Some(start), Some(end)) = (start, end) {
        let (start, _) =
            formats::parse_date_time(start).map_err(|r| ValidationError::invalid("started_at", r))?;
        let (end, _) = formats::parse_date_time(end).map_err(|r| ValidationError::invalid("ended_at", r))?;
        if end < start {
            return Err(ValidationError::invalid("ended_at", Reason::Disagrees { other: "started_at" }));
        }
    }
    Ok(())
}

/// A visit is to a household or to a resident (or both).
fn check_visit(def: &KindDef, values: &[Value]) -> Result<(), ValidationError> {
    if value(def, values, "household").is_null() && value(def, values, "resident").is_null() {
        return Err(ValidationError::required("household"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn birth_dates_after_the_latest_date_on_earth_are_refused() {
        // 2026-11-27 12:00 UTC: already the 28th in Kiribati (UTC+14).
        let noon_utc = 1_795_780_800_000;
        let latest = latest_date(noon_utc);
        assert_eq!(latest.to_string(), "2026-11-28");
        let date = |d: &str| Value::Text(d.into());
        assert!(check_not_in_future(Kind::Resident, "birth_date", &date("2026-11-28"), latest).is_ok());
        let error =
            check_not_in_future(Kind::Resident, "birth_date", &date("2026-11-29"), latest).unwrap_err();
        assert_eq!(error.field(), Some("birth_date"));
        assert!(error.to_string().contains("future") && error.zh().contains("未来"), "{error}");
        let born = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let id = Value::Text(formats::make_id_number(330702, born, 1));
        assert_eq!(
            check_not_in_future(Kind::Resident, "id_number", &id, latest).unwrap_err().field(),
            Some("id_number")
        );
        // Other kinds and fields, and values that are no dates, are not this rule's.
        assert!(check_not_in_future(Kind::Visit, "follow_up_due", &date("2099-01-01"), latest).is_ok());
        assert!(check_not_in_future(Kind::Resident, "birth_date", &date("not a date"), latest).is_ok());
    }

    #[test]
    fn every_kind_has_deleted_then_its_scope_and_unique_names_and_tags() {
        for kind in Kind::ALL {
            let def = kind.def();
            assert_eq!(def.kind, kind);
            assert_eq!(def.fields[0].name, "deleted", "{kind}");
            assert_eq!(def.fields[1].name, def.scope_field, "{kind}");
            assert!(def.fields[1].required, "{kind}: scope must be required");
            assert!(matches!(def.fields[1].ty, FieldType::GridCode));
            let names: HashSet<_> = def.fields.iter().map(|f| f.name).collect();
            let tags: HashSet<_> = def.fields.iter().map(|f| f.tag).collect();
            assert_eq!(names.len(), def.fields.len(), "{kind}: duplicate field name");
            assert_eq!(tags.len(), def.fields.len(), "{kind}: duplicate tag");
            assert_eq!(Kind::from_number(kind.number()), Some(kind));
            assert_eq!(Kind::parse(kind.as_str()), Ok(kind));
        }
    }
}
