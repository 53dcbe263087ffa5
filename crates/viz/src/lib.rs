//! Colormaps, overlays and comparison figures for Grad-CAM style attribution
//! maps.
//!
//! The crate knows nothing about models or tensors: every map is a plain
//! row-major `f32` slice with a width and height, checked once by
//! [`MapRef::new`]. Renderers return [`image::RgbImage`]s, and the encoders
//! return bytes ([`panel_png`], [`Figure::render_png`]) or a string
//! ([`Figure::render_svg`]); writing files is left to the caller.
//! [`ChartFigure`] draws line charts (e.g. a metric per randomised layer,
//! one line per method) the same way, to PNG or SVG.
//!
//! Value conventions:
//!
//! - raw images and Grad-CAM maps are expected in `[0, 1]` and are clamped
//!   ([`grayscale`], [`heatmap`], [`overlay`]);
//! - signed maps (guided backprop, guided Grad-CAM) are normalised by a
//!   [`SignedStyle`] ([`signed`]).
//!
//! Text is drawn with DejaVu Sans embedded in the binary, so rendering needs
//! no system fonts.
//!
//! ```
//! use gradcam_viz::{heatmap, panel_png, Colormap, MapRef};
//!
//! let cam = [0.0, 0.25, 0.5, 1.0];
//! let map = MapRef::new(&cam, 2, 2)?;
//! let image = heatmap(map, Colormap::Viridis, 4)?; // 8x8 pixels
//! let png: Vec<u8> = panel_png(&image)?;
//! assert_eq!(image.dimensions(), (8, 8));
//! assert!(!png.is_empty());
//! # Ok::<(), gradcam_viz::VizError>(())
//! ```

#![warn(missing_docs)]

mod chart;
mod colormap;
mod error;
mod factorization;
mod figure;
mod map;
mod raster;
mod render;
mod scene;
mod tables;
mod text;

#[cfg(test)]
mod chart_tests;
#[cfg(test)]
mod figure_tests;

pub use chart::{ChartFigure, LineChart, MAX_SERIES, Series};
pub use colormap::Colormap;
pub use error::VizError;
pub use factorization::{FactorizationFigure, concept_colors, factorization_overlay};
pub use figure::{Column, Figure, MAX_COLUMNS};
pub use map::MapRef;
pub use render::{
    MAX_IMAGE_SIDE, SignedStyle, colorbar, grayscale, heatmap, overlay, panel_png, signed,
};
pub use scene::escape_markup;
