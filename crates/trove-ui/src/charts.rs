//! Inline SVG charts rendered on the server: no script, readable by screen readers (a
//! `<title>`, a `<desc>` listing the data, `role="img"`), styled by the page's CSS classes
//! (`chart`, `bar`, `line`, `area`, `grid`, `label`). The output is safe to embed as is:
//! every text is escaped.

use std::fmt::Write as _;

use crate::escape;

const WIDTH: u32 = 640;

/// A horizontal bar chart: one row per `(label, value)`, bars scaled to the largest value,
/// the value written after each bar by `value_text`. `id` must be unique in the page (it
/// names the title for `aria-labelledby`).
pub fn bar_chart(
    id: &str,
    title: &str,
    bars: &[(String, u64)],
    value_text: impl Fn(u64) -> String,
) -> String {
    const LABEL: u32 = 180;
    const VALUE: u32 = 90;
    const ROW: u32 = 26;
    const BAR: u32 = 16;
    let id = escape(id);
    let title = escape(title);
    let height = (bars.len().max(1) as u32) * ROW + 8;
    let mut svg = format!(
        r#"<svg class="chart bar-chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"><title id="{id}-title">{title}</title>"#
    );
    let desc: Vec<String> = bars
        .iter()
        .map(|(l, v)| format!("{}: {}", escape(l), escape(&value_text(*v))))
        .collect();
    let _ = write!(
        svg,
        r#"<desc id="{id}-desc">{}</desc>"#,
        if desc.is_empty() {
            "no data".to_owned()
        } else {
            desc.join("; ")
        }
    );
    if bars.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="label" x="8" y="{}">no data yet</text>"#,
            ROW / 2 + 5
        );
    }
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let span = WIDTH - LABEL - VALUE;
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = i as u32 * ROW + 4;
        let w = ((*value as f64 / max as f64) * span as f64).round() as u32;
        // A visible sliver for non-zero values too small to show.
        let w = if *value > 0 { w.max(2) } else { 0 };
        let text_y = y + BAR / 2 + 5;
        let short = escape(&truncate(label, 24));
        let (label, shown) = (escape(label), escape(&value_text(*value)));
        let _ = write!(
            svg,
            r#"<g><title>{label}: {shown}</title><text class="label" x="{lx}" y="{text_y}" text-anchor="end">{short}</text><rect class="bar" x="{LABEL}" y="{y}" width="{w}" height="{BAR}" rx="2"/><text class="label value" x="{vx}" y="{text_y}">{shown}</text></g>"#,
            lx = LABEL - 8,
            vx = LABEL + w + 6,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The smallest of 1, 2, 5 × 10^k at or above `v` (at least 1): a round axis maximum.
pub fn nice_max(v: u64) -> u64 {
    let mut base = 1u64;
    loop {
        for m in [1, 2, 5] {
            let c = base.saturating_mul(m);
            if c >= v || c == u64::MAX {
                return c.max(1);
            }
        }
        base = base.saturating_mul(10);
    }
}

/// A line chart with the area under it filled: `points` are `(x, y)` in order (x are labels'
/// sources, spaced evenly), the y axis runs from 0 to a round maximum with three grid lines,
/// and the x axis shows `x_label` of the first, middle and last point.
pub fn line_chart(
    id: &str,
    title: &str,
    points: &[(u64, u64)],
    x_label: impl Fn(u64) -> String,
) -> String {
    const HEIGHT: u32 = 200;
    const LEFT: u32 = 48;
    const RIGHT: u32 = 14;
    const TOP: u32 = 12;
    const BOTTOM: u32 = 28;
    let id = escape(id);
    let title = escape(title);
    let plot_w = (WIDTH - LEFT - RIGHT) as f64;
    let plot_h = (HEIGHT - TOP - BOTTOM) as f64;
    let base_y = (TOP + HEIGHT - TOP - BOTTOM) as f64;
    let total: u64 = points.iter().map(|(_, y)| y).sum();
    let peak = points.iter().map(|(_, y)| *y).max().unwrap_or(0);
    let mut svg = format!(
        r#"<svg class="chart line-chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"><title id="{id}-title">{title}</title><desc id="{id}-desc">{} points, total {total}, peak {peak}</desc>"#,
        points.len()
    );
    let max = nice_max(peak);
    for (i, v) in [0, max / 2, max].into_iter().enumerate() {
        if i == 1 && max < 2 {
            continue;
        }
        let y = base_y - (v as f64 / max as f64) * plot_h;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}"/><text class="label" x="{lx}" y="{ty:.1}" text-anchor="end">{v}</text>"#,
            x2 = WIDTH - RIGHT,
            lx = LEFT - 6,
            ty = y + 4.0,
        );
    }
    if points.len() < 2 {
        let _ = write!(
            svg,
            r#"<text class="label" x="{}" y="{}">no data yet</text></svg>"#,
            LEFT + 8,
            TOP + 20
        );
        return svg;
    }
    let step = plot_w / (points.len() - 1) as f64;
    let coords: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, y))| {
            (
                LEFT as f64 + i as f64 * step,
                base_y - (*y as f64 / max as f64) * plot_h,
            )
        })
        .collect();
    let line: Vec<String> = coords
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = write!(
        svg,
        r#"<path class="area" d="M{LEFT},{base_y:.1} L{} L{:.1},{base_y:.1} Z"/><polyline class="line" fill="none" points="{}"/>"#,
        line.join(" L"),
        coords.last().expect("two points").0,
        line.join(" "),
    );
    let last = points.len() - 1;
    for (i, anchor) in [(0, "start"), (last / 2, "middle"), (last, "end")] {
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{}" text-anchor="{anchor}">{}</text>"#,
            coords[i].0,
            HEIGHT - 8,
            escape(&x_label(points[i].0)),
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = bar_chart(
            "storage",
            "Storage <per> repository",
            &[
                ("a<b>".into(), 1000),
                ("small".into(), 1),
                ("empty".into(), 0),
            ],
            |v| format!("{v} B"),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Storage &lt;per&gt; repository"));
        assert!(svg.contains("a&lt;b&gt;") && !svg.contains("a<b>"));
        // The largest bar spans the whole bar area (640 - 180 - 90), the smallest a sliver.
        assert!(svg.contains(r#"width="370""#), "{svg}");
        assert!(svg.contains(r#"width="2""#), "{svg}");
        assert!(svg.contains(r#"width="0""#), "{svg}");
        assert!(svg.contains("1000 B") && svg.contains("a&lt;b&gt;: 1000 B"));
        assert_eq!(svg.matches("<rect").count(), 3);
    }

    #[test]
    fn empty_bar_chart_says_so() {
        let svg = bar_chart("s", "t", &[], |v| v.to_string());
        assert!(svg.contains("no data yet"));
        assert!(!svg.contains("<rect"));
    }

    #[test]
    fn line_chart_has_a_line_an_area_and_labels() {
        let points: Vec<(u64, u64)> = (0..60).map(|i| (1000 + i, i % 7)).collect();
        let svg = line_chart("req", "Requests per minute", &points, |m| format!("m{m}"));
        assert!(svg.contains(r#"class="line""#) && svg.contains(r#"class="area""#));
        assert!(svg.contains(">m1000<") && svg.contains(">m1029<") && svg.contains(">m1059<"));
        // Peak 6 → axis maximum 10, grid at 0, 5, 10.
        assert!(svg.contains(">10<") && svg.contains(">5<") && svg.contains(">0<"));
        assert!(svg.contains("peak 6"));
        let polyline = svg.split("points=\"").nth(1).unwrap();
        let n = polyline.split('"').next().unwrap().split(' ').count();
        assert_eq!(n, 60);
    }

    #[test]
    fn line_chart_without_data() {
        let svg = line_chart("req", "t", &[], |m| m.to_string());
        assert!(svg.contains("no data yet") && svg.ends_with("</svg>"));
        let flat: Vec<(u64, u64)> = (0..3).map(|i| (i, 0)).collect();
        let svg = line_chart("req", "t", &flat, |m| m.to_string());
        assert!(svg.contains("polyline"), "all-zero data still draws a line");
    }

    #[test]
    fn round_maxima() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(6), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(499), 500);
        assert_eq!(nice_max(501), 1000);
    }
}
