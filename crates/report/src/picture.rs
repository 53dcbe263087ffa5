//! One image's pictures: the input as the network saw it, and each map over it — a CAM-like map
//! (one plane, nothing negative) as pytorch-grad-cam's overlay, a signed map (guided
//! backpropagation, guided Grad-CAM) in blue and red around zero.

use std::path::Path;

use burn::data::dataset::Dataset;
use gradcam_audit::{Record, Row, StoredMaps, map_box, read_maps, read_run};
use gradcam_data::files::read_input;
use gradcam_data::output::{ensure_dir, write_atomic};
use gradcam_viz::{Colormap, MapRef, SignedStyle, grayscale, overlay, panel_png, signed};
use image::RgbImage;
use rayon::prelude::*;

use crate::ReportError;

/// The weight of the map in an overlay: pytorch-grad-cam's `show_cam_on_image` default.
const OVERLAY_ALPHA: f32 = 0.5;

/// The pixels of dataset image `index` at the network's input `[C, H, W]`, in `[0, 1]`: those
/// in memory, or the file read again (resized as the run may have).
pub(crate) fn input_pixels<D: Dataset<Record> + ?Sized>(
    dataset: &D,
    row: &Row,
    [channels, height, width]: [usize; 3],
) -> Result<Vec<f32>, ReportError> {
    let failed = |reason: String| ReportError::Image {
        index: row.index,
        path: row.path.clone().into(),
        reason,
    };
    let record = dataset
        .get(row.index)
        .map_err(|e| failed(format!("the dataset cannot give it: {e}")))?;
    if record.path != Path::new(&row.path) {
        return Err(failed(format!(
            "the dataset holds {} there: is it the dataset the run explained?",
            record.path.display()
        )));
    }
    match record.pixels {
        Some(pixels) => Ok(pixels.to_vec()),
        None => read_input(&record.path, channels, [height, width], true)
            .map(|image| image.pixels)
            .map_err(|e| failed(e.to_string())),
    }
}

/// How many times a side of `side` pixels is magnified so that a tile is about `target` wide.
fn magnification(side: usize, target: u32) -> u32 {
    let side = side.max(1) as u32;
    ((target + side / 2) / side).max(1)
}

/// The input, magnified to about `target` pixels and shrunk to at most `target` where larger.
pub(crate) fn draw_input(
    pixels: &[f32],
    [channels, height, width]: [usize; 3],
    target: u32,
    index: usize,
) -> Result<RgbImage, ReportError> {
    let draw = |source| ReportError::Draw {
        index,
        method: "input".to_owned(),
        source,
    };
    let image = MapRef::planar(pixels, channels, width, height).map_err(draw)?;
    let picture = grayscale(image, magnification(width.max(height), target)).map_err(draw)?;
    Ok(fit(picture, target))
}

/// A map over its input: a non-negative one-plane map divided by its maximum and overlaid in
/// jet; any other summed over its planes and drawn diverging (blue below zero, red above).
pub(crate) fn draw_map(
    pixels: &[f32],
    input: [usize; 3],
    map: &[f32],
    [channels, height, width]: [usize; 3],
    target: u32,
    index: usize,
    method: &str,
) -> Result<RgbImage, ReportError> {
    let draw = |source| ReportError::Draw {
        index,
        method: method.to_owned(),
        source,
    };
    let scale = magnification(width.max(height), target);
    let picture = if channels == 1 && map.iter().all(|&v| v >= 0.0) {
        let max = map.iter().copied().fold(0.0_f32, f32::max);
        let heat: Vec<f32> = map
            .iter()
            .map(|&v| if max > 0.0 { v / max } else { 0.0 })
            .collect();
        let image = MapRef::planar(pixels, input[0], input[2], input[1]).map_err(draw)?;
        let heat = MapRef::new(&heat, width, height).map_err(draw)?;
        overlay(image, heat, Colormap::Jet, OVERLAY_ALPHA, scale).map_err(draw)?
    } else {
        let plane = width * height;
        let summed: Vec<f32> = (0..plane)
            .map(|i| (0..channels).map(|c| map[c * plane + i]).sum())
            .collect();
        let map = MapRef::new(&summed, width, height).map_err(draw)?;
        signed(map, SignedStyle::Diverging, scale).map_err(draw)?
    };
    Ok(fit(picture, target))
}

/// The colour of a ground-truth box's outline.
const BOX_COLOUR: [u8; 3] = [0, 255, 0];

/// The colour of a map's own box (the Grad-CAM paper's, [`map_box`]): magenta, a colour no
/// colour map of the overlays takes.
const MAP_BOX_COLOUR: [u8; 3] = [255, 0, 255];

/// Outlines on a picture the image's ground-truth box (green) and, for a map of an image with
/// one, the map's own box (magenta: the map thresholded at 15 % of its maximum, the box around
/// its largest component; what the `_wsol_iou` column compares with the truth). `input` is
/// the image's `[height, width]`, `map` the map's values and `[C, H, W]` shape.
pub(crate) fn outline_boxes(
    picture: &mut RgbImage,
    row: &Row,
    input: [usize; 2],
    map: Option<(&[f32], [usize; 3])>,
) {
    let Some(truth) = truth_of(row) else {
        return;
    };
    if let Some(found) = map.and_then(|(values, shape)| {
        map_box(values, shape).map(|b| ([b.y0, b.x0, b.y1, b.x1], [shape[1], shape[2]]))
    }) {
        outline(picture, found.0, found.1, MAP_BOX_COLOUR);
    }
    outline(picture, truth, input, BOX_COLOUR);
}

/// Outlines a box of the `[height, width]` input, rows `y0..y1` and columns `x0..x1`, on a
/// picture of it at any size, one pixel wide, in `colour`.
fn outline(
    picture: &mut RgbImage,
    [y0, x0, y1, x1]: [usize; 4],
    [height, width]: [usize; 2],
    colour: [u8; 3],
) {
    let (w, h) = picture.dimensions();
    if w == 0 || h == 0 || y1 <= y0 || x1 <= x0 {
        return;
    }
    let to =
        |v: usize, from: usize, to: u32| ((v as u64 * u64::from(to)) / from.max(1) as u64) as u32;
    let (top, left) = (to(y0, height, h).min(h - 1), to(x0, width, w).min(w - 1));
    let (bottom, right) = (
        to(y1, height, h).saturating_sub(1).clamp(top, h - 1),
        to(x1, width, w).saturating_sub(1).clamp(left, w - 1),
    );
    let colour = image::Rgb(colour);
    for x in left..=right {
        picture.put_pixel(x, top, colour);
        picture.put_pixel(x, bottom, colour);
    }
    for y in top..=bottom {
        picture.put_pixel(left, y, colour);
        picture.put_pixel(right, y, colour);
    }
}

/// A row's ground-truth box as `[y0, x0, y1, x1]`, if it has one.
pub(crate) fn truth_of(row: &Row) -> Option<[usize; 4]> {
    row.truth.map(|b| [b.y0, b.x0, b.y1, b.x1])
}

/// The picture shrunk (Catmull-Rom) so that neither side exceeds `target`, when larger.
fn fit(picture: RgbImage, target: u32) -> RgbImage {
    let (w, h) = picture.dimensions();
    if w.max(h) <= target {
        return picture;
    }
    let ratio = f64::from(target) / f64::from(w.max(h));
    let size = |s: u32| ((f64::from(s) * ratio).round() as u32).max(1);
    image::imageops::resize(
        &picture,
        size(w),
        size(h),
        image::imageops::FilterType::CatmullRom,
    )
}

/// A file-name-safe form of a method's name (`grad-cam*guided-backprop` → `grad-cam_x_guided-backprop`).
pub(crate) fn file_safe(name: &str) -> String {
    name.replace('*', "_x_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes one overlay PNG per explained image and method of the run in `run_dir` to `out`, as
/// `<index>_<method>.png` (the index zero-padded to six digits), each written whole; returns
/// the number of files. The images are read again from `dataset`, the dataset the run
/// explained. `side` is the largest side of a picture in pixels (small inputs are magnified
/// to about it, large ones shrunk).
///
/// ```no_run
/// use gradcam_audit::Records;
/// let records = Records::image_folder("val")?;
/// let written = gradcam_report::write_overlays("runs/val".as_ref(), &records, "runs/val/overlays".as_ref(), 224)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_overlays<D: Dataset<Record> + Sync + ?Sized>(
    run_dir: &Path,
    dataset: &D,
    out: &Path,
    side: u32,
) -> Result<usize, ReportError> {
    let (manifest, rows) = read_run(run_dir)?;
    if rows.is_empty() {
        return Err(ReportError::Empty {
            dir: run_dir.to_path_buf(),
        });
    }
    ensure_dir(out)?;
    let names: Vec<String> = manifest.methods.iter().map(|m| file_safe(m)).collect();
    let mut written = 0;
    // One chunk's maps in memory at a time.
    for chunk in rows.chunk_by(|a, b| manifest.maps_file(a.index) == manifest.maps_file(b.index)) {
        if chunk.iter().all(|r| r.maps_row.is_none()) {
            continue;
        }
        let maps = read_maps(run_dir, &manifest, &manifest.maps_file(chunk[0].index))?;
        written += chunk
            .par_iter()
            .filter(|row| row.maps_row.is_some())
            .map(|row| -> Result<usize, ReportError> {
                let pixels = input_pixels(dataset, row, manifest.input)?;
                for (m, method) in manifest.methods.iter().enumerate() {
                    let map = stored_map(&maps, row, m, method)?;
                    let mut picture = draw_map(
                        &pixels,
                        manifest.input,
                        map,
                        manifest.map_shapes[m],
                        side,
                        row.index,
                        method,
                    )?;
                    outline_boxes(
                        &mut picture,
                        row,
                        [manifest.input[1], manifest.input[2]],
                        Some((map, manifest.map_shapes[m])),
                    );
                    let png = panel_png(&picture).map_err(|source| ReportError::Draw {
                        index: row.index,
                        method: method.clone(),
                        source,
                    })?;
                    write_atomic(
                        &out.join(format!("{:06}_{}.png", row.index, names[m])),
                        &png,
                    )?;
                }
                Ok(manifest.methods.len())
            })
            .sum::<Result<usize, ReportError>>()?;
    }
    Ok(written)
}

/// The map of method `m` (named `method`) stored for `row`, or the error naming what is
/// missing: a row without maps (an image that was not explained), or a maps file without the
/// row the index points to.
pub(crate) fn stored_map<'a>(
    maps: &'a StoredMaps,
    row: &Row,
    m: usize,
    method: &str,
) -> Result<&'a [f32], ReportError> {
    let missing = |reason: String| ReportError::Image {
        index: row.index,
        path: row.path.clone().into(),
        reason,
    };
    let maps_row = row
        .maps_row
        .ok_or_else(|| missing("it has no maps (it was not explained)".to_owned()))?;
    maps.map(m, maps_row).ok_or_else(|| {
        missing(format!(
            "its maps file has no row {maps_row} for `{method}`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_come_near_the_target_size() {
        assert_eq!(magnification(28, 112), 4);
        assert_eq!(magnification(64, 112), 2);
        assert_eq!(magnification(224, 112), 1);
        let input = [1, 28, 28];
        let pixels = vec![0.5; 784];
        let cam: Vec<f32> = (0..784).map(|i| i as f32).collect();
        let picture = draw_map(&pixels, input, &cam, input, 112, 0, "grad-cam").unwrap();
        assert_eq!(picture.dimensions(), (112, 112));
        // The CAM's peak (the last pixel) is dark red, its zero dark blue, as jet over grey.
        let (low, high) = (picture.get_pixel(0, 0).0, picture.get_pixel(111, 111).0);
        assert!(low[2] > low[0] && high[0] > high[2], "{low:?} {high:?}");
        let large = vec![0.5; 3 * 224 * 224];
        let picture = draw_input(&large, [3, 224, 224], 112, 0).unwrap();
        assert_eq!(picture.dimensions(), (112, 112));
    }

    /// The truth in green, the map's 15 % box in magenta, only for an image with a truth.
    #[test]
    fn the_maps_own_box_is_drawn_beside_the_truth() {
        let mut map = vec![0.0_f32; 28 * 28];
        for y in 20..24 {
            for x in 2..10 {
                map[y * 28 + x] = 1.0;
            }
        }
        let row = Row {
            truth: Some(gradcam_audit::PixelBox::new(0, 0, 7, 7)),
            ..Row::default()
        };
        let mut picture = RgbImage::new(112, 112);
        outline_boxes(&mut picture, &row, [28, 28], Some((&map, [1, 28, 28])));
        let at = |x, y| picture.get_pixel(x, y).0;
        // Rows 20..24 and columns 2..10 at 4× magnification.
        assert_eq!(at(8, 80), MAP_BOX_COLOUR);
        assert_eq!(at(39, 95), MAP_BOX_COLOUR);
        assert_eq!(at(20, 88), [0, 0, 0], "the inside is left as it is");
        assert_eq!(at(0, 0), BOX_COLOUR);
        let mut unboxed = RgbImage::new(112, 112);
        outline_boxes(
            &mut unboxed,
            &Row::default(),
            [28, 28],
            Some((&map, [1, 28, 28])),
        );
        assert!(unboxed.pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn signed_maps_are_drawn_around_zero() {
        let input = [1, 4, 4];
        let map = [
            -1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let picture = draw_map(&[0.0; 16], input, &map, input, 4, 0, "guided-backprop").unwrap();
        assert_eq!(picture.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(picture.get_pixel(3, 0).0, [255, 0, 0]);
        assert_eq!(
            file_safe("grad-cam*guided-backprop"),
            "grad-cam_x_guided-backprop"
        );
    }

    #[test]
    fn a_box_is_outlined_where_it_is_at_any_magnification() {
        let mut picture = RgbImage::new(112, 112);
        // Rows 7..14 and columns 0..28 of a 28×28 input, magnified 4×: rows 28..=55.
        outline(&mut picture, [7, 0, 14, 28], [28, 28], BOX_COLOUR);
        let green = |x, y| picture.get_pixel(x, y).0 == BOX_COLOUR;
        assert!(green(0, 28) && green(111, 28) && green(50, 55) && green(0, 40));
        assert!(!green(50, 27) && !green(50, 56) && !green(50, 40));
    }
}
