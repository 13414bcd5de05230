//! Scope sets (RFC 6749 §3.3): space-delimited, case-sensitive, unordered.
//!
//! A `Scope` is kept sorted and de-duplicated so that two equal sets print the
//! same string, which makes stored rows and test expectations stable.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProtoError;

/// A set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// True when every token of `self` is also in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Tokens of `self` that `other` lacks, as a scope.
    pub fn difference(&self, other: &Scope) -> Scope {
        Scope(self.0.difference(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether `token` is a valid scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`.
    pub fn is_valid_token(token: &str) -> bool {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    }
}

impl FromStr for Scope {
    type Err = ProtoError;

    /// Parses a space-delimited list. Runs of spaces are tolerated (clients
    /// join lists carelessly); any other invalid character is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(|t| {
                if Scope::is_valid_token(t) {
                    Ok(t.to_owned())
                } else {
                    Err(ProtoError::InvalidScopeToken(t.to_owned()))
                }
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scope)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

impl<S: Into<String>> FromIterator<S> for Scope {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Scope(iter.into_iter().map(Into::into).collect())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// On the wire a scope is one string of space-separated tokens (RFC 6749 §3.3).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("space-separated scope tokens (RFC 6749 §3.3)"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Scope {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, ()>) {
        let got = input
            .parse::<Scope>()
            .map(|s| s.to_string())
            .map_err(|_| ());
        assert_eq!(got.as_deref().map_err(|_| ()), expected, "input {input:?}");
    }

    #[test]
    fn parse_table() {
        check("", Ok(""));
        check("a", Ok("a"));
        check("b a", Ok("a b"));
        check("a  b a", Ok("a b"));
        check("APP1:ABC APP@:CDE", Ok("APP1:ABC APP@:CDE"));
        check("locations:read users:read", Ok("locations:read users:read"));
        check("a\"b", Err(()));
        check("a\\b", Err(()));
        check("a\tb", Err(()));
        check("é", Err(()));
    }

    #[test]
    fn subset_and_difference() {
        let all: Scope = "a b c".parse().unwrap_or_default();
        let some: Scope = "a c".parse().unwrap_or_default();
        let other: Scope = "a d".parse().unwrap_or_default();
        assert!(some.is_subset(&all));
        assert!(!other.is_subset(&all));
        assert_eq!(other.difference(&all).to_string(), "d");
        assert!(Scope::empty().is_subset(&some));
    }
}
