//! Charts drawn on the server as SVG: no script, nothing to load, the same
//! under the strict CSP. Colours come from the style sheet's classes. Each
//! chart is an image with a text label for screen readers, and every bar
//! has a `<title>` with its figures (a tooltip on hover).

use maud::{html, Markup};

use super::views::count;

/// One day's bar: calls let through, and calls refused by a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub admitted: u64,
    pub refused: u64,
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 200;
const LEFT: u32 = 48;
const BOTTOM: u32 = 24;

/// Calls per day as stacked columns (admitted below, refused above).
pub fn daily(days: &[Day], label: &str) -> Markup {
    let top = days
        .iter()
        .map(|d| d.admitted + d.refused)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = f64::from(HEIGHT - BOTTOM - 8);
    let slot = f64::from(WIDTH - LEFT) / days.len().max(1) as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let y_of = |v: u64| plot_h * (v as f64) / (top as f64);
    let base = f64::from(HEIGHT - BOTTOM);
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label)
            preserveAspectRatio="xMidYMid meet" {
            line.axis x1=(LEFT) y1=(base) x2=(WIDTH) y2=(base) {}
            text.tick x=(LEFT - 6) y="14" text-anchor="end" { (count(top)) }
            text.tick x=(LEFT - 6) y=(base) text-anchor="end" { "0" }
            @for (i, d) in days.iter().enumerate() {
                @let x = f64::from(LEFT) + slot * i as f64 + (slot - bar_w) / 2.0;
                @let ha = y_of(d.admitted);
                @let hr = y_of(d.refused);
                g {
                    title { (d.day) ": " (count(d.admitted)) " admitted, " (count(d.refused)) " refused" }
                    rect.admitted x=(fmt(x)) y=(fmt(base - ha)) width=(fmt(bar_w)) height=(fmt(ha)) {}
                    @if d.refused > 0 {
                        rect.refused x=(fmt(x)) y=(fmt(base - ha - hr)) width=(fmt(bar_w)) height=(fmt(hr)) {}
                    }
                }
            }
            @if let (Some(first), Some(last)) = (days.first(), days.last()) {
                text.tick x=(LEFT) y=(HEIGHT - 6) { (first.day) }
                text.tick x=(WIDTH) y=(HEIGHT - 6) text-anchor="end" { (last.day) }
            }
        }
    }
}

/// Labelled horizontal bars, largest first as given.
pub fn bars(items: &[(String, u64)], label: &str, class: &str) -> Markup {
    const ROW: u32 = 26;
    const TEXT: u32 = 220;
    let top = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let rows = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    let height = rows * ROW + 4;
    let room = f64::from(WIDTH - TEXT - 70);
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(label)
            preserveAspectRatio="xMidYMid meet" {
            @for (i, (name, value)) in items.iter().enumerate() {
                @let y = u32::try_from(i).unwrap_or(0) * ROW + 2;
                @let w = (room * (*value as f64) / (top as f64)).max(1.0);
                g {
                    title { (name) ": " (count(*value)) }
                    text.label x=(TEXT - 8) y=(y + 17) text-anchor="end" { (clip(name, 30)) }
                    rect class=(class) x=(TEXT) y=(y + 3) width=(fmt(w)) height=(ROW - 8) {}
                    text.value x=(fmt(f64::from(TEXT) + w + 6.0)) y=(y + 17) { (count(*value)) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// At most `max` characters, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let items = vec![("<b>route</b>".to_owned(), 10), ("/b".to_owned(), 5)];
        let svg = bars(&items, "calls by route", "admitted").into_string();
        assert!(svg.contains("&lt;b&gt;route&lt;/b&gt;"), "{svg}");
        assert!(svg.contains(r#"width="430.0""#), "{svg}");
        assert!(svg.contains(r#"width="215.0""#), "{svg}");
    }

    #[test]
    fn daily_columns_stack_refusals_on_admissions() {
        let days = vec![
            Day {
                day: "2026-11-01".into(),
                admitted: 0,
                refused: 0,
            },
            Day {
                day: "2026-11-02".into(),
                admitted: 6,
                refused: 2,
            },
        ];
        let svg = daily(&days, "calls").into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("2026-11-02: 6 admitted, 2 refused"), "{svg}");
        assert!(clip("abcdef", 4) == "abc…");
    }
}
