//! The API's OpenAPI description (`GET /api/openapi.json`) and Swagger UI
//! (`/api/docs/`) through the real server: the description is OpenAPI
//! 3.x and names every route the router serves (read from the router's
//! source, so a route added without its `#[utoipa::path]` fails here by
//! name), and the UI's page loads nothing from another origin and shows
//! every path in headless Chromium.

use std::collections::BTreeSet;

use gridwork_tests::{Server, workspace_root};
use serde_json::Value;

/// One GET through the real server: status, headers and body.
fn get(server: &Server, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = client.get(format!("{}{path}", server.url)).send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    })
}

/// The `.route("PATH", METHODS)` calls of `source` (in `text` when given a
/// part of it), as (method, path) with `prefix` before each path.
fn routes_in(text: &str, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's arguments, to its closing parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a .route( call closes");
        let call = &rest[..end];
        let path = call.split('"').nth(1).expect("a route's path is a string literal");
        let methods = call[path.len() + 2..]
            .match_indices('(')
            .filter_map(|(i, _)| {
                let before = &call[path.len() + 2..][..i];
                let name = before.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next()?;
                ["get", "post", "put", "delete", "patch"].contains(&name).then_some(name)
            })
            .collect::<Vec<_>>();
        assert!(!methods.is_empty(), "no method read from .route({call})");
        for method in methods {
            found.push((method.to_owned(), format!("{prefix}{path}")));
        }
        rest = &rest[end..];
    }
    found
}

/// Where `.nest("PREFIX", ROUTER)` puts `router` in `source`.
fn nest_prefix(source: &str, router: &str) -> String {
    let call = format!("\", {router})");
    let at = source.find(&call).unwrap_or_else(|| panic!("no .nest(…, {router}) in the router"));
    let start = source[..at].rfind(".nest(\"").expect("a .nest( call") + ".nest(\"".len();
    source[start..at].to_owned()
}

/// Every (method, path) the router serves, read from `server/src/lib.rs`
/// (the `/api/v1` router and the outer one) and `server/src/open311.rs`.
fn served_routes() -> BTreeSet<(String, String)> {
    let read = |file: &str| std::fs::read_to_string(workspace_root().join(file)).expect("router source");
    let lib = read("server/src/lib.rs");
    let router = &lib[lib.find("pub fn router(").expect("crate::router")..];
    let api_start = router.find("let api = Router::new()").expect("the /api/v1 router");
    let api_end = api_start + router[api_start..].find(';').expect("the /api/v1 router ends");
    let mut routes = routes_in(&router[api_start..api_end], &nest_prefix(router, "api"));
    routes.extend(routes_in(&router[api_end..], ""));
    let open311 = read("server/src/open311.rs");
    let open311_router = &open311[open311.find("pub fn router()").expect("open311::router")..];
    routes.extend(routes_in(open311_router, &nest_prefix(router, "open311::router()")));
    routes.into_iter().collect()
}

fn description(server: &Server) -> Value {
    let (status, headers, body) = get(server, "/api/openapi.json");
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    serde_json::from_str(&body).expect("the description is JSON")
}

#[test]
fn the_description_is_openapi_3_and_names_every_route_the_router_serves() {
    let server = Server::start();
    let api = description(&server);
    let version = api["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "OpenAPI {version}");
    assert!(api["info"]["title"].is_string() && api["info"]["version"].is_string());
    let paths = api["paths"].as_object().expect("paths");

    let served = served_routes();
    // The parse above would pass vacuously if it found nothing.
    assert!(served.len() >= 45, "only {} routes read from the source: {served:?}", served.len());
    assert!(served.contains(&("put".into(), "/api/v1/attachments/{sha256}".into())));
    assert!(served.contains(&("get".into(), "/api/v1/health".into())));
    assert!(served.contains(&("post".into(), "/open311/v2/requests.json".into())));
    let undescribed: Vec<String> = served
        .iter()
        .filter(|(method, path)| paths.get(path).and_then(|p| p.get(method)).is_none())
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        undescribed.is_empty(),
        "routes with no OpenAPI path (add #[utoipa::path] to the handler and a line in server/src/openapi.rs): {undescribed:?}"
    );

    // Nothing is described that is not served (the description's own
    // route is the openapi module's).
    let mut stale = Vec::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            let known = served.contains(&(method.to_owned(), path.clone())) || path == "/api/openapi.json";
            if item.get(method).is_some() && !known {
                stale.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(stale.is_empty(), "described but not served: {stale:?}");

    // Every operation answers something, names its errors' body, and
    // every reference resolves.
    let schemas = api["components"]["schemas"].as_object().expect("component schemas");
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().expect("responses");
            // (The `.xml` resources only ever refuse: this server writes JSON.)
            let succeeds = responses.keys().any(|s| s.starts_with('2'));
            assert!(succeeds || path.ends_with(".xml"), "{method} {path} has no success answer");
            if path.starts_with("/api/v1/") && path != "/api/v1/health" {
                let error = &responses["400"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(error, "#/components/schemas/ErrorBody", "{method} {path}");
                let header = operation["parameters"].as_array().unwrap().iter().any(|p| {
                    p["name"] == "x-gridwork-protocol" && p["in"] == "header" && p["required"] == true
                });
                assert!(header, "{method} {path} does not name the protocol header");
            }
            let secured =
                operation.get("security").is_some_and(|s| s.as_array().is_some_and(|s| !s.is_empty()));
            // Open: enrolling, logging in, and what reads no request.
            let open = ["/api/v1/health", "/api/v1/enroll", "/api/v1/login", "/api/openapi.json"];
            let open = open.contains(&path.as_str()) || path.ends_with(".xml");
            assert_eq!(secured, !open, "{method} {path}'s security");
        }
    }
    let mut references = Vec::new();
    collect_refs(&api, &mut references);
    for reference in references {
        let name = reference.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(schemas.contains_key(name), "{reference} is not among the components");
    }
    let schemes = api["components"]["securitySchemes"].as_object().expect("security schemes");
    for scheme in ["session", "device", "integration_key"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for requirement in operation.get("security").and_then(Value::as_array).into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(name), "{method} {path} names an unknown scheme {name}");
                }
            }
        }
    }
    // The error body's fields, in both languages.
    let error = &schemas["ApiError"]["properties"];
    for field in ["code", "message", "message_zh"] {
        assert!(error.get(field).is_some(), "ApiError lacks {field}");
    }
    assert!(schemas["ErrorCode"]["enum"].as_array().unwrap().contains(&"unauthorized".into()));
    // Open311 errors in GeoReport's shape.
    let geo = &api["paths"]["/open311/v2/requests.json"]["get"]["responses"]["401"];
    assert_eq!(geo["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/GeoErrors");
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, value) in members {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => out.push(reference.clone()),
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The `src` and `href` attributes of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            found.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    found
}

#[test]
fn the_docs_page_loads_only_from_this_server_under_the_consoles_policy() {
    let server = Server::start();
    let (status, headers, _) = get(&server, "/api/docs");
    assert_eq!(status, 308);
    assert_eq!(headers["location"], "/api/docs/");

    let (status, headers, html) = get(&server, "/api/docs/");
    assert_eq!(status, 200, "{html}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';") && policy.contains("default-src 'self'"), "{policy}");
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    // No inline script: the policy would stop it.
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
    }
    let assets = references(&html);
    assert!(assets.len() >= 4, "{assets:?}");
    for asset in &assets {
        assert!(
            !asset.contains("//") && !asset.starts_with("data:") && !asset.starts_with("javascript:"),
            "{asset} is not this server's"
        );
        let path = format!("/api/docs/{}", asset.trim_start_matches("./"));
        let (status, headers, _) = get(&server, &path);
        assert_eq!(status, 200, "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
    }
    let (status, _, initializer) = get(&server, "/api/docs/swagger-initializer.js");
    assert_eq!(status, 200);
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
    assert!(!initializer.contains("http://") && !initializer.contains("https://"), "{initializer}");

    // Neither needs the protocol header or a token; a file that is not
    // there is the API's not-found.
    let (status, _, body) = get(&server, "/api/docs/nothing.js");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not_found"), "{body}");
}

/// Swagger UI in headless Chromium (Debian's `chromium`, as the console's
/// end-to-end test; `CHROMIUM` names another): under the page's policy its
/// scripts run, read the description and show every path of it.
#[test]
fn the_docs_page_shows_every_path_in_chromium() {
    let server = Server::start();
    let paths = description(&server)["paths"].as_object().unwrap().len();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{}/api/docs/", server.url))
        .output()
        .unwrap_or_else(|e| panic!("{chromium} does not run ({e}): install chromium (scripts/test does)"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("Gridwork 网格通"), "the description's title is not shown: {dom}");
    let shown: BTreeSet<&str> = dom
        .match_indices("data-path=\"")
        .map(|(at, found)| {
            let rest = &dom[at + found.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(shown.len(), paths, "paths shown: {shown:?}");
    assert!(shown.contains("/api/v1/sync/push") && shown.contains("/open311/v2/requests.json"));
}
