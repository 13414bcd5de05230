//! HTTP Basic client credentials (RFC 6749 §2.3.1, RFC 7617).
//!
//! RFC 6749 says the client id and secret are each
//! `application/x-www-form-urlencoded` before they are joined with `:` and
//! base64-encoded. The seeds' vendors document, and most HTTP libraries send,
//! the raw form: plain base64 of `id:secret`. The two agree for secrets made
//! of unreserved characters and differ for `+`, `%` and friends, so a server
//! must try both decodings ([`BasicCredentials::candidates`]) and a client must
//! pick one ([`BasicCredentials::header_value`]).

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use crate::ProtoError;

/// Standard base64 that accepts input with or without `=` padding.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a client encodes its id and secret into the Basic header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BasicEncoding {
    /// RFC 6749 §2.3.1: form-urlencode each half, then base64.
    #[default]
    FormUrlEncoded,
    /// Plain base64 of `id:secret`, as the vendors document.
    Raw,
}

/// A client id and secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl BasicCredentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// The `Authorization` header value for these credentials.
    pub fn header_value(&self, encoding: BasicEncoding) -> String {
        let joined = match encoding {
            BasicEncoding::FormUrlEncoded => {
                format!(
                    "{}:{}",
                    form_encode(&self.client_id),
                    form_encode(&self.client_secret)
                )
            }
            BasicEncoding::Raw => format!("{}:{}", self.client_id, self.client_secret),
        };
        format!("Basic {}", LENIENT_B64.encode(joined))
    }

    /// Every plausible reading of a Basic `Authorization` header value, most
    /// likely first and without repeats: the RFC 6749 decoding, the raw one,
    /// and the raw one without a trailing newline (what `echo id:secret |
    /// base64` produces, as in the seed's introspection example).
    ///
    /// Errors when the value is not Basic credentials at all.
    pub fn candidates(header_value: &str) -> Result<Vec<BasicCredentials>, ProtoError> {
        let (scheme, rest) = header_value
            .split_once(' ')
            .ok_or(ProtoError::InvalidBasic("expected `Basic <credentials>`"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ProtoError::InvalidBasic("the scheme is not Basic"));
        }
        let bytes = LENIENT_B64
            .decode(rest.trim())
            .map_err(|_| ProtoError::InvalidBasic("the credentials are not base64"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ProtoError::InvalidBasic("the credentials are not UTF-8"))?;
        let (id, secret) = text
            .split_once(':')
            .ok_or(ProtoError::InvalidBasic("the credentials have no `:`"))?;

        let mut out: Vec<BasicCredentials> = Vec::with_capacity(3);
        let mut push = |c: BasicCredentials| {
            if !c.client_id.is_empty() && !out.contains(&c) {
                out.push(c);
            }
        };
        match (form_decode(id), form_decode(secret)) {
            // Nothing decoded: the same as the raw reading, pushed next.
            (Some(Cow::Borrowed(_)), Some(Cow::Borrowed(_))) => {}
            (Some(id), Some(secret)) => push(BasicCredentials::new(id, secret)),
            _ => {}
        }
        push(BasicCredentials::new(id, secret));
        if let Some(trimmed) = secret.strip_suffix('\n') {
            push(BasicCredentials::new(
                id,
                trimmed.strip_suffix('\r').unwrap_or(trimmed),
            ));
        }
        if out.is_empty() {
            return Err(ProtoError::InvalidBasic("the client id is empty"));
        }
        Ok(out)
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `application/x-www-form-urlencoded` decoding of one value; `None` when
/// the result is not UTF-8. Borrowed when there is nothing to decode (the
/// usual id and secret), so the common case allocates nothing.
pub fn form_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['+', '%']) {
        return Some(Cow::Borrowed(s));
    }
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .ok()
        .map(|c| Cow::Owned(c.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(header: &str) -> Vec<(String, String)> {
        BasicCredentials::candidates(header)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.client_id, c.client_secret))
            .collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn seed_example_decodes_to_key_and_secret() {
        // The seed's worked example: key 'zq4hmfg72z3zabc4wr72euyu', secret 'A2Qxe4z83X'.
        let h = format!(
            "Basic {}",
            LENIENT_B64.encode("zq4hmfg72z3zabc4wr72euyu:A2Qxe4z83X")
        );
        assert_eq!(
            ids(&h),
            vec![pair("zq4hmfg72z3zabc4wr72euyu", "A2Qxe4z83X")]
        );
    }

    #[test]
    fn seed_introspection_header_has_a_trailing_newline() {
        // 'Y2xpZW50X2lkOnNlY3JldAo=' is base64 of "client_id:secret\n".
        let got = ids("Basic Y2xpZW50X2lkOnNlY3JldAo=");
        assert!(got.contains(&pair("client_id", "secret")), "{got:?}");
    }

    #[test]
    fn rfc_and_raw_decodings_both_offered_when_they_differ() {
        let c = BasicCredentials::new("id", "a+b%2F:c");
        let rfc = c.header_value(BasicEncoding::FormUrlEncoded);
        let raw = c.header_value(BasicEncoding::Raw);
        assert_eq!(ids(&rfc)[0], pair("id", "a+b%2F:c"));
        let raw_ids = ids(&raw);
        assert_eq!(raw_ids[0], pair("id", "a b/:c"));
        assert!(raw_ids.contains(&pair("id", "a+b%2F:c")));
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            "Bearer abc",
            "Basic",
            "Basic !!!",
            "Basic bm9jb2xvbg==",
            "Basic OnNlY3JldA==",
        ] {
            assert!(BasicCredentials::candidates(bad).is_err(), "{bad:?}");
        }
        // Scheme is case-insensitive (RFC 7235) and padding optional.
        assert_eq!(ids("basic YTpi"), vec![pair("a", "b")]);
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = BasicCredentials::new("id", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
