//! JSON printed the way Python's `json.dumps(value, indent=2)` prints it,
//! so `whoami` is byte-identical to the seed's sample CLI: two-space
//! indent, `", "`-free separators (`,` then newline, `": "`), key order as
//! received, non-ASCII escaped as `\uXXXX` (surrogate pairs above U+FFFF),
//! and floats spelled as Python's `repr` spells them (`1e+16`, `1.5e-07`,
//! `100.0`). `tollgate call` uses the same layout, optionally coloured and
//! without the ASCII escaping.

use serde_json::Value;

#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Escape every character outside printable ASCII (Python's default).
    pub ensure_ascii: bool,
    /// ANSI colours for a terminal.
    pub color: bool,
}

const KEY: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[36m";
const LITERAL: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

pub fn to_string(v: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(&mut out, v, 0, style);
    out
}

fn paint(out: &mut String, color: &str, text: &str, style: Style) {
    if style.color {
        out.push_str(color);
        out.push_str(text);
        out.push_str(RESET);
    } else {
        out.push_str(text);
    }
}

fn write_value(out: &mut String, v: &Value, depth: usize, style: Style) {
    match v {
        Value::Null => paint(out, LITERAL, "null", style),
        Value::Bool(b) => paint(out, LITERAL, if *b { "true" } else { "false" }, style),
        Value::Number(n) => {
            let text = match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u.to_string(),
                (None, Some(i), _) => i.to_string(),
                (None, None, Some(f)) => python_float(f),
                _ => n.to_string(),
            };
            paint(out, NUMBER, &text, style);
        }
        Value::String(s) => paint(out, STRING, &quote(s, style.ensure_ascii), style),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                write_value(out, item, depth + 1, style);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                paint(out, KEY, &quote(k, style.ensure_ascii), style);
                out.push_str(": ");
                write_value(out, item, depth + 1, style);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string literal with Python's escapes.
fn quote(s: &str, ensure_ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c if !ensure_ascii && !c.is_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation when
/// the decimal point falls within -4 < decpt <= 16, else `d.ddde±XX`.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let decpt = exp.parse::<i32>().unwrap_or(0) + 1;
    let sign = if f < 0.0 { "-" } else { "" };
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let zeros = |k: i32| "0".repeat(usize::try_from(k).unwrap_or(0));
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", zeros(-decpt))
        } else if decpt >= n {
            format!("{digits}{}.0", zeros(decpt - n))
        } else {
            let (int, frac) = digits.split_at(usize::try_from(decpt).unwrap_or(0));
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let e = decpt - 1;
        format!(
            "{first}{frac}e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.abs()
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_python_repr_spells_them() {
        for (f, want) in [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (100.0, "100.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (12345678901234567890.0, "1.2345678901234567e+19"),
        ] {
            assert_eq!(python_float(f), want, "{f:e}");
        }
    }

    #[test]
    fn layout_and_escapes_match_json_dumps_indent_2() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":[1.0,{"x":[]},{}],"s":"Zoë \"q\" \u0007 😀 \u007f","n":null,"t":true}"#,
        )
        .unwrap_or_default();
        let want = "{\n  \"b\": 1,\n  \"a\": [\n    1.0,\n    {\n      \"x\": []\n    },\n    {}\n  ],\n  \"s\": \"Zo\\u00eb \\\"q\\\" \\u0007 \\ud83d\\ude00 \\u007f\",\n  \"n\": null,\n  \"t\": true\n}";
        assert_eq!(
            to_string(
                &v,
                Style {
                    ensure_ascii: true,
                    color: false
                }
            ),
            want
        );
        let raw = to_string(&v, Style::default());
        assert!(raw.contains("Zoë") && raw.contains('😀'));
        assert!(to_string(
            &v,
            Style {
                ensure_ascii: false,
                color: true
            }
        )
        .contains(KEY));
    }
}
