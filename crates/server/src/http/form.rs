//! Reading `application/x-www-form-urlencoded` bodies.

use axum::http::{header, HeaderMap};
use tollgate_proto::FormParams;

use crate::Error;

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
