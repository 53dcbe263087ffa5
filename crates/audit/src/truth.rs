//! Localisation against known boxes: a box per image, from a CSV file or given in memory, and
//! per map the metrics of `gradcam-metrics` (Quantus 0.6's pointing game, relevance mass and
//! rank accuracy, the energy pointing game, the Grad-CAM paper's box and its IoU).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gradcam_metrics::{
    PixelBox, WSOL_THRESHOLD, box_mask, energy_pointing_game, iou, pointing_game,
    relevance_mass_accuracy, relevance_rank_accuracy, wsol_box,
};

use crate::AuditError;
use crate::store::fingerprint;

/// The ground-truth box of each image, by path, in the pixels of the image file.
///
/// ```
/// use gradcam_audit::Boxes;
/// use gradcam_metrics::PixelBox;
/// let boxes = Boxes::new([("shoe.png".into(), PixelBox::new(4, 8, 30, 40))]);
/// assert_eq!(boxes.get("shoe.png".as_ref()), Some(PixelBox::new(4, 8, 30, 40)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Boxes {
    by_path: HashMap<PathBuf, PixelBox>,
    source: String,
}

impl Boxes {
    /// Boxes given in memory, keyed by the records' paths (or names, for images in memory).
    pub fn new(boxes: impl IntoIterator<Item = (PathBuf, PixelBox)>) -> Self {
        let by_path: HashMap<PathBuf, PixelBox> =
            boxes.into_iter().map(|(path, b)| (key(&path), b)).collect();
        let source = format!("{} boxes in memory", by_path.len());
        Self { by_path, source }
    }

    /// A CSV file with the header `path,y0,x0,y1,x1` and one box per image: the path relative
    /// to the CSV's folder (or absolute), the box in the image file's pixels, half-open (rows
    /// `y0..y1`, columns `x0..x1`, as NumPy's `mask[y0:y1, x0:x1]`). An image listed twice, a
    /// malformed line or an empty box is an error naming the line.
    pub fn from_csv(path: &Path) -> Result<Self, AuditError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuditError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let folder = path.parent().unwrap_or(Path::new(""));
        let line_error = |line: usize, reason: String| AuditError::ListLine {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut by_path = HashMap::new();
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, header)) if header.replace(' ', "") == "path,y0,x0,y1,x1" => {}
            _ => {
                return Err(line_error(
                    1,
                    "expected the header `path,y0,x0,y1,x1`".to_owned(),
                ));
            }
        }
        for (line, content) in lines.filter(|(_, l)| !l.is_empty()) {
            // The path may hold commas: the four numbers are the last four fields.
            let mut fields: Vec<&str> = content.rsplitn(5, ',').collect();
            fields.reverse();
            let [file, numbers @ ..] = &fields[..] else {
                return Err(line_error(line, "an empty line".to_owned()));
            };
            let numbers: Vec<usize> = numbers
                .iter()
                .map(|n| n.trim().parse::<usize>())
                .collect::<Result<_, _>>()
                .map_err(|e| line_error(line, format!("`{content}`: {e}")))?;
            let [y0, x0, y1, x1] = numbers[..] else {
                return Err(line_error(
                    line,
                    format!("`{content}`: expected path,y0,x0,y1,x1"),
                ));
            };
            let b = PixelBox::new(y0, x0, y1, x1);
            if b.is_empty() {
                return Err(line_error(
                    line,
                    format!("the box {y0},{x0},{y1},{x1} covers no pixel (y0 < y1, x0 < x1)"),
                ));
            }
            let file = folder.join(file.trim());
            if by_path.insert(key(&file), b).is_some() {
                return Err(line_error(
                    line,
                    format!("{} has a box already", file.display()),
                ));
            }
        }
        let mut sorted: Vec<_> = by_path.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let hash = fingerprint(
            sorted
                .into_iter()
                .map(|(p, b)| (p.join(format!("{},{},{},{}", b.y0, b.x0, b.y1, b.x1)), None)),
        );
        let source = format!("{} ({} boxes, {hash})", path.display(), by_path.len());
        Ok(Self { by_path, source })
    }

    /// The box of the image at `path`, if it has one.
    pub fn get(&self, path: &Path) -> Option<PixelBox> {
        self.by_path.get(&key(path)).copied()
    }

    /// Images with a box.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether no image has a box.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// Where the boxes came from, as the manifest records it: a run is resumed only with the
    /// same boxes.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The same file however it was named (`./a.png`, `a.png`): its canonical path where it exists.
fn key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// A box in the file's pixels as a box of the `[height, width]` input the file was resized to
/// from `original = [width, height]` (outward, so no pixel of the object is lost), clipped to
/// the input; `None` when nothing of it is left.
pub(crate) fn scale_box(
    b: PixelBox,
    original: Option<[usize; 2]>,
    [height, width]: [usize; 2],
) -> Option<PixelBox> {
    let [from_w, from_h] = original.unwrap_or([width, height]);
    let down = |v: usize, to: usize, from: usize| (v * to / from.max(1)).min(to);
    let up = |v: usize, to: usize, from: usize| (v * to).div_ceil(from.max(1)).min(to);
    let scaled = PixelBox::new(
        down(b.y0, height, from_h),
        down(b.x0, width, from_w),
        up(b.y1, height, from_h),
        up(b.x1, width, from_w),
    );
    (!scaled.is_empty()).then_some(scaled)
}

/// How well one map points at its image's box, on its relevance summed over channels (signed:
/// negative evidence is not evidence for the box). A metric the map leaves undefined (a
/// constant map, one with no positive value) is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Localisation {
    /// Quantus's `PointingGame`: the map's maximum lies in the box.
    pub pointing_game: Option<bool>,
    /// The energy-based pointing game (Score-CAM): the share of the positive relevance in the
    /// box.
    pub energy_pointing_game: Option<f32>,
    /// Quantus's `RelevanceMassAccuracy`.
    pub relevance_mass: Option<f32>,
    /// Quantus's `RelevanceRankAccuracy`.
    pub relevance_rank: Option<f32>,
    /// IoU of the Grad-CAM paper's box (the map thresholded at 15 % of its maximum, the box
    /// around its largest component) with the truth; ≥ 0.5 counts as localised.
    pub wsol_iou: Option<f32>,
}

impl Localisation {
    /// The metrics of a `[C, H, W]` map against `truth`, a box of its `H × W` pixels.
    pub fn of(values: &[f32], shape: [usize; 3], truth: PixelBox) -> Self {
        let [_, height, width] = shape;
        let relevance = relevance(values, shape);
        let Ok(mask) = box_mask(truth, [height, width]) else {
            return Self::default();
        };
        Self {
            pointing_game: pointing_game(&relevance, &mask, [height, width], 0).ok(),
            energy_pointing_game: energy_pointing_game(&relevance, &mask).ok(),
            relevance_mass: relevance_mass_accuracy(&relevance, &mask).ok(),
            relevance_rank: relevance_rank_accuracy(&relevance, &mask).ok(),
            wsol_iou: map_box(values, shape).map(|found| iou(found, truth)),
        }
    }
}

/// The Grad-CAM paper's box of a `[C, H, W]` map (its relevance thresholded at 15 % of its
/// maximum, the box around the largest component), in its `H × W` pixels; `None` for a map
/// with no positive value.
///
/// ```
/// use gradcam_audit::{PixelBox, map_box};
///
/// let mut map = vec![0.0; 16];
/// map[5] = 1.0;
/// map[6] = 0.5;
/// assert_eq!(map_box(&map, [1, 4, 4]), Some(PixelBox::new(1, 1, 2, 3)));
/// assert_eq!(map_box(&[0.0; 16], [1, 4, 4]), None);
/// ```
pub fn map_box(values: &[f32], shape: [usize; 3]) -> Option<PixelBox> {
    let [_, height, width] = shape;
    wsol_box(&relevance(values, shape), [height, width], WSOL_THRESHOLD).ok()
}

/// A `[C, H, W]` map's relevance per pixel: its channels summed (signed: negative evidence is
/// not evidence for the box).
fn relevance(values: &[f32], [channels, height, width]: [usize; 3]) -> Vec<f32> {
    let plane = height * width;
    if channels == 1 {
        values.to_vec()
    } else {
        (0..plane)
            .map(|i| (0..channels).map(|c| values[c * plane + i]).sum())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_scale_outward_and_clip() {
        let b = PixelBox::new(10, 20, 30, 41);
        // 100×50 (w×h) resized to 25×50 (h×w): rows ×0.5, columns ×0.5.
        assert_eq!(
            scale_box(b, Some([100, 50]), [25, 50]),
            Some(PixelBox::new(5, 10, 15, 21))
        );
        assert_eq!(scale_box(b, None, [64, 64]), Some(b));
        assert_eq!(scale_box(b, None, [8, 64]), None);
    }

    #[test]
    fn a_csv_of_boxes_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("boxes.csv");
        std::fs::write(
            &csv,
            "path,y0,x0,y1,x1\nbag/1.png,1,2,3,4\n\nshoe, left.png,0,0,5,5\n",
        )
        .unwrap();
        let boxes = Boxes::from_csv(&csv).unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(
            boxes.get(&dir.path().join("bag/1.png")),
            Some(PixelBox::new(1, 2, 3, 4))
        );
        assert_eq!(
            boxes.get(&dir.path().join("shoe, left.png")),
            Some(PixelBox::new(0, 0, 5, 5))
        );
        for (text, line) in [
            ("y0,x0\n", 1),
            ("path,y0,x0,y1,x1\na.png,1,2,3\n", 2),
            ("path,y0,x0,y1,x1\na.png,3,2,3,4\n", 2),
            ("path,y0,x0,y1,x1\na.png,1,2,3,4\nb.png,1,2,x,4\n", 3),
            ("path,y0,x0,y1,x1\na.png,1,2,3,4\na.png,1,2,3,4\n", 3),
        ] {
            std::fs::write(&csv, text).unwrap();
            match Boxes::from_csv(&csv) {
                Err(AuditError::ListLine { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn localisation_follows_the_map() {
        let mut map = vec![0.0f32; 64];
        for y in 2..4 {
            for x in 5..7 {
                map[y * 8 + x] = 1.0;
            }
        }
        map[0] = 0.1;
        let hit = Localisation::of(&map, [1, 8, 8], PixelBox::new(2, 5, 4, 7));
        assert_eq!(hit.pointing_game, Some(true));
        assert_eq!(hit.relevance_rank, Some(1.0));
        assert_eq!(hit.wsol_iou, Some(1.0));
        assert!((hit.relevance_mass.unwrap() - 4.0 / 4.1).abs() < 1e-6);
        let miss = Localisation::of(&map, [1, 8, 8], PixelBox::new(5, 0, 8, 3));
        assert_eq!(miss.pointing_game, Some(false));
        assert_eq!(miss.wsol_iou, Some(0.0));
        // Two channels are summed: the second cancels the first's peak.
        let mut two = map.clone();
        two.extend(map.iter().map(|v| -v));
        two[64] = 0.0;
        let summed = Localisation::of(&two, [2, 8, 8], PixelBox::new(0, 0, 1, 1));
        assert_eq!(summed.pointing_game, Some(true));
        assert_eq!(
            Localisation::of(&[0.0; 64], [1, 8, 8], PixelBox::new(0, 0, 1, 1)).wsol_iou,
            None
        );
    }
}
