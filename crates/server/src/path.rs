//! Request paths in one canonical form, decided once before routing.
//!
//! Every security decision (which route, which scopes) and the path sent
//! upstream use the same normalised path, so no spelling of a path can be
//! routed as one thing and served as another. The rules, in order:
//!
//! 1. percent-encoded unreserved characters (`%2e`, `%61`, ...) are decoded
//!    (RFC 3986 §6.2.2.2) and other escapes are upper-cased;
//! 2. encoded `/` or `\`, `%00`, a raw `\`, and malformed escapes are refused:
//!    upstreams disagree on what they mean;
//! 3. runs of `/` merge into one (as nginx's `merge_slashes` and Envoy's
//!    `merge_slashes` do);
//! 4. `.` and `..` segments are removed (RFC 3986 §5.2.4); a `..` above the
//!    root is refused, and so is a `.`/`..` followed by `;` (Tomcat reads
//!    `..;` as `..`).
//!
//! [`Normalized::floor`] says how shallow the path got while `..` segments
//! were applied, so the gateway can refuse one that climbed above its route.

use std::borrow::Cow;
use std::fmt;

/// A path that passed normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized<'a> {
    /// Starts with `/`; no dot segments, no empty segments but a trailing
    /// one. Borrowed when the path was canonical already (the usual case).
    pub path: Cow<'a, str>,
    /// Fewest segments left after a `..` was applied, or `usize::MAX` when
    /// the path had no `..`.
    pub floor: usize,
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    BadEscape,
    EncodedSeparator,
    Nul,
    Backslash,
    AboveRoot,
    DotParameter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAbsolute => "the path must start with `/`",
            Self::BadEscape => "the path has a malformed percent-escape",
            Self::EncodedSeparator => "the path has an encoded `/` or `\\`",
            Self::Nul => "the path has an encoded NUL",
            Self::Backslash => "the path has a `\\`",
            Self::AboveRoot => "the path climbs above the root with `..`",
            Self::DotParameter => "the path has a `.` or `..` segment with `;` parameters",
        })
    }
}

/// The canonical form of `raw` (a request target's path, without query).
pub fn normalize(raw: &str) -> Result<Normalized<'_>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw) {
        return Ok(Normalized {
            path: Cow::Borrowed(raw),
            floor: usize::MAX,
        });
    }
    let decoded = decode_unreserved(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut floor = usize::MAX;
    let mut parts = decoded.split('/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            "" => trailing_slash = last && !segments.is_empty(),
            "." => trailing_slash = last,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                floor = floor.min(segments.len());
                trailing_slash = last;
            }
            s if s.starts_with(".;") || s.starts_with("..;") => {
                return Err(PathError::DotParameter)
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for s in &segments {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(Normalized {
        path: Cow::Owned(path),
        floor,
    })
}

/// Canonical as it is: no escapes, backslashes, `//`, or segments
/// starting with `.` (so no dot segments, `..;` included).
fn is_plain(raw: &str) -> bool {
    !raw.contains(['%', '\\']) && !raw.contains("//") && !raw.contains("/.")
}

/// The number of segments in a normalised route prefix (`/` has none).
pub fn depth(prefix: &str) -> usize {
    prefix.split('/').filter(|s| !s.is_empty()).count()
}

/// Decodes `%XX` escapes of unreserved characters, upper-cases the rest,
/// and refuses the escapes and bytes that upstreams read differently.
fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
                let value = hex_value(hex[0])
                    .zip(hex_value(hex[1]))
                    .map(|(h, l)| h << 4 | l)
                    .ok_or(PathError::BadEscape)?;
                match value {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::Nul),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        out.push('%');
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(v >> 4)]));
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(v & 15)]));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::Nul),
            _ => {
                // Copy the whole UTF-8 sequence starting here.
                let ch = raw[i..].chars().next().ok_or(PathError::BadEscape)?;
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<&str, PathError>) {
        let got = normalize(raw).map(|n| n.path.into_owned());
        assert_eq!(got.as_deref(), expected.as_ref().map(|s| *s), "{raw}");
    }

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/public/../admin/x", "/admin/x"),
            ("/public/%2e%2e/admin/x", "/admin/x"),
            ("/public/%2E%2E/admin/x", "/admin/x"),
            ("/public//../admin", "/admin"),
            ("/public/./../admin", "/admin"),
            ("/a/./b/.", "/a/b/"),
            ("/a/..", "/"),
            ("//a///b", "/a/b"),
            ("/%61dmin", "/admin"),
            ("/x%2a%3b", "/x%2A%3B"),
            ("/caf%C3%A9/é", "/caf%C3%A9/é"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b/c", "/a/..b/c"),
        ] {
            check(raw, Ok(want));
        }
    }

    #[test]
    fn refusals() {
        for (raw, err) in [
            ("a/b", PathError::NotAbsolute),
            ("/public/%2E%2E%2Fadmin/x", PathError::EncodedSeparator),
            ("/public/..%2fadmin", PathError::EncodedSeparator),
            ("/a%5cb", PathError::EncodedSeparator),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::Nul),
            ("/a%zz", PathError::BadEscape),
            ("/a%2", PathError::BadEscape),
            ("/..", PathError::AboveRoot),
            ("/a/../../b", PathError::AboveRoot),
            ("/pub/../../admin/x", PathError::AboveRoot),
            ("/public/..;/admin", PathError::DotParameter),
            ("/public/.;x/admin", PathError::DotParameter),
        ] {
            check(raw, Err(err));
        }
    }

    #[test]
    fn floor_tracks_the_shallowest_point() {
        let n = |p: &str| normalize(p).map(|n| n.floor).unwrap_or(0);
        assert_eq!(n("/a/b"), usize::MAX);
        assert_eq!(n("/public/../admin/x"), 0);
        assert_eq!(n("/admin/x/../y"), 1);
        assert_eq!(depth("/"), 0);
        assert_eq!(depth("/admin/v1"), 2);
    }
}
