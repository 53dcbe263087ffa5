//! Image JSON, parsed straight into `f32` pixels: memory stays at four bytes per pixel however
//! the file is laid out, and the first malformed image is reported by index.

use std::cell::RefCell;
use std::fmt;
use std::path::Path;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use gradcam_data::files::read_limited;

use super::{Digits, DigitsError, ImageProblem, check_labels};
use crate::net::{IMAGE_PIXELS, IMAGE_SIDE};

/// Largest image JSON file accepted (256 MiB, about 60,000 digits); larger sets belong in the
/// packed format or a directory of image files.
pub const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;

impl Digits {
    /// Reads an image JSON file (see the [module documentation](crate::digits)).
    ///
    /// ```no_run
    /// let digits = gradcam_mnist::Digits::from_json_file("data/test_images.json")?;
    /// println!("{} digits", digits.len());
    /// # Ok::<(), gradcam_mnist::DigitsError>(())
    /// ```
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, DigitsError> {
        let path = path.as_ref();
        let bytes = read_limited(path, MAX_JSON_BYTES)?;
        Self::parse_json(&bytes, path)
    }

    /// Parses image JSON from memory; errors name `<memory>` as the file.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, DigitsError> {
        Self::parse_json(bytes, Path::new("<memory>"))
    }

    /// The set as image JSON: `{"images": [[784 numbers], …], "labels": […]}` (labels only when
    /// known). Values are written with enough digits to read back the same `f32`.
    pub fn to_json(&self) -> String {
        let images: Vec<&[f32]> = self.pixels.chunks(IMAGE_PIXELS).collect();
        let mut object = serde_json::Map::new();
        object.insert("images".into(), serde_json::json!(images));
        if let Some(labels) = &self.labels {
            object.insert("labels".into(), serde_json::json!(labels));
        }
        serde_json::Value::Object(object).to_string()
    }

    fn parse_json(bytes: &[u8], path: &Path) -> Result<Self, DigitsError> {
        let problem = RefCell::new(None);
        let mut pixels = Vec::new();
        let mut labels = None;
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let parsed = deserializer
            .deserialize_any(TopLevel {
                pixels: &mut pixels,
                labels: &mut labels,
                problem: &problem,
            })
            .and_then(|()| deserializer.end());
        if let Some((index, problem)) = problem.into_inner() {
            return Err(DigitsError::Image {
                path: path.to_path_buf(),
                index,
                problem,
            });
        }
        parsed.map_err(|source| DigitsError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        if pixels.is_empty() {
            return Err(DigitsError::Empty {
                path: path.to_path_buf(),
            });
        }
        check_labels(path, labels.as_deref(), pixels.len() / IMAGE_PIXELS)?;
        Ok(Digits { pixels, labels })
    }
}

type Problem = RefCell<Option<(usize, ImageProblem)>>;

/// Records the first image problem and aborts parsing with a short error.
fn fail<E: de::Error>(problem: &Problem, index: usize, what: ImageProblem) -> E {
    let message = what.to_string();
    problem.borrow_mut().get_or_insert((index, what));
    E::custom(message)
}

struct TopLevel<'a> {
    pixels: &'a mut Vec<f32>,
    labels: &'a mut Option<Vec<u8>>,
    problem: &'a Problem,
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of images or an object {\"images\": [...], \"labels\": [...]}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Images {
            pixels: self.pixels,
            problem: self.problem,
        }
        .visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_images = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "images" => {
                    map.next_value_seed(Images {
                        pixels: self.pixels,
                        problem: self.problem,
                    })?;
                    seen_images = true;
                }
                "labels" => *self.labels = Some(map.next_value::<Vec<u8>>()?),
                other => {
                    let _: IgnoredAny = map.next_value()?;
                    return Err(de::Error::unknown_field(other, &["images", "labels"]));
                }
            }
        }
        if seen_images {
            Ok(())
        } else {
            Err(de::Error::missing_field("images"))
        }
    }
}

struct Images<'a> {
    pixels: &'a mut Vec<f32>,
    problem: &'a Problem,
}

impl<'de> DeserializeSeed<'de> for Images<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Images<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of images")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Image {
                pixels: &mut *self.pixels,
                problem: self.problem,
                index,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

/// One image: 784 numbers, or 28 rows of 28 numbers.
struct Image<'a> {
    pixels: &'a mut Vec<f32>,
    problem: &'a Problem,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Image<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Image<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "image {}: an array of {IMAGE_PIXELS} numbers or {IMAGE_SIDE} arrays of {IMAGE_SIDE}",
            self.index
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let start = self.pixels.len();
        let mut cells = CellCounts::default();
        while seq
            .next_element_seed(Cell {
                image: &mut *self.pixels,
                start,
                problem: self.problem,
                index: self.index,
                cells: &mut cells,
            })?
            .is_some()
        {}
        let count = self.pixels.len() - start;
        let flat = cells.rows == 0 && count == IMAGE_PIXELS;
        let nested = cells.numbers == 0 && cells.rows == IMAGE_SIDE && cells.bad_rows == 0;
        if flat || nested {
            return Ok(());
        }
        let found = match (cells.numbers, cells.rows) {
            (n, 0) => format!("{n} numbers"),
            (0, r) => format!("{r} rows ({count} numbers)"),
            (n, r) => format!("a mix of {n} numbers and {r} rows"),
        };
        Err(fail(
            self.problem,
            self.index,
            ImageProblem::Length { found },
        ))
    }
}

#[derive(Default)]
struct CellCounts {
    numbers: usize,
    rows: usize,
    bad_rows: usize,
}

/// One element of an image: a number, or a row of numbers.
struct Cell<'a> {
    image: &'a mut Vec<f32>,
    start: usize,
    problem: &'a Problem,
    index: usize,
    cells: &'a mut CellCounts,
}

impl Cell<'_> {
    fn push<E: de::Error>(&mut self, value: f64) -> Result<(), E> {
        let pixel = self.image.len() - self.start;
        if pixel >= IMAGE_PIXELS {
            let found = format!("more than {IMAGE_PIXELS} numbers");
            return Err(fail(
                self.problem,
                self.index,
                ImageProblem::Length { found },
            ));
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(fail(
                self.problem,
                self.index,
                ImageProblem::Value { pixel, value },
            ));
        }
        self.image.push(value as f32);
        Ok(())
    }

    fn not_a_number<E: de::Error>(&self) -> E {
        fail(
            self.problem,
            self.index,
            ImageProblem::NotANumber {
                pixel: self.image.len() - self.start,
            },
        )
    }
}

impl<'de> DeserializeSeed<'de> for Cell<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cell<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a pixel value or a row of pixel values")
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.cells.numbers += 1;
        self.push(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.cells.rows += 1;
        let row_start = self.image.len();
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            match value.as_f64() {
                Some(v) => self.push(v)?,
                None => return Err(self.not_a_number()),
            }
        }
        if self.image.len() - row_start != IMAGE_SIDE {
            self.cells.bad_rows += 1;
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_a_number())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_a_number())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_a_number())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_a_number())
    }
}
