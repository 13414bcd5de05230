//! The APIs the seeds call, served by tollgate itself (in `--demo`, or with
//! `demo_apis = true`), behind the same bearer check as proxied routes:
//! Manheim's `GET /locations` and Manhattan Active's user-details call.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Extension, Json};
use serde_json::json;
use tollgate_proto::ErrorCode;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::Error;
use crate::resource::{bearer_check, Guarded, Principal, Resource};
use crate::store::Store;

pub const LOCATIONS_PATH: &str = "/locations";
pub const USER_DETAILS_PATH: &str =
    "/organization/api/organization/user/allDetails/userId/{user_id}";
/// Lets a token read any user's details, not only its own user's.
pub const READ_ANY_USER: &str = "users:read:any";

/// The demo routes behind `resource`'s bearer check; the user details
/// are read from the state's store.
pub fn routes<S>(resource: &Arc<Resource>) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<dyn Store>: FromRef<S>,
{
    let protect =
        |path: &'static str, scopes: &str, (schemas, paths, route): UtoipaMethodRouter<S>| {
            let guarded = Guarded {
                route: path,
                needed: scopes.parse().unwrap_or_default(),
            };
            let route: MethodRouter<S> = route.layer(middleware::from_fn_with_state(
                (resource.clone(), Arc::new(guarded)),
                bearer_check,
            ));
            (schemas, paths, route)
        };
    OpenApiRouter::new()
        .routes(protect(
            LOCATIONS_PATH,
            "locations:read",
            routes!(locations_get),
        ))
        .routes(protect(USER_DETAILS_PATH, "", routes!(user_details_get)))
}

/// A few auction locations, the seed's example resource: built once, then
/// served as the same bytes (it never changes).
#[utoipa::path(
    get,
    path = "/locations",
    tag = "demo",
    security(("bearer" = ["locations:read"])),
    responses(
        (status = 200, description = "auction locations (Manheim's example)", body = Object),
        (status = 401, description = "no or an invalid access token", body = crate::error::Body),
        (status = 403, description = "insufficient_scope", body = crate::error::Body),
        (status = 429, description = "over the client's quota", body = crate::error::Body),
    )
)]
async fn locations_get() -> Response {
    static BODY: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| serde_json::to_vec(&locations()).unwrap_or_default().into());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response()
}

fn locations() -> serde_json::Value {
    let sites = [
        ("PXAA", "Manheim Pennsylvania", "Manheim", "PA"),
        ("AAAI", "Manheim Atlanta", "College Park", "GA"),
        ("DALA", "Manheim Dallas", "Dallas", "TX"),
        ("RIVE", "Manheim Riverside", "Riverside", "CA"),
        ("NYAA", "Manheim New York", "Newburgh", "NY"),
    ];
    let items: Vec<_> = sites
        .iter()
        .map(|(code, name, city, state)| {
            json!({"locationCode": code, "name": name, "address": {"city": city, "stateProvinceRegion": state, "country": "US"}})
        })
        .collect();
    json!({ "totalItems": items.len(), "items": items })
}

/// A user's details: only for a token of that same user, or one with
/// `users:read:any`. Never the password hash.
#[utoipa::path(
    get,
    path = "/organization/api/organization/user/allDetails/userId/{user_id}",
    tag = "demo",
    params(("user_id" = String, Path, description = "the username")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the user's details (Manhattan Active's example)", body = Object),
        (status = 401, description = "no or an invalid access token", body = crate::error::Body),
        (status = 403, description = "another user's details without users:read:any", body = crate::error::Body),
        (status = 404, description = "no such user", body = crate::error::Body),
        (status = 429, description = "over the client's quota", body = crate::error::Body),
    )
)]
async fn user_details_get(
    State(store): State<Arc<dyn Store>>,
    Extension(Principal(caller)): Extension<Principal>,
    Path(user_id): Path<String>,
) -> Response {
    let own = caller.username.as_deref() == Some(user_id.as_str());
    if !own && !caller.scope.contains(READ_ANY_USER) {
        return Error::Bearer {
            code: ErrorCode::InsufficientScope,
            description: "a token may read only its own user's details".into(),
            scope: Some(READ_ANY_USER.into()),
        }
        .into_response();
    }
    let user = match store.get_user(&user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Error::NotFound(format!("no user `{user_id}`")).into_response(),
        Err(e) => return Error::from(e).into_response(),
    };
    let (first, last) = user
        .full_name
        .as_deref()
        .and_then(|n| n.split_once(' '))
        .map_or((user.full_name.clone(), None), |(f, l)| {
            (Some(f.to_owned()), Some(l.to_owned()))
        });
    let body = json!({
        "data": {
            "UserId": user.username,
            "FirstName": first,
            "LastName": last,
            "FullName": user.full_name,
            "Email": user.email,
            "IsActive": user.enabled,
            "Roles": ["api-user"],
            "OrgId": "TOLLGATE-DEMO",
            "CreatedTimestamp": user.created_at,
        },
        "success": true,
    });
    (StatusCode::OK, Json(body)).into_response()
}
