//! The case flow through the real server on both backends: a case a
//! worker's tablet reports is received with its deadlines, accepted,
//! dispatched, handled by the department, closed and visited, every step
//! in its trail and back on the tablet; who may see and act on which case.

use chrono::TimeZone;
use gridwork_tests::{Backend, CliDevice, Console, Server, department, on_both_backends, person};
use serde_json::{Value, json};

/// A reported case on a worker's tablet of `grid`, synced: its id.
fn reported(device: &CliDevice, grid: &str, category: &str, description: &str) -> String {
    let id = device.put(
        "case",
        None,
        &[
            &format!("grid={grid}"),
            &format!("category={category}"),
            &format!("description={description}"),
            "status=reported",
        ],
    );
    device.sync();
    id
}

fn shanghai(ms: u64) -> chrono::DateTime<chrono_tz::Tz> {
    chrono_tz::Asia::Shanghai.timestamp_millis_opt(ms as i64).unwrap()
}

fn the_case_flow_runs_from_a_tablets_report_to_the_return_visit(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    department(&server, "water", "自来水公司", "Water company");
    person(&server, "值班员", "staff", &[]);
    person(&server, "水务处置员", "handler", &["--department", "water"]);
    let dir = tempfile::tempdir().unwrap();
    let tablet = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let case = reported(&tablet, "C1-01", "utilities", "东苑小区3栋水管爆裂");

    let staff = Console::login(&server, "值班员", "correct horse");
    let page = staff.get("/cases");
    let listed = &page["items"][0];
    assert_eq!((listed["id"].as_str(), listed["status"].as_str()), (Some(case.as_str()), Some("reported")));
    // Water: on site within 24 hours, solved by the end of the 3rd working
    // day after the day the server received it, in Shanghai's time.
    let received = listed["received_at_ms"].as_u64().unwrap();
    assert_eq!(listed["on_site_due_at_ms"].as_u64().unwrap(), received + 24 * 3_600_000);
    let due = shanghai(listed["due_at_ms"].as_u64().unwrap());
    assert_eq!(due.format("%H:%M:%S").to_string(), "23:59:59", "the end of a day: {due}");
    assert!(due.date_naive() > shanghai(received).date_naive());

    // A step out of order is refused, named, and changes nothing.
    let (status, refused) = staff.step(&case, json!({"step": "close", "note": "太早"}));
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"]["message_zh"].as_str().unwrap().contains("办结"), "{refused}");
    staff.must_step(&case, json!({"step": "accept"}));
    let (status, refused) = staff.step(&case, json!({"step": "dispatch", "department": "no_such"}));
    assert_eq!(status, 422, "{refused}");
    let (status, refused) = staff.step(&case, json!({"step": "dispatch"}));
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains("department"),
        "names the field: {refused}"
    );
    staff.must_step(&case, json!({"step": "dispatch", "department": "water"}));

    let handler = Console::login(&server, "水务处置员", "correct horse");
    let theirs = handler.get("/cases");
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "{theirs}");
    let (status, refused) = handler.step(&case, json!({"step": "close", "note": "x"}));
    assert_eq!(status, 403, "only the centre closes: {refused}");
    handler.must_step(&case, json!({"step": "handle", "note": "已更换爆裂水管,恢复供水"}));
    staff.must_step(&case, json!({"step": "close", "note": "已办结,通知上报人"}));
    let visited = staff.must_step(&case, json!({"step": "visit", "satisfaction": "satisfied"}));
    assert_eq!(visited["summary"]["status"], "visited");
    let visit = visited["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(visit["note"], "satisfaction: satisfied", "the answer is in the trail: {visit}");

    // The whole trail, oldest first, with who took each step.
    let steps: Vec<(String, String)> = visited["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap().to_owned(), s["user_name"].as_str().unwrap_or("").to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("report", "网格员"),
        ("accept", "值班员"),
        ("dispatch", "值班员"),
        ("handle", "水务处置员"),
        ("close", "值班员"),
        ("visit", "值班员"),
    ]
    .iter()
    .map(|(s, u)| ((*s).to_owned(), (*u).to_owned()))
    .collect();
    assert_eq!(steps, expected);

    // The steps reach the reporting worker's tablet.
    tablet.sync();
    let on_tablet = tablet.get("case", &case);
    let field = |name: &str| on_tablet[name].clone();
    assert_eq!(field("status"), "visited", "{on_tablet}");
    assert_eq!(field("department"), "water");
    assert_eq!(field("result"), "已办结,通知上报人");
    assert!(field("deadline").as_str().is_some_and(|d| d.ends_with("+08:00")), "{on_tablet}");
}
on_both_backends!(the_case_flow_runs_from_a_tablets_report_to_the_return_visit);

fn handlers_and_street_staff_see_only_their_cases(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    department(&server, "water", "自来水公司", "Water company");
    department(&server, "power", "供电公司", "Power company");
    person(&server, "市中心", "staff", &[]);
    person(&server, "西山街道", "staff", &["--grid", "C2"]);
    person(&server, "供电处置员", "handler", &["--department", "power"]);
    let dir = tempfile::tempdir().unwrap();
    let east = server.enrolled(dir.path(), "east", "东苑网格员", &["C1"]);
    let west = server.enrolled(dir.path(), "west", "西山网格员", &["C2"]);
    let in_east = reported(&east, "C1-01", "utilities", "东苑停水");
    let in_west = reported(&west, "C2-01", "utilities", "西山停电");

    let city = Console::login(&server, "市中心", "correct horse");
    assert_eq!(city.get("/cases")["items"].as_array().unwrap().len(), 2);
    for (case, department) in [(&in_east, "water"), (&in_west, "power")] {
        city.must_step(case, json!({"step": "accept"}));
        city.must_step(case, json!({"step": "dispatch", "department": department}));
    }

    let street = Console::login(&server, "西山街道", "correct horse");
    let listed = street.get("/cases");
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [in_west.as_str()], "a street's staff list their street's cases only");
    let (status, _) = street.call(reqwest::Method::GET, &format!("/cases/{in_east}"), None);
    assert_eq!(status, 404, "another street's case is not found");
    let (status, _) = street.step(&in_east, json!({"step": "supervise", "note": "请尽快处理"}));
    assert_eq!(status, 404, "nor acted on");
    // A street's refused changes and conflict inbox hold its own records'
    // (tests/sync.rs, tests/console.rs); a handler has neither.
    assert_eq!(street.get("/admin/parked")["total"], 0);
    assert_eq!(street.get("/admin/conflicts"), json!([]));

    let power = Console::login(&server, "供电处置员", "correct horse");
    let (status, body) = power.call(reqwest::Method::GET, "/admin/parked", None);
    assert_eq!(status, 403, "{body}");
    let listed = power.get("/cases");
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [in_west.as_str()], "a handler lists their department's cases only");
    let (status, _) = power.call(reqwest::Method::GET, &format!("/cases/{in_east}"), None);
    assert_eq!(status, 404);
    let (status, _) = power.step(&in_east, json!({"step": "handle", "note": "越权"}));
    assert_eq!(status, 404, "another department's case cannot be handled");
    // Passing it on to another department takes it out of their hands.
    power.must_step(&in_west, json!({"step": "transfer", "department": "water"}));
    assert_eq!(power.get("/cases")["items"].as_array().unwrap().len(), 0);
    // Administration stays the admins'.
    let (status, _) = power.call(
        reqwest::Method::POST,
        "/admin/departments",
        Some(json!({"code": "x", "name_zh": "某部门", "name_en": "X"})),
    );
    assert_eq!(status, 403);
}
on_both_backends!(handlers_and_street_staff_see_only_their_cases);

fn a_tablet_takes_only_its_own_steps_and_the_flow_keeps_the_centres_fields(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    department(&server, "water", "自来水公司", "Water company");
    person(&server, "值班员", "staff", &[]);
    let dir = tempfile::tempdir().unwrap();
    let tablet = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let staff = Console::login(&server, "值班员", "correct horse");

    // The tablet cannot dispatch, nor move its deadline.
    let case = reported(&tablet, "C1-01", "sanitation", "垃圾堆放");
    let deadline = tablet.get("case", &case)["deadline"].clone();
    tablet.put(
        "case",
        Some(&case),
        &["status=dispatched", "department=water", "deadline=2099-01-01T00:00:00+08:00"],
    );
    tablet.sync();
    tablet.sync();
    let on_tablet = tablet.get("case", &case);
    assert_eq!(on_tablet["status"], "reported", "{on_tablet}");
    assert!(on_tablet["department"].is_null(), "{on_tablet}");
    assert_eq!(on_tablet["deadline"], deadline);
    assert_eq!(staff.get(&format!("/cases/{case}"))["summary"]["status"], "reported");

    // Returned to the grid, then reported again from the tablet.
    staff.must_step(&case, json!({"step": "accept"}));
    staff.must_step(&case, json!({"step": "return", "note": "请补充现场照片"}));
    tablet.sync();
    assert_eq!(tablet.get("case", &case)["status"], "returned");
    tablet.put("case", Some(&case), &["status=reported"]);
    tablet.sync();
    let view = staff.get(&format!("/cases/{case}"));
    assert_eq!(view["summary"]["status"], "reported", "{view}");
    assert_eq!(view["steps"].as_array().unwrap().last().unwrap()["step"], "report");

    // Moved to the next grid from the tablet: the flow follows.
    tablet.put("case", Some(&case), &["grid=C1-02"]);
    tablet.sync();
    let view = staff.get(&format!("/cases/{case}"));
    assert_eq!(view["summary"]["grid"], "C1-02", "{view}");
    assert_eq!(view["steps"].as_array().unwrap().last().unwrap()["step"], "move");

    // Closed in the grid before the tablet ever synced it: received, then
    // closed, both in the trail.
    let offline = tablet.put(
        "case",
        None,
        &[
            "grid=C1-01",
            "category=sanitation",
            "description=楼道杂物",
            "status=closed",
            "handled_in_grid=true",
            "result=已清理",
        ],
    );
    tablet.sync();
    let view = staff.get(&format!("/cases/{offline}"));
    let steps: Vec<&str> =
        view["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        (view["summary"]["status"].as_str(), steps),
        (Some("closed"), vec!["report", "close"]),
        "{view}"
    );

    // A small matter the worker closes in the grid (小事不出格).
    let small = reported(&tablet, "C1-01", "city_appearance", "小广告");
    tablet.put("case", Some(&small), &["status=closed", "handled_in_grid=true", "result=已清除"]);
    tablet.sync();
    let view = staff.get(&format!("/cases/{small}"));
    assert_eq!(
        (view["summary"]["status"].as_str(), view["summary"]["handled_in_grid"].as_bool()),
        (Some("closed"), Some(true))
    );
    let last = view["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["step"].as_str(), last["note"].as_str(), last["user_name"].as_str()),
        (Some("close"), Some("已清除"), Some("网格员"))
    );
}
on_both_backends!(a_tablet_takes_only_its_own_steps_and_the_flow_keeps_the_centres_fields);

fn scripts_run_the_flow_from_the_command_line(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    department(&server, "water", "自来水公司", "Water company");
    let listed = server.admin(&["department", "list"]);
    assert_eq!(listed[0]["name_zh"], "自来水公司", "{listed}");
    let dir = tempfile::tempdir().unwrap();
    let tablet = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let case = reported(&tablet, "C1-02", "utilities", "停水");
    let page = server.admin(&["case", "list", "--status", "reported", "--limit", "10"]);
    assert_eq!(page["items"][0]["id"], case.as_str(), "{page}");
    server.admin(&["case", "step", &case, "--step", "accept"]);
    let after = server.admin(&["case", "step", &case, "--step", "dispatch", "--department", "water"]);
    assert_eq!(after["summary"]["status"], "dispatched");
    let shown = server.admin(&["case", "show", &case]);
    assert_eq!(shown["steps"].as_array().unwrap().len(), 3, "{shown}");
    assert_eq!(server.admin(&["case", "list", "--overdue"])["items"].as_array().unwrap().len(), 0);
    // A mistake is named and changes nothing.
    let output = gridwork_tests::gridwork(&[
        "admin",
        "--server",
        &server.url,
        "--token",
        &server.admin_token,
        "case",
        "step",
        &case,
        "--step",
        "visit",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("回访"), "{output:?}");
    assert_eq!(server.admin(&["case", "show", &case])["summary"]["status"], "dispatched");
}
on_both_backends!(scripts_run_the_flow_from_the_command_line);

/// A call with the admin's token: status and JSON.
fn as_admin(server: &Server, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", server.url))
            .header("x-gridwork-protocol", "1")
            .bearer_auth(&server.admin_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    })
}

fn deadlines_follow_the_calendar_and_the_limits_admins_set(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    person(&server, "值班员", "staff", &[]);
    let dir = tempfile::tempdir().unwrap();
    let tablet = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let staff = Console::login(&server, "值班员", "correct horse");

    // The seeded calendar, and a year nobody entered.
    let y2026 = staff.get("/calendar/2026");
    assert!(y2026["source"].as_str().is_some_and(|s| s.contains("chinese-days")), "{y2026}");
    let make_up: Vec<&str> = y2026["days"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "workday")
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(make_up, ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]);
    let y2031 = staff.get("/calendar/2031");
    assert!(y2031["source"].is_null() && y2031["days"].as_array().unwrap().is_empty(), "{y2031}");

    let case = reported(&tablet, "C1-01", "sanitation", "垃圾清运不及时");
    let due =
        |staff: &Console| staff.get(&format!("/cases/{case}"))["summary"]["due_at_ms"].as_u64().unwrap();
    let seven = due(&staff);

    // A shorter limit counts the open case again, and reaches the tablet.
    let sanitation = json!({"name_zh": "环境卫生", "name_en": "Sanitation", "on_site_limit": null, "solve_limit": "2wd", "department": null});
    let (status, body) =
        as_admin(&server, reqwest::Method::PUT, "/admin/categories/sanitation", sanitation.clone());
    assert_eq!(status, 200, "{body}");
    let two = due(&staff);
    assert!(two < seven, "2 working days end before 7: {two} vs {seven}");
    tablet.sync();
    let on_tablet = tablet.get("case", &case);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(on_tablet["deadline"].as_str().unwrap())
            .unwrap()
            .timestamp_millis() as u64,
        two - 999,
        "{on_tablet}"
    );
    let mut wrong = sanitation.clone();
    wrong["solve_limit"] = json!("7days");
    let (status, body) = as_admin(&server, reqwest::Method::PUT, "/admin/categories/sanitation", wrong);
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("7wd"), "says how to write it: {body}");
    assert_eq!(staff.call(reqwest::Method::PUT, "/admin/categories/sanitation", Some(sanitation)).0, 403);

    // Holidays entered over the next days move the deadline later.
    let received =
        shanghai(staff.get(&format!("/cases/{case}"))["summary"]["received_at_ms"].as_u64().unwrap());
    let mut days: Vec<Value> = y2026["days"].as_array().unwrap().clone();
    for n in 1..=5 {
        let day = received.date_naive() + chrono::Days::new(n);
        if chrono::Datelike::year(&day) == 2026 {
            days.push(json!({"day": day.to_string(), "kind": "holiday", "name_zh": "测试假日", "name_en": "Test holiday"}));
        }
    }
    let (status, body) = as_admin(
        &server,
        reqwest::Method::PUT,
        "/admin/calendar/2026",
        json!({"source": "测试", "days": days}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(due(&staff) > two, "holidays push the deadline out");
    let (status, _) = as_admin(
        &server,
        reqwest::Method::PUT,
        "/admin/calendar/2026",
        json!({"source": "测试", "days": [{"day": "2027-01-01", "kind": "holiday", "name_zh": "元旦", "name_en": "New Year"}]}),
    );
    assert_eq!(status, 422, "a day of another year is refused");
}
on_both_backends!(deadlines_follow_the_calendar_and_the_limits_admins_set);
