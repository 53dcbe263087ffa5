//! Line charts: a categorical x axis, a numeric y axis, several panels in a
//! grid sharing one legend.

use image::RgbImage;

use crate::VizError;
use crate::figure::{MARGIN, TITLE_GAP, TITLE_SIZE};
use crate::raster::Point;
use crate::render::{self, check_side};
use crate::scene::{Item, Scene};
use crate::text::{Anchor, Label, text_width};

/// Most distinct series (legend entries) a [`ChartFigure`] accepts: one per
/// colour of [`ChartFigure::PALETTE`], each with its own marker shape.
pub const MAX_SERIES: usize = 16;

// Layout, in pixels. Text sizes are line heights (see the `text` module).
pub(crate) const PANEL_TITLE_SIZE: u32 = 20;
pub(crate) const PANEL_TITLE_GAP: u32 = 10;
pub(crate) const PLOT_MIN_WIDTH: u32 = 360;
pub(crate) const PLOT_MIN_HEIGHT: u32 = 240;
pub(crate) const X_LABEL_PAD: u32 = 12;
pub(crate) const TICK_SIZE: u32 = 14;
pub(crate) const TICK_LEN: u32 = 4;
pub(crate) const TICK_GAP: u32 = 4;
pub(crate) const AXIS_TITLE_SIZE: u32 = 16;
pub(crate) const AXIS_TITLE_GAP: u32 = 6;
pub(crate) const PANEL_GAP_X: u32 = 32;
pub(crate) const PANEL_GAP_Y: u32 = 24;
pub(crate) const LEGEND_GAP: u32 = 24;
pub(crate) const LEGEND_PAD: u32 = 10;
pub(crate) const LEGEND_ROW: u32 = 22;
pub(crate) const LEGEND_SIZE: u32 = 15;
pub(crate) const LEGEND_SAMPLE: u32 = 40;
pub(crate) const LEGEND_TEXT_GAP: u32 = 8;
const LINE_WIDTH: f64 = 2.0;
const MARKER_RADIUS: f64 = 4.5;
/// Width of the white rim around each marker, which keeps markers apart
/// from the lines they sit on.
const MARKER_RIM: f64 = 1.25;
const ZERO_DASH: [f64; 2] = [4.0, 4.0];
pub(crate) const AXIS: [u8; 3] = [80, 80, 80];
pub(crate) const GRID: [u8; 3] = [225, 225, 225];
pub(crate) const ZERO_LINE: [u8; 3] = [110, 110, 110];
const LEGEND_FRAME: [u8; 3] = [190, 190, 190];
const WHITE: [u8; 3] = [255; 3];

/// One line of a [`LineChart`]: a value per x position.
///
/// A NaN value leaves a gap: the line stops before it and starts again after
/// it, and a value with NaN on both sides is drawn as a lone marker. Values
/// outside the chart's y range, infinities included, are clamped to the
/// frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry. Series of different charts with the same label share
    /// one legend entry and one style.
    pub label: String,
    /// One value per x label of the chart.
    pub values: Vec<f32>,
}

impl Series {
    /// A series named `label`.
    pub fn new(label: impl Into<String>, values: impl Into<Vec<f32>>) -> Self {
        Self {
            label: label.into(),
            values: values.into(),
        }
    }
}

/// One panel of a [`ChartFigure`]: a categorical x axis (one position per
/// label, evenly spaced) and a numeric y axis over a fixed range.
///
/// The y axis gets gridlines and labels at about five round values in
/// `y_range`, and a dashed line at 0 when 0 lies strictly inside the range.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Panel title, drawn above the plot.
    pub title: String,
    /// The x positions, left to right.
    pub x_labels: Vec<String>,
    /// Title under the x axis (none when empty).
    pub x_title: String,
    /// Title left of the y axis, reading upwards (none when empty).
    pub y_title: String,
    /// `[min, max]` of the y axis: finite, with `min < max`. Values outside
    /// it are clamped to the frame.
    pub y_range: [f32; 2],
    /// The lines, drawn in order (later ones on top).
    pub series: Vec<Series>,
}

impl LineChart {
    /// A chart with no series, no axis titles and y range
    /// [`DEFAULT_Y_RANGE`](Self::DEFAULT_Y_RANGE).
    pub fn new(
        title: impl Into<String>,
        x_labels: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            title: title.into(),
            x_labels: x_labels.into_iter().map(Into::into).collect(),
            x_title: String::new(),
            y_title: String::new(),
            y_range: Self::DEFAULT_Y_RANGE,
            series: Vec::new(),
        }
    }

    /// The y range given by [`new`](Self::new): `[0, 1]`.
    pub const DEFAULT_Y_RANGE: [f32; 2] = [0.0, 1.0];

    /// Sets the title under the x axis.
    pub fn x_title(mut self, title: impl Into<String>) -> Self {
        self.x_title = title.into();
        self
    }

    /// Sets the title left of the y axis.
    pub fn y_title(mut self, title: impl Into<String>) -> Self {
        self.y_title = title.into();
        self
    }

    /// Sets the y range (checked when the figure is rendered).
    pub fn y_range(mut self, min: f32, max: f32) -> Self {
        self.y_range = [min, max];
        self
    }

    /// Appends a series (its length is checked when the figure is rendered).
    pub fn series(mut self, label: impl Into<String>, values: impl Into<Vec<f32>>) -> Self {
        self.series.push(Series::new(label, values));
        self
    }
}

/// Line charts in a grid of panels under a title, sharing one legend.
///
/// Charts fill the grid row by row, `columns` per row. The legend, right of
/// the grid, lists each distinct series label once, in order of first
/// appearance (chart by chart, series by series). A label keeps one style in
/// every chart: a colour from [`PALETTE`](Self::PALETTE) and a marker shape
/// of its own, and a dash pattern out of four, so the lines can still be told
/// apart in greyscale. At most [`MAX_SERIES`] labels are allowed.
///
/// PNG and SVG come from the same layout.
///
/// ```
/// use gradcam_viz::{ChartFigure, LineChart};
///
/// let layers = ["original", "fc2", "fc1", "conv2", "conv1"];
/// let spearman = LineChart::new("Cascading: Spearman", layers)
///     .x_title("randomised up to")
///     .y_title("rank correlation")
///     .y_range(-1.0, 1.0)
///     .series("Grad-CAM", [1.0, 0.62, 0.31, 0.05, -0.02])
///     .series("Guided Backprop", [1.0, 0.97, 0.95, f32::NAN, 0.9]);
/// let ssim = LineChart::new("Cascading: SSIM", layers)
///     .y_title("SSIM")
///     .series("Grad-CAM", [1.0, 0.5, 0.3, 0.1, 0.1])
///     .series("Guided Backprop", [1.0, 0.9, 0.9, 0.85, 0.8]);
/// let figure = ChartFigure::new("Model randomisation")
///     .chart(spearman)
///     .chart(ssim);
/// assert_eq!(figure.legend(), ["Grad-CAM", "Guided Backprop"]);
///
/// let png: Vec<u8> = figure.render_png()?;
/// assert_eq!(&png[..4], b"\x89PNG");
/// let svg: String = figure.render_svg()?;
/// assert!(svg.contains("Guided Backprop"));
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ChartFigure {
    /// Figure title, drawn centred at the top.
    pub title: String,
    /// The panels, filling the grid row by row.
    pub charts: Vec<LineChart>,
    /// Panels per grid row (at least 1; more than there are charts is the
    /// same as one row).
    pub columns: usize,
}

impl ChartFigure {
    /// Series colours, in legend order: Tableau 10 (matplotlib's `tab10`)
    /// followed by black, maroon, navy, teal, dark goldenrod and dark magenta.
    pub const PALETTE: [[u8; 3]; MAX_SERIES] = [
        [0x1f, 0x77, 0xb4], // blue
        [0xff, 0x7f, 0x0e], // orange
        [0x2c, 0xa0, 0x2c], // green
        [0xd6, 0x27, 0x28], // red
        [0x94, 0x67, 0xbd], // purple
        [0x8c, 0x56, 0x4b], // brown
        [0xe3, 0x77, 0xc2], // pink
        [0x7f, 0x7f, 0x7f], // grey
        [0xbc, 0xbd, 0x22], // olive
        [0x17, 0xbe, 0xcf], // cyan
        [0x00, 0x00, 0x00], // black
        [0x80, 0x00, 0x00], // maroon
        [0x00, 0x00, 0x80], // navy
        [0x00, 0x80, 0x80], // teal
        [0xb8, 0x86, 0x0b], // dark goldenrod
        [0x8b, 0x00, 0x8b], // dark magenta
    ];

    /// Columns used by [`new`](Self::new): a 2x2 grid for four charts.
    pub const DEFAULT_COLUMNS: usize = 2;

    /// An empty figure with `title` and
    /// [`DEFAULT_COLUMNS`](Self::DEFAULT_COLUMNS) columns.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            charts: Vec::new(),
            columns: Self::DEFAULT_COLUMNS,
        }
    }

    /// Sets the number of panels per grid row.
    pub fn columns(mut self, columns: usize) -> Self {
        self.columns = columns;
        self
    }

    /// Appends a chart.
    pub fn chart(mut self, chart: LineChart) -> Self {
        self.charts.push(chart);
        self
    }

    /// Appends several charts.
    pub fn charts(mut self, charts: impl IntoIterator<Item = LineChart>) -> Self {
        self.charts.extend(charts);
        self
    }

    /// The legend entries: each distinct series label once, in order of
    /// first appearance. Entry `i` is drawn in `PALETTE[i]`.
    pub fn legend(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = Vec::new();
        for series in self.charts.iter().flat_map(|c| &c.series) {
            if !labels.contains(&series.label.as_str()) {
                labels.push(&series.label);
            }
        }
        labels
    }

    /// Width and height, in pixels, of the rendered figure.
    ///
    /// # Errors
    ///
    /// As [`render_rgb`](Self::render_rgb).
    pub fn dimensions(&self) -> Result<(u32, u32), VizError> {
        let layout = self.layout()?;
        Ok((layout.width, layout.height))
    }

    /// Renders the figure to an RGB image.
    ///
    /// # Errors
    ///
    /// [`VizError::NoCharts`], [`VizError::ZeroGridColumns`], and for the
    /// first bad chart (by index): [`VizError::NoXLabels`],
    /// [`VizError::InvalidYRange`], [`VizError::SeriesLengthMismatch`] or
    /// [`VizError::DuplicateSeries`] naming the series; then
    /// [`VizError::TooManySeries`] (more than [`MAX_SERIES`] legend entries),
    /// [`VizError::ImageTooLarge`] if a side would exceed
    /// [`MAX_IMAGE_SIDE`](crate::MAX_IMAGE_SIDE), and [`VizError::Draw`] if
    /// text cannot be drawn.
    pub fn render_rgb(&self) -> Result<RgbImage, VizError> {
        self.scene()?.to_rgb()
    }

    /// Renders the figure and encodes it as PNG.
    ///
    /// # Errors
    ///
    /// As [`render_rgb`](Self::render_rgb), plus [`VizError::Encode`].
    pub fn render_png(&self) -> Result<Vec<u8>, VizError> {
        render::panel_png(&self.render_rgb()?)
    }

    /// Renders the figure as an SVG document: the same layout, with lines,
    /// markers and frames as SVG shapes and the text as SVG text (DejaVu
    /// Sans, or the viewer's sans-serif font where DejaVu is not installed).
    ///
    /// # Errors
    ///
    /// As [`render_rgb`](Self::render_rgb).
    pub fn render_svg(&self) -> Result<String, VizError> {
        self.scene()?.to_svg()
    }

    /// Checks the charts and returns the legend.
    fn validate(&self) -> Result<Vec<&str>, VizError> {
        if self.charts.is_empty() {
            return Err(VizError::NoCharts);
        }
        if self.columns == 0 {
            return Err(VizError::ZeroGridColumns);
        }
        for (index, chart) in self.charts.iter().enumerate() {
            if chart.x_labels.is_empty() {
                return Err(VizError::NoXLabels { chart: index });
            }
            let [min, max] = chart.y_range;
            if !(min.is_finite() && max.is_finite() && min < max) {
                return Err(VizError::InvalidYRange {
                    chart: index,
                    min,
                    max,
                });
            }
            for (s, series) in chart.series.iter().enumerate() {
                if series.values.len() != chart.x_labels.len() {
                    return Err(VizError::SeriesLengthMismatch {
                        chart: index,
                        series: series.label.clone(),
                        expected: chart.x_labels.len(),
                        actual: series.values.len(),
                    });
                }
                if chart.series[..s].iter().any(|o| o.label == series.label) {
                    return Err(VizError::DuplicateSeries {
                        chart: index,
                        series: series.label.clone(),
                    });
                }
            }
        }
        let legend = self.legend();
        if legend.len() > MAX_SERIES {
            return Err(VizError::TooManySeries {
                count: legend.len(),
                max: MAX_SERIES,
            });
        }
        Ok(legend)
    }

    pub(crate) fn layout(&self) -> Result<ChartLayout, VizError> {
        let legend = self.validate()?;

        let ticks: Vec<Vec<(f64, String)>> = self
            .charts
            .iter()
            .map(|c| y_ticks(f64::from(c.y_range[0]), f64::from(c.y_range[1])))
            .collect();
        let tick_width = max_width(
            ticks.iter().flatten().map(|(_, t)| t.as_str()),
            TICK_SIZE,
            false,
        )?;
        // Each chart splits the plot width into equal slots, one per x label,
        // each wide enough for that chart's widest label.
        let mut slots_width = 0_u64;
        for chart in &self.charts {
            let widest = max_width(chart.x_labels.iter().map(String::as_str), TICK_SIZE, false)?;
            let slot = u64::from(widest) + u64::from(X_LABEL_PAD);
            slots_width = slots_width.max(slot.saturating_mul(chart.x_labels.len() as u64));
        }
        let titles =
            |f: fn(&LineChart) -> &str| self.charts.iter().map(f).filter(|t| !t.is_empty());
        let panel_title_width = max_width(titles(|c| &c.title), PANEL_TITLE_SIZE, true)?;
        let x_title_width = max_width(titles(|c| &c.x_title), AXIS_TITLE_SIZE, false)?;
        let y_title_width = max_width(titles(|c| &c.y_title), AXIS_TITLE_SIZE, false)?;
        let any = |f: fn(&LineChart) -> &str| titles(f).next().is_some();

        let plot_width = slots_width
            .max(PLOT_MIN_WIDTH.into())
            .max(panel_title_width.into())
            .max(x_title_width.into());
        let plot_height = u64::from(PLOT_MIN_HEIGHT.max(y_title_width));
        let y_title_band = if any(|c| &c.y_title) {
            AXIS_TITLE_SIZE + AXIS_TITLE_GAP
        } else {
            0
        };
        // The frame is one pixel outside the plot area on every side.
        let plot_dx = y_title_band + tick_width + TICK_GAP + TICK_LEN + 1;
        let plot_dy = if any(|c| &c.title) {
            PANEL_TITLE_SIZE + PANEL_TITLE_GAP
        } else {
            // Room for the upper half of the top tick label.
            TICK_SIZE / 2
        } + 1;
        let below = 1
            + TICK_LEN
            + TICK_GAP
            + TICK_SIZE
            + if any(|c| &c.x_title) {
                AXIS_TITLE_GAP + AXIS_TITLE_SIZE
            } else {
                0
            };
        let panel_width = u64::from(plot_dx) + plot_width + 1;
        let panel_height = u64::from(plot_dy) + plot_height + u64::from(below);

        let count = self.charts.len() as u64;
        let columns = (self.columns as u64).min(count);
        let rows = count.div_ceil(columns);
        let span = |n: u64, size: u64, gap: u32| {
            n.saturating_mul(size)
                .saturating_add((n - 1).saturating_mul(gap.into()))
        };
        let grid_x = u64::from(MARGIN);
        let grid_y = u64::from(MARGIN + TITLE_SIZE + TITLE_GAP);
        let grid_right = grid_x.saturating_add(span(columns, panel_width, PANEL_GAP_X));
        let grid_bottom = grid_y.saturating_add(span(rows, panel_height, PANEL_GAP_Y));

        let label_width = max_width(legend.iter().copied(), LEGEND_SIZE, false)?;
        let legend_box = (!legend.is_empty()).then(|| {
            let x = grid_right.saturating_add(LEGEND_GAP.into());
            let y = grid_y + u64::from(plot_dy) - 1;
            let w = u64::from(2 * LEGEND_PAD + LEGEND_SAMPLE + LEGEND_TEXT_GAP)
                + u64::from(label_width);
            let h = u64::from(2 * LEGEND_PAD) + legend.len() as u64 * u64::from(LEGEND_ROW);
            [x, y, w, h]
        });
        let title_width = max_width([self.title.as_str()], TITLE_SIZE, true)?;
        let (content_right, content_bottom) = match legend_box {
            Some([x, y, w, h]) => (x.saturating_add(w), grid_bottom.max(y + h)),
            None => (grid_right, grid_bottom),
        };
        let width = content_right
            .saturating_add(MARGIN.into())
            .max(u64::from(title_width) + 2 * u64::from(MARGIN));
        let height = content_bottom.saturating_add(MARGIN.into());
        check_side("chart figure", width, height)?;

        // Every coordinate below is within the checked width and height.
        let narrow = |v: u64| v as u32;
        Ok(ChartLayout {
            width: narrow(width),
            height: narrow(height),
            columns: columns as usize,
            grid_x: narrow(grid_x),
            grid_y: narrow(grid_y),
            panel_width: narrow(panel_width),
            panel_height: narrow(panel_height),
            plot_dx,
            plot_dy,
            plot_width: narrow(plot_width),
            plot_height: narrow(plot_height),
            legend_box: legend_box.map(|b| b.map(narrow)),
            legend: legend.into_iter().map(String::from).collect(),
            ticks,
        })
    }

    /// The items of the rendered scene, for tests to inspect.
    #[cfg(test)]
    pub(crate) fn scene_items(&self) -> Result<Vec<Item>, VizError> {
        Ok(self.scene()?.items)
    }

    fn scene(&self) -> Result<Scene, VizError> {
        let layout = self.layout()?;
        let mut items = Vec::new();
        let mut labels = vec![label(
            &self.title,
            layout.width / 2,
            MARGIN,
            Anchor::Middle,
            TITLE_SIZE,
            true,
        )];
        for (index, chart) in self.charts.iter().enumerate() {
            draw_chart(&layout, index, chart, &mut items, &mut labels);
        }
        if let Some([x, y, w, h]) = layout.legend_box {
            items.push(rect(x, y, w, h, LEGEND_FRAME));
            items.push(rect(x + 1, y + 1, w - 2, h - 2, WHITE));
            for (k, text) in layout.legend.iter().enumerate() {
                let row = y + LEGEND_PAD + k as u32 * LEGEND_ROW;
                let centre = f64::from(row + LEGEND_ROW / 2);
                let left = f64::from(x + LEGEND_PAD);
                let sample = [[left, centre], [left + f64::from(LEGEND_SAMPLE), centre]];
                let middle = [left + f64::from(LEGEND_SAMPLE) / 2.0, centre];
                let style = Style::of(k);
                items.push(style.line(sample.to_vec()));
                items.extend(style.marker(middle));
                labels.push(label(
                    text,
                    x + LEGEND_PAD + LEGEND_SAMPLE + LEGEND_TEXT_GAP,
                    row + (LEGEND_ROW - LEGEND_SIZE) / 2,
                    Anchor::Start,
                    LEGEND_SIZE,
                    false,
                ));
            }
        }
        Ok(Scene {
            width: layout.width,
            height: layout.height,
            items,
            labels,
        })
    }
}

/// Draws one panel: frame, gridlines, ticks, titles and the series.
fn draw_chart(
    layout: &ChartLayout,
    index: usize,
    chart: &LineChart,
    items: &mut Vec<Item>,
    labels: &mut Vec<Label>,
) {
    let (panel_x, panel_y) = layout.panel_origin(index);
    let (plot_x, plot_y) = layout.plot_origin(index);
    let (plot_w, plot_h) = (layout.plot_width, layout.plot_height);
    let axes = Axes::new(chart, plot_x, plot_y, plot_w, plot_h);

    // Frame, then the white plot area inside it.
    items.push(rect(plot_x - 1, plot_y - 1, plot_w + 2, plot_h + 2, AXIS));
    items.push(rect(plot_x, plot_y, plot_w, plot_h, WHITE));

    let tick_right = plot_x - 1 - TICK_LEN;
    for (value, text) in &layout.ticks[index] {
        let row = axes.row(*value);
        // Rows on the frame (the range's ends) need no gridline.
        if row > f64::from(plot_y - 1) && row < f64::from(plot_y + plot_h) {
            items.push(rect(plot_x, row as u32, plot_w, 1, GRID));
        }
        items.push(rect(tick_right, row as u32, TICK_LEN, 1, AXIS));
        labels.push(Label {
            text: text.clone(),
            x: (tick_right - TICK_GAP) as i32,
            top: row as i32 - (TICK_SIZE / 2) as i32,
            anchor: Anchor::End,
            size: f64::from(TICK_SIZE),
            bold: false,
            vertical: false,
        });
    }
    let [min, max] = chart.y_range;
    if min < 0.0 && 0.0 < max {
        let y = axes.row(0.0) + 0.5;
        items.push(Item::Line {
            points: vec![[f64::from(plot_x), y], [f64::from(plot_x + plot_w), y]],
            width: 1.0,
            dash: ZERO_DASH.to_vec(),
            color: ZERO_LINE,
        });
    }

    let below = plot_y + plot_h + 1;
    for (i, text) in chart.x_labels.iter().enumerate() {
        let x = axes.x(i);
        items.push(rect(x as u32, below, 1, TICK_LEN, AXIS));
        labels.push(label(
            text,
            x as u32,
            below + TICK_LEN + TICK_GAP,
            Anchor::Middle,
            TICK_SIZE,
            false,
        ));
    }

    let centre_x = plot_x + plot_w / 2;
    labels.push(label(
        &chart.title,
        centre_x,
        panel_y,
        Anchor::Middle,
        PANEL_TITLE_SIZE,
        true,
    ));
    labels.push(label(
        &chart.x_title,
        centre_x,
        below + TICK_LEN + TICK_GAP + TICK_SIZE + AXIS_TITLE_GAP,
        Anchor::Middle,
        AXIS_TITLE_SIZE,
        false,
    ));
    labels.push(Label {
        vertical: true,
        ..label(
            &chart.y_title,
            panel_x,
            plot_y + plot_h / 2,
            Anchor::Middle,
            AXIS_TITLE_SIZE,
            false,
        )
    });

    for series in &chart.series {
        let Some(k) = layout.legend.iter().position(|l| *l == series.label) else {
            continue; // not reached: the legend lists every label
        };
        let style = Style::of(k);
        let points: Vec<Option<Point>> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (!v.is_nan()).then(|| axes.point(i, v)))
            .collect();
        for run in points.split(Option::is_none) {
            if run.len() >= 2 {
                items.push(style.line(run.iter().flatten().copied().collect()));
            }
        }
        for &point in points.iter().flatten() {
            items.extend(style.marker(point));
        }
    }
}

/// Maps chart values to pixel positions.
struct Axes {
    min: f64,
    max: f64,
    plot_x: f64,
    plot_y: f64,
    plot_w: f64,
    plot_h: f64,
    slots: f64,
}

impl Axes {
    fn new(chart: &LineChart, plot_x: u32, plot_y: u32, plot_w: u32, plot_h: u32) -> Self {
        Self {
            min: chart.y_range[0].into(),
            max: chart.y_range[1].into(),
            plot_x: plot_x.into(),
            plot_y: plot_y.into(),
            plot_w: plot_w.into(),
            plot_h: plot_h.into(),
            slots: chart.x_labels.len() as f64,
        }
    }

    /// Pixel row of `value` (fractional): `max` is the top frame row and
    /// `min` the bottom one. Values outside the range are clamped.
    fn row(&self, value: f64) -> f64 {
        let t = ((self.max - value) / (self.max - self.min)).clamp(0.0, 1.0);
        (self.plot_y - 1.0 + t * (self.plot_h + 1.0)).round()
    }

    /// Centre of the slot of x label `i`, on a pixel centre.
    fn x(&self, i: usize) -> f64 {
        (self.plot_x + (i as f64 + 0.5) * self.plot_w / self.slots).floor()
    }

    /// Where a (non-NaN) value is drawn, on the pixel centre of its row.
    fn point(&self, i: usize, value: f32) -> Point {
        let t = ((self.max - f64::from(value)) / (self.max - self.min)).clamp(0.0, 1.0);
        let y = self.plot_y - 1.0 + t * (self.plot_h + 1.0);
        [self.x(i) + 0.5, y + 0.5]
    }
}

/// Marker shapes, one per series; all but the circle are polygons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Cross,
    Pentagon,
    Plus,
    Star,
    Hexagon,
    TriangleLeft,
    TriangleRight,
    Octagon,
    Heptagon,
    FourPointStar,
    SixPointStar,
}

pub(crate) const MARKERS: [Marker; MAX_SERIES] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::Cross,
    Marker::Pentagon,
    Marker::Plus,
    Marker::Star,
    Marker::Hexagon,
    Marker::TriangleLeft,
    Marker::TriangleRight,
    Marker::Octagon,
    Marker::Heptagon,
    Marker::FourPointStar,
    Marker::SixPointStar,
];

/// Dash patterns (on, off, ...), cycled over the series: solid, dashed,
/// dotted, dash-dot. Caps are round, so each dash grows by the line width
/// and each gap shrinks by it. Dots have a length of 1 rather than 0: not
/// every SVG renderer draws zero-length dashes.
pub(crate) const DASHES: [&[f64]; 4] = [&[], &[7.0, 5.0], &[1.0, 4.5], &[7.0, 5.0, 1.0, 5.0]];

impl Marker {
    /// Outline around `(0, 0)` for a marker of radius 1 (y grows downwards);
    /// sizes are tuned so the shapes look about equally heavy.
    fn outline(self) -> Vec<Point> {
        match self {
            Marker::Circle => Vec::new(),
            Marker::Square => regular(4, 1.2, 45.0),
            Marker::TriangleUp => regular(3, 1.35, -90.0),
            Marker::TriangleDown => regular(3, 1.35, 90.0),
            Marker::TriangleLeft => regular(3, 1.35, 180.0),
            Marker::TriangleRight => regular(3, 1.35, 0.0),
            Marker::Diamond => regular(4, 1.35, -90.0)
                .into_iter()
                .map(|[x, y]| [0.75 * x, y])
                .collect(),
            Marker::Pentagon => regular(5, 1.2, -90.0),
            Marker::Hexagon => regular(6, 1.15, 0.0),
            Marker::Octagon => regular(8, 1.15, 22.5),
            Marker::Heptagon => regular(7, 1.2, -90.0),
            Marker::Star => star(5, 1.45, 0.6),
            Marker::FourPointStar => star(4, 1.5, 0.5),
            Marker::SixPointStar => star(6, 1.4, 0.75),
            Marker::Plus => plus(0.0),
            Marker::Cross => plus(45.0),
        }
    }
}

/// Vertices of a regular `n`-gon, the first at `start` degrees
/// (clockwise from the positive x axis, as y grows downwards).
fn regular(n: u32, radius: f64, start: f64) -> Vec<Point> {
    (0..n)
        .map(|i| polar(radius, start + 360.0 * f64::from(i) / f64::from(n)))
        .collect()
}

/// A star of `points` points reaching `outer`, its inner corners at `inner`, the first point up.
fn star(points: u32, outer: f64, inner: f64) -> Vec<Point> {
    (0..2 * points)
        .map(|i| {
            let radius = if i % 2 == 0 { outer } else { inner };
            polar(radius, -90.0 + 180.0 * f64::from(i) / f64::from(points))
        })
        .collect()
}

fn polar(radius: f64, degrees: f64) -> Point {
    let (sin, cos) = degrees.to_radians().sin_cos();
    [radius * cos, radius * sin]
}

/// A plus sign with arms of half-thickness 0.4 and reach 1.3, turned by
/// `degrees`.
fn plus(degrees: f64) -> Vec<Point> {
    let (t, e) = (0.4, 1.3);
    let arm = [[-t, -e], [t, -e], [t, -t]];
    let (sin, cos) = degrees.to_radians().sin_cos();
    (0..4)
        .flat_map(|quarter| {
            // Each arm is the previous one turned by 90 degrees.
            arm.map(|p| {
                let [mut x, mut y] = p;
                for _ in 0..quarter {
                    (x, y) = (-y, x);
                }
                [x * cos - y * sin, x * sin + y * cos]
            })
        })
        .collect()
}

/// Colour, marker and dash of legend entry `k`.
#[derive(Debug, Clone, Copy)]
struct Style {
    color: [u8; 3],
    marker: Marker,
    dash: &'static [f64],
}

impl Style {
    fn of(k: usize) -> Self {
        Self {
            color: ChartFigure::PALETTE[k % MAX_SERIES],
            marker: MARKERS[k % MAX_SERIES],
            dash: DASHES[k % DASHES.len()],
        }
    }

    fn line(self, points: Vec<Point>) -> Item {
        Item::Line {
            points,
            width: LINE_WIDTH,
            dash: self.dash.to_vec(),
            color: self.color,
        }
    }

    /// The marker at `centre`: a white rim, then the coloured shape.
    fn marker(self, centre: Point) -> [Item; 2] {
        let shape = |radius: f64, color| match self.marker {
            Marker::Circle => Item::Circle {
                center: centre,
                radius,
                color,
            },
            marker => Item::Polygon {
                points: marker
                    .outline()
                    .into_iter()
                    .map(|[x, y]| [centre[0] + radius * x, centre[1] + radius * y])
                    .collect(),
                color,
            },
        };
        [
            shape(MARKER_RADIUS + MARKER_RIM, WHITE),
            shape(MARKER_RADIUS, self.color),
        ]
    }
}

/// About five round tick values in `[min, max]`, with their labels.
///
/// The step is 1, 2, 2.5 or 5 times a power of ten, whichever gives the
/// count nearest to five (the larger step on a tie); all labels share one
/// number of decimals.
pub(crate) fn y_ticks(min: f64, max: f64) -> Vec<(f64, String)> {
    const TARGET: i64 = 5;
    let span = max - min;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let exponent = (span / (TARGET - 1) as f64).log10().floor() as i32;
    let mut best: Option<(i64, f64, i32, f64, i64, i64)> = None;
    for e in exponent - 1..=exponent + 1 {
        for mantissa in [1.0, 2.0, 2.5, 5.0] {
            let step = mantissa * 10_f64.powi(e);
            // A little slack so that e.g. 0.3 / 0.1 still counts 0.3 as a tick.
            let first = (min / step - 1e-9).ceil() as i64;
            let last = (max / step + 1e-9).floor() as i64;
            let miss = (last.saturating_sub(first).saturating_add(1) - TARGET).abs();
            if best.is_none_or(|b| miss <= b.0) {
                best = Some((miss, step, e, mantissa, first, last));
            }
        }
    }
    let Some((_, step, e, mantissa, first, last)) = best else {
        return Vec::new();
    };
    let values: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
    let fraction_digits = if mantissa == 2.5 { 1 } else { 0 };
    let largest = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let scientific = e < -6 || largest >= 1e7;
    values
        .into_iter()
        .map(|v| {
            let text = if scientific {
                let magnitude = if largest > 0.0 {
                    largest.log10().floor() as i32
                } else {
                    e
                };
                let digits = (magnitude - e + fraction_digits).max(0) as usize;
                format!("{v:.digits$e}")
            } else {
                let decimals = (fraction_digits - e).max(0) as usize;
                format!("{v:.decimals$}")
            };
            // Typographic minus; "-0.00" and the like read as zero.
            let text = match text.strip_prefix('-') {
                Some(rest) if v != 0.0 => format!("\u{2212}{rest}"),
                Some(rest) => rest.to_owned(),
                None => text,
            };
            (v, text)
        })
        .collect()
}

/// Width of the widest of `texts` (0 for none).
fn max_width<'t>(
    texts: impl IntoIterator<Item = &'t str>,
    size: u32,
    bold: bool,
) -> Result<u32, VizError> {
    texts.into_iter().try_fold(0, |widest, text| {
        Ok(widest.max(text_width(text, f64::from(size), bold)?))
    })
}

fn rect(x: u32, y: u32, width: u32, height: u32, color: [u8; 3]) -> Item {
    Item::Rect {
        x,
        y,
        width,
        height,
        color,
    }
}

fn label(text: &str, x: u32, top: u32, anchor: Anchor, size: u32, bold: bool) -> Label {
    Label {
        text: text.to_owned(),
        x: x as i32,
        top: top as i32,
        anchor,
        size: f64::from(size),
        bold,
        vertical: false,
    }
}

/// Where everything goes; all values in pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChartLayout {
    pub width: u32,
    pub height: u32,
    /// Panels per grid row actually used.
    pub columns: usize,
    pub grid_x: u32,
    pub grid_y: u32,
    pub panel_width: u32,
    pub panel_height: u32,
    /// Offset of the plot area (inside the frame) from the panel's corner.
    pub plot_dx: u32,
    pub plot_dy: u32,
    pub plot_width: u32,
    pub plot_height: u32,
    /// `[x, y, width, height]` of the legend, absent when no chart has a series.
    pub legend_box: Option<[u32; 4]>,
    pub legend: Vec<String>,
    /// Per chart: tick values and their labels.
    pub ticks: Vec<Vec<(f64, String)>>,
}

impl ChartLayout {
    /// Top-left corner of panel `index`.
    pub fn panel_origin(&self, index: usize) -> (u32, u32) {
        let (column, row) = ((index % self.columns) as u32, (index / self.columns) as u32);
        (
            self.grid_x + column * (self.panel_width + PANEL_GAP_X),
            self.grid_y + row * (self.panel_height + PANEL_GAP_Y),
        )
    }

    /// Top-left corner of the plot area (inside the frame) of panel `index`.
    pub fn plot_origin(&self, index: usize) -> (u32, u32) {
        let (x, y) = self.panel_origin(index);
        (x + self.plot_dx, y + self.plot_dy)
    }
}
