//! hyper answers a request head it cannot parse, or one larger than its
//! buffer, by itself: a 400/414/431 with an empty body, written before any
//! handler runs. [`rewrite`] turns such a head into the same answer with
//! the JSON error body every other error has, so that no error tollgate
//! sends is bare. [`super::watch::Watched`] applies it only while a request
//! head was being read and no handler had begun, which is the one moment
//! hyper writes these.

use axum::http::StatusCode;

use crate::error::bare_status_body;

/// The response head `written` with a JSON body, if it is one of hyper's
/// empty automatic error answers; `None` for anything else.
pub fn rewrite(written: &[u8]) -> Option<Vec<u8>> {
    let status = written.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let status = StatusCode::from_bytes(status).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let head = std::str::from_utf8(written)
        .ok()?
        .strip_suffix("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut headers: Vec<&str> = Vec::new();
    let mut empty = false;
    for line in lines {
        if line.eq_ignore_ascii_case("content-length: 0") {
            empty = true;
        } else {
            headers.push(line);
        }
    }
    if !empty {
        return None;
    }
    let body = bare_status_body(status);
    let mut out = format!("{status_line}\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("content-type: application/json;charset=UTF-8\r\ncache-control: no-store\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_empty_error_heads_get_a_json_body() {
        let head =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap_or_default()).unwrap_or_default();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("date: x\r\n"));
        assert!(out.contains("content-type: application/json"));
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
        assert_eq!(
            body,
            r#"{"error":"request_header_fields_too_large","error_description":"Request Header Fields Too Large"}"#
        );
    }

    #[test]
    fn everything_else_is_left_alone() {
        for head in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nextra",
            b"hello",
        ] {
            assert!(rewrite(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
