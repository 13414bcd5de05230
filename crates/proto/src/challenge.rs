//! `WWW-Authenticate: Bearer` challenges (RFC 6750 §3): formatted by the
//! resource server, parsed by the client to tell an expired token
//! (`invalid_token`: get a new one and retry) from other refusals.

use std::fmt;

use crate::ErrorCode;

/// One Bearer challenge: the realm, and for a failed attempt its error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: Option<String>,
    pub error: Option<ErrorCode>,
    pub error_description: Option<String>,
    /// The scopes needed, with `insufficient_scope`.
    pub scope: Option<String>,
}

impl fmt::Display for BearerChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer")?;
        let mut sep = " ";
        let params = [
            ("realm", self.realm.as_deref()),
            ("error", self.error.map(ErrorCode::as_str)),
            ("error_description", self.error_description.as_deref()),
            ("scope", self.scope.as_deref()),
        ];
        for (name, value) in params {
            if let Some(v) = value {
                write!(f, "{sep}{name}=\"{}\"", quote_safe(v))?;
                sep = ", ";
            }
        }
        Ok(())
    }
}

/// Keeps a value inside a quoted-string: RFC 6750 allows only printable
/// ASCII other than `"` and `\` in these parameters.
fn quote_safe(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                '\''
            } else {
                c
            }
        })
        .collect()
}

impl BearerChallenge {
    /// Finds the Bearer challenge in a `WWW-Authenticate` value, if any.
    /// The scheme is matched case-insensitively (RFC 7235 §2.1); unknown
    /// parameters and unknown error codes are ignored.
    pub fn parse(header: &str) -> Option<Self> {
        let start = find_scheme(header, "bearer")?;
        let mut rest = &header[start + "bearer".len()..];
        let mut out = BearerChallenge::default();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some(eq) = rest.find('=') else { break };
            let name = rest[..eq].trim();
            if name.is_empty() || name.contains(' ') {
                break; // the next challenge's scheme
            }
            let (value, after) = read_value(&rest[eq + 1..])?;
            match name.to_ascii_lowercase().as_str() {
                "realm" => out.realm = Some(value),
                "error" => out.error = value.parse().ok(),
                "error_description" => out.error_description = Some(value),
                "scope" => out.scope = Some(value),
                _ => {}
            }
            rest = after;
        }
        Some(out)
    }
}

/// Byte offset of `scheme` where it starts a challenge.
fn find_scheme(header: &str, scheme: &str) -> Option<usize> {
    let lower = header.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(scheme).map(|i| i + from) {
        let before_ok = i == 0 || matches!(lower.as_bytes()[i - 1], b' ' | b',');
        let after = lower.as_bytes().get(i + scheme.len());
        if before_ok && matches!(after, None | Some(b' ')) {
            return Some(i);
        }
        from = i + scheme.len();
    }
    None
}

/// A token or quoted-string, and what follows it.
fn read_value(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(q) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '"' => return Some((value, &q[i + 1..])),
                c => value.push(c),
            }
        }
        None
    } else {
        let end = s.find([',', ' ']).unwrap_or(s.len());
        Some((s[..end].to_owned(), &s[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_seed_challenge() {
        let c = BearerChallenge {
            realm: Some("api.manheim.com".into()),
            error: Some(ErrorCode::InvalidToken),
            ..Default::default()
        };
        assert_eq!(
            c.to_string(),
            r#"Bearer realm="api.manheim.com", error="invalid_token""#
        );
        let bare = BearerChallenge {
            realm: Some("r".into()),
            ..Default::default()
        };
        assert_eq!(bare.to_string(), r#"Bearer realm="r""#);
        let odd = BearerChallenge {
            error_description: Some("a \"b\" \\ é".into()),
            ..Default::default()
        };
        assert_eq!(odd.to_string(), r#"Bearer error_description="a 'b' ' '""#);
    }

    fn check(header: &str, expected: Option<(&str, Option<ErrorCode>)>) {
        let got = BearerChallenge::parse(header);
        let got = got
            .as_ref()
            .map(|c| (c.realm.as_deref().unwrap_or(""), c.error));
        assert_eq!(got, expected, "{header:?}");
    }

    #[test]
    fn parse_table() {
        check(
            r#"Bearer realm="api.manheim.com", error="invalid_token""#,
            Some(("api.manheim.com", Some(ErrorCode::InvalidToken))),
        );
        check(
            r#"bearer realm="x",error="insufficient_scope",scope="a b""#,
            Some(("x", Some(ErrorCode::InsufficientScope))),
        );
        check(r#"Bearer realm="a\"b""#, Some(("a\"b", None)));
        check(
            r#"Bearer error=invalid_token"#,
            Some(("", Some(ErrorCode::InvalidToken))),
        );
        check(
            r#"Basic realm="x", Bearer realm="y", error="invalid_token""#,
            Some(("y", Some(ErrorCode::InvalidToken))),
        );
        check(
            r#"Bearer realm="y", error="invalid_token", Basic realm="x""#,
            Some(("y", Some(ErrorCode::InvalidToken))),
        );
        check(r#"Bearer"#, Some(("", None)));
        check(r#"Basic realm="x""#, None);
        check(r#"Bearerx realm="x""#, None);
        check(r#"Bearer realm="unterminated"#, None);
    }

    #[test]
    fn round_trips() {
        let c = BearerChallenge {
            realm: Some("r".into()),
            error: Some(ErrorCode::InsufficientScope),
            error_description: Some("needs more".into()),
            scope: Some("a b".into()),
        };
        assert_eq!(BearerChallenge::parse(&c.to_string()), Some(c));
    }
}
