//! `summary.html`: the sweep for a person, in one self-contained file.
//!
//! The page is opened from a CloudShell download or an S3 bucket, often where no network
//! is, so it loads nothing: the style sheet is inline, the charts are inline SVG drawn
//! here, and there is no script. Every text that comes from AWS (account names, function
//! names, error messages) is escaped.

use std::fmt::Write as _;

/// One area of the sweep as the page shows it.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    /// `ok`, `findings` or `failed`.
    pub status: String,
    /// One sentence: what the area found, or why it failed.
    pub headline: String,
    pub chart: Option<Chart>,
    /// Column names and rows, worst first; at most [`MAX_ROWS`] are shown.
    pub table: Option<(Vec<String>, Vec<Vec<String>>)>,
    /// The files of this area in the sweep directory.
    pub files: Vec<String>,
}

/// Rows of a table beyond this are left to the CSV file.
pub const MAX_ROWS: usize = 50;

/// The page's charts.
#[derive(Debug, Clone)]
pub enum Chart {
    /// Amounts per month (x), stacked by series (e.g. per account).
    StackedBars {
        title: String,
        unit: String,
        months: Vec<String>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// A percentage per label and dimension (e.g. per account and region: indexing and
    /// search), with lines at `marks` (e.g. 75 and 100).
    Percentages {
        title: String,
        dimensions: Vec<String>,
        rows: Vec<(String, Vec<Option<f64>>)>,
        marks: Vec<f64>,
    },
}

const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
.ok{color:#2e7d32}.findings{color:#b26a00}.failed{color:#c62828}
.badge{font-weight:600;text-transform:uppercase;font-size:.8em;margin-left:.5em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
text-align:left;font-size:.9em}th{background:#f4f4f4}
.meta{color:#666}svg{display:block;margin:.5em 0}";

/// The whole page.
pub fn page(title: &str, meta: &[(&str, String)], sections: &[Section]) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    html.push_str("<p class=\"meta\">");
    for (i, (key, value)) in meta.iter().enumerate() {
        if i > 0 {
            html.push_str(" · ");
        }
        let _ = write!(html, "{}: {}", escape(key), escape(value));
    }
    html.push_str("</p>\n");

    html.push_str("<table><tr><th>area</th><th>status</th><th>result</th></tr>\n");
    for section in sections {
        let _ = writeln!(
            html,
            "<tr><td><a href=\"#{}\">{}</a></td><td class=\"{}\">{}</td><td>{}</td></tr>",
            anchor(&section.title),
            escape(&section.title),
            class(&section.status),
            escape(&section.status),
            escape(&section.headline)
        );
    }
    html.push_str("</table>\n");

    for section in sections {
        render_section(&mut html, section);
    }
    html.push_str("</body></html>\n");
    html
}

fn render_section(html: &mut String, section: &Section) {
    let _ = writeln!(
        html,
        "<h2 id=\"{}\">{}<span class=\"badge {}\">{}</span></h2>\n<p>{}</p>",
        anchor(&section.title),
        escape(&section.title),
        class(&section.status),
        escape(&section.status),
        escape(&section.headline)
    );
    if let Some(chart) = &section.chart {
        html.push_str(&svg(chart));
    }
    if let Some((columns, rows)) = &section.table {
        table(html, columns, rows);
    }
    if !section.files.is_empty() {
        html.push_str("<p class=\"meta\">files: ");
        for (i, file) in section.files.iter().enumerate() {
            if i > 0 {
                html.push_str(", ");
            }
            let _ = write!(html, "<a href=\"{0}\">{0}</a>", escape(file));
        }
        html.push_str("</p>\n");
    }
}

fn table(html: &mut String, columns: &[String], rows: &[Vec<String>]) {
    html.push_str("<table><tr>");
    for column in columns {
        let _ = write!(html, "<th>{}</th>", escape(column));
    }
    html.push_str("</tr>\n");
    for row in rows.iter().take(MAX_ROWS) {
        html.push_str("<tr>");
        for cell in row {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    if rows.len() > MAX_ROWS {
        let _ = writeln!(
            html,
            "<p class=\"meta\">{} more rows in the CSV file.</p>",
            rows.len() - MAX_ROWS
        );
    }
}

/// The chart as an inline SVG element.
pub fn svg(chart: &Chart) -> String {
    match chart {
        Chart::StackedBars {
            title,
            unit,
            months,
            series,
        } => stacked_bars(title, unit, months, series),
        Chart::Percentages {
            title,
            dimensions,
            rows,
            marks,
        } => percentages(title, dimensions, rows, marks),
    }
}

fn stacked_bars(
    title: &str,
    unit: &str,
    months: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let (left, top, plot_w, plot_h) = (70.0, 30.0, 560.0, 220.0);
    let totals: Vec<f64> = (0..months.len())
        .map(|m| {
            series
                .iter()
                .map(|(_, v)| v.get(m).copied().unwrap_or(0.0).max(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let legend_h = 18.0 * series.len() as f64;
    let height = top + plot_h + 40.0 + legend_h;
    let mut svg = open_svg(left + plot_w + 20.0, height, title);
    axis(&mut svg, left, top, plot_w, plot_h, max, unit);

    let slot = plot_w / months.len().max(1) as f64;
    let bar_w = (slot * 0.6).min(60.0);
    for (m, month) in months.iter().enumerate() {
        let x = left + slot * m as f64 + (slot - bar_w) / 2.0;
        let mut y = top + plot_h;
        for (s, (name, values)) in series.iter().enumerate() {
            let value = values.get(m).copied().unwrap_or(0.0).max(0.0);
            let h = if max > 0.0 { value / max * plot_h } else { 0.0 };
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" \
                 fill=\"{}\"><title>{} {}: {value:.2} {}</title></rect>",
                PALETTE[s % PALETTE.len()],
                escape(name),
                escape(month),
                escape(unit)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x + bar_w / 2.0,
            top + plot_h + 15.0,
            escape(month)
        );
    }
    legend(
        &mut svg,
        left,
        top + plot_h + 30.0,
        series.iter().map(|(n, _)| n.as_str()),
    );
    svg.push_str("</svg>\n");
    svg
}

fn percentages(
    title: &str,
    dimensions: &[String],
    rows: &[(String, Vec<Option<f64>>)],
    marks: &[f64],
) -> String {
    // Room for the longest label at about 6.5 px per character of an 11 px font.
    let longest = rows.iter().map(|(label, _)| label.chars().count()).max();
    let left = (longest.unwrap_or(0) as f64 * 6.5 + 12.0).clamp(120.0, 420.0);
    let (top, plot_w) = (30.0, 400.0);
    let bar_h = 12.0;
    let row_h = bar_h * dimensions.len().max(1) as f64 + 8.0;
    let plot_h = row_h * rows.len().max(1) as f64;
    let max = rows
        .iter()
        .flat_map(|(_, values)| values.iter().flatten().copied())
        .chain(marks.iter().copied())
        .fold(100.0, f64::max)
        .ceil();
    let height = top + plot_h + 40.0 + 18.0 * dimensions.len() as f64;
    let mut svg = open_svg(left + plot_w + 60.0, height, title);

    for (r, (label, values)) in rows.iter().enumerate() {
        let y = top + row_h * r as f64;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + row_h / 2.0 + 3.0,
            escape(label)
        );
        for (d, value) in values.iter().enumerate() {
            let Some(value) = value else { continue };
            let w = value.max(0.0) / max * plot_w;
            let _ = write!(
                svg,
                "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" \
                 fill=\"{}\"><title>{} {}: {value:.1} %</title></rect>",
                y + 4.0 + bar_h * d as f64,
                PALETTE[d % PALETTE.len()],
                escape(label),
                escape(dimensions.get(d).map(String::as_str).unwrap_or(""))
            );
        }
    }
    for mark in marks {
        let x = left + mark / max * plot_w;
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#c62828\" \
             stroke-dasharray=\"4 3\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" \
             text-anchor=\"middle\">{mark} %</text>",
            top + plot_h,
            top + plot_h + 14.0
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{left:.1}\" y1=\"{top:.1}\" x2=\"{left:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>",
        top + plot_h
    );
    legend(
        &mut svg,
        left,
        top + plot_h + 28.0,
        dimensions.iter().map(String::as_str),
    );
    svg.push_str("</svg>\n");
    svg
}

fn open_svg(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{0}\">\
         <text x=\"0\" y=\"16\" font-size=\"13\" font-weight=\"600\">{0}</text>",
        escape(title)
    )
}

fn axis(svg: &mut String, left: f64, top: f64, w: f64, h: f64, max: f64, unit: &str) {
    for step in 0..=4 {
        let value = max * step as f64 / 4.0;
        let y = top + h - h * step as f64 / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{left:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left + w,
            left - 6.0,
            y + 4.0,
            escape(&format!("{} {unit}", short_number(value)))
        );
    }
}

fn legend<'a>(svg: &mut String, left: f64, top: f64, names: impl Iterator<Item = &'a str>) {
    for (i, name) in names.enumerate() {
        let y = top + 18.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{left:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            y,
            PALETTE[i % PALETTE.len()],
            left + 18.0,
            y + 10.0,
            escape(name)
        );
    }
}

/// The smallest of 1, 2, 2.5 or 5 times a power of ten that is at least `value`.
fn nice_max(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

fn short_number(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{:.1}M", value / 1_000_000.0)
    } else if value >= 10_000.0 {
        format!("{:.0}k", value / 1_000.0)
    } else if value >= 100.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "failed" => "failed",
        _ => "findings",
    }
}

fn anchor(title: &str) -> String {
    title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_aws_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let section = Section {
            title: "Layers".into(),
            status: "findings".into(),
            headline: "<b>".into(),
            chart: None,
            table: Some((vec!["name".into()], vec![vec!["<img src=x>".into()]])),
            files: vec![],
        };
        let html = page("t", &[], &[section]);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn the_axis_ends_on_a_round_number() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(nice_max(220.0), 250.0);
        assert_eq!(nice_max(500.0), 500.0);
    }

    #[test]
    fn stacked_bars_draw_one_rect_per_month_and_series() {
        let chart = Chart::StackedBars {
            title: "Cost per month".into(),
            unit: "USD".into(),
            months: vec!["2026-10".into(), "2026-11".into(), "2026-12".into()],
            series: vec![
                ("prod".into(), vec![10.0, 20.0, 5.0]),
                ("dev".into(), vec![1.0, 2.0, 0.5]),
            ],
        };
        let svg = svg(&chart);
        // Six bars plus two legend swatches.
        assert_eq!(svg.matches("<rect").count(), 8, "{svg}");
        assert!(svg.contains("2026-11") && svg.contains("prod 2026-11: 20.00 USD"));
    }

    #[test]
    fn percentages_mark_the_thresholds_and_skip_unknown_values() {
        let chart = Chart::Percentages {
            title: "OCU".into(),
            dimensions: vec!["indexing".into(), "search".into()],
            rows: vec![
                ("111111111111 us-east-1".into(), vec![Some(75.0), None]),
                (
                    "222222222222 us-east-1".into(),
                    vec![Some(120.0), Some(10.0)],
                ),
            ],
            marks: vec![75.0, 100.0],
        };
        let svg = svg(&chart);
        // Three bars plus two legend swatches; two threshold lines plus the axis.
        assert_eq!(svg.matches("<rect").count(), 5, "{svg}");
        assert_eq!(svg.matches("<line").count(), 3, "{svg}");
        assert!(svg.contains(">75 %<") && svg.contains(">100 %<"));
    }
}
