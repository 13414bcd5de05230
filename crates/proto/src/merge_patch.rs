//! JSON Merge Patch (RFC 7396): how `PATCH /admin/v1/clients/{id}` says
//! what changes. A member of the patch replaces the target's; `null`
//! removes it (for a setting with a default: back to that default); an
//! object merges member by member.
//!
//! [`diff`] writes the patch that turns one document into another, so a
//! caller can edit a typed record and send only what it changed.

use serde_json::{Map, Value};

/// Applies `patch` to `target` (RFC 7396 §2).
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(members) = target {
        for (name, change) in changes {
            if change.is_null() {
                members.remove(name);
            } else {
                apply(members.entry(name.clone()).or_insert(Value::Null), change);
            }
        }
    }
}

/// The patch that turns `before` into `after`: the members of `after`
/// that differ, and `null` for those it lacks or holds as `null`.
pub fn diff(before: &Value, after: &Value) -> Value {
    let (Value::Object(old), Value::Object(new)) = (before, after) else {
        return after.clone();
    };
    let mut patch = Map::new();
    for (name, value) in new {
        match old.get(name) {
            Some(was) if was == value => {}
            Some(was) if was.is_object() && value.is_object() => {
                patch.insert(name.clone(), diff(was, value));
            }
            _ => {
                patch.insert(name.clone(), value.clone());
            }
        }
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        patch.insert(name.clone(), Value::Null);
    }
    Value::Object(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn the_rfc_examples() {
        // RFC 7396 Appendix A, a selection.
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            apply(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,4}".prop_map(Value::from),
        ]
    }

    fn document() -> impl Strategy<Value = Value> {
        let member = leaf().prop_recursive(2, 8, 3, |inner| {
            prop::collection::btree_map("[a-d]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        prop::collection::btree_map("[a-f]", member, 0..5)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Documents without `null` members (which a patch cannot set).
        #[test]
        fn applying_the_diff_gives_the_after_document(before in document(), after in document()) {
            let mut got = before.clone();
            apply(&mut got, &diff(&before, &after));
            prop_assert_eq!(got, after);
        }
    }
}
