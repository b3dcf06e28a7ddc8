//! Open311 GeoReport v2 (`/open311/v2`, docs/open311.md) through the real
//! server on both backends: keys an admin issues, lists and revokes; the
//! categories as services; cases as service requests, filtered, with the
//! deadline and its offset and nothing about a person; each key and login
//! seeing only its part of the grid tree; a hotline filing a case into the
//! flow, and bad filings refused with nothing written.

use gridwork_tests::{Backend, CliDevice, Server, on_both_backends};
use serde_json::{Value, json};

/// Raw HTTP against the server: status and body text (searched whole for
/// what must not be in it).
struct Http {
    url: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new(server: &Server) -> Http {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Http { url: server.url.clone(), runtime, client: reqwest::Client::new() }
    }

    fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, String) {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        self.runtime.block_on(async {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        self.send(self.client.get(format!("{}{path}", self.url)), token)
    }

    /// A GET that must answer 200: its JSON.
    fn json(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, Some(token));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn post(&self, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> (u16, String) {
        let request =
            self.client.post(format!("{}{path}", self.url)).header("content-type", content_type).body(body);
        self.send(request, token)
    }

    fn form(&self, token: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
        let mut url = reqwest::Url::parse("http://form/").unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        let body = url.query().unwrap_or_default().as_bytes().to_vec();
        let (status, body) =
            self.post("/open311/v2/requests.json", Some(token), "application/x-www-form-urlencoded", body);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A console login's token.
    fn login(&self, name: &str) -> String {
        let request = self
            .client
            .post(format!("{}/api/v1/login", self.url))
            .header("x-gridwork-protocol", "1")
            .json(&json!({"name": name, "password": "correct horse"}));
        let (status, body) = self.send(request, None);
        assert_eq!(status, 200, "{name} logs in: {body}");
        serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_owned()
    }
}

/// An Open311 error: its status, and its one `[{"code", "description"}]`.
fn geo_error(status: u16, body: &str) -> String {
    let errors: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let error = &errors.as_array().unwrap_or_else(|| panic!("an array: {body}"))[0];
    assert_eq!(error["code"], status, "{body}");
    error["description"].as_str().unwrap().to_owned()
}

/// A key issued through the CLI: its id and secret.
fn issue(server: &Server, name: &str, grid: Option<&str>) -> (String, String) {
    let mut args = vec!["integration-key", "add", "--name", name];
    if let Some(grid) = grid {
        args.extend(["--grid", grid]);
    }
    let issued = server.admin(&args);
    let secret = issued["secret"].as_str().unwrap_or_else(|| panic!("a secret: {issued}")).to_owned();
    assert!(secret.starts_with("gwk_") && secret.len() == 68, "{secret}");
    assert_eq!(issued["grid"].as_str(), grid);
    (issued["id"].as_str().unwrap().to_owned(), secret)
}

fn ids(requests: &Value) -> Vec<String> {
    let mut ids: Vec<String> = requests
        .as_array()
        .unwrap_or_else(|| panic!("an array: {requests}"))
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ids.sort();
    ids
}

/// Every case the admin's console lists.
fn console_cases(server: &Server) -> Vec<Value> {
    server.admin(&["case", "list", "--limit", "200"])["items"].as_array().unwrap().clone()
}

fn city_systems_read_cases_but_nothing_about_a_person(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let http = Http::new(&server);

    // No key, a wrong key, a wrong token: 401, in GeoReport's shape.
    for path in ["/open311/v2/services.json", "/open311/v2/requests.json"] {
        for token in [
            None,
            Some("gwk_0000000000000000000000000000000000000000000000000000000000000000"),
            Some("gw_nope"),
        ] {
            let (status, body) = http.get(path, token);
            assert_eq!(status, 401, "{path} with {token:?}: {body}");
            geo_error(401, &body);
        }
    }
    let (status, body) =
        http.post("/open311/v2/requests.json", None, "application/x-www-form-urlencoded", vec![]);
    assert_eq!(status, 401, "{body}");

    let (key_id, key) = issue(&server, "12345热线", None);
    let listed = server.admin(&["integration-key", "list"]);
    assert_eq!(listed[0]["id"], key_id.as_str(), "{listed}");
    assert!(listed[0]["revoked_at_ms"].is_null());
    let listed = listed.to_string();
    assert!(!listed.contains("secret") && !listed.contains(&key[4..]), "no secret in the list: {listed}");

    // The categories as services.
    let services = http.json("/open311/v2/services.json", &key);
    let services = services.as_array().unwrap();
    assert_eq!(services.len(), 15, "{services:?}");
    let utilities = services.iter().find(|s| s["service_code"] == "utilities").unwrap();
    assert_eq!(utilities["service_name"], "水电气");
    assert_eq!(utilities["metadata"], false);
    assert_eq!(utilities["type"], "realtime");
    assert!(utilities["description"].as_str().unwrap().contains("3 working days"), "{utilities}");

    // A worker reports two cases from the tablet, one naming its reporter,
    // their phone and the resident concerned (with an ID number).
    let dir = tempfile::tempdir().unwrap();
    let tablet = server.enrolled(dir.path(), "a", "周志强", &["C1"]);
    let resident = tablet.put(
        "resident",
        None,
        &["grid=C1-01", "name=李秀英", "id_number=11010519491231002X", "phone=13800000001"],
    );
    let burst = tablet.put(
        "case",
        None,
        &[
            "grid=C1-01",
            "category=utilities",
            "description=东苑小区3栋水管爆裂",
            "status=reported",
            "location=东苑小区3栋",
            "latitude=29.0791",
            "longitude=119.6474",
            "reporter=张三丰",
            "reporter_phone=13912345678",
            &format!("resident={resident}"),
        ],
    );
    let litter = tablet.put(
        "case",
        None,
        &["grid=C1-02", "category=sanitation", "description=垃圾清运不及时", "status=reported"],
    );
    tablet.sync();

    let (status, raw) = http.get("/open311/v2/requests.json", Some(&key));
    assert_eq!(status, 200, "{raw}");
    for personal in
        ["张三丰", "13912345678", "李秀英", "11010519491231002X", "13800000001", "周志强", resident.as_str()]
    {
        assert!(!raw.contains(personal), "`{personal}` is not told to city systems: {raw}");
    }
    let all: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(ids(&all), sorted(&[&burst, &litter]));
    let request = all.as_array().unwrap().iter().find(|r| r["service_request_id"] == burst.as_str()).unwrap();
    assert_eq!(request["status"], "open");
    assert_eq!(request["service_code"], "utilities");
    assert_eq!(request["service_name"], "水电气");
    assert_eq!(request["description"], "东苑小区3栋水管爆裂");
    assert_eq!(request["address"], "东苑小区3栋");
    assert_eq!(request["lat"], 29.0791);
    assert_eq!(request["long"], 119.6474);
    assert_eq!(request["grid"], "C1-01");
    assert_eq!(request["agency_responsible"], "东苑社区第一网格", "the grid's centre until dispatched");
    assert!(request["status_notes"].is_null(), "{request}");
    // The deadline is the flow's, with the city's offset.
    let shown = server.admin(&["case", "show", &burst]);
    let expected = request["expected_datetime"].as_str().unwrap();
    assert!(expected.ends_with("+08:00"), "{expected}");
    let due = chrono::DateTime::parse_from_rfc3339(expected).unwrap().timestamp_millis() as u64;
    assert_eq!(due, shown["summary"]["due_at_ms"].as_u64().unwrap() / 1000 * 1000, "{shown}");
    let requested = request["requested_datetime"].as_str().unwrap().to_owned();
    assert!(requested.ends_with("+08:00"), "{requested}");
    let received = chrono::DateTime::parse_from_rfc3339(&requested).unwrap().timestamp_millis() as u64;
    assert_eq!(received, shown["summary"]["received_at_ms"].as_u64().unwrap() / 1000 * 1000);

    // One request by its id, in an array; an id that is none is 404.
    let (status, raw) = http.get(&format!("/open311/v2/requests/{burst}.json"), Some(&key));
    assert_eq!(status, 200, "{raw}");
    assert!(!raw.contains("张三丰") && !raw.contains("13912345678"), "{raw}");
    let one: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(ids(&one), sorted(&[burst.as_str()]));
    let (status, body) = http.get("/open311/v2/requests/not-a-case.json", Some(&key));
    assert_eq!((status, geo_error(404, &body).contains("not-a-case")), (404, true), "{body}");
    let listed = http.json(&format!("/open311/v2/requests.json?service_request_id={litter},nope"), &key);
    assert_eq!(ids(&listed), sorted(&[litter.as_str()]));

    // The burst pipe goes through the flow to its close.
    server.admin(&["department", "add", "--code", "water", "--name-zh", "自来水公司", "--name-en", "Water"]);
    server.admin(&["case", "step", &burst, "--step", "accept"]);
    server.admin(&["case", "step", &burst, "--step", "dispatch", "--department", "water"]);
    let handled = http.json(&format!("/open311/v2/requests/{burst}.json"), &key);
    assert_eq!(handled[0]["agency_responsible"], "自来水公司");
    server.admin(&["case", "step", &burst, "--step", "handle", "--note", "已更换水管"]);
    let handled = http.json(&format!("/open311/v2/requests/{burst}.json"), &key);
    assert_eq!(
        (handled[0]["status"].as_str(), handled[0]["status_notes"].as_str()),
        (Some("open"), Some("已更换水管")),
        "handled is open until closed"
    );
    server.admin(&["case", "step", &burst, "--step", "close", "--note", "已恢复供水,已回复市民"]);
    let closed = http.json(&format!("/open311/v2/requests/{burst}.json"), &key);
    assert_eq!(closed[0]["status"], "closed");
    assert_eq!(closed[0]["status_notes"], "已恢复供水,已回复市民");

    // Filters: status, service_code (several, comma-delimited), dates.
    let q = |query: &str| ids(&http.json(&format!("/open311/v2/requests.json?{query}"), &key));
    assert_eq!(q("status=closed"), sorted(&[burst.as_str()]));
    assert_eq!(q("status=open"), sorted(&[litter.as_str()]));
    assert_eq!(q("status=open,closed"), sorted(&[&burst, &litter]));
    assert_eq!(q("status=open&status=closed"), sorted(&[&burst, &litter]));
    assert_eq!(q("service_code=sanitation"), sorted(&[litter.as_str()]));
    assert_eq!(q("service_code=utilities,sanitation"), sorted(&[&burst, &litter]));
    assert_eq!(q("service_code=utilities&status=open"), Vec::<String>::new());
    let day = chrono::NaiveDate::parse_from_str(&requested[..10], "%Y-%m-%d").unwrap();
    assert_eq!(q(&format!("start_date={day}")), sorted(&[&burst, &litter]));
    assert_eq!(q(&format!("start_date={}", day.succ_opt().unwrap())), Vec::<String>::new());
    assert_eq!(q(&format!("end_date={}", day.pred_opt().unwrap())), Vec::<String>::new());
    assert_eq!(q(&format!("start_date={day}&end_date={day}")), sorted(&[&burst, &litter]));
    // An instant with its offset: `+` written as %2B, or lost to a space.
    let encoded = requested.replace('+', "%2B");
    assert!(q(&format!("end_date={encoded}")).contains(&burst));
    assert!(q(&format!("start_date={}", requested.replace('+', " "))).contains(&burst));
    let later = chrono::DateTime::parse_from_rfc3339(&requested).unwrap() + chrono::Duration::hours(1);
    let later = later.to_rfc3339().replace('+', "%2B");
    assert_eq!(q(&format!("start_date={later}")), Vec::<String>::new());
    let utc = chrono::DateTime::parse_from_rfc3339(&requested).unwrap().with_timezone(&chrono::Utc);
    assert!(q(&format!("start_date={}", utc.format("%Y-%m-%dT%H:%M:%SZ"))).contains(&burst));

    // Bad values are refused, naming the parameter.
    for (query, named) in [
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-13-45", "end_date"),
        ("start_date=2026-03-02T08:00:00", "start_date"),
        ("status=pending", "status"),
        ("service_code=potholes", "service_code"),
        ("start_date=2026-03-02&end_date=2026-03-01", "start_date"),
        ("page=2", "page"),
        ("api_key=x", "api_key"),
    ] {
        let (status, body) = http.get(&format!("/open311/v2/requests.json?{query}"), Some(&key));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(geo_error(400, &body).contains(named), "{query} names {named}: {body}");
    }
    let (status, body) = http.get("/open311/v2/requests.xml", Some(&key));
    assert_eq!((status, geo_error(400, &body).contains("JSON")), (400, true), "{body}");
    let (status, body) = http.get("/open311/v2/elsewhere.json", Some(&key));
    assert_eq!(status, 404, "{body}");
    geo_error(404, &body);

    // A device's token is not for city systems.
    let (status, body) = http.get("/open311/v2/requests.json", Some(&tablet.token()));
    assert_eq!(status, 403, "{body}");
}
on_both_backends!(city_systems_read_cases_but_nothing_about_a_person);

fn keys_and_logins_see_and_file_only_in_their_part_of_the_tree(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    // A second street beside 城东街道 (330702001, communities C1 and C2).
    server.grid("330702002", "西关街道", Some("330702"));
    server.grid("W1", "西关社区", Some("330702002"));
    server.grid("W1-01", "西关社区第一网格", Some("W1"));
    server.admin(&[
        "user",
        "add",
        "--name",
        "城东街道中心",
        "--role",
        "staff",
        "--grid",
        "330702001",
        "--password",
        "correct horse",
    ]);
    server.admin(&["department", "add", "--code", "water", "--name-zh", "自来水公司", "--name-en", "Water"]);
    server.admin(&[
        "user",
        "add",
        "--name",
        "水务处置员",
        "--role",
        "handler",
        "--department",
        "water",
        "--password",
        "correct horse",
    ]);
    let http = Http::new(&server);
    let (_, city) = issue(&server, "市级平台", None);
    let (street_key_id, street) = issue(&server, "城东街道热线", Some("330702001"));
    let staff = http.login("城东街道中心");
    let handler = http.login("水务处置员");

    let dir = tempfile::tempdir().unwrap();
    let east = server.enrolled(dir.path(), "east", "东苑网格员", &["C1"]);
    let west = server.enrolled(dir.path(), "west", "西关网格员", &["W1"]);
    let report = |device: &CliDevice, grid: &str, description: &str| {
        let id = device.put(
            "case",
            None,
            &[
                &format!("grid={grid}"),
                "category=utilities",
                &format!("description={description}"),
                "status=reported",
            ],
        );
        device.sync();
        id
    };
    let ours = report(&east, "C1-01", "东苑停水");
    let theirs = report(&west, "W1-01", "西关停电");

    assert_eq!(ids(&http.json("/open311/v2/requests.json", &city)), sorted(&[&ours, &theirs]));
    for token in [&street, &staff] {
        assert_eq!(
            ids(&http.json("/open311/v2/requests.json", token)),
            sorted(&[ours.as_str()]),
            "the street's only"
        );
        let (status, body) = http.get(&format!("/open311/v2/requests/{theirs}.json"), Some(token));
        assert_eq!(status, 404, "another street's case is not found: {body}");
        assert!(!body.contains("西关停电"), "{body}");
        assert_eq!(
            ids(&http.json(&format!("/open311/v2/requests.json?service_request_id={theirs}"), token)),
            Vec::<String>::new()
        );
        // Nor filed into.
        let before = console_cases(&server).len();
        let (status, answer) = http
            .form(token, &[("service_code", "utilities"), ("description", "越界上报"), ("grid", "W1-01")]);
        assert_eq!(status, 400, "{answer}");
        assert!(answer[0]["description"].as_str().unwrap().contains("grid"), "{answer}");
        assert_eq!(console_cases(&server).len(), before, "nothing written");
    }
    // Filing in its street works, for the key and for the street's staff.
    for token in [&street, &staff] {
        let (status, answer) = http.form(
            token,
            &[("service_code", "utilities"), ("description", "城东热线来电"), ("grid", "C1-02")],
        );
        assert_eq!(status, 200, "{answer}");
    }

    // A handler sees their department's cases and files nothing.
    assert_eq!(ids(&http.json("/open311/v2/requests.json", &handler)), Vec::<String>::new());
    server.admin(&["case", "step", &theirs, "--step", "accept"]);
    server.admin(&["case", "step", &theirs, "--step", "dispatch", "--department", "water"]);
    assert_eq!(ids(&http.json("/open311/v2/requests.json", &handler)), sorted(&[theirs.as_str()]));
    let (status, answer) = http
        .form(&handler, &[("service_code", "utilities"), ("description", "处置员上报"), ("grid", "C1-01")]);
    assert_eq!(status, 403, "{answer}");

    // A key is for Open311 only, and a revoked one is refused at once.
    let to_console = http.client.get(format!("{}/api/v1/cases", http.url)).header("x-gridwork-protocol", "1");
    let (status, body) = http.send(to_console, Some(&street));
    assert_eq!(status, 401, "{body}");
    let revoked = server.admin(&["integration-key", "revoke", "--id", &street_key_id]);
    assert!(revoked["revoked_at_ms"].as_u64().is_some(), "{revoked}");
    for path in ["/open311/v2/requests.json", "/open311/v2/services.json"] {
        let (status, body) = http.get(path, Some(&street));
        assert_eq!(status, 401, "{path}: {body}");
    }
    let listed = server.admin(&["integration-key", "list"]);
    let street_key = listed.as_array().unwrap().iter().find(|k| k["id"] == street_key_id.as_str()).unwrap();
    assert!(street_key["revoked_at_ms"].as_u64().is_some(), "{listed}");
    assert_eq!(
        http.json("/open311/v2/requests.json", &city).as_array().unwrap().len(),
        4,
        "the others still work"
    );
    // Only admins issue keys, and a key's grid must exist.
    let output = gridwork_tests::gridwork(&[
        "admin",
        "--server",
        &server.url,
        "--token",
        &staff,
        "integration-key",
        "add",
        "--name",
        "x",
    ]);
    assert!(!output.status.success(), "{output:?}");
    let output = gridwork_tests::gridwork(&[
        "admin",
        "--server",
        &server.url,
        "--token",
        &server.admin_token,
        "integration-key",
        "add",
        "--name",
        "x",
        "--grid",
        "NOWHERE",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("NOWHERE"), "{output:?}");
}
on_both_backends!(keys_and_logins_see_and_file_only_in_their_part_of_the_tree);

fn a_hotline_files_a_case_into_the_flow_and_bad_filings_change_nothing(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let http = Http::new(&server);
    let (_, key) = issue(&server, "12345热线", None);

    // A form, as the spec has it, naming the caller.
    let (status, answer) = http.form(
        &key,
        &[
            ("service_code", "utilities"),
            ("description", "市民来电:东苑小区停水"),
            ("grid", "C1-01"),
            ("lat", "29.08"),
            ("long", "119.65"),
            ("address_string", "东苑小区5栋"),
            ("first_name", "三"),
            ("last_name", "张"),
            ("phone", "13912345678"),
            ("email", "zhang@example.com"),
            ("jurisdiction_id", "jinhua"),
        ],
    );
    assert_eq!(status, 200, "{answer}");
    let filed = answer[0]["service_request_id"].as_str().unwrap().to_owned();
    assert!(
        answer[0]["service_notice"].as_str().unwrap().contains("email"),
        "says what was not kept: {answer}"
    );
    // In the flow: reported, with its deadline, the caller kept where the
    // console keeps a reporter, and the key named in the trail.
    let cases = console_cases(&server);
    assert_eq!(cases.len(), 1);
    assert_eq!(
        (cases[0]["id"].as_str(), cases[0]["status"].as_str()),
        (Some(filed.as_str()), Some("reported"))
    );
    assert!(cases[0]["due_at_ms"].as_u64().unwrap() > cases[0]["received_at_ms"].as_u64().unwrap());
    let shown = server.admin(&["case", "show", &filed]);
    assert_eq!(shown["fields"]["reporter"], "张三", "{shown}");
    assert_eq!(shown["fields"]["reporter_phone"], "13912345678");
    assert_eq!(shown["fields"]["location"], "东苑小区5栋");
    assert_eq!(shown["fields"]["latitude"], 29.08);
    assert!(shown["fields"]["deadline"].as_str().unwrap().ends_with("+08:00"), "{shown}");
    assert!(!shown.to_string().contains("zhang@example.com"));
    let report = &shown["steps"][0];
    assert_eq!((report["step"].as_str(), report["user_name"].as_str()), (Some("report"), Some("12345热线")));
    // Told back without the caller.
    let (status, raw) = http.get(&format!("/open311/v2/requests/{filed}.json"), Some(&key));
    assert_eq!(status, 200, "{raw}");
    assert!(!raw.contains("张三") && !raw.contains("13912345678") && !raw.contains("example.com"), "{raw}");
    assert!(raw.contains("东苑小区5栋"), "{raw}");

    // A JSON object, numbers as numbers.
    let body = json!({"service_code": "sanitation", "description": "垃圾满溢", "grid": "C1-02", "lat": 29.1, "long": 119.6});
    let (status, raw) =
        http.post("/open311/v2/requests.json", Some(&key), "application/json", body.to_string().into_bytes());
    assert_eq!(status, 200, "{raw}");
    assert_eq!(console_cases(&server).len(), 2);

    // Bad filings: refused, named, and nothing written.
    let good = [("service_code", "utilities"), ("description", "停水"), ("grid", "C1-01")];
    let without = |name: &str| good.iter().copied().filter(|(n, _)| *n != name).collect::<Vec<_>>();
    let with = |extra: (&'static str, &'static str)| {
        let mut pairs: Vec<(&str, &str)> = good.iter().copied().filter(|(n, _)| *n != extra.0).collect();
        pairs.push(extra);
        pairs
    };
    for (pairs, named) in [
        (with(("service_code", "potholes")), "service_code"),
        (without("service_code"), "service_code"),
        (without("description"), "description"),
        (with(("description", "   ")), "description"),
        (without("grid"), "grid"),
        (with(("grid", "NOWHERE")), "grid"),
        (with(("lat", "north")), "lat"),
        (with(("lat", "95")), "lat"),
        (with(("phone", "12")), "phone"),
        (with(("attribute[depth]", "3")), "attribute[depth]"),
    ] {
        let (status, answer) = http.form(&key, &pairs);
        assert_eq!(status, 400, "{pairs:?}: {answer}");
        let description = answer[0]["description"].as_str().unwrap();
        assert!(description.contains(named), "{pairs:?} names {named}: {answer}");
    }
    let huge = format!("service_code=utilities&grid=C1-01&description={}", "水".repeat(100_000));
    let (status, body) = http.post(
        "/open311/v2/requests.json",
        Some(&key),
        "application/x-www-form-urlencoded",
        huge.into_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    geo_error(413, &body);
    let long = format!("service_code=utilities&grid=C1-01&description={}", "水".repeat(5001));
    let (status, body) = http.post(
        "/open311/v2/requests.json",
        Some(&key),
        "application/x-www-form-urlencoded",
        long.into_bytes(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(geo_error(400, &body).contains("description"), "{body}");
    let (status, body) =
        http.post("/open311/v2/requests.json", Some(&key), "text/xml", b"<request/>".to_vec());
    assert_eq!(status, 415, "{body}");
    let (status, body) =
        http.post("/open311/v2/requests.json", Some(&key), "application/json", b"[1]".to_vec());
    assert_eq!(status, 400, "{body}");
    assert_eq!(console_cases(&server).len(), 2, "nothing written by the refused filings");
}
on_both_backends!(a_hotline_files_a_case_into_the_flow_and_bad_filings_change_nothing);
