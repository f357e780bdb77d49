//! What a suite produces, and how it reaches the terminal, CSV files and
//! SVG charts.

use std::{fmt::Write as _, fs, io, path::Path};

use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::contestants::{self, Family};

/// A table for stdout.
#[derive(Debug, Default)]
pub struct TextTable {
    /// The heading line.
    pub title: String,
    /// Column headers; the first is the contestant's name.
    pub headers: Vec<String>,
    /// Rows of cells, as many as headers.
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl TextTable {
    /// The table as aligned text: names left-aligned, figures right-aligned.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = format!("\n## {}\n\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        let total: usize = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "  {note}");
        }
        out
    }
}

/// One bar chart: a figure per contestant.
#[derive(Debug)]
pub struct Chart {
    /// The file name (without extension) inside the output directory.
    pub file: String,
    /// The chart's caption.
    pub title: String,
    /// The axis label (figure and unit).
    pub unit: String,
    /// `(contestant, figure)`; missing figures are left out.
    pub bars: Vec<(String, f64)>,
    /// Whether a log axis may be used (shares of the pool stay linear).
    pub log_ok: bool,
}

/// Everything a suite produces.
#[derive(Debug, Default)]
pub struct SuiteReport {
    /// Tables for stdout.
    pub tables: Vec<TextTable>,
    /// `(file name, contents)` of CSV files.
    pub csv: Vec<(String, String)>,
    /// Charts to draw.
    pub charts: Vec<Chart>,
    /// Correctness failures seen while measuring (the run exits with an
    /// error if there are any).
    pub failures: Vec<String>,
}

/// A figure with about four significant digits, thousands separated.
pub fn fmt_figure(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    let decimals = match value.abs() {
        v if v >= 1000.0 => 0,
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(frac) => format!("{sign}{grouped}.{frac}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A ratio to the best as printed: `1.00x`, `12.3x`, `-` when missing.
pub fn fmt_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r < 10.0 => format!("{r:.2}x"),
        Some(r) if r < 100.0 => format!("{r:.1}x"),
        Some(r) => format!("{}x", fmt_figure(r.round())),
        None => "-".to_owned(),
    }
}

/// Writes a CSV file and the charts of a report into `dir`.
pub fn write_files(report: &SuiteReport, dir: &Path) -> io::Result<Vec<String>> {
    fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, contents) in &report.csv {
        let path = dir.join(name);
        fs::write(&path, contents)?;
        written.push(path.display().to_string());
    }
    for chart in &report.charts {
        let path = dir.join(format!("{}.svg", chart.file));
        draw_bar_chart(chart, &path).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// The bar colour of a family: ours red, upstream blue, peers green, the
/// system orange, the floor grey.
fn family_color(family: Option<Family>) -> RGBColor {
    match family {
        Some(Family::Ours) => RGBColor(214, 39, 40),
        Some(Family::Upstream) => RGBColor(31, 119, 180),
        Some(Family::Peer) => RGBColor(44, 160, 44),
        Some(Family::System) => RGBColor(255, 127, 14),
        Some(Family::Floor) | None => RGBColor(150, 150, 150),
    }
}

/// Draws a horizontal bar chart, one bar per contestant (first on top),
/// coloured by family, with its figure at the end of the bar, on a log axis
/// when the figures span more than two decades.
fn draw_bar_chart(chart: &Chart, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let bars: Vec<&(String, f64)> = chart.bars.iter().filter(|(_, v)| v.is_finite() && *v > 0.0).collect();
    let rows = bars.len().max(1);
    let height = 140 + 30 * rows as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let min = bars.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min).min(max);
    let log = chart.log_ok && max / min > 100.0;
    let families = contestants::all();
    // The multi-thread suites' contestants take their counterpart's colour.
    let locked = crate::locked::all();
    let family = |name: &str| {
        let name = locked.iter().find(|l| l.name == name).map_or(name, |l| l.counterpart);
        families.iter().find(|b| b.name == name).map(|b| b.family)
    };
    // Row `i` (in table order) is drawn in segment `rows - 1 - i`: first on top.
    let names: Vec<&str> = bars.iter().rev().map(|(n, _)| n.as_str()).collect();
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).copied().unwrap_or("").to_owned(),
        SegmentValue::Last => String::new(),
    };
    // Room on the right for the value labels and the legend.
    let x_range = if log {
        let lo = min / 2.0;
        lo..(max.ln() + 0.45 * (max.ln() - lo.ln())).exp()
    } else {
        0.0..max * 1.45
    };
    let mut builder = ChartBuilder::on(&root);
    builder.caption(&chart.title, ("sans-serif", 20)).margin(14).x_label_area_size(40).y_label_area_size(170);
    let x_start = x_range.start;
    // Integer ranges are inclusive in plotters: `0..rows - 1` is `rows` rows.
    let y = (0..rows - 1).into_segmented();
    let value_style = TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    macro_rules! draw {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            ctx.configure_mesh()
                .y_label_formatter(&label)
                .x_desc(&chart.unit)
                .y_labels(rows)
                .disable_y_mesh()
                .light_line_style(TRANSPARENT)
                .draw()?;
            ctx.draw_series(bars.iter().enumerate().map(|(i, (name, v))| {
                let j = rows - 1 - i;
                let mut bar = Rectangle::new(
                    [(x_start, SegmentValue::Exact(j)), (*v, SegmentValue::Exact(j + 1))],
                    family_color(family(name)).filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))?;
            ctx.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let j = rows - 1 - i;
                Text::new(
                    format!(" {}", fmt_figure(*v)),
                    (*v, SegmentValue::CenterOf(j)),
                    value_style.clone(),
                )
            }))?;
            let present: Vec<Family> =
                [Family::Ours, Family::Upstream, Family::Peer, Family::System, Family::Floor]
                    .into_iter()
                    .filter(|f| bars.iter().any(|(n, _)| family(n) == Some(*f)))
                    .collect();
            for f in present {
                let color = family_color(Some(f));
                ctx.draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<usize>)>>())?
                    .label(f.to_string())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
            }
            ctx.configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }};
    }
    if log {
        draw!(builder.build_cartesian_2d(x_range.log_scale(), y)?);
    } else {
        draw!(builder.build_cartesian_2d(x_range, y)?);
    }
    root.present()?;
    Ok(())
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_ratios_print_readably() {
        assert_eq!(fmt_figure(1_860_123.4), "1,860,123");
        assert_eq!(fmt_figure(927.04), "927.0");
        assert_eq!(fmt_figure(1.7), "1.700");
        assert_eq!(fmt_figure(-12.345), "-12.35");
        assert_eq!(fmt_figure(f64::NAN), "-");
        assert_eq!(fmt_ratio(Some(1.0)), "1.00x");
        assert_eq!(fmt_ratio(Some(43.21)), "43.2x");
        assert_eq!(fmt_ratio(Some(1234.6)), "1,235x");
        assert_eq!(fmt_ratio(None), "-");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn tables_align_their_columns() {
        let table = TextTable {
            title: "t".into(),
            headers: vec!["name".into(), "ms".into()],
            rows: vec![vec!["talc".into(), "1.7".into()], vec!["ax-buddy".into(), "1,860".into()]],
            notes: vec!["note".into()],
        };
        let text = table.render();
        assert!(text.contains("talc        1.7\n"), "{text}");
        assert!(text.contains("ax-buddy  1,860\n"), "{text}");
        assert!(text.ends_with("  note\n"));
    }

    #[test]
    fn charts_are_written_as_svg() {
        let dir = std::env::temp_dir().join(format!("allocator-bench-test-{}", std::process::id()));
        let report = SuiteReport {
            charts: vec![Chart {
                file: "c".into(),
                title: "t".into(),
                unit: "ms".into(),
                bars: vec![("a".into(), 1.0), ("b".into(), 1000.0), ("c".into(), f64::NAN)],
                log_ok: true,
            }],
            csv: vec![("x.csv".into(), "a,1\n".into())],
            ..SuiteReport::default()
        };
        let written = write_files(&report, &dir).unwrap();
        assert_eq!(written.len(), 2);
        let svg = fs::read_to_string(dir.join("c.svg")).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect"));
        fs::remove_dir_all(dir).unwrap();
    }
}
