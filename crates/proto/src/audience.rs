//! `aud`: whom a token is for (RFC 7519 §4.1.3, RFC 7662 §2.2). On the
//! wire it is one string or an array of them; both read the same.

use serde::{Deserialize, Serialize};

/// The audiences of a token. tollgate mints one; it reads either form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// Whether `resource` is among the audiences (an exact match, as RFC
    /// 7519 §4.1.3 compares them).
    pub fn contains(&self, resource: &str) -> bool {
        match self {
            Self::One(a) => a == resource,
            Self::Many(all) => all.iter().any(|a| a == resource),
        }
    }
}

impl From<String> for Audience {
    fn from(a: String) -> Self {
        Self::One(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_many_on_the_wire() {
        let one: Audience =
            serde_json::from_str(r#""https://a""#).unwrap_or(Audience::Many(vec![]));
        let many: Audience =
            serde_json::from_str(r#"["https://b","https://a"]"#).unwrap_or(Audience::Many(vec![]));
        assert!(one.contains("https://a") && many.contains("https://a"));
        assert!(!one.contains("https://b/") && !many.contains("https://c"));
        assert_eq!(
            serde_json::to_string(&one).unwrap_or_default(),
            r#""https://a""#
        );
        assert!(serde_json::from_str::<Audience>("7").is_err());
    }
}
