//! Token responses as real servers send them, read leniently: `expires_in`
//! as a number, a numeric string or absent; `token_type` in any case or
//! absent; unknown fields kept. The seed's own responses have neither
//! `expires_in` nor `refresh_token`.

use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// An access token and what came with it. Secrets never print.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: SecretString,
    pub token_type: Option<String>,
    /// Lifetime in seconds, when the server said.
    pub expires_in: Option<u64>,
    /// The granted scope, which may differ from the one requested.
    pub scope: Option<String>,
    pub refresh_token: Option<SecretString>,
    /// Every other field of the response.
    pub extra: Map<String, Value>,
    pub obtained_at: SystemTime,
}

impl Token {
    /// Parses a token response body; `Err` says what is missing.
    pub fn parse(body: &[u8], obtained_at: SystemTime) -> Result<Self, String> {
        let Value::Object(mut map) =
            serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?
        else {
            return Err("not a JSON object".into());
        };
        let access_token = match map.remove("access_token") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err("no access_token".into()),
        };
        let expires_in = match map.remove("expires_in") {
            Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok().map(|f| f.max(0.0) as u64),
            _ => None,
        };
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        Ok(Self {
            access_token: SecretString::from(access_token),
            token_type: text(map.remove("token_type")),
            expires_in,
            scope: text(map.remove("scope")),
            refresh_token: text(map.remove("refresh_token")).map(SecretString::from),
            extra: map,
            obtained_at,
        })
    }

    pub fn secret(&self) -> &str {
        self.access_token.expose_secret()
    }

    /// When the server says the token dies, if it said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_in
            .map(|s| self.obtained_at + Duration::from_secs(s))
    }

    /// Usable at `now` with `margin` before expiry (never more than half the
    /// lifetime). Without `expires_in`, usable until an API rejects it.
    pub fn is_fresh(&self, now: SystemTime, margin: Duration) -> bool {
        match (self.expires_in, self.expires_at()) {
            (Some(lifetime), Some(exp)) => {
                let margin = margin.min(Duration::from_secs(lifetime) / 2);
                now + margin < exp
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Token, String> {
        Token::parse(body.as_bytes(), SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn lenient_parsing_table() {
        let seed = parse(r#"{"access_token":"sz2vxvunynsu6f499y2qrgst","token_type":"bearer"}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (seed.expires_in, seed.token_type.as_deref()),
            (None, Some("bearer"))
        );
        for (body, exp) in [
            (r#"{"access_token":"a","expires_in":3600}"#, Some(3600)),
            (r#"{"access_token":"a","expires_in":"3600"}"#, Some(3600)),
            (r#"{"access_token":"a","expires_in":3599.5}"#, Some(3599)),
            (r#"{"access_token":"a","expires_in":null}"#, None),
            (r#"{"access_token":"a","expires_in":"soon"}"#, None),
        ] {
            assert_eq!(parse(body).map(|t| t.expires_in), Ok(exp), "{body}");
        }
        let t = parse(r#"{"access_token":"a","token_type":"Bearer","scope":"x y","ping_token":"p","refresh_token":"r"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(t.token_type.as_deref(), Some("Bearer"));
        assert_eq!(t.extra.get("ping_token"), Some(&Value::String("p".into())));
        assert!(t.refresh_token.is_some());
        for bad in [
            "",
            "[]",
            r#"{"token_type":"bearer"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn freshness_uses_the_margin_capped_at_half_the_lifetime() {
        let t0 = SystemTime::UNIX_EPOCH;
        let t = parse(r#"{"access_token":"a","expires_in":3600}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let m = Duration::from_secs(60);
        assert!(t.is_fresh(t0 + Duration::from_secs(3539), m));
        assert!(!t.is_fresh(t0 + Duration::from_secs(3540), m));
        let short = parse(r#"{"access_token":"a","expires_in":10}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(
            short.is_fresh(t0 + Duration::from_secs(4), m),
            "margin capped at 5 s"
        );
        assert!(!short.is_fresh(t0 + Duration::from_secs(5), m));
        let forever = parse(r#"{"access_token":"a"}"#).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(forever.is_fresh(t0 + Duration::from_secs(1 << 30), m));
    }

    #[test]
    fn debug_hides_tokens() {
        let t = parse(r#"{"access_token":"very-secret","refresh_token":"also-secret"}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("very-secret") && !dbg.contains("also-secret"),
            "{dbg}"
        );
    }
}
