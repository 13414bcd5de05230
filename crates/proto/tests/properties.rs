//! Property tests for every parser that reads what callers send: form
//! bodies, Basic credentials, scopes, and `WWW-Authenticate` challenges.
//! Thousands of arbitrary inputs each: none may panic, and what is written
//! must read back as itself. Any failure proptest ever finds becomes a
//! table case in the module's own tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tollgate_proto::basic::BasicEncoding;
use tollgate_proto::{
    BasicCredentials, BearerChallenge, ErrorCode, FormParams, Scope, TokenRequest,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 4096,
        ..ProptestConfig::default()
    }
}

/// A scope token: RFC 6749 §3.3 NQCHAR without space and quote/backslash.
fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,12}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn form_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..80) {
        if let Ok(form) = FormParams::parse(&body, max) {
            let _ = TokenRequest::from_params(&form);
            let _ = form.scope();
        }
    }

    #[test]
    fn form_bodies_of_pairs_round_trip(pairs in proptest::collection::btree_map("[a-z_]{1,8}", ".{1,20}", 0..10)) {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let form = FormParams::parse(body.as_bytes(), 64).unwrap();
        for (k, v) in &pairs {
            prop_assert_eq!(form.get(k), Some(v.as_str()));
        }
        prop_assert!(FormParams::parse(body.as_bytes(), pairs.len().saturating_sub(1)).is_err() || pairs.is_empty());
    }

    #[test]
    fn basic_headers_never_panic(value in ".{0,200}") {
        let _ = BasicCredentials::candidates(&value);
        let _ = BasicCredentials::candidates(&format!("Basic {value}"));
    }

    #[test]
    fn basic_credentials_round_trip(id in "[^\\x00]{1,30}", secret in "[^\\x00]{0,40}") {
        let c = BasicCredentials::new(id.clone(), secret.clone());
        let rfc = BasicCredentials::candidates(&c.header_value(BasicEncoding::FormUrlEncoded)).unwrap();
        prop_assert_eq!(&rfc[0], &c, "the RFC 6749 reading comes first");
        if !id.contains(':') {
            let raw = BasicCredentials::candidates(&c.header_value(BasicEncoding::Raw)).unwrap();
            prop_assert!(raw.contains(&c));
        }
    }

    #[test]
    fn scopes_never_panic(text in ".{0,100}") {
        let _ = text.parse::<Scope>();
    }

    #[test]
    fn valid_scopes_round_trip(tokens in proptest::collection::btree_set(scope_token(), 0..8)) {
        let text = tokens.iter().cloned().collect::<Vec<_>>().join(" ");
        let scope: Scope = text.parse().unwrap();
        prop_assert_eq!(scope.len(), tokens.len());
        let again: Scope = scope.to_string().parse().unwrap();
        prop_assert_eq!(again, scope);
    }

    #[test]
    fn challenges_never_panic(value in ".{0,200}") {
        let _ = BearerChallenge::parse(&value);
        let _ = BearerChallenge::parse(&format!("Bearer {value}"));
    }

    #[test]
    fn challenges_round_trip(realm in "[ -!#-\\[\\]-~]{0,20}", description in "[ -!#-\\[\\]-~]{0,40}", scope in proptest::option::of(scope_token())) {
        let c = BearerChallenge {
            realm: Some(realm),
            error: Some(ErrorCode::InvalidToken),
            error_description: Some(description),
            scope,
        };
        prop_assert_eq!(BearerChallenge::parse(&c.to_string()), Some(c));
    }
}
