//! The comparison figure: one column per image, one row per map kind.

use std::fmt::Display;

use image::RgbImage;

use crate::render::{self, check_alpha, check_side, gradient_bar, scaled_size};
use crate::scene::{Item, Scene};
use crate::text::{Anchor, Label, text_width};
use crate::{Colormap, MapRef, SignedStyle, VizError};

/// Most columns a [`Figure`] accepts.
pub const MAX_COLUMNS: usize = 64;

// Layout, in pixels. Text sizes are line heights (see the `text` module).
pub(crate) const MARGIN: u32 = 16;
pub(crate) const TITLE_SIZE: u32 = 28;
pub(crate) const TITLE_GAP: u32 = 12;
pub(crate) const CAPTION_SIZE: u32 = 16;
pub(crate) const CAPTION_PAD: u32 = 8;
pub(crate) const CAPTION_GAP: u32 = 6;
pub(crate) const ROW_LABEL_SIZE: u32 = 20;
pub(crate) const ROW_LABEL_MIN_WIDTH: u32 = 160;
pub(crate) const ROW_LABEL_GAP: u32 = 12;
pub(crate) const ROW_MIN_HEIGHT: u32 = 40;
pub(crate) const CELL_GAP: u32 = 12;
pub(crate) const BAR_GAP: u32 = 12;
pub(crate) const BAR_WIDTH: u32 = 14;
pub(crate) const BAR_LABEL_GAP: u32 = 5;
pub(crate) const BAR_LABEL_SIZE: u32 = 15;
pub(crate) const BAR_LABEL_WIDTH: u32 = 44;
const FRAME: [u8; 3] = [190, 190, 190];

/// One figure column: the four maps of one input image and its caption.
///
/// All four maps have the raw image's size. Values are expected as follows:
/// the raw image and the Grad-CAM map in `[0, 1]` (clamped), the two guided
/// maps signed and unnormalised (the figure's [`SignedStyle`] normalises them).
#[derive(Debug, Clone, PartialEq)]
pub struct Column<'a> {
    raw: MapRef<'a>,
    grad_cam: MapRef<'a>,
    guided_backprop: MapRef<'a>,
    guided_grad_cam: MapRef<'a>,
    prediction: Option<(String, f32)>,
    target: Option<String>,
    truth: Option<String>,
}

impl<'a> Column<'a> {
    /// Groups the four maps of one image.
    ///
    /// # Errors
    ///
    /// [`VizError::SizeMismatch`] naming the first map whose size differs
    /// from `raw`.
    pub fn new(
        raw: MapRef<'a>,
        grad_cam: MapRef<'a>,
        guided_backprop: MapRef<'a>,
        guided_grad_cam: MapRef<'a>,
    ) -> Result<Self, VizError> {
        raw.check_same_size(&grad_cam, "Grad-CAM map")?;
        raw.check_same_size(&guided_backprop, "guided backprop map")?;
        raw.check_same_size(&guided_grad_cam, "guided Grad-CAM map")?;
        Ok(Self {
            raw,
            grad_cam,
            guided_backprop,
            guided_grad_cam,
            prediction: None,
            target: None,
            truth: None,
        })
    }

    /// Sets the predicted class and its probability (checked to be in
    /// `[0, 1]` when the figure is rendered).
    pub fn prediction(mut self, class: impl Display, probability: f32) -> Self {
        self.prediction = Some((class.to_string(), probability));
        self
    }

    /// Sets the class the maps explain, when it is not the predicted one (an explicit target).
    pub fn target(mut self, class: impl Display) -> Self {
        self.target = Some(class.to_string());
        self
    }

    /// Sets the true label, when known.
    pub fn truth(mut self, label: impl Display) -> Self {
        self.truth = Some(label.to_string());
        self
    }

    /// The caption drawn above the column, e.g. `pred 7 (0.998) | true 7`, or with the class
    /// the maps explain when it was set, `pred 7 (0.998) | maps of 3 | true 7`; empty when
    /// nothing is set.
    ///
    /// ```
    /// use gradcam_viz::{Column, MapRef};
    ///
    /// let map = MapRef::new(&[0.0; 4], 2, 2)?;
    /// let column = Column::new(map, map, map, map)?.prediction(7, 0.99812).truth(7);
    /// assert_eq!(column.caption(), "pred 7 (0.998) | true 7");
    /// assert_eq!(column.target(3).caption(), "pred 7 (0.998) | maps of 3 | true 7");
    /// # Ok::<(), gradcam_viz::VizError>(())
    /// ```
    pub fn caption(&self) -> String {
        let pred = self
            .prediction
            .as_ref()
            .map(|(class, p)| format!("pred {class} ({p:.3})"));
        let target = self.target.as_ref().map(|t| format!("maps of {t}"));
        let truth = self.truth.as_ref().map(|t| format!("true {t}"));
        [pred, target, truth]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" | ")
    }

    fn maps(&self) -> [MapRef<'a>; 4] {
        [
            self.raw,
            self.grad_cam,
            self.guided_backprop,
            self.guided_grad_cam,
        ]
    }
}

/// A landscape figure comparing the maps of several images.
///
/// Rows are, top to bottom: the raw image (grey), Grad-CAM (colormap, by
/// default blended over the digit), guided backprop and guided Grad-CAM
/// (both in the figure's [`SignedStyle`]). Each column is one image, captioned
/// with its prediction. The three coloured rows get a colour bar on the right.
///
/// ```
/// use gradcam_viz::{Column, Figure, MapRef};
///
/// let digit: Vec<f32> = (0..28 * 28).map(|i| ((i % 28) as f32 / 27.0)).collect();
/// let cam: Vec<f32> = digit.iter().map(|v| 1.0 - v).collect();
/// let gb: Vec<f32> = digit.iter().map(|v| v - 0.5).collect();
/// let (raw, heat, guided) = (
///     MapRef::new(&digit, 28, 28)?,
///     MapRef::new(&cam, 28, 28)?,
///     MapRef::new(&gb, 28, 28)?,
/// );
/// let figure = Figure::new("demo")
///     .column(Column::new(raw, heat, guided, guided)?.prediction(7, 0.998).truth(7));
/// let png: Vec<u8> = figure.render_png()?;
/// assert_eq!(&png[..4], b"\x89PNG");
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Figure<'a> {
    title: String,
    row_titles: [String; 4],
    columns: Vec<Column<'a>>,
    colormap: Colormap,
    overlay_alpha: Option<f32>,
    signed_style: SignedStyle,
    scale: u32,
}

impl<'a> Figure<'a> {
    /// Row titles used unless [`row_titles`](Self::row_titles) overrides them.
    pub const DEFAULT_ROW_TITLES: [&'static str; 4] = [
        "Raw image",
        "Grad-CAM",
        "Guided Backprop",
        "Guided Grad-CAM",
    ];

    /// Default magnification: a 28x28 map becomes 168x168 pixels.
    pub const DEFAULT_SCALE: u32 = 6;

    /// Default weight of the heat map over the digit, as pytorch-grad-cam's
    /// `show_cam_on_image`.
    pub const DEFAULT_OVERLAY_ALPHA: f32 = 0.5;

    /// An empty figure with `title`, the default row titles, the
    /// [`Jet`](Colormap::Jet) colormap overlaid with alpha
    /// [`DEFAULT_OVERLAY_ALPHA`](Self::DEFAULT_OVERLAY_ALPHA), the
    /// [`Diverging`](SignedStyle::Diverging) style and
    /// [`DEFAULT_SCALE`](Self::DEFAULT_SCALE).
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            row_titles: Self::DEFAULT_ROW_TITLES.map(String::from),
            columns: Vec::new(),
            colormap: Colormap::default(),
            overlay_alpha: Some(Self::DEFAULT_OVERLAY_ALPHA),
            signed_style: SignedStyle::default(),
            scale: Self::DEFAULT_SCALE,
        }
    }

    /// Replaces the four row titles (raw, Grad-CAM, guided backprop, guided Grad-CAM).
    pub fn row_titles(mut self, titles: [impl Into<String>; 4]) -> Self {
        self.row_titles = titles.map(Into::into);
        self
    }

    /// Colormap of the Grad-CAM row.
    pub fn colormap(mut self, colormap: Colormap) -> Self {
        self.colormap = colormap;
        self
    }

    /// Blends the Grad-CAM heat map over the raw digit with this weight
    /// (see [`overlay`](crate::overlay)); `None` draws the plain heat map.
    pub fn overlay_alpha(mut self, alpha: Option<f32>) -> Self {
        self.overlay_alpha = alpha;
        self
    }

    /// Style of the guided backprop and guided Grad-CAM rows.
    pub fn signed_style(mut self, style: SignedStyle) -> Self {
        self.signed_style = style;
        self
    }

    /// Nearest-neighbour magnification of every map (at least 1).
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = scale;
        self
    }

    /// Appends a column.
    pub fn column(mut self, column: Column<'a>) -> Self {
        self.columns.push(column);
        self
    }

    /// Appends several columns.
    pub fn columns(mut self, columns: impl IntoIterator<Item = Column<'a>>) -> Self {
        self.columns.extend(columns);
        self
    }

    /// Appends a column in place, for building a figure in a loop.
    pub fn push_column(&mut self, column: Column<'a>) -> &mut Self {
        self.columns.push(column);
        self
    }

    /// Number of columns so far.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether no column has been added yet.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
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
    /// [`VizError::NoColumns`], [`VizError::TooManyColumns`] (more than
    /// [`MAX_COLUMNS`]), [`VizError::InvalidScale`],
    /// [`VizError::InvalidAlpha`], [`VizError::InvalidPercentile`],
    /// [`VizError::InvalidProbability`] naming the column,
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

    /// Renders the figure as an SVG document: the same layout, with each map
    /// embedded as a PNG image and the text as SVG text (DejaVu Sans, or the
    /// viewer's sans-serif font where DejaVu is not installed).
    ///
    /// # Errors
    ///
    /// As [`render_png`](Self::render_png).
    pub fn render_svg(&self) -> Result<String, VizError> {
        self.scene()?.to_svg()
    }

    fn validate(&self) -> Result<(), VizError> {
        match self.columns.len() {
            0 => return Err(VizError::NoColumns),
            count if count > MAX_COLUMNS => {
                return Err(VizError::TooManyColumns {
                    count,
                    max: MAX_COLUMNS,
                });
            }
            _ => {}
        }
        if self.scale == 0 {
            return Err(VizError::InvalidScale { scale: self.scale });
        }
        if let Some(alpha) = self.overlay_alpha {
            check_alpha(alpha)?;
        }
        self.signed_style.validate()?;
        for (column, c) in self.columns.iter().enumerate() {
            if let Some((_, value)) = c.prediction
                && !(0.0..=1.0).contains(&value)
            {
                return Err(VizError::InvalidProbability { column, value });
            }
        }
        Ok(())
    }

    pub(crate) fn layout(&self) -> Result<Layout, VizError> {
        self.validate()?;
        let mut cells = Vec::with_capacity(self.columns.len());
        let mut widths = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let cell = scaled_size(&column.raw, self.scale, "figure cell")?;
            let caption = text_width(&column.caption(), f64::from(CAPTION_SIZE), false)?;
            let padded = if caption == 0 {
                0
            } else {
                caption.saturating_add(CAPTION_PAD)
            };
            widths.push(cell.0.max(padded));
            cells.push(cell);
        }
        let row_height = cells
            .iter()
            .map(|c| c.1)
            .max()
            .unwrap_or(0)
            .max(ROW_MIN_HEIGHT);
        let mut label_width = ROW_LABEL_MIN_WIDTH;
        for title in &self.row_titles {
            label_width = label_width.max(text_width(title, f64::from(ROW_LABEL_SIZE), false)?);
        }
        let title_width = text_width(&self.title, f64::from(TITLE_SIZE), true)?;

        // u64 throughout: 64 columns of near-limit cells must not wrap.
        let label_right = u64::from(MARGIN) + u64::from(label_width);
        let first_column_x = label_right + u64::from(ROW_LABEL_GAP);
        let mut column_x = Vec::with_capacity(widths.len());
        let mut x = first_column_x;
        for &w in &widths {
            column_x.push(x);
            x += u64::from(w) + u64::from(CELL_GAP);
        }
        let bar_x = x - u64::from(CELL_GAP) + u64::from(BAR_GAP);
        let content_width = bar_x + u64::from(BAR_WIDTH + BAR_LABEL_GAP + BAR_LABEL_WIDTH + MARGIN);
        let width = content_width.max(u64::from(title_width) + 2 * u64::from(MARGIN));
        let first_row_y = MARGIN + TITLE_SIZE + TITLE_GAP + CAPTION_SIZE + CAPTION_GAP;
        let row_y: [u64; 4] = std::array::from_fn(|r| {
            u64::from(first_row_y) + r as u64 * (u64::from(row_height) + u64::from(CELL_GAP))
        });
        let height = row_y[3] + u64::from(row_height) + u64::from(MARGIN);
        check_side("figure", width, height)?;

        // Every coordinate below is within the checked width and height.
        let narrow = |v: u64| v as u32;
        Ok(Layout {
            width: narrow(width),
            height: narrow(height),
            label_right: narrow(label_right),
            caption_y: MARGIN + TITLE_SIZE + TITLE_GAP,
            column_x: column_x.into_iter().map(narrow).collect(),
            column_width: widths,
            cells,
            row_y: row_y.map(narrow),
            row_height,
            bar_x: narrow(bar_x),
        })
    }

    fn scene(&self) -> Result<Scene, VizError> {
        let layout = self.layout()?;
        let mut items = Vec::new();
        let mut labels = Vec::new();
        let label = |text: String, x: u32, top: u32, anchor, size: u32, bold| Label {
            text,
            x: x as i32,
            top: top as i32,
            anchor,
            size: f64::from(size),
            bold,
            vertical: false,
        };

        labels.push(label(
            self.title.clone(),
            layout.width / 2,
            MARGIN,
            Anchor::Middle,
            TITLE_SIZE,
            true,
        ));
        for (r, title) in self.row_titles.iter().enumerate() {
            let top = layout.row_y[r] + layout.row_height.saturating_sub(ROW_LABEL_SIZE) / 2;
            labels.push(label(
                title.clone(),
                layout.label_right,
                top,
                Anchor::End,
                ROW_LABEL_SIZE,
                false,
            ));
        }

        for (c, column) in self.columns.iter().enumerate() {
            let (x0, w) = (layout.column_x[c], layout.column_width[c]);
            labels.push(label(
                column.caption(),
                x0 + w / 2,
                layout.caption_y,
                Anchor::Middle,
                CAPTION_SIZE,
                false,
            ));
            for (r, image) in self.column_images(column)?.into_iter().enumerate() {
                let (cell_w, cell_h) = layout.cells[c];
                let x = x0 + (w - cell_w) / 2;
                let y = layout.row_y[r] + (layout.row_height - cell_h) / 2;
                // One-pixel frame: white diverging maps would otherwise vanish into the page.
                items.push(Item::Rect {
                    x: x - 1,
                    y: y - 1,
                    width: cell_w + 2,
                    height: cell_h + 2,
                    color: FRAME,
                });
                items.push(Item::Image { x, y, image });
            }
        }

        let signed_labels: [&str; 3] = match self.signed_style {
            SignedStyle::Diverging => ["+max", "0", "\u{2212}max"],
            SignedStyle::AbsPercentile { .. } => ["max", "", "0"],
            SignedStyle::Positive => ["max", "", "min"],
            SignedStyle::Deprocess => ["+5σ", "mean", "\u{2212}5σ"],
        };
        let (lo, hi) = self.signed_style.range();
        let style = self.signed_style;
        let bars = [
            (
                1,
                colorbar_image(layout.row_height, 0.0, 1.0, |t| self.colormap.rgb(t))?,
                ["1", "", "0"],
            ),
            (
                2,
                colorbar_image(layout.row_height, lo, hi, |v| style.color(v))?,
                signed_labels,
            ),
            (
                3,
                colorbar_image(layout.row_height, lo, hi, |v| style.color(v))?,
                signed_labels,
            ),
        ];
        let label_x = layout.bar_x + BAR_WIDTH + BAR_LABEL_GAP;
        for (r, image, [top, middle, bottom]) in bars {
            let y = layout.row_y[r];
            items.push(Item::Rect {
                x: layout.bar_x - 1,
                y: y - 1,
                width: BAR_WIDTH + 2,
                height: layout.row_height + 2,
                color: FRAME,
            });
            items.push(Item::Image {
                x: layout.bar_x,
                y,
                image,
            });
            let h = layout.row_height;
            let tick = |text: &str, top| {
                label(
                    text.to_owned(),
                    label_x,
                    top,
                    Anchor::Start,
                    BAR_LABEL_SIZE,
                    false,
                )
            };
            labels.push(tick(top, y));
            labels.push(tick(middle, y + h.saturating_sub(BAR_LABEL_SIZE) / 2));
            labels.push(tick(bottom, y + h.saturating_sub(BAR_LABEL_SIZE)));
        }

        Ok(Scene {
            width: layout.width,
            height: layout.height,
            items,
            labels,
        })
    }

    fn column_images(&self, column: &Column<'_>) -> Result<[RgbImage; 4], VizError> {
        let [raw, cam, gb, ggc] = column.maps();
        let heat = match self.overlay_alpha {
            Some(alpha) => render::overlay(raw, cam, self.colormap, alpha, self.scale)?,
            None => render::heatmap(cam, self.colormap, self.scale)?,
        };
        Ok([
            render::grayscale(raw, self.scale)?,
            heat,
            render::signed(gb, self.signed_style, self.scale)?,
            render::signed(ggc, self.signed_style, self.scale)?,
        ])
    }
}

fn colorbar_image(
    height: u32,
    lo: f32,
    hi: f32,
    color: impl Fn(f32) -> [u8; 3],
) -> Result<RgbImage, VizError> {
    gradient_bar(BAR_WIDTH, height, lo, hi, color)
}

/// Where everything goes; all values in pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub width: u32,
    pub height: u32,
    /// Right edge of the row titles.
    pub label_right: u32,
    pub caption_y: u32,
    pub column_x: Vec<u32>,
    pub column_width: Vec<u32>,
    /// Magnified map size per column.
    pub cells: Vec<(u32, u32)>,
    pub row_y: [u32; 4],
    pub row_height: u32,
    pub bar_x: u32,
}

impl Layout {
    /// Top-left corner of the map in row `row`, column `column`.
    #[cfg(test)]
    pub fn cell_origin(&self, row: usize, column: usize) -> (u32, u32) {
        let (w, h) = self.cells[column];
        (
            self.column_x[column] + (self.column_width[column] - w) / 2,
            self.row_y[row] + (self.row_height - h) / 2,
        )
    }
}
