//! The crate's error type.

/// Everything that can go wrong while checking, drawing or encoding a map.
///
/// Every variant names the offending quantity, so a caller can print the
/// error as-is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VizError {
    /// A map was given a zero width or height.
    #[error("map size {width}x{height} has a zero dimension")]
    EmptyMap {
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },

    /// `width * height` does not fit in memory indices.
    #[error("map size {width}x{height} overflows the address space")]
    MapTooLarge {
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },

    /// The value slice does not hold exactly `width * height` values.
    #[error("a {width}x{height} map needs {expected} values, got {actual}")]
    LengthMismatch {
        /// Map width.
        width: usize,
        /// Map height.
        height: usize,
        /// `width * height`.
        expected: usize,
        /// Length of the slice that was given.
        actual: usize,
    },

    /// A map value is NaN or infinite.
    #[error("map value at (x={x}, y={y}) is not finite: {value}")]
    NonFinite {
        /// Column of the value.
        x: usize,
        /// Row of the value.
        y: usize,
        /// The value itself.
        value: f32,
    },

    /// Two maps that must be drawn on top of each other (or in one figure
    /// column) differ in size.
    #[error(
        "{what} is {actual_width}x{actual_height}, expected {expected_width}x{expected_height}"
    )]
    SizeMismatch {
        /// Which map is wrong, e.g. `"heat map"` or `"guided backprop map"`.
        what: &'static str,
        /// Width it should have.
        expected_width: usize,
        /// Height it should have.
        expected_height: usize,
        /// Width it has.
        actual_width: usize,
        /// Height it has.
        actual_height: usize,
    },

    /// The magnification factor is zero.
    #[error("scale must be at least 1, got {scale}")]
    InvalidScale {
        /// The scale that was given.
        scale: u32,
    },

    /// A blending weight is NaN or outside `[0, 1]`.
    #[error("alpha must be a finite value in [0, 1], got {alpha}")]
    InvalidAlpha {
        /// The alpha that was given.
        alpha: f32,
    },

    /// A clipping percentile is NaN or outside `[0, 100]`.
    #[error("percentile must be a finite value in [0, 100], got {percentile}")]
    InvalidPercentile {
        /// The percentile that was given.
        percentile: f32,
    },

    /// A class probability is NaN or outside `[0, 1]`.
    #[error("probability of column {column} must be a finite value in [0, 1], got {value}")]
    InvalidProbability {
        /// Zero-based figure column.
        column: usize,
        /// The probability that was given.
        value: f32,
    },

    /// An output image would have a zero side (e.g. a colour bar of width 0).
    #[error("{what} size {width}x{height} has a zero dimension")]
    EmptyImage {
        /// Which image, e.g. `"colour bar"`.
        what: &'static str,
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },

    /// An output image would exceed [`MAX_IMAGE_SIDE`](crate::MAX_IMAGE_SIDE)
    /// pixels on a side.
    #[error("{what} would be {width}x{height} pixels; each side is limited to {max_side}")]
    ImageTooLarge {
        /// Which image, e.g. `"figure"`.
        what: &'static str,
        /// Width it would have.
        width: u64,
        /// Height it would have.
        height: u64,
        /// The limit per side.
        max_side: u32,
    },

    /// A figure has no columns to draw.
    #[error("figure has no columns")]
    NoColumns,

    /// A figure has more columns than [`MAX_COLUMNS`](crate::MAX_COLUMNS).
    #[error("figure has {count} columns; at most {max} are allowed")]
    TooManyColumns {
        /// Number of columns given.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A chart figure has no charts to draw.
    #[error("chart figure has no charts")]
    NoCharts,

    /// A chart figure was asked to lay its charts out in zero columns.
    #[error("chart figure grid needs at least one column, got 0")]
    ZeroGridColumns,

    /// A chart has no x-axis labels, so it has no positions to plot.
    #[error("chart {chart} has no x labels")]
    NoXLabels {
        /// Zero-based index of the chart in the figure.
        chart: usize,
    },

    /// A chart's y range is not finite or is empty (`min >= max`).
    #[error("chart {chart} has y range [{min}, {max}]; it must be finite with min < max")]
    InvalidYRange {
        /// Zero-based index of the chart in the figure.
        chart: usize,
        /// Lower end that was given.
        min: f32,
        /// Upper end that was given.
        max: f32,
    },

    /// A series does not have one value per x label.
    #[error(
        "chart {chart}: series {series:?} has {actual} values, expected {expected} (one per x label)"
    )]
    SeriesLengthMismatch {
        /// Zero-based index of the chart in the figure.
        chart: usize,
        /// Label of the series.
        series: String,
        /// Number of x labels of the chart.
        expected: usize,
        /// Number of values the series has.
        actual: usize,
    },

    /// Two series of one chart share a label, so the legend could not tell
    /// them apart.
    #[error("chart {chart} has more than one series labelled {series:?}")]
    DuplicateSeries {
        /// Zero-based index of the chart in the figure.
        chart: usize,
        /// The repeated label.
        series: String,
    },

    /// A chart figure has more distinct series labels than
    /// [`MAX_SERIES`](crate::MAX_SERIES), the number of distinct line styles.
    #[error("chart figure has {count} distinct series; at most {max} are allowed")]
    TooManySeries {
        /// Number of distinct series labels over all charts.
        count: usize,
        /// The limit.
        max: usize,
    },

    /// A colormap or signed-style name was not recognised.
    #[error("unknown {what} {name:?}; expected one of: {expected}")]
    UnknownName {
        /// What was being parsed, e.g. `"colormap"`.
        what: &'static str,
        /// The name that was given.
        name: String,
        /// The accepted names, comma separated.
        expected: &'static str,
    },

    /// Drawing text failed (e.g. the embedded font could not be loaded).
    #[error("drawing text failed: {0}")]
    Draw(String),

    /// PNG encoding failed.
    #[error("PNG encoding failed")]
    Encode(#[source] image::ImageError),
}
