//! The study's SVG: per-layer histograms of activations (like Glorot & Bengio's Figure 6) and
//! of back-propagated gradients ∂c/∂s (Figure 7), one panel per scheme on shared axes, and the
//! per-layer std curves of both, measured (solid) against the theory (dashed).
//!
//! Owns: drawing (plotters, SVG backend only: no font files, text is left to the viewer), and
//! the plot's file: [`check_path`] refuses a name or directory it could not write before the
//! study computes anything, [`write()`] replaces the file whole (a temporary file renamed over
//! it). Does not own: any statistic (see [`super::Report`]).

use super::{Report, SchemeReport};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::io::Write as _;
use std::path::Path;

const PANEL: (u32, u32) = (560, 360);
const BINS: usize = 100;

/// One colour per layer (and per scheme in the std curves), distinguishable on white.
const COLOURS: [RGBColor; 10] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// Font sizes as given to plotters; its SVG backend writes `size / 1.24` pixels.
const CAPTION_FONT: f64 = 17.0;
const HEADER_FONT: f64 = 18.0;
const LEGEND_FONT: f64 = 12.0;

/// Characters of a `font` line that fit in `width` pixels, at 0.6 em per character (wider than
/// the average sans-serif glyph, so labels cut to it do not run into their neighbours).
fn fits(width: f64, font: f64) -> usize {
    (width / (0.6 * font / 1.24)).floor() as usize
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The layers whose histograms a panel draws: all of them up to one per colour, else as many,
/// evenly spaced from the first to the last (so the legend fits the panel and no two curves
/// share a colour).
fn shown_layers(depth: usize) -> Vec<usize> {
    let n = COLOURS.len();
    if depth <= n {
        return (0..depth).collect();
    }
    (0..n)
        .map(|i| (i * (depth - 1) + (n - 1) / 2) / (n - 1))
        .collect()
}

fn drawing_error(e: impl std::fmt::Display) -> Error {
    Error::io("drawing the plot", std::io::Error::other(e.to_string()))
}

/// Symmetric range ±x holding 99.5% of |values| of every layer of every scheme.
fn symmetric_range<'a>(values: impl Iterator<Item = &'a [f32]>) -> f64 {
    let mut hi = 0f64;
    for v in values {
        let mut a: Vec<f32> = v.iter().map(|x| x.abs()).collect();
        if a.is_empty() {
            continue;
        }
        let k = ((a.len() as f64 * 0.995) as usize).min(a.len() - 1);
        let (_, x, _) = a.select_nth_unstable_by(k, f32::total_cmp);
        hi = hi.max(*x as f64);
    }
    if hi > 0.0 && hi.is_finite() {
        hi * 1.05
    } else {
        1.0
    }
}

/// Fraction of `values` in each of [`BINS`] bins over `[lo, hi]` (values outside are dropped;
/// exact zeros too, and from the total, with `skip_zeros`).
fn histogram(values: &[f32], lo: f64, hi: f64, skip_zeros: bool) -> Vec<(f64, f64)> {
    let mut counts = vec![0usize; BINS];
    let w = (hi - lo) / BINS as f64;
    let mut total = 0usize;
    for &v in values {
        if skip_zeros && v == 0.0 {
            continue;
        }
        total += 1;
        let b = ((v as f64 - lo) / w).floor();
        if b >= 0.0 && (b as usize) < BINS {
            counts[b as usize] += 1;
        } else if v as f64 == hi {
            counts[BINS - 1] += 1;
        }
    }
    let n = total.max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| (lo + (i as f64 + 0.5) * w, c as f64 / n))
        .collect()
}

/// A tick label: plain decimals for ranges above 0.1, scientific below.
fn tick(x: f64, span: f64) -> String {
    if x.abs() < span * 1e-9 {
        "0".into()
    } else if span >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn histogram_panel(
    area: &Area,
    s: &SchemeReport,
    title: &str,
    x_desc: &str,
    (lo, hi): (f64, f64),
    skip_zeros: bool,
    pick: impl Fn(&super::LayerReport) -> &[f32],
) -> Result<()> {
    let shown = shown_layers(s.layers.len());
    let curves: Vec<(usize, Vec<(f64, f64)>)> = shown
        .iter()
        .map(|&k| (k, histogram(pick(&s.layers[k]), lo, hi, skip_zeros)))
        .collect();
    let mut title = if skip_zeros {
        format!("{title} ≠ 0")
    } else {
        title.to_string()
    };
    if shown.len() < s.layers.len() {
        title = format!("{title} ({} of {} layers)", shown.len(), s.layers.len());
    }
    let room = fits(PANEL.0 as f64 - 20.0, CAPTION_FONT);
    let caption = format!(
        "{title}: {}",
        cut(
            &s.label,
            room.saturating_sub(title.chars().count() + 2).max(8)
        )
    );
    let ymax = curves
        .iter()
        .flat_map(|c| &c.1)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.08;
    let mut chart = ChartBuilder::on(area)
        .caption(cut(&caption, room), ("sans-serif", CAPTION_FONT))
        .margin(10)
        // room for half of the last x tick label, which is centred on the panel's edge
        .margin_right(20)
        .x_label_area_size(38)
        .y_label_area_size(52)
        .build_cartesian_2d(lo..hi, 0.0..ymax)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc(x_desc)
        .y_desc("fraction per bin")
        .x_labels(7)
        .x_label_formatter(&|x| tick(*x, hi - lo))
        .draw()
        .map_err(drawing_error)?;
    for (i, (k, c)) in curves.into_iter().enumerate() {
        let col = colour(i);
        chart
            .draw_series(LineSeries::new(c, col.stroke_width(2)))
            .map_err(drawing_error)?
            .label(format!("layer {}", k + 1))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", LEGEND_FONT))
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

fn std_panel(
    area: &Area,
    r: &Report,
    title: &str,
    y_desc: &str,
    pick: impl Fn(&super::LayerReport) -> (f64, f64),
) -> Result<()> {
    let depth = r.dims.len() - 2;
    let all: Vec<f64> = r
        .schemes
        .iter()
        .flat_map(|s| s.layers.iter().flat_map(|l| [pick(l).0, pick(l).1]))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 {
        (lo / 1.5, hi * 1.5)
    } else {
        (1e-3, 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", CAPTION_FONT))
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(0.75..depth as f64 + 0.25, (lo..hi).log_scale())
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("layer (solid: measured, dashed: theory)")
        .y_desc(y_desc)
        .x_labels(depth.min(20))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()
        .map_err(drawing_error)?;
    for (i, s) in r.schemes.iter().enumerate() {
        let col = colour(i + 1);
        let measured: Vec<(f64, f64)> = s
            .layers
            .iter()
            .map(|l| (l.layer as f64, pick(l).0))
            .filter(|p| p.1 > 0.0)
            .collect();
        let theory: Vec<(f64, f64)> = s
            .layers
            .iter()
            .map(|l| (l.layer as f64, pick(l).1))
            .filter(|p| p.1 > 0.0 && p.1.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(measured.clone(), col.stroke_width(2)))
            .map_err(drawing_error)?
            .label(cut(&s.label, fits(PANEL.0 as f64 / 2.0, LEGEND_FONT)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2)));
        chart
            .draw_series(measured.iter().map(|&p| Circle::new(p, 3, col.filled())))
            .map_err(drawing_error)?;
        chart
            .draw_series(DashedLineSeries::new(theory, 6, 4, col.stroke_width(1)))
            .map_err(drawing_error)?;
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", LEGEND_FONT))
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

/// The directory a plot path is written in (`.` for a bare file name).
fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Check, before any computation, that `path` names an `.svg` file that can be written: its
/// directory exists and takes a new file (a temporary one is created and removed), and the
/// path is not a directory. Errors name the parameter `plot`.
pub fn check_path(path: &Path) -> Result<()> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err(Error::invalid("plot", "the path is empty"));
    }
    let svg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !svg {
        return Err(Error::invalid(
            "plot",
            format!("`{shown}` does not end in .svg (the plot is written as SVG only)"),
        ));
    }
    let dir = directory(path);
    match std::fs::metadata(dir) {
        Err(e) => {
            return Err(Error::invalid(
                "plot",
                format!("cannot use directory `{}`: {e}", dir.display()),
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::invalid(
                "plot",
                format!("`{}` is not a directory", dir.display()),
            ));
        }
        Ok(_) => {}
    }
    if path.is_dir() {
        return Err(Error::invalid("plot", format!("`{shown}` is a directory")));
    }
    tempfile::Builder::new()
        .prefix(".weightgen-plot-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            // tempfile's message names its random file; the OS error alone says why.
            let why = e.raw_os_error().map_or(e.kind().to_string(), |c| {
                std::io::Error::from_raw_os_error(c).to_string()
            });
            Error::invalid(
                "plot",
                format!("cannot write in directory `{}`: {why}", dir.display()),
            )
        })
}

/// Write `svg` to `path` whole: a temporary file in the same directory, renamed over `path`,
/// so an interrupted run leaves either the old file or the new one.
pub fn write(path: &Path, svg: &str) -> Result<()> {
    let what = format!("writing {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".weightgen-plot-")
        .tempfile_in(directory(path))
        .map_err(|e| Error::io(what.clone(), e))?;
    tmp.write_all(svg.as_bytes())
        .map_err(|e| Error::io(what.clone(), e))?;
    tmp.persist(path).map_err(|e| Error::io(what, e.error))?;
    Ok(())
}

/// The report as an SVG document.
pub fn to_svg(r: &Report) -> Result<String> {
    let cols = r.schemes.len().max(2);
    let size = (PANEL.0 * cols as u32, PANEL.1 * 3 + 40);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let (header, body) = root.split_vertically(40);
        let hidden = &r.dims[1..r.dims.len() - 1];
        let widths = if hidden.iter().all(|&w| w == hidden[0]) {
            hidden[0].to_string()
        } else {
            cut(
                &hidden
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                40,
            )
        };
        let text = format!(
            "weightgen study: {} inputs, {} hidden layers of {widths} units, {}, batch {} of {}, seed {}",
            r.dims[0],
            hidden.len(),
            r.activation,
            r.batch,
            r.input,
            r.seed
        );
        header
            .draw_text(
                &cut(&text, fits(size.0 as f64 - 24.0, HEADER_FONT)),
                &("sans-serif", HEADER_FONT).into_font().color(&BLACK),
                (12, 12),
            )
            .map_err(drawing_error)?;
        let rows = body.split_evenly((3, 1));
        let acts = rows[0].split_evenly((1, cols));
        let grads = rows[1].split_evenly((1, cols));
        let stds = rows[2].split_evenly((1, cols));

        // ReLU zeroes half of the activations and of the gradients: that spike would flatten
        // every curve, so those panels show the non-zero values (the dead fraction is in the
        // table).
        let relu = r.activation == "relu";
        let act_range = match r.activation {
            "tanh" | "softsign" => (-1.0, 1.0),
            "sigmoid" => (0.0, 1.0),
            "relu" => (
                0.0,
                symmetric_range(
                    r.schemes
                        .iter()
                        .flat_map(|s| s.layers.iter().map(|l| l.samples.act.as_slice())),
                ),
            ),
            _ => {
                let h = symmetric_range(
                    r.schemes
                        .iter()
                        .flat_map(|s| s.layers.iter().map(|l| l.samples.act.as_slice())),
                );
                (-h, h)
            }
        };
        let g = symmetric_range(
            r.schemes
                .iter()
                .flat_map(|s| s.layers.iter().map(|l| l.samples.grad.as_slice())),
        );
        for (i, s) in r.schemes.iter().enumerate() {
            histogram_panel(
                &acts[i],
                s,
                "activations z",
                "activation value",
                act_range,
                relu,
                |l| &l.samples.act,
            )?;
            histogram_panel(
                &grads[i],
                s,
                "back-propagated gradients ∂c/∂s",
                "gradient value",
                (-g, g),
                relu,
                |l| &l.samples.grad,
            )?;
        }
        std_panel(&stds[0], r, "activation std per layer", "std of z", |l| {
            (l.act_std, l.theory.act_std)
        })?;
        std_panel(
            &stds[1],
            r,
            "gradient std per layer",
            "std of ∂c/∂s",
            |l| (l.grad_std, l.theory.grad_std),
        )?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_layers_are_all_up_to_one_per_colour_else_spread_from_first_to_last() {
        assert_eq!(shown_layers(3), vec![0, 1, 2]);
        assert_eq!(shown_layers(10), (0..10).collect::<Vec<_>>());
        for depth in [11, 19, 30, 1000] {
            let s = shown_layers(depth);
            assert_eq!(s.len(), COLOURS.len(), "{depth}");
            assert_eq!((s[0], s[s.len() - 1]), (0, depth - 1), "{depth}");
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{depth}: {s:?}");
        }
    }

    #[test]
    fn histogram_fractions_sum_to_the_fraction_in_range() {
        let v = [-2.0f32, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0];
        let h = histogram(&v, -1.0, 1.0, false);
        assert_eq!(h.len(), BINS);
        let total: f64 = h.iter().map(|p| p.1).sum();
        assert!((total - 5.0 / 7.0).abs() < 1e-12, "{total}");
        let h = histogram(&v, -1.0, 1.0, true);
        let total: f64 = h.iter().map(|p| p.1).sum();
        assert!((total - 4.0 / 6.0).abs() < 1e-12, "{total}");
    }
}
