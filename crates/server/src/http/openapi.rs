//! The OpenAPI 3.1 document of every endpoint this server serves, at
//! `GET /openapi.json`.
//!
//! It is generated from the code: each handler carries its
//! `#[utoipa::path]` (method, path, parameters, bodies, responses), the
//! wire types derive their schemas in `proto`, and the router registers
//! handlers through `utoipa_axum`, so a route cannot be served without
//! being described, and the document lists only what this instance serves
//! (no demo APIs unless on; the admin API where it is mounted). This module
//! adds what every operation shares: the error bodies, the answers the
//! guard may give to any request (`default`), and the security schemes.

use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::Modify;

pub const OPENAPI_PATH: &str = "/openapi.json";

use super::schemas::{OAuthError, Problem};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tollgate",
        description = "OAuth 2.0 authorization server, API gateway and admin API."
    ),
    components(schemas(OAuthError, Problem)),
    modifiers(&Shared)
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Security schemes, and the `default` error answer on every operation.
#[derive(Debug)]
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds to every operation a `default` response: whatever else the guard
/// may answer any request with (503 when overloaded, 414, 431, 405, 413),
/// as the JSON error body, or a problem under the admin API, where every
/// operation also says 401 and 403 (no token, or one without
/// `tollgate:admin`).
pub fn finish(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let admin = path.starts_with(super::admin::PREFIX);
        let (media, schema) = if admin {
            ("application/problem+json", "Problem")
        } else {
            ("application/json", "OAuthError")
        };
        let error = |description: &str| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build();
            ResponseBuilder::new()
                .description(description)
                .content(media, content)
                .build()
        };
        for op in operations(item) {
            let responses = &mut op.responses.responses;
            if admin {
                responses
                    .entry("401".into())
                    .or_insert(error("no or an invalid access token").into());
                responses
                    .entry("403".into())
                    .or_insert(error("the token lacks scope tollgate:admin").into());
            }
            responses
                .entry("default".into())
                .or_insert(error("an error, with the JSON error body").into());
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The document as served: serialised once, with the router.
#[derive(Debug, Clone)]
pub struct Document(pub axum::body::Bytes);

impl Document {
    pub fn new(mut doc: OpenApi) -> Self {
        finish(&mut doc);
        Self(serde_json::to_vec(&doc).unwrap_or_default().into())
    }
}

/// The OpenAPI document of this server.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_get(Extension(doc): Extension<Arc<OnceLock<Document>>>) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let body = doc.get().map(|d| d.0.clone()).unwrap_or_default();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
