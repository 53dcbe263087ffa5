//! The audit itself: read ahead, explain batch by batch, write chunk by chunk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel};
use std::time::{Duration, Instant};

use burn::data::dataset::Dataset;
use gradcam_data::files::Conversion;
use gradcam_data::{Images, Normalization};
use gradcam_explain::{
    Attribution, CamSettings, ExplainError, Explainable, ImageAttribution, Map, Prediction, Preset,
    Targets,
};
use serde::Serialize;

use crate::AuditError;
use crate::plan::{MethodSpec, Part, Pass, map_channels, passes};
use crate::prefetch::{Failure, Item, ReadBatch, Reader, prefetch};
use crate::source::Record;
use crate::stats::{MapStats, Region};
use crate::store::{ChunkMaps, Manifest, MapDtype, Row, RunDir, fingerprint};
use crate::truth::{Boxes, Localisation, scale_box};

/// Which share of a dataset this process explains: chunks `c` with `c mod count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// This shard, from 0.
    pub index: usize,
    /// Shards in all.
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Shard `index` of `count`, if `index < count`.
    pub fn new(index: usize, count: usize) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    /// The shard a job array gives this process: Slurm's `SLURM_ARRAY_TASK_ID` (less
    /// `SLURM_ARRAY_TASK_MIN`) of `SLURM_ARRAY_TASK_COUNT`, or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` of `count` (its completions, which the pod is not told).
    /// `None` outside a job array.
    pub fn from_env(count: Option<usize>) -> Result<Option<Self>, AuditError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &'static str, value: String| {
            value
                .trim()
                .parse::<usize>()
                .map_err(|e| AuditError::Setting {
                    setting: name,
                    reason: format!("`{value}`: {e}"),
                })
        };
        let (index, count) = if let Some(id) = var("SLURM_ARRAY_TASK_ID") {
            let min = match var("SLURM_ARRAY_TASK_MIN") {
                Some(min) => number("SLURM_ARRAY_TASK_MIN", min)?,
                None => 0,
            };
            let index = number("SLURM_ARRAY_TASK_ID", id)?.saturating_sub(min);
            let count = match (count, var("SLURM_ARRAY_TASK_COUNT")) {
                (Some(count), _) => count,
                (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", n)?,
                (None, None) => return Err(missing_count("SLURM_ARRAY_TASK_ID")),
            };
            (index, count)
        } else if let Some(id) = var("JOB_COMPLETION_INDEX") {
            let count = count.ok_or_else(|| missing_count("JOB_COMPLETION_INDEX"))?;
            (number("JOB_COMPLETION_INDEX", id)?, count)
        } else {
            return Ok(None);
        };
        Self::new(index, count)
            .map(Some)
            .ok_or_else(|| AuditError::Setting {
                setting: "shard",
                reason: format!("the job array gives shard {index} of {count}"),
            })
    }
}

fn missing_count(variable: &'static str) -> AuditError {
    AuditError::Setting {
        setting: "shards",
        reason: format!("{variable} is set but not the number of shards: give it (`--shards`)"),
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N`: shard K (from 0) of N.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |v: &str| v.trim().parse::<usize>().map_err(|e| format!("`{s}`: {e}"));
        let (index, count) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected K/N, shard K (from 0) of N"))?;
        let (index, count) = (parse(index)?, parse(count)?);
        Self::new(index, count).ok_or_else(|| format!("`{s}`: K must be below N"))
    }
}

/// Which class each image's maps explain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetClass {
    /// The model's prediction.
    #[default]
    Predicted,
    /// The image's label (an image without one fails with reason `label`).
    Label,
    /// One class for every image.
    Class(usize),
}

/// An audit's settings. [`AuditConfig::new`] gives the defaults; set the fields to change them.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// The model as the manifest names it (network, weights, layer): a run is resumed only
    /// with the same.
    pub model: String,
    /// The methods, each a set of maps and index columns.
    pub methods: Vec<MethodSpec>,
    /// The CAMs' settings (default: pytorch-grad-cam's preset).
    pub cam_settings: CamSettings,
    /// The class explained.
    pub target: TargetClass,
    /// The score of that class and its gradient (`Targets`' score and gradient; its classes
    /// are ignored).
    pub score: Targets,
    /// The input normalisation.
    pub normalization: Normalization,
    /// Resize images of another size to the model's input (bilinear) instead of failing them.
    pub resize: bool,
    /// Images per forward/backward pass.
    pub batch_size: usize,
    /// Images per chunk, the unit of output files and of resuming (rounded up to whole
    /// batches); default: the most whole batches within 64 MiB of maps and 512 images (one
    /// batch when a batch is larger).
    pub chunk_images: Option<usize>,
    /// How the maps are stored.
    pub dtype: MapDtype,
    /// A box whose share of every map the index records.
    pub region: Option<Region>,
    /// Each image's ground-truth box, if known: the index then records how well every map
    /// localises it ([`Localisation`]). Images without a box get empty columns.
    pub boxes: Option<Boxes>,
    /// This process's share of the dataset.
    pub shard: Shard,
    /// Threads reading and decoding images.
    pub workers: usize,
    /// Batches read ahead of the one explained.
    pub queue_depth: usize,
    /// Stop at the first image that cannot be read or explained, instead of recording it.
    pub strict: bool,
    /// Continue the run already in the output directory (implied for a shard of a sharded run:
    /// the shards share the directory).
    pub resume: bool,
}

impl AuditConfig {
    /// The defaults for `methods` on `model`: predicted classes, pytorch-grad-cam's CAM
    /// settings and score, no normalisation, batch 16, f32 maps, one shard, strict off.
    pub fn new(model: impl Into<String>, methods: Vec<MethodSpec>) -> Self {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            model: model.into(),
            methods,
            cam_settings: Preset::PytorchGradCam.cam_settings(),
            target: TargetClass::Predicted,
            score: Targets::predicted().with_score(Preset::PytorchGradCam.score()),
            normalization: Normalization::None,
            resize: false,
            batch_size: 16,
            chunk_images: None,
            dtype: MapDtype::F32,
            region: None,
            boxes: None,
            shard: Shard::default(),
            workers,
            queue_depth: 2,
            strict: false,
            resume: false,
        }
    }

    fn check(&self) -> Result<(), AuditError> {
        let setting = |setting, reason: &str| {
            Err(AuditError::Setting {
                setting,
                reason: reason.to_owned(),
            })
        };
        if self.methods.is_empty() {
            return setting("methods", "at least one method is needed");
        }
        for (i, spec) in self.methods.iter().enumerate() {
            if self.methods[..i].iter().any(|s| s.name() == spec.name()) {
                return Err(AuditError::Method {
                    name: spec.name().to_owned(),
                    reason: "named twice".to_owned(),
                });
            }
        }
        if self.batch_size == 0 {
            return setting("batch size", "at least 1");
        }
        if self.chunk_images == Some(0) {
            return setting("chunk images", "at least 1");
        }
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            return setting("shard", "K/N needs K < N");
        }
        Ok(())
    }

    /// What the manifest records of the explanation's settings.
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "cam_settings": self.cam_settings,
            "target": self.target,
            "score": self.score.target().label(),
            "score_gradient": self.score.gradient().to_string(),
            "normalization": self.normalization.name(),
            "resize": self.resize,
        })
    }
}

/// What an audit reports as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// The run is about to read its first batch.
    Started {
        /// Images in this shard's chunks.
        images: usize,
        /// Of those, the images already done (in chunks a previous run completed).
        done: usize,
        /// Chunks in this shard, and of those the chunks already done.
        chunks: (usize, usize),
    },
    /// A batch was explained.
    Batch {
        /// Its images.
        images: usize,
        /// Of those, the images that failed.
        failed: usize,
    },
    /// A chunk's files were written.
    Chunk {
        /// Its number.
        chunk: usize,
    },
}

/// What an audit did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The run's directory.
    pub dir: PathBuf,
    /// Images of this shard handled by this call.
    pub images: usize,
    /// Of those, the images explained.
    pub explained: usize,
    /// Failures by reason.
    pub failures: BTreeMap<String, usize>,
    /// Of those explained, the images with a ground-truth box.
    pub localised: usize,
    /// Images of this shard a previous run had already done.
    pub resumed: usize,
    /// Chunks written by this call.
    pub chunks_written: usize,
    /// Wall time of this call.
    pub wall: Duration,
}

impl Summary {
    /// Images that failed.
    pub fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    /// Images handled per second of wall time.
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The default size of a chunk: at most this many bytes of maps…
const CHUNK_BYTES: usize = 64 << 20;
/// …and at most this many images (small maps make many images a chunk; a resumed run redoes
/// at most one chunk).
const CHUNK_IMAGES: usize = 512;
/// Bytes of index per image, for the free-space estimate.
const INDEX_BYTES_PER_IMAGE: usize = 512;

/// Explains `dataset` with `model` as `config` says, writing the run to `out` (see
/// [`crate::store`] for its files) and telling `progress` as it goes.
///
/// Images are read `config.queue_depth` batches ahead on `config.workers` threads; memory is
/// bounded by that and one chunk's maps. An image that cannot be read or explained becomes a
/// row with its reason (or, with `config.strict`, stops the run). Killing the process loses at
/// most the chunk in progress: `config.resume` continues, and the outputs equal those of an
/// uninterrupted run.
///
/// ```no_run
/// use gradcam_audit::{AuditConfig, Records, audit};
/// # fn model() -> Box<dyn gradcam_explain::Explainable> { unimplemented!() }
/// let model = model();
/// let records = Records::image_folder("val")?;
/// let mut config = AuditConfig::new("resnet18 (weights.pth, layer4)", vec!["guided-grad-cam".parse()?]);
/// config.resize = true;
/// let summary = audit(model.as_ref(), &records, records.classes(), &config, "runs/val".as_ref(), &mut |_| {})?;
/// println!("{} images, {} failed, {:.1} images/s", summary.images, summary.failed(), summary.images_per_second());
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
pub fn audit<D: Dataset<Record> + ?Sized>(
    model: &dyn Explainable,
    dataset: &D,
    classes: Option<&[String]>,
    config: &AuditConfig,
    out: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, AuditError> {
    let started = Instant::now();
    config.check()?;
    let specs: Vec<MethodSpec> = config
        .methods
        .iter()
        .map(|s| s.clone().with_cam_settings(config.cam_settings))
        .collect();
    let [channels, height, width] = model.input_shape();
    let map_shapes: Vec<[usize; 3]> = specs
        .iter()
        .map(|s| [map_channels(s.method(), channels), height, width])
        .collect();
    let images = dataset.len();
    if images == 0 {
        return Err(AuditError::Setting {
            setting: "dataset",
            reason: "holds no image".to_owned(),
        });
    }
    // An item the dataset cannot give is fingerprinted as nothing; it fails when read.
    let fingerprint = fingerprint((0..images).map(|i| {
        dataset
            .get(i)
            .map_or((PathBuf::new(), None), |r| (r.path, r.label))
    }));
    let batch_size = config.batch_size;
    let mut manifest = Manifest {
        format: 1,
        model: config.model.clone(),
        input: [channels, height, width],
        methods: specs.iter().map(|s| s.name().to_owned()).collect(),
        map_shapes,
        settings: config.settings(),
        dtype: config.dtype,
        region: config.region,
        truth: config.boxes.as_ref().map(|b| b.source().to_owned()),
        batch_size,
        batches_per_chunk: 1,
        images,
        fingerprint,
        classes: classes.map(<[String]>::to_vec),
        shards: config.shard.count,
    };
    let per_image = manifest.map_bytes_per_image().max(1);
    manifest.batches_per_chunk = match config.chunk_images {
        Some(n) => n.div_ceil(batch_size),
        // Whole batches within the limits, or one batch when a batch exceeds them.
        None => ((CHUNK_BYTES / per_image).min(CHUNK_IMAGES) / batch_size).max(1),
    };
    let run = RunDir::open(out, manifest, config.resume)?;
    let manifest = &run.manifest;

    let chunk_range = |chunk: usize| {
        let size = manifest.chunk_images();
        chunk * size..((chunk + 1) * size).min(images)
    };
    let mine: Vec<usize> = (0..manifest.chunks())
        .filter(|&c| manifest.shard_of(c) == config.shard.index)
        .collect();
    let todo: Vec<usize> = mine.iter().copied().filter(|&c| !run.is_done(c)).collect();
    let total: usize = mine.iter().map(|&c| chunk_range(c).len()).sum();
    let to_do: usize = todo.iter().map(|&c| chunk_range(c).len()).sum();
    check_space(out, to_do * (per_image + INDEX_BYTES_PER_IMAGE))?;
    progress(&Progress::Started {
        images: total,
        done: total - to_do,
        chunks: (mine.len(), mine.len() - todo.len()),
    });

    // Every batch of the chunks to do, in order, each tagged with its chunk.
    let mut batches = Vec::new();
    for &chunk in &todo {
        let range = chunk_range(chunk);
        for start in range.clone().step_by(batch_size) {
            batches.push((chunk, start..(start + batch_size).min(range.end)));
        }
    }
    let last_batch_of_chunk: Vec<bool> = (0..batches.len())
        .map(|b| batches.get(b + 1).is_none_or(|next| next.0 != batches[b].0))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.workers.max(1))
        .thread_name(|i| format!("audit-read-{i}"))
        .build()
        .map_err(|e| AuditError::Setting {
            setting: "workers",
            reason: e.to_string(),
        })?;
    let reader = Reader {
        shape: [channels, height, width],
        resize: config.resize,
    };
    let plan = passes(&specs);
    let mut summary = Summary {
        dir: out.to_path_buf(),
        resumed: total - to_do,
        ..Summary::default()
    };
    std::thread::scope(|scope| -> Result<(), AuditError> {
        let numbered = batches
            .iter()
            .enumerate()
            .map(|(b, (_, range))| (b, range.clone()))
            .collect();
        let received = prefetch(scope, dataset, numbered, reader, &pool, config.queue_depth);
        // Chunks are written on a thread of their own, so that encoding them and waiting for
        // the disk (each file is synced) overlap the next batches' explanation.
        let (to_writer, inbox) = sync_channel::<(usize, Vec<Row>, ChunkMaps)>(1);
        let (written_sender, written) = channel::<usize>();
        let run = &run;
        let writer = scope.spawn(move || -> Result<(), AuditError> {
            for (chunk, rows, maps) in inbox {
                run.write_chunk(chunk, &rows, &maps)?;
                // The receiver outlives this thread unless the run already failed.
                let _ = written_sender.send(chunk);
            }
            Ok(())
        });
        let report_written = |summary: &mut Summary, progress: &mut dyn FnMut(&Progress)| {
            for chunk in written.try_iter() {
                summary.chunks_written += 1;
                progress(&Progress::Chunk { chunk });
            }
        };
        let mut rows = Vec::new();
        let mut maps = ChunkMaps::new(specs.len());
        for ReadBatch { batch, items } in received {
            let chunk = batches[batch].0;
            let count = items.len();
            let results = explain_batch(model, items, config, &plan, specs.len())?;
            let mut failed = 0;
            for (item, result) in results {
                let mut row = Row {
                    index: item.index,
                    path: item.record.path.to_string_lossy().into_owned(),
                    label: item.record.label,
                    ..Row::default()
                };
                let mut original = None;
                if let Ok((_, conversions)) = &item.image
                    && !conversions.is_empty()
                {
                    let text: Vec<String> = conversions.iter().map(ToString::to_string).collect();
                    row.conversions = Some(text.join("; "));
                    original = conversions.iter().find_map(|c| match c {
                        Conversion::Resized([w, h]) => Some([*w as usize, *h as usize]),
                        _ => None,
                    });
                }
                let truth = config.boxes.as_ref().and_then(|boxes| {
                    scale_box(boxes.get(&item.record.path)?, original, [height, width])
                });
                match result {
                    Ok((prediction, image_maps)) => {
                        fill_prediction(&mut row, &prediction);
                        row.truth = truth;
                        summary.localised += usize::from(truth.is_some());
                        row.maps_row = Some(maps.indices.len());
                        maps.indices.push(item.index as i64);
                        for (m, map) in image_maps.iter().enumerate() {
                            if map.shape != manifest.map_shapes[m] {
                                return Err(AuditError::Maps {
                                    path: run.dir.join(RunDir::maps_name(chunk)),
                                    reason: format!(
                                        "{} gave a {:?} map, expected {:?}",
                                        manifest.methods[m], map.shape, manifest.map_shapes[m]
                                    ),
                                });
                            }
                            row.stats
                                .push(MapStats::of(&map.values, map.shape, config.region));
                            if let Some(truth) = truth {
                                row.localisation.push(Localisation::of(
                                    &map.values,
                                    map.shape,
                                    truth,
                                ));
                            }
                            maps.values[m].extend_from_slice(&map.values);
                        }
                    }
                    Err(failure) => {
                        if config.strict {
                            return Err(AuditError::Strict {
                                index: item.index,
                                path: item.record.path,
                                reason: failure.reason,
                                message: failure.message,
                            });
                        }
                        failed += 1;
                        *summary
                            .failures
                            .entry(failure.reason.to_owned())
                            .or_default() += 1;
                        row.reason = Some(failure.reason.to_owned());
                        row.error = Some(failure.message);
                    }
                }
                rows.push(row);
            }
            summary.images += count;
            summary.explained += count - failed;
            progress(&Progress::Batch {
                images: count,
                failed,
            });
            if last_batch_of_chunk[batch] {
                let done = (
                    chunk,
                    std::mem::take(&mut rows),
                    std::mem::replace(&mut maps, ChunkMaps::new(specs.len())),
                );
                if to_writer.send(done).is_err() {
                    // The writer stopped on an error, which its join returns.
                    break;
                }
            }
            report_written(&mut summary, progress);
        }
        drop(to_writer);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        report_written(&mut summary, progress);
        written
    })?;
    summary.wall = started.elapsed();
    Ok(summary)
}

fn fill_prediction(row: &mut Row, p: &Prediction) {
    row.prediction = Some(p.predicted);
    row.probability = p.probabilities.get(p.predicted).copied();
    row.target = Some(p.target);
    row.target_probability = p.probabilities.get(p.target).copied();
    row.score = Some(p.score);
}

/// Refuses to start when the output's file system has less free space than `needed`.
fn check_space(dir: &Path, needed: usize) -> Result<(), AuditError> {
    let available = fs4::available_space(dir).map_err(|source| AuditError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    if (needed as u64) > available {
        return Err(AuditError::DiskFull {
            dir: dir.to_path_buf(),
            needed: needed as u64,
            available,
        });
    }
    Ok(())
}

/// An explained image: its prediction and, per method, its map.
type Explained = (Prediction, Vec<Map>);
/// An image of a batch with what became of it.
type Outcome = (Item, Result<Explained, Failure>);

/// Explains the readable images of a batch, every pass of the plan on one input tensor; an
/// image whose own values break a pass (a non-finite value, a label out of range) is retried
/// alone so that only it fails.
fn explain_batch(
    model: &dyn Explainable,
    items: Vec<Item>,
    config: &AuditConfig,
    plan: &[Pass],
    methods: usize,
) -> Result<Vec<Outcome>, AuditError> {
    let mut results: Vec<Outcome> = Vec::with_capacity(items.len());
    let mut ready = Vec::new();
    for item in items {
        let failure = match &item.image {
            Err(failure) => Some(failure.clone()),
            Ok(_) if config.target == TargetClass::Label && item.record.label.is_none() => {
                Some(Failure::new(
                    "label",
                    format!("{} has no label to explain", item.record.path.display()),
                ))
            }
            Ok(_) => None,
        };
        match failure {
            Some(failure) => results.push((item, Err(failure))),
            None => ready.push(item),
        }
    }
    let alone = |item: &Item| -> Result<Result<Explained, Failure>, ExplainError> {
        match run_passes(model, std::slice::from_ref(item), config, plan, methods) {
            Ok(mut one) => one.pop().map(Ok).ok_or(ExplainError::EmptyBatch),
            Err(error) if image_specific(&error, config) => {
                Ok(Err(Failure::new(failure_reason(&error), &error)))
            }
            Err(error) => Err(error),
        }
    };
    let explained: Vec<Result<Explained, Failure>> =
        match run_passes(model, &ready, config, plan, methods) {
            Ok(explained) => explained.into_iter().map(Ok).collect(),
            Err(error) if image_specific(&error, config) => {
                ready.iter().map(alone).collect::<Result<_, _>>()?
            }
            Err(error) => return Err(error.into()),
        };
    results.extend(ready.into_iter().zip(explained));
    results.sort_by_key(|(item, _)| item.index);
    Ok(results)
}

/// Whether a method's error is one image's doing rather than the run's.
fn image_specific(error: &ExplainError, config: &AuditConfig) -> bool {
    match error {
        ExplainError::NonFinite { .. } => true,
        ExplainError::TargetOutOfRange { .. } => config.target == TargetClass::Label,
        _ => false,
    }
}

fn failure_reason(error: &ExplainError) -> &'static str {
    match error {
        ExplainError::NonFinite { .. } => "non-finite",
        ExplainError::TargetOutOfRange { .. } => "label",
        _ => "explain",
    }
}

/// Every pass of the plan on `items` (all readable): per image, the prediction of the first
/// pass and each method's map.
fn run_passes(
    model: &dyn Explainable,
    items: &[Item],
    config: &AuditConfig,
    plan: &[Pass],
    methods: usize,
) -> Result<Vec<Explained>, ExplainError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let [channels, height, width] = model.input_shape();
    let mut pixels = Vec::with_capacity(items.len() * channels * height * width);
    for item in items {
        if let Ok((values, _)) = &item.image {
            pixels.extend_from_slice(values);
        }
    }
    let images = Images::new([items.len(), channels, height, width], pixels).map_err(|e| {
        ExplainError::DeviceRead {
            reason: e.to_string(),
        }
    })?;
    let input = images.to_tensor(config.normalization, &model.device());
    let targets = match config.target {
        TargetClass::Predicted => Targets::predicted(),
        TargetClass::Class(class) => Targets::class(class),
        TargetClass::Label => Targets::classes(
            items
                .iter()
                .map(|i| i.record.label.unwrap_or(0))
                .collect::<Vec<_>>(),
        ),
    }
    .with_shared_target(config.score.target().clone())
    .with_gradient(config.score.gradient());
    let mut predictions = Vec::with_capacity(items.len());
    let mut maps: Vec<Vec<Option<Map>>> = vec![vec![None; methods]; items.len()];
    for (p, pass) in plan.iter().enumerate() {
        let host: Vec<ImageAttribution> = pass
            .method
            .attribute(model, input.clone(), &targets)?
            .to_host()?;
        for (image, result) in host.into_iter().enumerate() {
            let ImageAttribution {
                prediction,
                map,
                cam,
                pixel,
                ..
            } = result;
            // Each part serves at most one method (method names are unique).
            let (mut map, mut cam, mut pixel) = (Some(map), cam, pixel);
            for &(method, part) in &pass.serves {
                maps[image][method] = match part {
                    Part::Map => map.take(),
                    Part::Cam => cam.take(),
                    Part::Pixel => pixel.take(),
                };
            }
            // Every pass predicts the same; the first one's are kept.
            if p == 0 {
                predictions.push(prediction);
            }
        }
    }
    predictions
        .into_iter()
        .zip(maps)
        .map(|(prediction, maps)| {
            let maps: Option<Vec<Map>> = maps.into_iter().collect();
            maps.map(|maps| (prediction, maps))
                .ok_or_else(|| ExplainError::DeviceRead {
                    reason: "a product gave no factor".to_owned(),
                })
        })
        .collect()
}
