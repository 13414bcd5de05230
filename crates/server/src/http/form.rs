//! Reading `application/x-www-form-urlencoded` bodies.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use tollgate_proto::FormParams;

use crate::error::Error;

/// The body as form parameters, or `invalid_request` when the content type
/// is not form-urlencoded (a `charset` parameter is fine) or there are more
/// than `max_params` parameters. The body's size is bounded before this, by
/// the routes' body limit.
pub fn read_form(headers: &HeaderMap, body: &[u8], max_params: usize) -> Result<FormParams, Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Error::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    FormParams::parse(body, max_params).map_err(Error::from)
}

/// A request's headers and whole body, for the form-posting endpoints.
/// axum's `HeaderMap` extractor copies the headers; this takes them. The
/// body is read as axum's `Bytes` extractor reads it (the route's body
/// limit holds, and its rejection is the same).
#[derive(Debug)]
pub struct FormRequest {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for FormRequest {
    type Rejection = BytesRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self { headers, body })
    }
}
