//! Administration through the `gridwork` binary against the real server:
//! mistakes are named, and change nothing.

use gridwork_tests::{Backend, Server, gridwork, on_both_backends};

fn admin_fails(server: &Server, args: &[&str]) -> String {
    let output =
        gridwork(&[&["admin", "--server", &server.url, "--token", &server.admin_token], args].concat());
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(output.stderr).unwrap()
}

fn administration_mistakes_are_named_and_change_nothing(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let cases: &[(&[&str], &[&str])] = &[
        (&["grid", "add", "--code", "X1", "--name", "无上级", "--parent", "NOPE"], &["parent", "NOPE"]),
        (&["grid", "add", "--code", "C1", "--name", "重复"], &["C1", "exists", "已存在"]),
        (&["grid", "add", "--code", "网格", "--name", "中文编码"], &["code"]),
        (&["user", "add", "--name", "无网格", "--role", "worker"], &["grid", "required"]),
        (&["user", "add", "--name", "坏角色", "--role", "boss"], &["boss"]),
        (&["user", "add", "--name", "错网格", "--role", "worker", "--grid", "NOPE"], &["grid", "NOPE"]),
        (&["user", "add", "--name", "短密码", "--role", "staff", "--password", "123"], &["password"]),
        (&["user", "add", "--name", "有网格的管理员", "--role", "admin", "--grid", "C1"], &["grid", "role"]),
        (&["enroll-code", "--user", "no-such-user"], &["no-such-user", "没有编号为"]),
        (&["enroll-code", "--user", "x", "--ttl-minutes", "0"], &["ttl_minutes"]),
        (&["device", "revoke", "--device", "no-such-device"], &["no-such-device"]),
    ];
    for (args, words) in cases {
        let stderr = admin_fails(&server, args);
        for word in *words {
            assert!(stderr.contains(word), "{args:?}: `{word}` not named in: {stderr}");
        }
    }
    // A bad token is refused, in both languages.
    let output = gridwork(&["admin", "--server", &server.url, "--token", "gw_wrong", "device", "list"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        !output.status.success() && stderr.contains("unauthorized") && stderr.contains("令牌"),
        "{stderr}"
    );

    // Nothing was created.
    assert!(server.admin(&["device", "list"]).as_array().unwrap().is_empty());
    let (user, _) = server.worker("正常网格员", &["C1"]);
    assert!(!user.is_empty());
    let stderr =
        admin_fails(&server, &["user", "add", "--name", "正常网格员", "--role", "worker", "--grid", "C1"]);
    assert!(stderr.contains("exists"), "a name is taken once: {stderr}");
}
on_both_backends!(administration_mistakes_are_named_and_change_nothing);

fn console_logins_end_at_logout_and_password_guessing_is_stopped(backend: Backend) {
    let server = Server::start_on(backend);
    server.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let call = |path: &str, token: Option<&str>, body: Option<serde_json::Value>| {
        let url = format!("{}/api/v1{path}", server.url);
        let mut request = match &body {
            Some(body) => client.post(url).json(body),
            None => client.get(url),
        };
        request = request.header("x-gridwork-protocol", "1");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = runtime.block_on(request.send()).unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").is_some();
        let body: serde_json::Value = runtime.block_on(response.json()).unwrap();
        (status, body, retry_after)
    };
    let login = |password: &str| {
        call("/login", None, Some(serde_json::json!({"name": "值班员", "password": password})))
    };

    let (status, body, _) = login("wrong horse");
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("bad_login")), "{body}");
    let (status, session, _) = login("correct horse");
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(session["expires_at_ms"].as_u64().is_some(), "{session}");
    let (status, conflicts, _) = call("/admin/conflicts", Some(&token), None);
    assert_eq!(status, 200, "staff read the conflicts: {conflicts}");

    let (status, body, _) = call("/logout", Some(&token), Some(serde_json::json!({})));
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = call("/admin/conflicts", Some(&token), None);
    assert_eq!(status, 401, "the session ended");
    let (status, body, _) = call("/logout", Some(&server.admin_token), Some(serde_json::json!({})));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("not_a_session")), "{body}");
    assert_eq!(call("/admin/devices", Some(&server.admin_token), None).0, 200, "the admin token still works");

    // Nine more wrong passwords make ten; then even the right one waits.
    for _ in 0..9 {
        assert_eq!(login("guess").0, 401);
    }
    let (status, body, retry_after) = login("correct horse");
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{body}");
    assert!(retry_after, "says how long to wait");
}
on_both_backends!(console_logins_end_at_logout_and_password_guessing_is_stopped);

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let server = Server::start();
    let second = std::process::Command::new(gridwork_tests::bin("gridwork-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(server.data.path())
        .output()
        .expect("runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another gridwork-server is serving") && stderr.contains("另一个"), "{stderr}");
    // Nor may a restore replace the database under it.
    let backup = server.data.path().join("copy.db");
    server.admin_command(&["backup", "--to", backup.to_str().unwrap()]);
    let restore = std::process::Command::new(gridwork_tests::bin("gridwork-server"))
        .args(["restore", "--from", backup.to_str().unwrap(), "--data"])
        .arg(server.data.path())
        .output()
        .expect("runs");
    assert!(!restore.status.success(), "restore refused while serving");
    assert_eq!(server.admin(&["device", "list"]), serde_json::json!([]), "the first server serves on");
}
