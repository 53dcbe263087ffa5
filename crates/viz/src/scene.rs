//! A laid-out figure (rectangles, bitmaps, text) and its two outputs:
//! a raster image and an SVG document.

use std::fmt::Write as _;

use image::{Rgb, RgbImage};

use crate::VizError;
use crate::raster::{self, Point};
use crate::render::panel_png;
use crate::text::{self, Anchor, EM_PER_LINE, Label};

/// Something placed at a pixel position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A filled rectangle.
    Rect {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        color: [u8; 3],
    },
    /// A bitmap, drawn 1:1 with its top-left corner at `(x, y)`.
    Image { x: u32, y: u32, image: RgbImage },
    /// An open polyline stroked `width` pixels wide with round caps and
    /// joins. `dash` alternates on and off lengths along the whole line, as
    /// SVG's `stroke-dasharray`; empty means solid.
    Line {
        points: Vec<Point>,
        width: f64,
        dash: Vec<f64>,
        color: [u8; 3],
    },
    /// A filled polygon (nonzero winding).
    Polygon { points: Vec<Point>, color: [u8; 3] },
    /// A filled circle.
    Circle {
        center: Point,
        radius: f64,
        color: [u8; 3],
    },
}

/// A white canvas with items drawn in order, then labels on top.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scene {
    pub width: u32,
    pub height: u32,
    pub items: Vec<Item>,
    pub labels: Vec<Label>,
}

const BACKGROUND: [u8; 3] = [255, 255, 255];

impl Scene {
    pub fn to_rgb(&self) -> Result<RgbImage, VizError> {
        let mut canvas = RgbImage::from_pixel(self.width, self.height, Rgb(BACKGROUND));
        for item in &self.items {
            match item {
                Item::Rect {
                    x,
                    y,
                    width,
                    height,
                    color,
                } => {
                    let patch = RgbImage::from_pixel(*width, *height, Rgb(*color));
                    image::imageops::replace(&mut canvas, &patch, (*x).into(), (*y).into());
                }
                Item::Image { x, y, image } => {
                    image::imageops::replace(&mut canvas, image, (*x).into(), (*y).into());
                }
                Item::Line {
                    points,
                    width,
                    dash,
                    color,
                } => raster::stroke(&mut canvas, points, *width, dash, *color),
                Item::Polygon { points, color } => {
                    raster::fill_polygon(&mut canvas, points, *color);
                }
                Item::Circle {
                    center,
                    radius,
                    color,
                } => raster::fill_circle(&mut canvas, *center, *radius, *color),
            }
        }
        text::draw_labels(&mut canvas, &self.labels)?;
        Ok(canvas)
    }

    /// SVG 1.1 with bitmaps embedded as PNG data URIs, vector items as SVG
    /// shapes and text as `<text>` in DejaVu Sans (falling back to the
    /// viewer's sans-serif font).
    pub fn to_svg(&self) -> Result<String, VizError> {
        let (w, h) = (self.width, self.height);
        let mut svg = String::new();
        // Writing to a String cannot fail, hence the ignored fmt results.
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect width="{w}" height="{h}" fill="{}"/>"#,
            hex(BACKGROUND)
        );
        for item in &self.items {
            match item {
                Item::Rect {
                    x,
                    y,
                    width,
                    height,
                    color,
                } => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="{}"/>"#,
                        hex(*color)
                    );
                }
                Item::Image { x, y, image } => {
                    let (iw, ih) = image.dimensions();
                    let data = base64(&panel_png(image)?);
                    // The bitmaps are already magnified, so 1:1 drawing needs no
                    // smoothing; `pixelated` keeps them crisp when the SVG is zoomed.
                    let _ = writeln!(
                        svg,
                        r#"<image x="{x}" y="{y}" width="{iw}" height="{ih}" style="image-rendering:pixelated" xlink:href="data:image/png;base64,{data}"/>"#
                    );
                }
                Item::Line {
                    points,
                    width,
                    dash,
                    color,
                } => {
                    let dash = if dash.is_empty() {
                        String::new()
                    } else {
                        let lengths: Vec<String> = dash.iter().map(|&d| num(d)).collect();
                        format!(r#" stroke-dasharray="{}""#, lengths.join(" "))
                    };
                    let _ = writeln!(
                        svg,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{}" stroke-linecap="round" stroke-linejoin="round"{dash}/>"#,
                        point_list(points),
                        hex(*color),
                        num(*width)
                    );
                }
                Item::Polygon { points, color } => {
                    let _ = writeln!(
                        svg,
                        r#"<polygon points="{}" fill="{}"/>"#,
                        point_list(points),
                        hex(*color)
                    );
                }
                Item::Circle {
                    center: [cx, cy],
                    radius,
                    color,
                } => {
                    let _ = writeln!(
                        svg,
                        r#"<circle cx="{}" cy="{}" r="{}" fill="{}"/>"#,
                        num(*cx),
                        num(*cy),
                        num(*radius),
                        hex(*color)
                    );
                }
            }
        }
        for label in self.labels.iter().filter(|l| !l.text.is_empty()) {
            let anchor = match label.anchor {
                Anchor::Start => "start",
                Anchor::Middle => "middle",
                Anchor::End => "end",
            };
            let baseline = f64::from(label.top) + text::BASELINE * label.size;
            let weight = if label.bold {
                r#" font-weight="bold""#
            } else {
                ""
            };
            // Turned about (x, top), as the raster renderer does.
            let turn = if label.vertical {
                format!(r#" transform="rotate(-90 {} {})""#, label.x, label.top)
            } else {
                String::new()
            };
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="{baseline:.1}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="{:.1}"{weight} text-anchor="{anchor}"{turn} fill="#000000">{}</text>"##,
                label.x,
                label.size * EM_PER_LINE,
                escape_markup(&label.text)
            );
        }
        svg.push_str("</svg>\n");
        Ok(svg)
    }
}

/// A coordinate or length with at most two decimals and no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// `x,y x,y ...` for `points="..."`.
fn point_list(points: &[Point]) -> String {
    let pairs: Vec<String> = points
        .iter()
        .map(|&[x, y]| format!("{},{}", num(x), num(y)))
        .collect();
    pairs.join(" ")
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Escapes text for an XML or HTML element body or a quoted attribute (`&`, `<`, `>`, both
/// quotes); control characters other than tab and newline, which XML 1.0 forbids, become spaces.
///
/// ```
/// assert_eq!(gradcam_viz::escape_markup("a<b & 'c'"), "a&lt;b &amp; &apos;c&apos;");
/// ```
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0.
            c if c.is_control() && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_markup(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape_markup("x\u{1}y"), "x y");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(1.0 / 3.0), "0.33");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(-12.126), "-12.13");
        assert_eq!(point_list(&[[1.0, 2.5], [3.0, 4.0]]), "1,2.5 3,4");
    }

    #[test]
    fn vector_items_reach_both_outputs() {
        let scene = Scene {
            width: 40,
            height: 20,
            items: vec![
                Item::Line {
                    points: vec![[2.0, 10.0], [18.0, 10.0]],
                    width: 2.0,
                    dash: vec![4.0, 2.0],
                    color: [1, 2, 3],
                },
                Item::Polygon {
                    points: vec![[0.0, 0.0], [4.0, 0.0], [4.0, 4.0]],
                    color: [4, 5, 6],
                },
                Item::Circle {
                    center: [15.0, 15.0],
                    radius: 3.0,
                    color: [7, 8, 9],
                },
            ],
            labels: vec![Label {
                text: "up".into(),
                x: 25,
                top: 18,
                anchor: Anchor::Start,
                size: 10.0,
                bold: false,
                vertical: true,
            }],
        };
        let img = scene.to_rgb().unwrap();
        assert_eq!(img.get_pixel(3, 9).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(3, 0).0, [4, 5, 6]);
        assert_eq!(img.get_pixel(15, 15).0, [7, 8, 9]);
        let svg = scene.to_svg().unwrap();
        for part in [
            r##"<polyline points="2,10 18,10" fill="none" stroke="#010203" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" stroke-dasharray="4 2"/>"##,
            r##"<polygon points="0,0 4,0 4,4" fill="#040506"/>"##,
            r##"<circle cx="15" cy="15" r="3" fill="#070809"/>"##,
            r#"transform="rotate(-90 25 18)""#,
        ] {
            assert!(svg.contains(part), "{part} missing from {svg}");
        }
    }

    #[test]
    fn rects_and_images_are_drawn_in_order() {
        let scene = Scene {
            width: 4,
            height: 2,
            items: vec![
                Item::Rect {
                    x: 0,
                    y: 0,
                    width: 3,
                    height: 2,
                    color: [10, 20, 30],
                },
                Item::Image {
                    x: 1,
                    y: 0,
                    image: RgbImage::from_pixel(1, 1, Rgb([1, 2, 3])),
                },
            ],
            labels: vec![],
        };
        let img = scene.to_rgb().unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [10, 20, 30]);
        assert_eq!(img.get_pixel(1, 0).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(3, 1).0, BACKGROUND);
        let svg = scene.to_svg().unwrap();
        assert!(svg.contains(r##"fill="#0a141e""##), "{svg}");
        assert!(svg.contains("data:image/png;base64,iVBORw0KGgo"), "{svg}");
    }
}
