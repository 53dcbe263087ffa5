//! Text in DejaVu Sans, embedded in the binary and rasterised with ab_glyph,
//! so drawing needs no system fonts.
//!
//! Sizes are ab_glyph pixel scales: the ascent-to-descent height of a line in
//! pixels (not the em size). A label of size `s` occupies a box `s` pixels
//! tall whose top is [`Label::top`], with the baseline at `BASELINE * s`.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::RgbImage;

use crate::VizError;

/// DejaVu Sans ascender and descender in font units (2048 per em), from its
/// `hhea` table; a unit test checks them against the embedded font.
const ASCENDER: f64 = 1901.0;
const DESCENDER: f64 = 483.0;
const UNITS_PER_EM: f64 = 2048.0;

/// Baseline position within a line box, as a fraction of its height.
pub(crate) const BASELINE: f64 = ASCENDER / (ASCENDER + DESCENDER);

/// CSS `font-size` (em) that gives a line box of height 1.
pub(crate) const EM_PER_LINE: f64 = UNITS_PER_EM / (ASCENDER + DESCENDER);

/// Horizontal alignment of a label relative to its `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// One line of black text to draw.
///
/// A vertical label is laid out as a horizontal one at `(x, top)` and then
/// turned a quarter turn counter-clockwise about that point, so it reads
/// bottom to top: its line box spans `x..x + size` horizontally and the
/// anchor refers to the row `top`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub text: String,
    pub x: i32,
    pub top: i32,
    pub anchor: Anchor,
    pub size: f64,
    pub bold: bool,
    pub vertical: bool,
}

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// Parses the embedded fonts once per process.
fn fonts() -> Result<&'static Fonts, VizError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: FontRef::try_from_slice(dejavu::sans::regular()).ok()?,
                bold: FontRef::try_from_slice(dejavu::sans::bold()).ok()?,
            })
        })
        .as_ref()
        .ok_or_else(|| VizError::Draw("the embedded DejaVu Sans font could not be parsed".into()))
}

fn font(bold: bool) -> Result<&'static FontRef<'static>, VizError> {
    let fonts = fonts()?;
    Ok(if bold { &fonts.bold } else { &fonts.regular })
}

/// Pen positions of each glyph (with kerning) and the total advance.
fn layout<F: Font, S: ScaleFont<F>>(font: &S, text: &str) -> (Vec<(GlyphId, f32)>, f32) {
    let mut caret = 0.0;
    let mut previous: Option<GlyphId> = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            caret += font.kern(p, id);
        }
        glyphs.push((id, caret));
        caret += font.h_advance(id);
        previous = Some(id);
    }
    (glyphs, caret)
}

/// Advance width of `text` in whole pixels (rounded up).
pub(crate) fn text_width(text: &str, size: f64, bold: bool) -> Result<u32, VizError> {
    let scaled = font(bold)?.as_scaled(PxScale::from(size as f32));
    let (_, width) = layout(&scaled, text);
    Ok(width.ceil() as u32)
}

/// Draws `labels` in black onto `image`, clipping at its edges.
pub(crate) fn draw_labels(image: &mut RgbImage, labels: &[Label]) -> Result<(), VizError> {
    let (width, height) = image.dimensions();
    for label in labels {
        let font = font(label.bold)?;
        let scaled = font.as_scaled(PxScale::from(label.size as f32));
        let (glyphs, advance) = layout(&scaled, &label.text);
        let left = label.x as f32
            - match label.anchor {
                Anchor::Start => 0.0,
                Anchor::Middle => (advance / 2.0).round(),
                Anchor::End => advance.round(),
            };
        let baseline = label.top as f32 + scaled.ascent();
        for (id, caret) in glyphs {
            let glyph = id.with_scale_and_position(scaled.scale(), point(left + caret, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // white space has no outline
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let hx = bounds.min.x as i64 + i64::from(gx);
                let hy = bounds.min.y as i64 + i64::from(gy);
                let (x, y) = if label.vertical {
                    // Pixel (hx, hy) of the horizontal layout, turned about (x, top).
                    let (ox, oy) = (i64::from(label.x), i64::from(label.top));
                    (ox + (hy - oy), oy - (hx - ox) - 1)
                } else {
                    (hx, hy)
                };
                if (0..i64::from(width)).contains(&x) && (0..i64::from(height)).contains(&y) {
                    let pixel = image.get_pixel_mut(x as u32, y as u32);
                    let keep = 1.0 - coverage.clamp(0.0, 1.0);
                    // Black ink: blending towards 0 scales each channel.
                    pixel.0 = pixel.0.map(|c| (f32::from(c) * keep).round() as u8);
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_constants_match_the_embedded_font() {
        for bold in [false, true] {
            let f = font(bold).unwrap();
            assert_eq!(f64::from(f.ascent_unscaled()), ASCENDER);
            assert_eq!(f64::from(f.descent_unscaled()), -DESCENDER);
            assert_eq!(f.units_per_em().map(f64::from), Some(UNITS_PER_EM));
        }
    }

    #[test]
    fn measures_text() {
        assert_eq!(text_width("", 16.0, false).unwrap(), 0);
        let short = text_width("7", 16.0, false).unwrap();
        let long = text_width("Guided Grad-CAM", 16.0, false).unwrap();
        assert!(short > 0 && long > 5 * short, "{short} {long}");
        assert!(text_width("Grad", 16.0, true).unwrap() > text_width("Grad", 16.0, false).unwrap());
    }

    fn ink(img: &RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 != [255; 3])
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    #[test]
    fn draws_inside_the_label_box() {
        let mut img = RgbImage::from_pixel(160, 50, image::Rgb([255; 3]));
        let label = Label {
            text: "Hgjy|".into(),
            x: 80,
            top: 10,
            anchor: Anchor::Middle,
            size: 20.0,
            bold: false,
            vertical: false,
        };
        let advance = text_width(&label.text, label.size, false).unwrap();
        draw_labels(&mut img, &[label]).unwrap();
        let inked = ink(&img);
        assert!(!inked.is_empty());
        let (min_y, max_y) = inked
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), &(_, y)| (lo.min(y), hi.max(y)));
        let (min_x, max_x) = inked
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), &(x, _)| (lo.min(x), hi.max(x)));
        // Box rows 10..30; ink horizontally within the centred advance, give or take a pixel.
        assert!(min_y >= 10 && max_y < 30, "ink rows {min_y}..={max_y}");
        let left = 80 - advance / 2;
        assert!(
            min_x + 1 >= left && max_x <= left + advance + 1,
            "ink cols {min_x}..={max_x}, advance {advance}"
        );
    }

    #[test]
    fn vertical_labels_read_upwards_inside_the_turned_box() {
        let mut img = RgbImage::from_pixel(50, 160, image::Rgb([255; 3]));
        let label = Label {
            text: "Hgjy|".into(),
            x: 10,
            top: 80,
            anchor: Anchor::Middle,
            size: 20.0,
            bold: false,
            vertical: true,
        };
        let advance = text_width(&label.text, label.size, false).unwrap();
        draw_labels(&mut img, &[label]).unwrap();
        let inked = ink(&img);
        let (min_x, max_x) = inked
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), &(x, _)| (lo.min(x), hi.max(x)));
        let (min_y, max_y) = inked
            .iter()
            .fold((u32::MAX, 0), |(lo, hi), &(_, y)| (lo.min(y), hi.max(y)));
        // Box columns 10..30; ink vertically within the centred advance.
        assert!(min_x >= 10 && max_x < 30, "ink cols {min_x}..={max_x}");
        let top = 80 - advance / 2;
        assert!(
            min_y + 1 >= top && max_y <= top + advance + 1,
            "ink rows {min_y}..={max_y}, advance {advance}"
        );

        // Exactly the horizontal rendering turned a quarter counter-clockwise.
        let (w, h) = (120, 30);
        let lg = |vertical: bool, x, top| Label {
            text: "Lg|".into(),
            x,
            top,
            anchor: Anchor::Start,
            size: 20.0,
            bold: false,
            vertical,
        };
        let mut flat = RgbImage::from_pixel(w, h, image::Rgb([255; 3]));
        draw_labels(&mut flat, &[lg(false, 0, 0)]).unwrap();
        let mut turned = RgbImage::from_pixel(h, w, image::Rgb([255; 3]));
        draw_labels(&mut turned, &[lg(true, 0, w as i32)]).unwrap();
        assert!(!ink(&turned).is_empty());
        assert_eq!(turned, image::imageops::rotate270(&flat));
    }

    #[test]
    fn clips_at_the_image_edges() {
        let mut img = RgbImage::from_pixel(10, 10, image::Rgb([255; 3]));
        let label = Label {
            text: "Wide text beyond the edge".into(),
            x: -5,
            top: -8,
            anchor: Anchor::Start,
            size: 24.0,
            bold: true,
            vertical: false,
        };
        draw_labels(&mut img, &[label]).unwrap();
        assert!(!ink(&img).is_empty());
    }
}
