//! Files built into the binary and served under a name that carries their
//! hash, so a browser may keep them for good (`immutable`) and a new build
//! is fetched at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One asset.
#[derive(Debug)]
pub struct Asset {
    /// Name without the hash (`htmx.js`).
    pub name: &'static str,
    /// Content type.
    pub mime: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
    /// `/assets/NAME-HASH.EXT`.
    pub url: String,
}

fn asset(name: &'static str, mime: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = hex::encode(&Sha256::digest(bytes)[..8]);
    let url = match name.rsplit_once('.') {
        Some((stem, ext)) => format!("/assets/{stem}-{hash}.{ext}"),
        None => format!("/assets/{name}-{hash}"),
    };
    Asset {
        name,
        mime,
        bytes,
        url,
    }
}

/// Every asset. htmx is the release's own minified file (2.0.11, BSD
/// 0-clause), vendored unchanged.
pub static ASSETS: LazyLock<[Asset; 4]> = LazyLock::new(|| {
    [
        asset(
            "htmx.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/htmx-2.0.11.min.js"),
        ),
        asset(
            "app.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/app.js"),
        ),
        asset(
            "app.css",
            "text/css; charset=utf-8",
            include_bytes!("../../assets/app.css"),
        ),
        asset(
            "favicon.svg",
            "image/svg+xml",
            include_bytes!("../../assets/favicon.svg"),
        ),
    ]
});

/// The URL of an asset by name (empty for an unknown name, which only a
/// typo in a template could ask for).
pub fn url(name: &str) -> &'static str {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map_or("", |a| a.url.as_str())
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/assets/{file}");
    match ASSETS.iter().find(|a| a.url == wanted) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.mime)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            a.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
