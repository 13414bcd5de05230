//! `Body<T>`: an admin API request body, in JSON. A body that parses but
//! does not fit `T` (an unknown field, a value outside a closed set, a
//! malformed scope) is a 400 `invalid_request` whose detail is the parser's
//! words about the caller's own input, with the field's path; what is not
//! JSON at all keeps axum's answer (400, 413, 415). Optional bodies (`Option<Body<T>>`) are
//! absent without a `Content-Type`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::error::Error;

pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match <Json<T> as FromRequest<S>>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                let why =
                    std::error::Error::source(&e).map_or_else(|| e.body_text(), |s| s.to_string());
                Err(Error::invalid_request(why).into_response())
            }
            Err(other) => Err(other.into_response()),
        }
    }
}

/// A body the request may leave out: none without a `Content-Type`.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Response> {
        if !req.headers().contains_key(header::CONTENT_TYPE) {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}
