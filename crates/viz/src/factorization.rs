//! Deep Feature Factorisation's picture (pytorch-grad-cam's `show_factorization_on_image`): each
//! pixel in the colour of the concept strongest there, as bright as that concept's map, over the
//! image; a legend names each concept.

use image::RgbImage;

use crate::VizError;
use crate::colormap::clamp_unit;
use crate::map::MapRef;
use crate::render::{self, check_alpha};
use crate::scene::{Item, Scene};
use crate::text::{self, Anchor, Label};

/// matplotlib's `gist_rainbow` as its segments define it: `(position, [r, g, b])`.
const GIST_RAINBOW: [(f32, [f32; 3]); 8] = [
    (0.000, [1.00, 0.00, 0.16]),
    (0.030, [1.00, 0.00, 0.00]),
    (0.215, [1.00, 1.00, 0.00]),
    (0.400, [0.00, 1.00, 0.00]),
    (0.586, [0.00, 1.00, 1.00]),
    (0.770, [0.00, 0.00, 1.00]),
    (0.954, [1.00, 0.00, 1.00]),
    (1.000, [1.00, 0.00, 0.75]),
];

/// The colours of `k` concepts, as pytorch-grad-cam picks them: `gist_rainbow` at `i / k` (read
/// from matplotlib's 256-entry table).
///
/// ```
/// let colors = gradcam_viz::concept_colors(4);
/// assert_eq!(colors.len(), 4);
/// assert_eq!(colors[0], [255, 0, 40]);
/// ```
pub fn concept_colors(k: usize) -> Vec<[u8; 3]> {
    (0..k)
        .map(|i| {
            // matplotlib's lookup: entry ⌊x · 256⌋ of 256 evenly spaced samples.
            let entry = ((i as f32 / k as f32) * 256.0).floor().min(255.0);
            let x = entry / 255.0;
            let upper = GIST_RAINBOW
                .iter()
                .position(|&(p, _)| p >= x)
                .unwrap_or(GIST_RAINBOW.len() - 1)
                .max(1);
            let ((p0, c0), (p1, c1)) = (GIST_RAINBOW[upper - 1], GIST_RAINBOW[upper]);
            let t = if p1 > p0 { (x - p0) / (p1 - p0) } else { 0.0 };
            // Truncated to 8 bits, as the peer's `np.uint8(color * 255)`.
            std::array::from_fn(|c| ((c0[c] + t * (c1[c] - c0[c])) * 255.0) as u8)
        })
        .collect()
}

/// `concepts` (one map per concept, in `[0, 1]`, each the image's size) over `image` (grey or
/// RGB, in `[0, 1]`), as pytorch-grad-cam's `show_factorization_on_image`: each pixel takes the
/// colour of the concept whose map is largest there (`colors[i]`), scaled so that its brightest
/// channel is that map's value; the picture is `image_weight · image + (1 − image_weight) ·
/// colours`, magnified `scale` times.
///
/// # Errors
///
/// [`VizError::SizeMismatch`] if a concept map's size differs from the image's,
/// [`VizError::InvalidAlpha`] unless `0 <= image_weight <= 1`, [`VizError::EmptyMap`] without
/// concepts or with fewer colours than concepts, and [`crate::heatmap`]'s errors.
///
/// ```
/// use gradcam_viz::{concept_colors, factorization_overlay, MapRef};
///
/// let image = MapRef::new(&[0.0; 2], 2, 1)?;
/// let first = MapRef::new(&[1.0, 0.0], 2, 1)?;
/// let second = MapRef::new(&[0.0, 0.5], 2, 1)?;
/// let picture = factorization_overlay(image, &[first, second], &concept_colors(2), 0.0, 1)?;
/// assert_eq!(picture.get_pixel(0, 0).0, [255, 0, 40]); // the first concept, full strength
/// assert_eq!(picture.get_pixel(1, 0).0, [0, 128, 70]); // the second, at half
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
pub fn factorization_overlay(
    image: MapRef<'_>,
    concepts: &[MapRef<'_>],
    colors: &[[u8; 3]],
    image_weight: f32,
    scale: u32,
) -> Result<RgbImage, VizError> {
    check_alpha(image_weight)?;
    if concepts.is_empty() || colors.len() < concepts.len() {
        return Err(VizError::EmptyMap {
            width: image.width(),
            height: image.height(),
        });
    }
    for concept in concepts {
        image.check_same_size(concept, "concept map")?;
    }
    let values = image.values();
    let pixels: Vec<[f32; 3]> = (0..image.width() * image.height())
        .map(|i| {
            let (strongest, value) = concepts
                .iter()
                .enumerate()
                .map(|(c, map)| (c, map.values()[i]))
                .fold((0, f32::NEG_INFINITY), |best, next| {
                    if next.1 > best.1 { next } else { best }
                });
            let color = colors[strongest];
            let brightest = f32::from(color.into_iter().max().unwrap_or(0)).max(1.0);
            let under = render::pixel(&image, values, i);
            std::array::from_fn(|c| {
                let mask = f32::from(color[c]) / brightest * clamp_unit(value);
                image_weight * clamp_unit(under[c]) + (1.0 - image_weight) * mask
            })
        })
        .collect();
    render::paint(&image, scale, "factorization", |i| {
        pixels[i].map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
    })
}

/// Deep Feature Factorisation's figure: one picture per image ([`factorization_overlay`]) with
/// its caption, and a legend giving each concept's colour and label (its top classes, say).
///
/// ```
/// use gradcam_viz::{FactorizationFigure, MapRef};
///
/// let image = [0.5; 16];
/// let a = [1.0; 16];
/// let b = [0.0; 16];
/// let concepts = [MapRef::new(&a, 4, 4)?, MapRef::new(&b, 4, 4)?];
/// let figure = FactorizationFigure::new("Concepts", vec!["cat 0.9".into(), "dog 0.8".into()])
///     .image(MapRef::new(&image, 4, 4)?, concepts.to_vec(), "image 0");
/// assert!(!figure.render_png()?.is_empty());
/// assert!(figure.render_svg()?.contains("dog 0.8"));
/// # Ok::<(), gradcam_viz::VizError>(())
/// ```
#[derive(Clone, Debug)]
pub struct FactorizationFigure<'a> {
    title: String,
    legend: Vec<String>,
    images: Vec<(MapRef<'a>, Vec<MapRef<'a>>, String)>,
    image_weight: f32,
    scale: u32,
}

const MARGIN: u32 = 16;
const TITLE_SIZE: u32 = 20;
const CAPTION_SIZE: u32 = 13;
const LEGEND_SIZE: u32 = 13;
const GAP: u32 = 10;
const SWATCH: u32 = 14;

impl<'a> FactorizationFigure<'a> {
    /// A figure titled `title` whose concepts are named by `legend` (one label per concept:
    /// their number is the figure's).
    pub fn new(title: impl Into<String>, legend: Vec<String>) -> Self {
        Self {
            title: title.into(),
            legend,
            images: Vec::new(),
            image_weight: 0.5,
            scale: 1,
        }
    }

    /// Adds an image, its concept maps (one per legend entry) and its caption.
    pub fn image(
        mut self,
        image: MapRef<'a>,
        concepts: Vec<MapRef<'a>>,
        caption: impl Into<String>,
    ) -> Self {
        self.images.push((image, concepts, caption.into()));
        self
    }

    /// The image's weight in each picture (pytorch-grad-cam's `image_weight`; 0.5 by default).
    pub fn image_weight(mut self, weight: f32) -> Self {
        self.image_weight = weight;
        self
    }

    /// Magnification of every picture (1 by default).
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = scale;
        self
    }

    /// Renders the figure to an RGB image.
    ///
    /// # Errors
    ///
    /// [`VizError::NoColumns`] without images, [`VizError::EmptyMap`] if an image has other
    /// than one map per legend entry, [`factorization_overlay`]'s errors, and
    /// [`VizError::Draw`] if text cannot be drawn.
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

    /// Renders the figure as an SVG document (each picture embedded as a PNG image).
    ///
    /// # Errors
    ///
    /// As [`render_png`](Self::render_png).
    pub fn render_svg(&self) -> Result<String, VizError> {
        self.scene()?.to_svg()
    }

    fn scene(&self) -> Result<Scene, VizError> {
        if self.images.is_empty() {
            return Err(VizError::NoColumns);
        }
        let colors = concept_colors(self.legend.len());
        let mut pictures = Vec::with_capacity(self.images.len());
        for (image, concepts, _) in &self.images {
            if concepts.len() != self.legend.len() {
                return Err(VizError::EmptyMap {
                    width: image.width(),
                    height: image.height(),
                });
            }
            pictures.push(factorization_overlay(
                *image,
                concepts,
                &colors,
                self.image_weight,
                self.scale,
            )?);
        }
        let cell = pictures.iter().map(|p| p.width()).max().unwrap_or(0);
        let cell_height = pictures.iter().map(|p| p.height()).max().unwrap_or(0);
        let line = |size: u32| (f64::from(size) * text::EM_PER_LINE).ceil() as u32;
        let legend_widths: Vec<u32> = self
            .legend
            .iter()
            .map(|label| text::text_width(label, f64::from(LEGEND_SIZE), false))
            .collect::<Result<_, _>>()?;
        let legend_width = SWATCH + 6 + legend_widths.iter().copied().max().unwrap_or(0);
        let title_width = text::text_width(&self.title, f64::from(TITLE_SIZE), true)?;
        let pictures_width = pictures.len() as u32 * (cell + GAP) - GAP;
        let width = 2 * MARGIN + pictures_width.max(legend_width).max(title_width);
        let caption_y = MARGIN + line(TITLE_SIZE) + GAP;
        let picture_y = caption_y + line(CAPTION_SIZE) + 4;
        let legend_y = picture_y + cell_height + 2 * GAP;
        let legend_line = line(LEGEND_SIZE).max(SWATCH) + 4;
        let height = legend_y + self.legend.len() as u32 * legend_line + MARGIN;
        render::check_side("factorization figure", u64::from(width), u64::from(height))?;

        let label = |text: String, x: u32, top: u32, anchor, size: u32, bold| Label {
            text,
            x: x as i32,
            top: top as i32,
            anchor,
            size: f64::from(size),
            bold,
            vertical: false,
        };
        let mut labels = vec![label(
            self.title.clone(),
            width / 2,
            MARGIN,
            Anchor::Middle,
            TITLE_SIZE,
            true,
        )];
        let mut items = Vec::new();
        for (i, (picture, (_, _, caption))) in pictures.into_iter().zip(&self.images).enumerate() {
            let x = MARGIN + i as u32 * (cell + GAP);
            labels.push(label(
                caption.clone(),
                x + cell / 2,
                caption_y,
                Anchor::Middle,
                CAPTION_SIZE,
                false,
            ));
            items.push(Item::Image {
                x,
                y: picture_y,
                image: picture,
            });
        }
        for (c, (name, color)) in self.legend.iter().zip(colors).enumerate() {
            let top = legend_y + c as u32 * legend_line;
            items.push(Item::Rect {
                x: MARGIN,
                y: top + (line(LEGEND_SIZE).saturating_sub(SWATCH)) / 2,
                width: SWATCH,
                height: SWATCH,
                color,
            });
            labels.push(label(
                name.clone(),
                MARGIN + SWATCH + 6,
                top,
                Anchor::Start,
                LEGEND_SIZE,
                false,
            ));
        }
        Ok(Scene {
            width,
            height,
            items,
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// matplotlib's `gist_rainbow` at `np.arange(0, 1, 1 / k)`, as `np.uint8(color * 255)`.
    #[test]
    fn concept_colors_are_matplotlibs() {
        assert_eq!(
            concept_colors(5),
            [
                [255, 0, 40],
                [255, 234, 0],
                [0, 255, 0],
                [0, 235, 255],
                [41, 0, 255]
            ]
        );
        let sixteen = concept_colors(16);
        assert_eq!(sixteen[1], [255, 45, 0]);
        assert_eq!(sixteen[8], [0, 255, 139]);
        assert_eq!(sixteen[13], [63, 0, 255]);
        assert_eq!(sixteen[15], [237, 0, 255]);
    }

    /// A concept map of another size is a typed error; so is a figure with no image.
    #[test]
    fn bad_input_is_a_typed_error() {
        let image = [0.0; 4];
        let small = [1.0; 2];
        let image = MapRef::new(&image, 2, 2).unwrap();
        let small = MapRef::new(&small, 2, 1).unwrap();
        let error = factorization_overlay(image, &[small], &concept_colors(1), 0.5, 1);
        assert!(
            matches!(error, Err(VizError::SizeMismatch { .. })),
            "{error:?}"
        );
        let empty = FactorizationFigure::new("none", vec!["a".into()]);
        assert!(matches!(empty.render_png(), Err(VizError::NoColumns)));
    }
}
