//! The HTTP API described in OpenAPI 3.1, assembled from the handlers'
//! `#[utoipa::path]` attributes and the wire types' schemas
//! (gridwork-protocol's `openapi` feature), served at `GET
//! /api/openapi.json`, with Swagger UI at `/api/docs/`.
//!
//! A new endpoint is described by one `#[utoipa::path]` on its handler and
//! one line in [`ApiDoc`]'s `paths`; `tests/openapi.rs` fails naming any
//! route the router serves that the description lacks. What every
//! `/api/v1` call shares (the `x-gridwork-protocol` header, the errors of
//! a malformed or unauthorised request) and the ways of authenticating are
//! added here once ([`Shared`]), not on each handler.
//!
//! Swagger UI's files come from `utoipa-swagger-ui` with its `vendored`
//! feature (the zip is inside the crate; nothing is fetched at build time)
//! and are served under the console's security headers: scripts and styles
//! from this server only, so the page loads nothing from elsewhere. What
//! this does not do: describe the bytes of a postcard body (the JSON
//! schema is the same value's), or check a request against the description.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gridwork_protocol::sync::PROTOCOL_HEADER;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required};

use crate::AppState;
use crate::error::AppError;
use crate::storage::StorageError;

/// The description: every path of `crate::router`, by handler.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Gridwork 网格通",
        description = "The sync server's HTTP API: devices' enrollment and sync, attachments, the centre console's administration and case flow under `/api/v1`, and Open311 GeoReport v2 for city systems under `/open311/v2`. Errors under `/api/v1` are `{\"error\": {\"code\", \"message\", \"message_zh\"}}`; under `/open311/v2`, `[{\"code\", \"description\", \"description_zh\"}]`. See docs/sync-protocol.md and docs/open311.md.",
    ),
    paths(
        openapi_json,
        crate::health,
        crate::enroll,
        crate::login,
        crate::logout,
        crate::push,
        crate::pull,
        crate::attachments::upload,
        crate::attachments::download,
        crate::attachments::status,
        crate::add_grid,
        crate::update_grid,
        crate::add_user,
        crate::users,
        crate::enrollment_code,
        crate::devices,
        crate::revoke,
        crate::issue_integration_key,
        crate::integration_keys,
        crate::revoke_integration_key,
        crate::conflicts,
        crate::settle_conflict,
        crate::me,
        crate::schema,
        crate::grids,
        crate::records,
        crate::record,
        crate::activity,
        crate::stats,
        crate::supervisions,
        crate::parked,
        crate::parked_one,
        crate::dismiss_parked,
        crate::apply_parked,
        crate::export_records,
        crate::export_grids,
        crate::export_devices,
        crate::export_users,
        crate::export_conflicts,
        crate::export_parked,
        crate::export_activity,
        crate::activity_period,
        crate::export_activity_period,
        crate::add_department,
        crate::departments,
        crate::categories,
        crate::update_category,
        crate::calendar_year,
        crate::replace_calendar_year,
        crate::cases,
        crate::add_case,
        crate::export_cases,
        crate::case,
        crate::case_step,
        crate::open311::services,
        crate::open311::requests,
        crate::open311::file_request,
        crate::open311::request,
        crate::open311::services_xml,
        crate::open311::requests_xml,
        crate::open311::file_request_xml,
    ),
    components(schemas(gridwork_protocol::sync::ErrorBody, crate::open311::GeoErrorItem)),
    modifiers(&Shared),
    tags(
        (name = "sync", description = "Devices: enrollment, push and pull (docs/sync-protocol.md)"),
        (name = "attachments", description = "Case photos, uploaded in resumable chunks"),
        (name = "console", description = "The centre console: sessions, the grid tree, the dashboard, conflicts"),
        (name = "admin", description = "Administration: grids, users, devices, keys, departments, categories, the calendar"),
        (name = "cases", description = "The case flow (docs/case-flow.md)"),
        (name = "registry", description = "Residents, households and buildings by grid, with each field's history (docs/registry.md)"),
        (name = "open311", description = "Open311 GeoReport v2 for city systems (docs/open311.md)"),
        (name = "meta", description = "The server itself and this description"),
    ),
)]
pub struct ApiDoc;

/// The ways of authenticating, as the handlers' `security(…)` name them.
pub const SESSION: &str = "session";
pub const DEVICE: &str = "device";
pub const INTEGRATION_KEY: &str = "integration_key";

/// What the handlers' attributes leave to one place.
struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                SESSION,
                "`Authorization: Bearer TOKEN` with a console session's token (`POST /api/v1/login`) or the administrator's token `gridwork-server init` printed; each endpoint says which roles it takes",
            ),
            (DEVICE, "`Authorization: Bearer TOKEN` with the device token `POST /api/v1/enroll` answered"),
            (
                INTEGRATION_KEY,
                "`Authorization: Bearer gwk_…` with an integration key an admin issued (`POST /api/v1/admin/integration-keys`); it works on `/open311/v2` only",
            ),
        ] {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_owned());
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
        for (path, item) in api.paths.paths.iter_mut() {
            let api_v1 = path.starts_with("/api/v1/") && path != "/api/v1/health";
            let open311 = path.starts_with("/open311/");
            for operation in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten()
            {
                if api_v1 {
                    shared_by_api_v1(operation);
                } else if open311 {
                    shared_by_open311(operation);
                }
            }
        }
    }
}

fn secured(operation: &Operation) -> bool {
    operation.security.as_ref().is_some_and(|s| !s.is_empty())
}

/// Adds `status`'s answer with `schema`'s body unless the handler
/// described its own.
fn error(operation: &mut Operation, status: &str, description: &str, schema: &str) {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    let response =
        ResponseBuilder::new().description(description).content("application/json", content).build();
    operation.responses.responses.entry(status.to_owned()).or_insert(response.into());
}

fn shared_by_api_v1(operation: &mut Operation) {
    let protocol = ParameterBuilder::new()
        .name(PROTOCOL_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some("the sync protocol version the caller speaks: 1"))
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).build()))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).insert(0, protocol.into());
    let body = "ErrorBody";
    error(
        operation,
        "400",
        "malformed: the body, a parameter, or the protocol header is missing or wrong",
        body,
    );
    error(operation, "408", "the request took longer than 60 s", body);
    error(operation, "426", "the caller's protocol version is one this server does not speak", body);
    if operation.request_body.is_some() {
        error(operation, "413", "the body is larger than this endpoint takes", body);
    }
    if secured(operation) {
        error(operation, "401", "no token, or one the server does not know (wrong, revoked, expired)", body);
        error(operation, "403", "the token's holder may not do this", body);
    }
}

fn shared_by_open311(operation: &mut Operation) {
    let body = "GeoErrors";
    error(operation, "400", "a parameter is missing, unknown or wrong", body);
    if secured(operation) {
        error(operation, "401", "no key or login, or one the server does not know", body);
        error(operation, "403", "the key's or login's holder may not do this", body);
    }
}

/// The description as JSON, built once.
fn description() -> &'static Arc<str> {
    static JSON: OnceLock<Arc<str>> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().expect("the description serialises").into())
}

/// This description, in OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "this document", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-cache")],
        description().to_string(),
    )
        .into_response()
}

/// Swagger UI's page or file under `/api/docs/`, pointed at the
/// description.
async fn docs(uri: Uri) -> Response {
    let file = match swagger_file(uri.path().strip_prefix("/api/docs/").unwrap_or_default()) {
        Ok(Some(file)) => file,
        Ok(None) => return crate::fallback().await.into_response(),
        Err(error) => return AppError::from(StorageError::Internal(error)).into_response(),
    };
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    let mime = HeaderValue::from_str(&file.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, mime);
    if file.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    crate::console::secure(headers, None);
    response
}

/// A Swagger UI file, owned: Swagger UI's error is not `Send`, and must
/// not be held where a handler awaits.
struct SwaggerFile {
    bytes: Vec<u8>,
    content_type: String,
    gzpipped: bool,
}

fn swagger_file(path: &str) -> Result<Option<SwaggerFile>, String> {
    let config = Arc::new(utoipa_swagger_ui::Config::new(["/api/openapi.json"]));
    match utoipa_swagger_ui::serve(path, config) {
        Ok(file) => Ok(file.map(|f| SwaggerFile {
            bytes: f.bytes.into_owned(),
            content_type: f.content_type,
            gzpipped: f.gzpipped,
        })),
        Err(error) => Err(format!("serving Swagger UI: {error}")),
    }
}

/// The description and its UI, beside `/api/v1` (they need no protocol
/// header: a browser asks for them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/docs", get(|| async { Redirect::permanent("/api/docs/") }))
        .route("/api/docs/", get(docs))
        .route("/api/docs/{*file}", get(docs))
}
