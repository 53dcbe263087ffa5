//! The audit's files. A run's directory holds its manifest (`run.json`: everything that decides
//! its outputs), and per chunk of consecutive batches one maps file
//! (`maps/chunk-NNNNNN.safetensors`) and one index part (`index/chunk-NNNNNN.parquet`), each
//! written whole under a temporary name and renamed: a chunk is done when its index part exists,
//! since that is written last. Chunks are numbered in the dataset's order and each belongs to
//! one shard, so shards may share the directory, and `index/*.parquet` read by any Parquet
//! reader is the run so far; [`merge`] checks that every chunk is there and writes the whole
//! index as one `index.parquet`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use gradcam_data::output::{OutputError, ensure_dir, write_atomic, write_atomic_with};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::plan::column_prefix;
use crate::stats::{MapStats, Region};
use crate::truth::Localisation;
use gradcam_metrics::PixelBox;

/// The manifest's name in a run's directory.
pub const MANIFEST: &str = "run.json";
/// The merged index's name in a run's directory.
pub const MERGED_INDEX: &str = "index.parquet";

/// How the maps are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapDtype {
    /// 32-bit floats: the values computed.
    #[default]
    F32,
    /// 16-bit floats (IEEE half), each map divided by its largest magnitude, which is stored
    /// beside it (`<method>.scale`, f32, one per row): half the size, three significant digits
    /// of the map's largest value.
    F16,
}

impl MapDtype {
    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

impl std::str::FromStr for MapDtype {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            _ => Err(format!("unknown map type `{s}`: expected f32 or f16")),
        }
    }
}

/// Everything that decides a run's outputs: a run is resumed, or a shard joins it, only with
/// the same manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout's version.
    pub format: u32,
    /// The model, as its caller describes it (name, weights, layer).
    pub model: String,
    /// The model's input `[C, H, W]`.
    pub input: [usize; 3],
    /// The methods, by name, in column order.
    pub methods: Vec<String>,
    /// Each method's map shape `[C, H, W]`.
    pub map_shapes: Vec<[usize; 3]>,
    /// Every other setting of the explanation (CAM settings, target, score, normalisation,
    /// resizing), as the caller's configuration serialises them.
    pub settings: serde_json::Value,
    /// How the maps are stored.
    pub dtype: MapDtype,
    /// The region whose share of each map the index records, if any.
    pub region: Option<Region>,
    /// Where the ground-truth boxes came from, if the run localises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<String>,
    /// Images per batch.
    pub batch_size: usize,
    /// Batches per chunk.
    pub batches_per_chunk: usize,
    /// Images in the dataset.
    pub images: usize,
    /// A fingerprint of the dataset's paths and labels (FNV-1a, 64 bits, hex).
    pub fingerprint: String,
    /// The class names, by label, when known.
    pub classes: Option<Vec<String>>,
    /// Shards the run is split into.
    pub shards: usize,
}

impl Manifest {
    /// Chunks in the run.
    pub fn chunks(&self) -> usize {
        self.images.div_ceil(self.chunk_images())
    }

    /// Images per chunk (the last may hold fewer).
    pub fn chunk_images(&self) -> usize {
        self.batch_size * self.batches_per_chunk
    }

    /// The maps file (relative to the run's directory) of dataset image `index`: the index's
    /// `maps_file` column, for an explained image.
    pub fn maps_file(&self, index: usize) -> String {
        RunDir::maps_name(index / self.chunk_images().max(1))
    }

    /// The shard a chunk belongs to: chunks are dealt round-robin.
    pub fn shard_of(&self, chunk: usize) -> usize {
        chunk % self.shards
    }

    /// Bytes of maps per image explained.
    pub fn map_bytes_per_image(&self) -> usize {
        let values: usize = self
            .map_shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
        values * self.dtype.size()
    }

    /// Reads a run's manifest.
    pub fn read(dir: &Path) -> Result<Self, AuditError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| AuditError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| AuditError::Setting {
            setting: "manifest",
            reason: format!("{}: {e}", path.display()),
        })
    }

    fn to_json(&self, path: &Path) -> Result<String, OutputError> {
        serde_json::to_string_pretty(self)
            .map(|json| json + "\n")
            .map_err(|source| OutputError::Json {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// A fingerprint of `(path, label)` pairs: FNV-1a over their bytes, as hex.
pub(crate) fn fingerprint(items: impl IntoIterator<Item = (PathBuf, Option<usize>)>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (path, label) in items {
        eat(path.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&label.map_or(u64::MAX, |l| l as u64).to_le_bytes());
    }
    format!("{hash:016x}")
}

/// A run's directory, opened for writing.
#[derive(Debug)]
pub(crate) struct RunDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl RunDir {
    /// Creates the run's directory and manifest, or — with `resume` — opens the run there, whose
    /// manifest must equal `manifest`. A directory with a run is never reused without `resume`,
    /// except by the shards of a sharded run, which share it (each keeps the chunks it finds
    /// done).
    pub fn open(dir: &Path, manifest: Manifest, resume: bool) -> Result<Self, AuditError> {
        let resume = resume || manifest.shards > 1;
        ensure_dir(dir)?;
        ensure_dir(&dir.join("maps"))?;
        ensure_dir(&dir.join("index"))?;
        let path = dir.join(MANIFEST);
        if path.exists() {
            if !resume {
                return Err(AuditError::RunExists {
                    dir: dir.to_path_buf(),
                    manifest: path,
                });
            }
            let found = Manifest::read(dir)?;
            compare(dir, &found, &manifest)?;
        } else {
            // Also the check that the directory is writable, before any work.
            write_atomic(&path, manifest.to_json(&path)?.as_bytes())?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn maps_name(chunk: usize) -> String {
        format!("maps/chunk-{chunk:06}.safetensors")
    }

    pub fn index_path(&self, chunk: usize) -> PathBuf {
        self.dir.join(format!("index/chunk-{chunk:06}.parquet"))
    }

    /// Whether a chunk is complete: its index part (written last) and its maps file exist.
    pub fn is_done(&self, chunk: usize) -> bool {
        self.index_path(chunk).is_file() && self.dir.join(Self::maps_name(chunk)).is_file()
    }

    /// Writes a chunk: its maps, then its index part.
    pub fn write_chunk(
        &self,
        chunk: usize,
        rows: &[Row],
        maps: &ChunkMaps,
    ) -> Result<(), AuditError> {
        let maps_name = Self::maps_name(chunk);
        let maps_path = self.dir.join(&maps_name);
        maps.write(&self.manifest, &maps_path)?;
        let index_path = self.index_path(chunk);
        let batch =
            index_batch(&self.manifest, rows, &maps_name).map_err(|source| AuditError::Index {
                path: index_path.clone(),
                source,
            })?;
        write_atomic(&index_path, &encode_parquet(&[batch], &index_path)?)?;
        Ok(())
    }
}

/// Refuses to resume a run whose manifest differs, naming the first differing field.
fn compare(dir: &Path, found: &Manifest, expected: &Manifest) -> Result<(), AuditError> {
    let (Ok(serde_json::Value::Object(found)), Ok(serde_json::Value::Object(expected))) =
        (serde_json::to_value(found), serde_json::to_value(expected))
    else {
        return Ok(());
    };
    for (field, value) in &expected {
        let old = found.get(field).cloned().unwrap_or(serde_json::Value::Null);
        if &old != value {
            return Err(AuditError::RunMismatch {
                dir: dir.to_path_buf(),
                field: field.clone(),
                found: old.to_string(),
                expected: value.to_string(),
            });
        }
    }
    Ok(())
}

/// One image's row of the index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Position in the dataset.
    pub index: usize,
    /// The image's file (or name in memory).
    pub path: String,
    /// Its label, when known.
    pub label: Option<usize>,
    /// The model's arg-max class.
    pub prediction: Option<usize>,
    /// Softmax probability of the prediction.
    pub probability: Option<f32>,
    /// The class explained.
    pub target: Option<usize>,
    /// Softmax probability of the target.
    pub target_probability: Option<f32>,
    /// The differentiated score of the target.
    pub score: Option<f32>,
    /// What was done to make the file the model's input (`16-bit; resized from 640×480`).
    pub conversions: Option<String>,
    /// Why the image was not explained: the failure's kind.
    pub reason: Option<String>,
    /// Why the image was not explained: the full message.
    pub error: Option<String>,
    /// Row of its maps in the chunk's maps file.
    pub maps_row: Option<usize>,
    /// Per method, the statistics of its map (empty for a failed image).
    pub stats: Vec<MapStats>,
    /// The image's ground-truth box at the model's input size, when known.
    pub truth: Option<PixelBox>,
    /// Per method, how well its map localises `truth` (empty without one).
    pub localisation: Vec<Localisation>,
}

/// The maps of one chunk's explained images, per method, row after row.
#[derive(Debug, Default)]
pub(crate) struct ChunkMaps {
    /// Dataset positions of the rows.
    pub indices: Vec<i64>,
    /// Per method, the rows' values, concatenated.
    pub values: Vec<Vec<f32>>,
}

impl ChunkMaps {
    pub fn new(methods: usize) -> Self {
        Self {
            indices: Vec::new(),
            values: vec![Vec::new(); methods],
        }
    }

    /// Writes the chunk's maps file (atomically) at `path`.
    fn write(&self, manifest: &Manifest, path: &Path) -> Result<(), AuditError> {
        let rows = self.indices.len();
        // Little-endian values are the format's bytes as they lie in memory, and safetensors
        // streams them to the file: no copy of the chunk (which would make memory peak higher
        // whenever a write meets the largest step of a backward pass).
        // f16 keeps each map to three significant digits of its own largest value: maps are
        // divided by it (stored as `<method>.scale`), since gradients of 1e-5 and below would
        // otherwise fall among half precision's subnormals.
        let scales: Vec<Vec<f32>> = match manifest.dtype {
            MapDtype::F32 => Vec::new(),
            MapDtype::F16 => self
                .values
                .iter()
                .map(|values| {
                    values
                        .chunks((values.len() / rows.max(1)).max(1))
                        .map(|map| {
                            let largest = map.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
                            if largest > 0.0 { largest } else { 1.0 }
                        })
                        .collect()
                })
                .collect(),
        };
        let bytes: Vec<std::borrow::Cow<'_, [u8]>> = self
            .values
            .iter()
            .enumerate()
            .map(|(m, values)| match manifest.dtype {
                MapDtype::F32 => little_endian(values),
                MapDtype::F16 => {
                    let per_map = values.len() / rows.max(1);
                    let halves: Vec<half::f16> = values
                        .iter()
                        .enumerate()
                        .map(|(i, &v)| half::f16::from_f32(v / scales[m][i / per_map]))
                        .collect();
                    little_endian(&halves).into_owned().into()
                }
            })
            .collect();
        let index_bytes = little_endian(&self.indices);
        let dtype = match manifest.dtype {
            MapDtype::F32 => Dtype::F32,
            MapDtype::F16 => Dtype::F16,
        };
        let failed = |e: safetensors::SafeTensorError| AuditError::Maps {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut views = Vec::with_capacity(self.values.len() + 1);
        views.push((
            "index".to_owned(),
            safetensors::tensor::TensorView::new(Dtype::I64, vec![rows], &index_bytes)
                .map_err(failed)?,
        ));
        for ((name, [c, h, w]), bytes) in manifest
            .methods
            .iter()
            .zip(&manifest.map_shapes)
            .zip(&bytes)
        {
            views.push((
                name.clone(),
                safetensors::tensor::TensorView::new(dtype, vec![rows, *c, *h, *w], bytes)
                    .map_err(failed)?,
            ));
        }
        let scale_names: Vec<String> = manifest
            .methods
            .iter()
            .map(|m| format!("{m}.scale"))
            .collect();
        let scale_bytes: Vec<std::borrow::Cow<'_, [u8]>> =
            scales.iter().map(|s| little_endian(s)).collect();
        for (name, bytes) in scale_names.iter().zip(&scale_bytes) {
            views.push((
                name.clone(),
                safetensors::tensor::TensorView::new(Dtype::F32, vec![rows], bytes)
                    .map_err(failed)?,
            ));
        }
        write_atomic_with(path, |temp| {
            safetensors::serialize_to_file(views, None, temp).map_err(std::io::Error::other)
        })?;
        Ok(())
    }
}

/// The little-endian bytes of `values`: borrowed where the machine is little-endian.
fn little_endian<T: bytemuck::Pod>(values: &[T]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        bytemuck::cast_slice(values).into()
    } else {
        let size = std::mem::size_of::<T>();
        bytemuck::cast_slice::<T, u8>(values)
            .chunks_exact(size)
            .flat_map(|value| value.iter().rev().copied())
            .collect::<Vec<u8>>()
            .into()
    }
}

/// One localisation metric of a map.
type LocalisationValue = fn(&Localisation) -> Option<f32>;
/// A side of a box.
type BoxSide = fn(&PixelBox) -> usize;

/// The localisation columns of each method (after `<method>_pointing_game`), as
/// `<method>_<name>`.
const LOCALISATION_COLUMNS: [(&str, LocalisationValue); 4] = [
    ("energy_pointing_game", |l| l.energy_pointing_game),
    ("relevance_mass", |l| l.relevance_mass),
    ("relevance_rank", |l| l.relevance_rank),
    ("wsol_iou", |l| l.wsol_iou),
];

/// The index's columns: the image and the model's verdict, then per method its statistics.
fn index_batch(
    manifest: &Manifest,
    rows: &[Row],
    maps_name: &str,
) -> Result<RecordBatch, parquet::errors::ParquetError> {
    let name =
        |label: Option<usize>| label.and_then(|l| manifest.classes.as_ref()?.get(l).cloned());
    let as_i64 = |v: Option<usize>| v.map(|v| v as i64);
    let mut fields = vec![
        Field::new("index", DataType::UInt64, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("label", DataType::Int64, true),
        Field::new("label_name", DataType::Utf8, true),
        Field::new("prediction", DataType::Int64, true),
        Field::new("prediction_name", DataType::Utf8, true),
        Field::new("probability", DataType::Float32, true),
        Field::new("correct", DataType::Boolean, true),
        Field::new("target", DataType::Int64, true),
        Field::new("target_probability", DataType::Float32, true),
        Field::new("score", DataType::Float32, true),
        Field::new("conversions", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("maps_file", DataType::Utf8, true),
        Field::new("maps_row", DataType::UInt32, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.index as u64),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.path.as_str()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| as_i64(r.label)))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| name(r.label)))),
        Arc::new(Int64Array::from_iter(
            rows.iter().map(|r| as_i64(r.prediction)),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| name(r.prediction)),
        )),
        Arc::new(Float32Array::from_iter(rows.iter().map(|r| r.probability))),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.label? == r.prediction?)),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| as_i64(r.target)))),
        Arc::new(Float32Array::from_iter(
            rows.iter().map(|r| r.target_probability),
        )),
        Arc::new(Float32Array::from_iter(rows.iter().map(|r| r.score))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.conversions.clone()),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.reason.clone()),
        )),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.error.clone()))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.maps_row.map(|_| maps_name)),
        )),
        Arc::new(UInt32Array::from_iter(
            rows.iter().map(|r| r.maps_row.map(|m| m as u32)),
        )),
    ];
    if manifest.truth.is_some() {
        let sides: [(&str, BoxSide); 4] = [
            ("box_y0", |b| b.y0),
            ("box_x0", |b| b.x0),
            ("box_y1", |b| b.y1),
            ("box_x1", |b| b.x1),
        ];
        for (name, side) in sides {
            fields.push(Field::new(name, DataType::UInt32, true));
            columns.push(Arc::new(UInt32Array::from_iter(
                rows.iter()
                    .map(|r| r.truth.as_ref().map(|b| side(b) as u32)),
            )));
        }
    }
    for (m, method) in manifest.methods.iter().enumerate() {
        let prefix = column_prefix(method);
        let stat = |f: fn(&MapStats) -> Option<f32>| {
            Arc::new(Float32Array::from_iter(
                rows.iter().map(|r| r.stats.get(m).and_then(f)),
            )) as ArrayRef
        };
        let position = |f: fn(&MapStats) -> usize| {
            Arc::new(UInt32Array::from_iter(
                rows.iter().map(|r| r.stats.get(m).map(|s| f(s) as u32)),
            )) as ArrayRef
        };
        fields.push(Field::new(
            format!("{prefix}_peak_y"),
            DataType::UInt32,
            true,
        ));
        columns.push(position(|s| s.peak_y));
        fields.push(Field::new(
            format!("{prefix}_peak_x"),
            DataType::UInt32,
            true,
        ));
        columns.push(position(|s| s.peak_x));
        fields.push(Field::new(format!("{prefix}_max"), DataType::Float32, true));
        columns.push(stat(|s| Some(s.max)));
        fields.push(Field::new(
            format!("{prefix}_total"),
            DataType::Float32,
            true,
        ));
        columns.push(stat(|s| Some(s.total)));
        fields.push(Field::new(
            format!("{prefix}_centre_share"),
            DataType::Float32,
            true,
        ));
        columns.push(stat(|s| s.centre_share));
        if manifest.region.is_some() {
            fields.push(Field::new(
                format!("{prefix}_region_share"),
                DataType::Float32,
                true,
            ));
            columns.push(stat(|s| s.region_share));
        }
        if manifest.truth.is_some() {
            let found = |r: &Row| r.localisation.get(m).copied();
            fields.push(Field::new(
                format!("{prefix}_pointing_game"),
                DataType::Boolean,
                true,
            ));
            columns.push(Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| found(r)?.pointing_game),
            )));
            for (name, metric) in LOCALISATION_COLUMNS {
                fields.push(Field::new(
                    format!("{prefix}_{name}"),
                    DataType::Float32,
                    true,
                ));
                columns.push(Arc::new(Float32Array::from_iter(
                    rows.iter().map(|r| metric(&found(r)?)),
                )));
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn encode_parquet(batches: &[RecordBatch], path: &Path) -> Result<Vec<u8>, AuditError> {
    let failed = |source| AuditError::Index {
        path: path.to_path_buf(),
        source,
    };
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, first.schema(), Some(properties)).map_err(failed)?;
    for batch in batches {
        writer.write(batch).map_err(failed)?;
    }
    writer.close().map_err(failed)?;
    Ok(bytes)
}

/// Reads an index file (a chunk's part or the merged index) as Arrow record batches.
pub fn read_index(path: &Path) -> Result<Vec<RecordBatch>, AuditError> {
    let failed = |source| AuditError::Index {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(failed)?
        .build()
        .map_err(failed)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.into()))
}

/// Reads an index file back as [`Row`]s, the methods' statistics in `manifest`'s order.
///
/// ```no_run
/// use gradcam_audit::{Manifest, read_rows};
/// let dir = std::path::Path::new("runs/val");
/// let rows = read_rows(&dir.join("index.parquet"), &Manifest::read(dir)?)?;
/// let wrong = rows.iter().filter(|r| r.label.is_some() && r.label != r.prediction).count();
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
pub fn read_rows(path: &Path, manifest: &Manifest) -> Result<Vec<Row>, AuditError> {
    let mut rows = Vec::new();
    for batch in read_index(path)? {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| AuditError::Maps {
                path: path.to_path_buf(),
                reason: format!("the index has no column `{name}`"),
            })
        };
        let wrong = |name: &str| AuditError::Maps {
            path: path.to_path_buf(),
            reason: format!("column `{name}` has another type"),
        };
        macro_rules! typed {
            ($name:expr, $ty:ty) => {{
                let name: &str = $name;
                column(name)?
                    .as_any()
                    .downcast_ref::<$ty>()
                    .ok_or_else(|| wrong(name))?
                    .clone()
            }};
        }
        let index = typed!("index", UInt64Array);
        let paths = typed!("path", StringArray);
        let label = typed!("label", Int64Array);
        let prediction = typed!("prediction", Int64Array);
        let probability = typed!("probability", Float32Array);
        let target = typed!("target", Int64Array);
        let target_probability = typed!("target_probability", Float32Array);
        let score = typed!("score", Float32Array);
        let conversions = typed!("conversions", StringArray);
        let reason = typed!("reason", StringArray);
        let error = typed!("error", StringArray);
        let maps_row = typed!("maps_row", UInt32Array);
        let mut stats = Vec::new();
        for method in &manifest.methods {
            let prefix = column_prefix(method);
            let region = match manifest.region {
                Some(_) => Some(typed!(&format!("{prefix}_region_share"), Float32Array)),
                None => None,
            };
            stats.push((
                typed!(&format!("{prefix}_peak_y"), UInt32Array),
                typed!(&format!("{prefix}_peak_x"), UInt32Array),
                typed!(&format!("{prefix}_max"), Float32Array),
                typed!(&format!("{prefix}_total"), Float32Array),
                typed!(&format!("{prefix}_centre_share"), Float32Array),
                region,
            ));
        }
        let mut truth_sides = Vec::new();
        let mut localisation = Vec::new();
        if manifest.truth.is_some() {
            for side in ["box_y0", "box_x0", "box_y1", "box_x1"] {
                truth_sides.push(typed!(side, UInt32Array));
            }
            for method in &manifest.methods {
                let prefix = column_prefix(method);
                let mut values = Vec::new();
                for (name, _) in LOCALISATION_COLUMNS {
                    values.push(typed!(&format!("{prefix}_{name}"), Float32Array));
                }
                localisation.push((
                    typed!(&format!("{prefix}_pointing_game"), BooleanArray),
                    values,
                ));
            }
        }
        let usize_of = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i) as usize);
        let f32_of = |a: &Float32Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        let text_of = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            let explained = !maps_row.is_null(i);
            rows.push(Row {
                index: index.value(i) as usize,
                path: paths.value(i).to_owned(),
                label: usize_of(&label, i),
                prediction: usize_of(&prediction, i),
                probability: f32_of(&probability, i),
                target: usize_of(&target, i),
                target_probability: f32_of(&target_probability, i),
                score: f32_of(&score, i),
                conversions: text_of(&conversions, i),
                reason: text_of(&reason, i),
                error: text_of(&error, i),
                maps_row: explained.then(|| maps_row.value(i) as usize),
                stats: if explained {
                    stats
                        .iter()
                        .map(|(y, x, max, total, centre, region)| MapStats {
                            peak_y: y.value(i) as usize,
                            peak_x: x.value(i) as usize,
                            max: max.value(i),
                            total: total.value(i),
                            centre_share: f32_of(centre, i),
                            region_share: region.as_ref().and_then(|r| f32_of(r, i)),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                truth: match &truth_sides[..] {
                    [y0, x0, y1, x1] if !y0.is_null(i) => Some(PixelBox::new(
                        y0.value(i) as usize,
                        x0.value(i) as usize,
                        y1.value(i) as usize,
                        x1.value(i) as usize,
                    )),
                    _ => None,
                },
                localisation: if explained && truth_sides.first().is_some_and(|s| !s.is_null(i)) {
                    localisation
                        .iter()
                        .map(|(pointing, values)| {
                            let value = |k: usize| f32_of(&values[k], i);
                            Localisation {
                                pointing_game: (!pointing.is_null(i)).then(|| pointing.value(i)),
                                energy_pointing_game: value(0),
                                relevance_mass: value(1),
                                relevance_rank: value(2),
                                wsol_iou: value(3),
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
    }
    Ok(rows)
}

/// What [`merge`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The merged index.
    pub index: PathBuf,
    /// Its rows: every image of the dataset.
    pub rows: usize,
    /// Chunks merged.
    pub chunks: usize,
}

/// Checks that every chunk of the run in `dir` is complete (every shard finished) and writes
/// the whole index, in dataset order, as `dir/index.parquet`; removes the temporary files a
/// killed process left.
///
/// ```no_run
/// let merged = gradcam_audit::merge("runs/imagenet-val".as_ref())?;
/// println!("{} rows in {}", merged.rows, merged.index.display());
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
pub fn merge(dir: &Path) -> Result<Merged, AuditError> {
    let manifest = Manifest::read(dir)?;
    let run = RunDir {
        dir: dir.to_path_buf(),
        manifest,
    };
    let chunks = run.manifest.chunks();
    let missing: Vec<usize> = (0..chunks).filter(|&c| !run.is_done(c)).collect();
    if let Some(&chunk) = missing.first() {
        return Err(AuditError::Incomplete {
            dir: dir.to_path_buf(),
            chunk,
            chunks,
            missing: missing.len(),
            shard: run.manifest.shard_of(chunk),
            shards: run.manifest.shards,
        });
    }
    let mut batches = Vec::new();
    for chunk in 0..chunks {
        batches.extend(read_index(&run.index_path(chunk))?);
    }
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let path = dir.join(MERGED_INDEX);
    write_atomic(&path, &encode_parquet(&batches, &path)?)?;
    for sub in ["maps", "index", "."] {
        remove_partial_files(&dir.join(sub));
    }
    Ok(Merged {
        index: path,
        rows,
        chunks,
    })
}

/// Removes the temporary files of interrupted writes (`.partial-*`); best effort.
fn remove_partial_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".partial-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The maps of one chunk, read back: per method, the rows' maps as f32 (f16 maps multiplied
/// back by their scale).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMaps {
    /// Dataset position of each row.
    pub indices: Vec<i64>,
    /// Per method (in the manifest's order), the rows' values, row after row.
    pub values: Vec<Vec<f32>>,
    /// Per method, the map shape `[C, H, W]`.
    pub shapes: Vec<[usize; 3]>,
}

impl StoredMaps {
    /// The map of `method` (its position in the manifest) in row `row`, if both exist.
    pub fn map(&self, method: usize, row: usize) -> Option<&[f32]> {
        let size = self.shapes.get(method)?.iter().product::<usize>();
        self.values.get(method)?.get(row * size..(row + 1) * size)
    }
}

/// Reads a maps file of the run in `dir` (an index row's `maps_file`, relative to `dir`).
///
/// ```no_run
/// use gradcam_audit::{Manifest, read_maps, read_rows};
/// let dir = std::path::Path::new("runs/val");
/// let manifest = Manifest::read(dir)?;
/// let rows = read_rows(&dir.join("index.parquet"), &manifest)?;
/// let maps = read_maps(dir, &manifest, "maps/chunk-000000.safetensors")?;
/// let first = maps.map(0, rows[0].maps_row.unwrap()).unwrap();
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
pub fn read_maps(
    dir: &Path,
    manifest: &Manifest,
    maps_file: &str,
) -> Result<StoredMaps, AuditError> {
    let path = dir.join(maps_file);
    let bytes = std::fs::read(&path).map_err(|source| AuditError::Read {
        path: path.clone(),
        source,
    })?;
    let failed = |reason: String| AuditError::Maps {
        path: path.clone(),
        reason,
    };
    let tensors =
        safetensors::SafeTensors::deserialize(&bytes).map_err(|e| failed(e.to_string()))?;
    let tensor = |name: &str| {
        tensors
            .tensor(name)
            .map_err(|e| failed(format!("`{name}`: {e}")))
    };
    let index = tensor("index")?;
    if index.dtype() != Dtype::I64 {
        return Err(failed("`index` is not int64".to_owned()));
    }
    let indices = le_values(index.data(), i64::from_le_bytes);
    let rows = indices.len();
    let mut values = Vec::with_capacity(manifest.methods.len());
    for (method, shape) in manifest.methods.iter().zip(&manifest.map_shapes) {
        let view = tensor(method)?;
        let expected = [&[rows][..], &shape[..]].concat();
        if view.shape() != expected {
            return Err(failed(format!(
                "`{method}` has shape {:?}, expected {expected:?}",
                view.shape()
            )));
        }
        values.push(match (view.dtype(), manifest.dtype) {
            (Dtype::F32, MapDtype::F32) => le_values(view.data(), f32::from_le_bytes),
            (Dtype::F16, MapDtype::F16) => {
                let scale = tensor(&format!("{method}.scale"))?;
                if scale.dtype() != Dtype::F32 {
                    return Err(failed(format!("`{method}.scale` is not float32")));
                }
                let scale = le_values(scale.data(), f32::from_le_bytes);
                let per_map = shape.iter().product::<usize>().max(1);
                if scale.len() != rows {
                    return Err(failed(format!(
                        "`{method}.scale` does not hold {rows} values"
                    )));
                }
                le_values(view.data(), half::f16::from_le_bytes)
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| v.to_f32() * scale[i / per_map])
                    .collect()
            }
            (found, _) => {
                return Err(failed(format!(
                    "`{method}` is {found:?}, the manifest says {:?}",
                    manifest.dtype
                )));
            }
        });
    }
    Ok(StoredMaps {
        indices,
        values,
        shapes: manifest.map_shapes.clone(),
    })
}

/// The little-endian values of `N` bytes each in `data` (safetensors has checked that a
/// tensor's data holds whole values of its dtype).
fn le_values<const N: usize, T>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|b| from(std::array::from_fn(|i| b[i])))
        .collect()
}

/// A run as far as it has got: its manifest and the rows of every finished chunk, in dataset
/// order (every image once [`merge`] succeeds).
///
/// ```no_run
/// let (manifest, rows) = gradcam_audit::read_run("runs/val".as_ref())?;
/// println!("{} of {} images done", rows.len(), manifest.images);
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
pub fn read_run(dir: &Path) -> Result<(Manifest, Vec<Row>), AuditError> {
    let manifest = Manifest::read(dir)?;
    let run = RunDir {
        dir: dir.to_path_buf(),
        manifest,
    };
    let mut rows = Vec::new();
    for chunk in (0..run.manifest.chunks()).filter(|&c| run.is_done(c)) {
        rows.extend(read_rows(&run.index_path(chunk), &run.manifest)?);
    }
    Ok((run.manifest, rows))
}
