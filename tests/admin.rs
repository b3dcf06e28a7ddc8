//! Administration through the `gridwork` binary against the real server:
//! mistakes are named, and change nothing.

use gridwork_tests::{Server, gridwork};

fn admin_fails(server: &Server, args: &[&str]) -> String {
    let output =
        gridwork(&[&["admin", "--server", &server.url, "--token", &server.admin_token], args].concat());
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn administration_mistakes_are_named_and_change_nothing() {
    let server = Server::start();
    server.city();
    let cases: &[(&[&str], &[&str])] = &[
        (&["grid", "add", "--code", "X1", "--name", "无上级", "--parent", "NOPE"], &["parent", "NOPE"]),
        (&["grid", "add", "--code", "C1", "--name", "重复"], &["C1", "exists"]),
        (&["grid", "add", "--code", "网格", "--name", "中文编码"], &["code"]),
        (&["user", "add", "--name", "无网格", "--role", "worker"], &["grid", "required"]),
        (&["user", "add", "--name", "坏角色", "--role", "boss"], &["boss"]),
        (&["user", "add", "--name", "错网格", "--role", "worker", "--grid", "NOPE"], &["grid", "NOPE"]),
        (&["user", "add", "--name", "短密码", "--role", "staff", "--password", "123"], &["password"]),
        (&["enroll-code", "--user", "no-such-user"], &["no-such-user"]),
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
