//! A demo city for `gridwork-server init --demo`: a grid tree from city to
//! micro-grids in Jinhua's Wucheng district, centre staff and one grid
//! worker per unit grid with enrollment codes, and a few thousand
//! residents, households, buildings, cases, visits and patrols, in Chinese.
//!
//! Everything goes through the same validated paths as real data (the
//! storage's account methods, the store's `put`), written as the server.

use gridwork_domain::formats::make_id_number;
use gridwork_domain::{Kind, RecordId, Value};
use serde::Serialize;

use crate::backend::{Backend, Writes};
use crate::core::Core;
use crate::storage::{NewGrid, NewUser, Principal, Result, Role, Storage, StorageError};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "林", "罗", "郑",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "兰", "霞", "平", "刚", "桂", "华", "建", "国", "文", "红", "玉",
];
const ROADS: &[&str] =
    &["八一北街", "解放东路", "人民西路", "双龙南街", "宾虹路", "李渔路", "婺州街", "环城南路"];
const CASES: &[(&str, &str)] = &[
    ("public_facilities", "井盖破损,存在安全隐患"),
    ("fire_safety", "楼道堆放杂物堵塞消防通道"),
    ("sanitation", "垃圾桶满溢未及时清运"),
    ("livelihood", "独居老人在家摔倒,需要协助就医"),
    ("roads_traffic", "路灯损坏,夜间照明不足"),
    ("dispute", "邻里因噪音问题发生纠纷"),
    ("housing_safety", "出租房群租,存在安全隐患"),
    ("environment", "河道漂浮垃圾"),
    ("utilities", "小区停水,居民反映强烈"),
    ("city_appearance", "沿街商铺占道经营"),
];

/// The demo city's departments (职能部门).
const DEPARTMENTS: [(&str, &str, &str); 8] = [
    ("city_management", "城市管理局", "City management bureau"),
    ("water", "供水公司", "Water company"),
    ("housing", "住房和城乡建设局", "Housing and construction bureau"),
    ("civil_affairs", "民政局", "Civil affairs bureau"),
    ("police", "公安派出所", "Police station"),
    ("environment", "生态环境局", "Ecology and environment bureau"),
    ("market", "市场监督管理局", "Market supervision bureau"),
    ("transport", "交通运输局", "Transport bureau"),
];

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The department a category's cases usually go to.
fn department_for(category: &str) -> &'static str {
    match category {
        "utilities" => "water",
        "housing_safety" => "housing",
        "livelihood" => "civil_affairs",
        "dispute" | "public_order" => "police",
        "environment" => "environment",
        "market" => "market",
        "roads_traffic" => "transport",
        _ => "city_management",
    }
}

/// Receives a demo case at `received_ms` and takes the centre's steps
/// that bring it to `status`, an hour apart.
fn put_through_flow(
    w: &mut dyn crate::backend::Writes,
    admin: &Principal,
    reporter: &str,
    case: RecordId,
    category: &str,
    status: &str,
    received_ms: u64,
) -> Result<()> {
    use gridwork_protocol::cases::{Satisfaction, Step, StepRequest};
    crate::flow::receive(w, case, received_ms, Some(reporter), None)?;
    let ask = |step: Step, department: Option<&str>, note: Option<&str>| StepRequest {
        step: Some(step),
        department: department.map(str::to_owned),
        note: note.map(str::to_owned),
        satisfaction: None,
    };
    let department = department_for(category);
    let steps: &[StepRequest] = &match status {
        "accepted" => vec![ask(Step::Accept, None, None)],
        "dispatched" | "handling" => {
            vec![ask(Step::Accept, None, None), ask(Step::Dispatch, Some(department), None)]
        }
        "handled" => vec![
            ask(Step::Accept, None, None),
            ask(Step::Dispatch, Some(department), None),
            ask(Step::Handle, None, Some("已到现场处置完毕")),
        ],
        "closed" => vec![
            ask(Step::Accept, None, None),
            ask(Step::Dispatch, Some(department), None),
            ask(Step::Handle, None, Some("已到现场处置完毕")),
            ask(Step::Close, None, Some("经核查已处置到位,予以办结")),
        ],
        // A small matter the grid settled itself (小事不出格).
        "closed_in_grid" => vec![
            ask(Step::Accept, None, None),
            ask(Step::Handle, None, Some("网格员现场协调解决")),
            ask(Step::Close, None, Some("网格内已解决,予以办结")),
        ],
        "visited" => vec![
            ask(Step::Accept, None, None),
            ask(Step::Dispatch, Some(department), None),
            ask(Step::Handle, None, Some("已到现场处置完毕")),
            ask(Step::Close, None, Some("经核查已处置到位,予以办结")),
            StepRequest {
                satisfaction: Some(Satisfaction::Satisfied),
                ..ask(Step::Visit, None, Some("电话回访"))
            },
        ],
        _ => Vec::new(),
    };
    for (n, request) in steps.iter().enumerate() {
        let flow = w.case_flow(case)?.expect("just received");
        crate::flow::take_step(w, admin, None, flow, request, received_ms + (n as u64 + 1) * 3_600_000)?;
    }
    Ok(())
}

/// What the demo created, printed for the person who ran `init --demo`.
#[derive(Debug, Serialize)]
pub struct DemoSummary {
    pub grids: usize,
    pub residents: usize,
    pub households: usize,
    pub buildings: usize,
    pub cases: usize,
    /// Each worker's patrols and visits of the last week, today's included.
    pub patrols: usize,
    pub visits: usize,
    /// An administrator who logs in at the console.
    pub admin: DemoLogin,
    pub staff: DemoLogin,
    /// A department's handler (the city management bureau's).
    pub handler: DemoLogin,
    pub workers: Vec<DemoWorker>,
}

#[derive(Debug, Serialize)]
pub struct DemoLogin {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Serialize)]
pub struct DemoWorker {
    pub name: String,
    pub user_id: String,
    pub grid: String,
    /// A one-time code to enroll a device for this worker (valid 7 days).
    pub enrollment_code: String,
}

fn name(rng: &mut fastrand::Rng) -> String {
    let mut name = SURNAMES[rng.usize(..SURNAMES.len())].to_owned();
    for _ in 0..rng.usize(1..=2) {
        name += GIVEN[rng.usize(..GIVEN.len())];
    }
    name
}

fn date_time(day: u32, hour: u32) -> String {
    format!("2026-11-{:02}T{:02}:{:02}:00+08:00", day.clamp(1, 22), hour % 24, (hour * 7) % 60)
}

/// A case's deadline, around the day the demo is loaded: of the open
/// cases some are overdue, some due within hours, most within days
/// (Asia/Shanghai). Finished cases have none left to show.
fn deadline(status: &str, c: usize, now_ms: u64) -> Value {
    if matches!(status, "closed" | "closed_in_grid" | "visited" | "rejected") {
        return Value::Null;
    }
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let hours = [-50i64, -6, 3, 20, 46, 70, 100, 150][c % 8];
    let at = chrono::DateTime::from_timestamp_millis(now_ms as i64 + hours * 3_600_000)
        .expect("a time")
        .with_timezone(&offset);
    Value::Text(at.format("%Y-%m-%dT%H:00:00+08:00").to_string())
}

/// Loads the demo city into a freshly initialised server.
/// Where unit grid `u`'s south-west corner lies (WGS-84 longitude,
/// latitude): the demo's unit grids tile the east of Jinhua's Wucheng
/// district, four to a row, each about 380 m by 310 m.
fn unit_corner(u: usize) -> (f64, f64) {
    (119.640 + (u % 4) as f64 * 0.0040, 29.080 + (u / 4) as f64 * 0.0030)
}

/// A unit grid's outline: a slightly irregular pentagon, as streets make.
fn unit_outline(u: usize) -> Vec<(f64, f64)> {
    let (x, y) = unit_corner(u);
    vec![
        (x, y),
        (x + 0.0038, y + 0.0002),
        (x + 0.0040, y + 0.0028),
        (x + 0.0004, y + 0.0029),
        (x - 0.0001, y + 0.0014),
    ]
}

/// Building `b` (1..=8) of unit grid `u`: two rows of four inside it.
fn building_spot(u: usize, b: usize) -> (f64, f64) {
    let (x, y) = unit_corner(u);
    (x + 0.0006 + ((b - 1) % 4) as f64 * 0.0008, y + 0.0008 + ((b - 1) / 4) as f64 * 0.0012)
}

fn polygon(points: &[(f64, f64)]) -> String {
    let mut ring: Vec<[f64; 2]> = points.iter().map(|&(x, y)| [x, y]).collect();
    ring.push(ring[0]);
    serde_json::json!({"type": "Polygon", "coordinates": [ring]}).to_string()
}

/// Gives the unit grids their outlines and each community the box around
/// its units, so that maps have something to draw.
fn draw_boundaries(w: &mut dyn Writes, units: &[(String, String)]) -> Result<()> {
    let mut boxes: std::collections::BTreeMap<String, (f64, f64, f64, f64)> = Default::default();
    let mut outlines = Vec::new();
    for (u, (unit, _)) in units.iter().enumerate() {
        let outline = unit_outline(u);
        let community = unit.rsplit_once('-').map_or(unit.clone(), |(c, _)| c.to_owned());
        let b = boxes.entry(community).or_insert((f64::MAX, f64::MAX, f64::MIN, f64::MIN));
        for &(x, y) in &outline {
            *b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
        outlines.push((unit.clone(), polygon(&outline)));
    }
    for (community, (x0, y0, x1, y1)) in boxes {
        outlines.push((community, polygon(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)])));
    }
    for (code, boundary) in outlines {
        let id = w
            .grid_outline(&code)?
            .map(|grid| grid.id)
            .ok_or_else(|| StorageError::Internal(format!("the demo's grid {code} is missing")))?;
        w.put_record(Kind::Grid, Some(id), &[("boundary", boundary.into())])?;
    }
    Ok(())
}

pub fn load<B: Backend>(storage: &Core<B>, admin: &Principal, now_ms: u64) -> Result<DemoSummary> {
    let mut rng = fastrand::Rng::with_seed(2026);
    let mut grids = 0;
    let mut add_grid = |code: &str, name: &str, parent: Option<&str>| -> Result<()> {
        storage.add_grid(
            admin,
            NewGrid { code: code.into(), name: name.into(), parent: parent.map(Into::into), level: None },
            now_ms,
        )?;
        grids += 1;
        Ok(())
    };
    add_grid("3307", "金华市", None)?;
    add_grid("330702", "婺城区", Some("3307"))?;
    let streets = [
        ("330702001", "城东街道", ["东苑社区", "南苑社区"]),
        ("330702002", "城西街道", ["西山社区", "青春社区"]),
    ];
    let mut units = Vec::new();
    for (street, street_name, communities) in streets {
        add_grid(street, street_name, Some("330702"))?;
        for (c, community_name) in communities.iter().enumerate() {
            let community = format!("{street}{:03}", c + 1);
            add_grid(&community, community_name, Some(street))?;
            for u in 1..=3 {
                let unit = format!("{community}-{u:02}");
                add_grid(&unit, &format!("{community_name}第{u}网格"), Some(&community))?;
                for m in 1..=2 {
                    add_grid(
                        &format!("{unit}-{m}"),
                        &format!("{community_name}第{u}网格{m}号楼栋微网格"),
                        Some(&unit),
                    )?;
                }
                units.push((unit, community_name.to_string()));
            }
        }
    }

    // The console's administrator (the admin token stays for scripts).
    let console_admin = DemoLogin { name: "系统管理员".into(), password: "gridwork-demo".into() };
    storage.create_user(
        admin,
        NewUser {
            name: console_admin.name.clone(),
            role: Role::Admin,
            grids: vec![],
            password: Some(console_admin.password.clone()),
            department: None,
        },
        now_ms,
    )?;
    let staff = DemoLogin { name: "中心值班员".into(), password: "gridwork-demo".into() };
    storage.create_user(
        admin,
        NewUser {
            name: staff.name.clone(),
            role: Role::Staff,
            grids: vec![],
            password: Some(staff.password.clone()),
            department: None,
        },
        now_ms,
    )?;
    for (code, zh, en) in DEPARTMENTS {
        storage.add_department(
            admin,
            gridwork_protocol::cases::Department {
                code: code.into(),
                name_zh: zh.into(),
                name_en: en.into(),
            },
            now_ms,
        )?;
    }
    let handler = DemoLogin { name: "城管处置员".into(), password: "gridwork-demo".into() };
    storage.create_user(
        admin,
        NewUser {
            name: handler.name.clone(),
            role: Role::Handler,
            grids: vec![],
            password: Some(handler.password.clone()),
            department: Some("city_management".into()),
        },
        now_ms,
    )?;
    let mut workers = Vec::new();
    for (unit, _) in &units {
        let worker_name = format!("网格员{}", name(&mut rng));
        let user_id = storage.create_user(
            admin,
            NewUser {
                name: worker_name.clone(),
                role: Role::Worker,
                grids: vec![unit.clone()],
                password: None,
                department: None,
            },
            now_ms,
        )?;
        let code = storage.create_enrollment_code(admin, &user_id, 7 * 24 * 3600 * 1000, now_ms)?;
        workers.push(DemoWorker {
            name: worker_name,
            user_id,
            grid: unit.clone(),
            enrollment_code: code.code,
        });
    }

    let (mut buildings, mut households, mut residents, mut cases) = (0, 0, 0, 0);
    let (mut patrols, mut visits) = (0, 0);
    let today = chrono::DateTime::from_timestamp_millis(now_ms as i64)
        .unwrap_or_default()
        .with_timezone(&crate::flow::CITY_ZONE);
    let seconds_today = chrono::Timelike::num_seconds_from_midnight(&today);
    let today = today.date_naive();
    storage.backend().write(|w| -> Result<()> {
        draw_boundaries(w, &units)?;
        let put = |w: &mut dyn crate::backend::Writes,
                   kind: Kind,
                   fields: Vec<(&str, Value)>|
         -> Result<RecordId> { Ok(w.put_record(kind, None, &fields)?) };
        for (u, (unit, community_name)) in units.iter().enumerate() {
            let road = ROADS[u % ROADS.len()];
            let mut visited = Vec::new();
            for b in 1..=8 {
                let micro = format!("{unit}-{}", 1 + (b - 1) / 4);
                let address = format!("金华市婺城区{road}{}号{community_name}{b}幢", 10 + u * 10 + b);
                let building = put(
                    w,
                    Kind::Building,
                    vec![
                        ("grid", micro.as_str().into()),
                        ("address", address.as_str().into()),
                        ("name", format!("{b}幢").into()),
                        ("floors", Value::Int(6 + (b as i64 % 3) * 6)),
                        ("units", Value::Int(2)),
                        ("use", "residential".into()),
                        (
                            "rental",
                            ["owner_occupied", "rented", "owner_occupied", "group_rental"][b % 4].into(),
                        ),
                        ("risk", if b % 7 == 0 { "medium" } else { "none" }.into()),
                        ("latitude", Value::Float(building_spot(u, b).1)),
                        ("longitude", Value::Float(building_spot(u, b).0)),
                    ],
                )?;
                buildings += 1;
                for h in 0..10 {
                    let room = format!("{}-{}", 1 + h / 5, 101 + (h % 5) * 100);
                    let head = name(&mut rng);
                    let household = put(
                        w,
                        Kind::Household,
                        vec![
                            ("grid", micro.as_str().into()),
                            ("address", format!("{address}{room}室").into()),
                            ("building", building.to_string().into()),
                            ("room", room.as_str().into()),
                            ("head", head.as_str().into()),
                            ("phone", format!("13{:09}", rng.u32(..1_000_000_000)).into()),
                            ("household_type", if h % 6 == 5 { "rented" } else { "family" }.into()),
                        ],
                    )?;
                    households += 1;
                    if h % 5 == 0 {
                        visited.push(household);
                    }
                    let members = 1 + rng.usize(..4);
                    for m in 0..members {
                        let birth = chrono::NaiveDate::from_ymd_opt(
                            1935 + rng.i32(0..85),
                            1 + rng.u32(..12),
                            1 + rng.u32(..28),
                        )
                        .expect("a real date");
                        let sequence = rng.u32(..1000);
                        let mut tags = Vec::new();
                        if chrono::Datelike::year(&birth) < 1950 && members == 1 {
                            tags.push("elderly_alone".to_owned());
                        }
                        if rng.u32(..40) == 0 {
                            tags.push("disabled".to_owned());
                        }
                        put(
                            w,
                            Kind::Resident,
                            vec![
                                ("grid", micro.as_str().into()),
                                ("name", if m == 0 { head.clone() } else { name(&mut rng) }.into()),
                                ("id_number", make_id_number(330702, birth, sequence).into()),
                                ("sex", if sequence % 2 == 1 { "male" } else { "female" }.into()),
                                ("birth_date", birth.format("%Y-%m-%d").to_string().into()),
                                ("phone", format!("13{:09}", rng.u32(..1_000_000_000)).into()),
                                ("household", household.to_string().into()),
                                ("building", building.to_string().into()),
                                ("room", room.as_str().into()),
                                (
                                    "residence_type",
                                    ["registered", "permanent", "floating"][rng.usize(..3)].into(),
                                ),
                                ("tags", Value::List(tags)),
                            ],
                        )?;
                        residents += 1;
                    }
                }
            }
            // The worker's week: a patrol every morning along the grid's
            // streets, and visits to households in the afternoon.
            let worker = workers[u].name.as_str();
            for (d, day) in today.iter_days().rev().take(7).enumerate() {
                // Seconds into the day, as a tablet in the city writes it.
                let at_second = |second: u32| {
                    let (h, m, s) = (second / 3600, second / 60 % 60, second % 60);
                    format!("{}T{h:02}:{m:02}:{s:02}+08:00", day.format("%Y-%m-%d"))
                };
                // Earlier days: a morning patrol and afternoon visits.
                // Today: the same, done in the three hours before the demo
                // is loaded, so nothing is in the future.
                let times: [u32; 4] = if d == 0 {
                    let base = seconds_today.saturating_sub(3 * 3600);
                    let span = seconds_today - base;
                    [
                        base,
                        base + span * 2 / 5 + (u as u32 % 5) * span / 50,
                        base + span * 3 / 5,
                        base + span * 4 / 5,
                    ]
                } else {
                    let started = (8 + d as u32 % 2) * 3600 + 30 * 60;
                    let ended = started + 35 * 60 + (d as u32 * 3 + u as u32 * 11) % 50 * 60;
                    [
                        started,
                        ended,
                        14 * 3600 + (10 + d as u32 * 5) * 60,
                        16 * 3600 + (10 + d as u32 * 5) * 60,
                    ]
                };
                let (x, y) = unit_corner(u);
                let route: Vec<[f64; 2]> = (0..9)
                    .map(|i| {
                        let t = i as f64 / 8.0;
                        let wobble = (rng.f64() - 0.5) * 0.0003;
                        let (lon, lat) = if i < 5 {
                            (x + 0.0004 + t * 2.0 * 0.003, y + 0.0006 + wobble)
                        } else {
                            (x + 0.0034 - (t - 0.5) * 2.0 * 0.003, y + 0.0020 + wobble)
                        };
                        [(lon * 1e6).round() / 1e6, (lat * 1e6).round() / 1e6]
                    })
                    .collect();
                put(
                    w,
                    Kind::Patrol,
                    vec![
                        ("grid", unit.as_str().into()),
                        ("worker", worker.into()),
                        ("started_at", at_second(times[0]).into()),
                        ("ended_at", at_second(times[1]).into()),
                        (
                            "route",
                            serde_json::json!({"type": "LineString", "coordinates": route})
                                .to_string()
                                .into(),
                        ),
                        (
                            "items",
                            Value::List(vec![
                                "fire_safety".into(),
                                ["sanitation", "public_facilities", "group_rental"][d % 3].into(),
                            ]),
                        ),
                        ("findings", if d % 3 == 0 { "楼道堆物已督促清理" } else { "未发现异常" }.into()),
                    ],
                )?;
                patrols += 1;
                for v in 0..2 {
                    let Some(household) = visited.get((d * 2 + v) % visited.len().max(1)) else { break };
                    put(
                        w,
                        Kind::Visit,
                        vec![
                            ("grid", unit.as_str().into()),
                            ("household", household.to_string().into()),
                            ("visited_at", at_second(times[2 + v]).into()),
                            ("purpose", ["routine", "care", "survey"][(d + v) % 3].into()),
                            ("worker", worker.into()),
                            (
                                "notes",
                                if v == 0 {
                                    "了解家庭近况,无特殊需求"
                                } else {
                                    "老人身体尚可,叮嘱注意防寒"
                                }
                                .into(),
                            ),
                        ],
                    )?;
                    visits += 1;
                }
            }
            for c in 0..25 {
                let (category, description) = CASES[rng.usize(..CASES.len())];
                let status = [
                    "reported",
                    "accepted",
                    "dispatched",
                    "handling",
                    "handled",
                    "closed",
                    "closed_in_grid",
                    "visited",
                ][rng.usize(..8)];
                // Somewhere in its grid, where the tablet stood.
                let (x, y) = unit_corner(u);
                let (longitude, latitude) =
                    (x + 0.0004 + rng.f64() * 0.0032, y + 0.0004 + rng.f64() * 0.0022);
                let case = put(
                    w,
                    Kind::Case,
                    vec![
                        ("grid", unit.as_str().into()),
                        ("category", category.into()),
                        ("description", format!("{community_name}:{description}").into()),
                        // Reported; the flow's steps below bring it on.
                        ("status", "reported".into()),
                        ("urgency", if c % 9 == 0 { "urgent" } else { "normal" }.into()),
                        ("location", format!("{road}{}号附近", 10 + c).into()),
                        ("reported_at", date_time(1 + (c % 22) as u32, 8 + c as u32).into()),
                        ("reporter", workers[u].name.as_str().into()),
                        ("deadline", deadline(status, c, now_ms)),
                        ("latitude", Value::Float((latitude * 1e6).round() / 1e6)),
                        ("longitude", Value::Float((longitude * 1e6).round() / 1e6)),
                    ],
                )?;
                // Received over the last two weeks, and taken through the
                // flow as far as its status says: some are overdue.
                let received_ms = now_ms.saturating_sub((c as u64 * 7 % 14) * DAY_MS + c as u64 * 3_600_000);
                put_through_flow(w, admin, &workers[u].user_id, case, category, status, received_ms)?;
                cases += 1;
            }
        }
        Ok(())
    })?;
    Ok(DemoSummary {
        grids,
        residents,
        households,
        buildings,
        cases,
        patrols,
        visits,
        admin: console_admin,
        staff,
        handler,
        workers,
    })
}

/// How to use the demo, for people: printed by `scripts/run`, with
/// `{SERVER}` standing for the server's address.
pub fn guide(summary: &DemoSummary, admin_token: &str) -> String {
    let worker = &summary.workers[0];
    let mut guide = format!(
        "Gridwork 网格通 demo city 演示数据: {} grids 网格, {} residents 人口, {} households 户, {} buildings 楼栋, {} cases 事件, {} patrols 巡查, {} visits 走访\n\n\
         Server 服务器:        {{SERVER}}   (health: {{SERVER}}/api/v1/health)\n\
         Console 指挥中心控制台: {{SERVER}}/   log in 登录 (name 账号 / password 密码):\n\
         \x20 Administrator 系统管理员: {} / {}\n\
         \x20 Centre staff 中心值班员: {} / {}\n\
         \x20 Department handler 职能部门处置员: {} / {}\n\
         Admin token 管理员令牌 (CLI): {admin_token}\n\n\
         Enroll a headless device for {} (grid 网格 {}) and sync it 注册一台设备并同步:\n\
         \x20 target/release/gridwork device --db worker.db enroll --server {{SERVER}} --code {}\n\
         \x20 target/release/gridwork device --db worker.db sync\n\
         \x20 target/release/gridwork device --db worker.db list resident\n\
         \x20 target/release/gridwork device --db worker.db put case grid={} category=public_facilities status=reported description=井盖破损\n\
         \x20 target/release/gridwork device --db worker.db sync\n\n\
         Administration 管理:\n\
         \x20 target/release/gridwork admin --server {{SERVER}} --token {admin_token} device list\n\
         \x20 target/release/gridwork admin --server {{SERVER}} --token {admin_token} conflicts list\n\n\
         Enrollment codes for the other workers 其他网格员的注册码 (valid 7 days 七天内有效):\n",
        summary.grids,
        summary.residents,
        summary.households,
        summary.buildings,
        summary.cases,
        summary.patrols,
        summary.visits,
        summary.admin.name,
        summary.admin.password,
        summary.staff.name,
        summary.staff.password,
        summary.handler.name,
        summary.handler.password,
        worker.name,
        worker.grid,
        worker.enrollment_code,
        worker.grid,
    );
    for worker in &summary.workers[1..] {
        guide += &format!("  {}  {}  {}\n", worker.enrollment_code, worker.grid, worker.name);
    }
    guide
}
