//! Serves the centre console: the web app in `server/console/` (Vue),
//! built by `scripts/setup` into `server/console/dist` and carried inside
//! the binary (in a debug build, read from that directory as it is).
//!
//! Every path outside `/api/` and `/open311/` is the console's: a file
//! from the build if there is one, else the app's `index.html`, whose
//! router shows the page. The console holds no data and no rules; every
//! list and step is a call to the API, which checks role and scope.
//!
//! Answers carry a content security policy: scripts and styles from the
//! server only (Element Plus sets inline `style` attributes), images from
//! the server, `data:`/`blob:` (QR codes, exports) and the map's tile
//! server when one is configured; nothing may frame the console.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "console/dist/"]
#[allow_missing = true]
struct Build;

/// The console's page or file for `uri`, with `tiles` (the map's
/// background tile server, if any) allowed in its images.
pub fn serve(uri: &Uri, tiles: Option<&str>) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (file, name) = match Build::get(path).filter(|_| !path.is_empty()) {
        Some(file) => (file, path),
        None => match Build::get("index.html") {
            Some(index) => (index, "index.html"),
            None => return not_built(),
        },
    };
    let mut response = (StatusCode::OK, file.data.into_owned()).into_response();
    let headers = response.headers_mut();
    let mime = file.metadata.mimetype();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Vite names built files by their content: they never change.
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(headers, tiles);
    response
}

/// The security headers of every console answer.
pub(crate) fn secure(headers: &mut axum::http::HeaderMap, tiles: Option<&str>) {
    let tile_origin = tiles.and_then(origin_of).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob: {tile_origin}; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `https://tiles.example.cn` of a tile URL template such as
/// `https://tiles.example.cn/{z}/{x}/{y}.png`; `https://*.example.cn` for
/// one that spreads over subdomains (`https://{s}.example.cn/…`).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let host = match host.strip_prefix("{s}.") {
        Some(domain) => format!("*.{domain}"),
        None => host.to_owned(),
    };
    let name = host.strip_prefix("*.").unwrap_or(&host);
    let clean = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    (clean && !name.is_empty()).then(|| format!("{scheme}://{host}"))
}

fn not_built() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><meta charset=utf-8><title>Gridwork 网格通</title>\
         <h1>控制台尚未构建 · The console is not built</h1>\
         <p>同步服务运行中,接口位于 <code>/api/v1/</code>。构建控制台:<code>scripts/setup</code>,然后重新编译服务器。</p>\
         <p>The sync server is running; its API is under <code>/api/v1/</code>. \
         This binary was built without the console: run <code>scripts/setup</code> (it builds \
         <code>server/console/dist</code>), then build the server again.</p>",
    )
        .into_response();
    secure(response.headers_mut(), None);
    response
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn a_tile_templates_origin_is_its_scheme_and_host() {
        assert_eq!(
            origin_of("https://t.example.cn:8443/{z}/{x}/{y}.png").as_deref(),
            Some("https://t.example.cn:8443")
        );
        assert_eq!(origin_of("http://10.0.0.5/tiles/{z}/{x}/{y}.png").as_deref(), Some("http://10.0.0.5"));
        assert_eq!(
            origin_of("https://{s}.tile.example.cn/{z}/{x}/{y}.png").as_deref(),
            Some("https://*.tile.example.cn")
        );
        assert_eq!(
            origin_of("https://t.example.cn?layer={z}-{x}-{y}").as_deref(),
            Some("https://t.example.cn")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https://evil.example; script-src *"), None);
    }
}
