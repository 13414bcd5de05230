//! Reading `application/x-www-form-urlencoded` bodies.

use axum::http::{header, HeaderMap};
use tollgate_proto::FormParams;

use crate::Error;

/// The body as form parameters, or `invalid_request` when the content type
/// is not form-urlencoded (a `charset` parameter is fine).
pub fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<FormParams, Error> {
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
    FormParams::parse(body).map_err(|e| Error::oauth(e.code, e.description))
}
