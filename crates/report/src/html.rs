//! The run's HTML page: facts, classes, galleries and the index as a sortable table, with every
//! picture embedded as a PNG data URI and the rows as JSON, so the page needs nothing but
//! itself.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use burn::data::dataset::Dataset;
use gradcam_audit::{Manifest, Record, Row, StoredMaps, read_maps, read_run};
use gradcam_data::output::write_atomic;
use gradcam_viz::{escape_markup as escape, panel_png};
use rayon::prelude::*;

use crate::ReportError;
use crate::picture::{draw_input, draw_map, input_pixels, outline_boxes, stored_map};

/// The report's name in the run's directory.
pub const REPORT_FILE: &str = "report.html";

/// What a report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportConfig {
    /// Images per class in the class grids (the first explained ones, in dataset order).
    pub per_class: usize,
    /// Images in each of the most and least confident galleries.
    pub extremes: usize,
    /// Misclassified images shown with their maps (the most confident mistakes first).
    pub misclassified: usize,
    /// The largest side of a picture, in pixels.
    pub side: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            per_class: 8,
            extremes: 8,
            misclassified: 24,
            side: 112,
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSummary {
    /// The page.
    pub path: PathBuf,
    /// Rows of the index it holds (the images done so far).
    pub rows: usize,
    /// Pictures embedded (`<img>` elements).
    pub pictures: usize,
    /// Its size in bytes.
    pub bytes: usize,
}

/// Writes `run_dir/report.html` for the run there, as far as it has got, reading the images
/// again from `dataset` (the dataset the run explained).
///
/// ```no_run
/// use gradcam_audit::Records;
/// use gradcam_report::{ReportConfig, write_report};
/// let records = Records::image_folder("val")?;
/// let report = write_report("runs/val".as_ref(), &records, &ReportConfig::default())?;
/// println!("{} ({} pictures)", report.path.display(), report.pictures);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_report<D: Dataset<Record> + Sync + ?Sized>(
    run_dir: &Path,
    dataset: &D,
    config: &ReportConfig,
) -> Result<ReportSummary, ReportError> {
    let (manifest, rows) = read_run(run_dir)?;
    if rows.is_empty() {
        return Err(ReportError::Empty {
            dir: run_dir.to_path_buf(),
        });
    }
    let selection = Selection::of(&rows, config);
    let tiles = draw_tiles(run_dir, dataset, &manifest, &rows, &selection, config)?;
    let mut page = Page::default();
    page.head(&manifest, &rows);
    page.classes(&manifest, &rows, &selection, &tiles);
    page.gallery(
        "Most confident",
        "The images the model is surest of (highest probability of its prediction).",
        &selection.confident,
        &rows,
        &manifest,
        &tiles,
        false,
    );
    page.gallery(
        "Least confident",
        "The images the model is least sure of.",
        &selection.unsure,
        &rows,
        &manifest,
        &tiles,
        false,
    );
    page.gallery(
        "Misclassified",
        "Prediction differs from the label, the most confident mistakes first, with every method's map.",
        &selection.wrong,
        &rows,
        &manifest,
        &tiles,
        true,
    );
    page.failures(&rows);
    page.table(&manifest, &rows);
    let html = page.finish();
    let path = run_dir.join(REPORT_FILE);
    write_atomic(&path, html.as_bytes())?;
    Ok(ReportSummary {
        path,
        rows: rows.len(),
        pictures: page.pictures,
        bytes: html.len(),
    })
}

/// The rows each part of the page shows, by position in `rows`.
#[derive(Default)]
struct Selection {
    per_class: Vec<(usize, Vec<usize>)>,
    confident: Vec<usize>,
    unsure: Vec<usize>,
    wrong: Vec<usize>,
}

/// An explained row's class for the grids: its label, or its prediction without one.
fn class_of(row: &Row) -> Option<usize> {
    row.label.or(row.prediction)
}

impl Selection {
    fn of(rows: &[Row], config: &ReportConfig) -> Self {
        let explained: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].maps_row.is_some())
            .collect();
        let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in &explained {
            if let Some(class) = class_of(&rows[i]) {
                let shown = classes.entry(class).or_default();
                if shown.len() < config.per_class {
                    shown.push(i);
                }
            }
        }
        let probability = |i: &usize| rows[*i].probability.unwrap_or(0.0);
        let mut by_confidence = explained.clone();
        // Stable: ties keep dataset order.
        by_confidence.sort_by(|a, b| probability(b).total_cmp(&probability(a)));
        let confident = by_confidence
            .iter()
            .take(config.extremes)
            .copied()
            .collect();
        let unsure = by_confidence
            .iter()
            .rev()
            .take(config.extremes)
            .copied()
            .collect();
        let wrong = by_confidence
            .iter()
            .filter(|&&i| rows[i].label.is_some() && rows[i].label != rows[i].prediction)
            .take(config.misclassified)
            .copied()
            .collect();
        Self {
            per_class: classes.into_iter().collect(),
            confident,
            unsure,
            wrong,
        }
    }

    /// Every row shown, once, with whether all its maps are (or only the first method's).
    fn shown(&self) -> BTreeMap<usize, bool> {
        let mut shown = BTreeMap::new();
        for &i in self
            .per_class
            .iter()
            .flat_map(|(_, rows)| rows)
            .chain(&self.confident)
            .chain(&self.unsure)
        {
            shown.entry(i).or_insert(false);
        }
        for &i in &self.wrong {
            shown.insert(i, true);
        }
        shown
    }
}

/// A row's pictures as data URIs: its input, then its methods' maps (only the first method's
/// unless all are shown).
type Tiles = HashMap<usize, Vec<String>>;

fn draw_tiles<D: Dataset<Record> + Sync + ?Sized>(
    run_dir: &Path,
    dataset: &D,
    manifest: &Manifest,
    rows: &[Row],
    selection: &Selection,
    config: &ReportConfig,
) -> Result<Tiles, ReportError> {
    let shown = selection.shown();
    let mut files: BTreeMap<String, Vec<(usize, bool)>> = BTreeMap::new();
    for (&i, &all) in &shown {
        files
            .entry(manifest.maps_file(rows[i].index))
            .or_default()
            .push((i, all));
    }
    let mut tiles = Tiles::new();
    // One chunk's maps in memory at a time.
    for (file, wanted) in files {
        let maps = read_maps(run_dir, manifest, &file)?;
        let drawn = wanted
            .par_iter()
            .map(|&(i, all)| {
                Ok((
                    i,
                    row_tiles(dataset, manifest, &rows[i], &maps, all, config)?,
                ))
            })
            .collect::<Result<Vec<_>, ReportError>>()?;
        tiles.extend(drawn);
    }
    Ok(tiles)
}

fn row_tiles<D: Dataset<Record> + ?Sized>(
    dataset: &D,
    manifest: &Manifest,
    row: &Row,
    maps: &StoredMaps,
    all: bool,
    config: &ReportConfig,
) -> Result<Vec<String>, ReportError> {
    let pixels = input_pixels(dataset, row, manifest.input)?;
    let encode = |picture: &image::RgbImage, method: &str| {
        panel_png(picture)
            .map(|png| {
                format!(
                    "data:image/png;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(png)
                )
            })
            .map_err(|source| ReportError::Draw {
                index: row.index,
                method: method.to_owned(),
                source,
            })
    };
    let size = [manifest.input[1], manifest.input[2]];
    let mut input = draw_input(&pixels, manifest.input, config.side, row.index)?;
    outline_boxes(&mut input, row, size, None);
    let mut tiles = vec![encode(&input, "input")?];
    let methods = if all { manifest.methods.len() } else { 1 };
    for (m, method) in manifest.methods.iter().enumerate().take(methods) {
        let map = stored_map(maps, row, m, method)?;
        let mut picture = draw_map(
            &pixels,
            manifest.input,
            map,
            manifest.map_shapes[m],
            config.side,
            row.index,
            method,
        )?;
        outline_boxes(&mut picture, row, size, Some((map, manifest.map_shapes[m])));
        tiles.push(encode(&picture, method)?);
    }
    Ok(tiles)
}

fn class_name(manifest: &Manifest, class: Option<usize>) -> String {
    match class {
        None => "—".to_owned(),
        Some(c) => manifest
            .classes
            .as_ref()
            .and_then(|names| names.get(c).cloned())
            .unwrap_or_else(|| c.to_string()),
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "—".to_owned()
    } else {
        format!("{:.1} %", 100.0 * part as f64 / whole as f64)
    }
}

/// The page being written.
#[derive(Default)]
struct Page {
    body: String,
    pictures: usize,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:.6em}\
figure{margin:0;padding:.3em;border:1px solid #ddd;border-radius:4px;background:#fafafa}\
figure.wrong{border-color:#d33;background:#fff3f3}figure img{image-rendering:pixelated;margin-right:2px}\
figure{width:min-content}.pics{white-space:nowrap}figcaption{font-size:.75em;min-width:14em;overflow-wrap:anywhere}.facts td{text-align:left}\
#rows th{cursor:pointer;user-select:none}#rows th:hover{background:#e3e3ff}.pager{margin:.5em 0}";

/// The table's sorting, paging and filtering, and the page's own check: on load it counts the
/// pictures that decoded and the errors it saw, on `<body>` (`data-pictures-loaded`,
/// `data-errors`), for a browser test to read.
const SCRIPT: &str = r#"
const data = JSON.parse(document.getElementById('index-data').textContent);
let order = data.rows.map((_, i) => i), page = 0, key = null, descending = false;
const perPage = 100;
function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  return String(v);
}
function render() {
  const filter = document.getElementById('filter').value.toLowerCase();
  const visible = order.filter(i => !filter || data.rows[i].some(v => v !== null && String(v).toLowerCase().includes(filter)));
  const pages = Math.max(1, Math.ceil(visible.length / perPage));
  page = Math.min(page, pages - 1);
  const body = document.querySelector('#rows tbody');
  body.replaceChildren();
  for (const i of visible.slice(page * perPage, (page + 1) * perPage)) {
    const tr = document.createElement('tr');
    data.rows[i].forEach((v, c) => {
      const td = document.createElement('td');
      td.textContent = cell(v);
      if (typeof v !== 'number') td.className = 'l';
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  document.getElementById('page').textContent = `page ${page + 1} of ${pages} (${visible.length} rows)`;
}
function sortBy(c) {
  descending = key === c ? !descending : false;
  key = c;
  const value = i => data.rows[i][c];
  order.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === null || x === undefined) return (y === null || y === undefined) ? a - b : 1;
    if (y === null || y === undefined) return -1;
    const d = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return (descending ? -d : d) || a - b;
  });
  render();
}
const head = document.querySelector('#rows thead tr');
data.columns.forEach((name, c) => {
  const th = document.createElement('th');
  th.textContent = name;
  th.title = 'sort by ' + name;
  th.addEventListener('click', () => sortBy(c));
  head.appendChild(th);
});
document.getElementById('filter').addEventListener('input', () => { page = 0; render(); });
document.getElementById('prev').addEventListener('click', () => { page = Math.max(0, page - 1); render(); });
document.getElementById('next').addEventListener('click', () => { page += 1; render(); });
render();
window.addEventListener('load', () => {
  const pictures = Array.from(document.images);
  const loaded = pictures.filter(p => p.complete && p.naturalWidth > 0).length;
  document.body.dataset.pictures = String(pictures.length);
  document.body.dataset.picturesLoaded = String(loaded);
  document.body.dataset.errors = String(window.reportErrors.length);
  document.body.dataset.tableRows = String(document.querySelectorAll('#rows tbody tr').length);
});
"#;

/// Installed first, so that every error of the page — a script's, a picture's, a console
/// error — is counted.
const ERROR_TRAP: &str = "window.reportErrors=[];\
window.addEventListener('error',e=>window.reportErrors.push(String(e.message||e.target&&e.target.src||e)),true);\
const consoleError=console.error;console.error=(...a)=>{window.reportErrors.push(a.join(' '));consoleError(...a);};";

impl Page {
    fn head(&mut self, manifest: &Manifest, rows: &[Row]) {
        let b = &mut self.body;
        let explained = rows.iter().filter(|r| r.maps_row.is_some()).count();
        let labelled: Vec<&Row> = rows
            .iter()
            .filter(|r| r.label.is_some() && r.prediction.is_some())
            .collect();
        let correct = labelled.iter().filter(|r| r.label == r.prediction).count();
        let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
        for r in rows {
            if let Some(reason) = &r.reason {
                *failures.entry(reason).or_default() += 1;
            }
        }
        let failures = if failures.is_empty() {
            "none".to_owned()
        } else {
            failures
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            b,
            "<h1>Audit of {}</h1><table class=facts>\
             <tr><th class=l>images</th><td>{} of {} done; {explained} explained; failed: {}</td></tr>\
             <tr><th class=l>accuracy</th><td>{} ({correct} of {} labelled)</td></tr>\
             <tr><th class=l>methods</th><td>{}</td></tr>\
             <tr><th class=l>settings</th><td>{}</td></tr>",
            escape(&manifest.model),
            rows.len(),
            manifest.images,
            escape(&failures),
            percent(correct, labelled.len()),
            labelled.len(),
            escape(&manifest.methods.join(", ")),
            escape(&manifest.settings.to_string()),
        );
        if let Some(truth) = &manifest.truth {
            let _ = write!(
                b,
                "<tr><th class=l>boxes</th><td>{}</td></tr>",
                escape(truth)
            );
        }
        b.push_str(
            "</table><p>Pictures: the input, then each map over it — a CAM in jet (blue low, red \
             high) over the image, a signed map (guided backpropagation, guided Grad-CAM) in blue \
             below zero and red above. A red frame marks a misclassified image; a green box, the ground truth; a magenta box, the map's own (thresholded at 15 % of its maximum, around its largest component: the box whose IoU with the truth the <code>_wsol_iou</code> column gives).</p>",
        );
    }

    fn classes(&mut self, manifest: &Manifest, rows: &[Row], selection: &Selection, tiles: &Tiles) {
        let localised = manifest.truth.is_some();
        self.body.push_str(
            "<h2>Classes</h2><table><tr><th class=l>class</th><th>images</th><th>explained</th>\
             <th>accuracy</th><th>mean probability</th>",
        );
        if localised {
            for method in &manifest.methods {
                let _ = write!(
                    self.body,
                    "<th>{0}: pointing game</th><th>{0}: box IoU ≥ 0.5</th>",
                    escape(method)
                );
            }
        }
        self.body.push_str("</tr>");
        let mut by_class: BTreeMap<usize, Vec<&Row>> = BTreeMap::new();
        for row in rows {
            if let Some(class) = class_of(row) {
                by_class.entry(class).or_default().push(row);
            }
        }
        for (class, members) in &by_class {
            let explained: Vec<&&Row> = members.iter().filter(|r| r.maps_row.is_some()).collect();
            let labelled = members
                .iter()
                .filter(|r| r.label.is_some() && r.prediction.is_some());
            let (n, correct) = labelled.fold((0, 0), |(n, c), r| {
                (n + 1, c + usize::from(r.label == r.prediction))
            });
            let mean = explained
                .iter()
                .filter_map(|r| r.probability)
                .map(f64::from)
                .sum::<f64>()
                / explained.len().max(1) as f64;
            let _ = write!(
                self.body,
                "<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td>",
                escape(&class_name(manifest, Some(*class))),
                members.len(),
                explained.len(),
                percent(correct, n),
                mean
            );
            if localised {
                for m in 0..manifest.methods.len() {
                    let found: Vec<_> = explained
                        .iter()
                        .filter_map(|r| r.localisation.get(m))
                        .collect();
                    let hits = found
                        .iter()
                        .filter(|l| l.pointing_game == Some(true))
                        .count();
                    let boxed = found
                        .iter()
                        .filter(|l| l.wsol_iou.is_some_and(|v| v >= 0.5))
                        .count();
                    let _ = write!(
                        self.body,
                        "<td>{}</td><td>{}</td>",
                        percent(hits, found.len()),
                        percent(boxed, found.len())
                    );
                }
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</table>");
        for (class, shown) in &selection.per_class {
            let _ = write!(
                self.body,
                "<h3>{}</h3>",
                escape(&class_name(manifest, Some(*class)))
            );
            self.figures(shown, rows, manifest, tiles, false);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gallery(
        &mut self,
        title: &str,
        about: &str,
        shown: &[usize],
        rows: &[Row],
        manifest: &Manifest,
        tiles: &Tiles,
        all: bool,
    ) {
        let _ = write!(self.body, "<h2>{title}</h2><p>{about}</p>");
        if shown.is_empty() {
            self.body.push_str("<p>None.</p>");
            return;
        }
        self.figures(shown, rows, manifest, tiles, all);
    }

    fn figures(
        &mut self,
        shown: &[usize],
        rows: &[Row],
        manifest: &Manifest,
        tiles: &Tiles,
        all: bool,
    ) {
        self.body.push_str("<div class=grid>");
        for &i in shown {
            let row = &rows[i];
            let Some(pictures) = tiles.get(&i) else {
                continue;
            };
            let wrong = row.label.is_some() && row.label != row.prediction;
            let _ = write!(
                self.body,
                "<figure{}>",
                if wrong { " class=wrong" } else { "" }
            );
            self.body.push_str("<div class=pics>");
            let names = std::iter::once("input").chain(manifest.methods.iter().map(String::as_str));
            let count = if all {
                pictures.len()
            } else {
                2.min(pictures.len())
            };
            for (picture, name) in pictures.iter().take(count).zip(names) {
                let _ = write!(
                    self.body,
                    "<img src=\"{picture}\" alt=\"{}\" title=\"{}\">",
                    escape(name),
                    escape(name)
                );
                self.pictures += 1;
            }
            let file = Path::new(&row.path)
                .file_name()
                .map_or_else(|| row.path.clone(), |f| f.to_string_lossy().into_owned());
            let _ = write!(
                self.body,
                "</div><figcaption title=\"{}\">#{} {} — label {}, predicted {} ({:.3})</figcaption></figure>",
                escape(&row.path),
                row.index,
                escape(&file),
                escape(&class_name(manifest, row.label)),
                escape(&class_name(manifest, row.prediction)),
                row.probability.unwrap_or(f32::NAN)
            );
        }
        self.body.push_str("</div>");
    }

    fn failures(&mut self, rows: &[Row]) {
        let failed: Vec<&Row> = rows.iter().filter(|r| r.reason.is_some()).collect();
        let _ = write!(self.body, "<h2>Failed images ({})</h2>", failed.len());
        if failed.is_empty() {
            self.body.push_str("<p>None.</p>");
            return;
        }
        self.body.push_str(
            "<table><tr><th>index</th><th class=l>path</th><th class=l>reason</th><th class=l>error</th></tr>",
        );
        for row in failed {
            let _ = write!(
                self.body,
                "<tr><td>{}</td><td class=l>{}</td><td class=l>{}</td><td class=l>{}</td></tr>",
                row.index,
                escape(&row.path),
                // A failed row carries both; a missing one shows as an empty cell.
                escape(row.reason.as_deref().unwrap_or("")),
                escape(row.error.as_deref().unwrap_or(""))
            );
        }
        self.body.push_str("</table>");
    }

    fn table(&mut self, manifest: &Manifest, rows: &[Row]) {
        let mut columns: Vec<String> = [
            "index",
            "path",
            "label",
            "prediction",
            "probability",
            "correct",
            "target",
            "target probability",
        ]
        .map(str::to_owned)
        .to_vec();
        for method in &manifest.methods {
            for stat in ["peak y", "peak x", "max", "centre share"] {
                columns.push(format!("{method} {stat}"));
            }
            if manifest.region.is_some() {
                columns.push(format!("{method} region share"));
            }
            if manifest.truth.is_some() {
                columns.push(format!("{method} pointing game"));
                columns.push(format!("{method} relevance mass"));
                columns.push(format!("{method} box IoU"));
            }
        }
        columns.push("failure".to_owned());
        let number = |v: Option<f32>| v.map_or(serde_json::Value::Null, |v| serde_json::json!(v));
        let values: Vec<Vec<serde_json::Value>> = rows
            .iter()
            .map(|r| {
                let mut v = vec![
                    serde_json::json!(r.index),
                    serde_json::json!(r.path),
                    serde_json::json!(r.label.map(|_| class_name(manifest, r.label))),
                    serde_json::json!(r.prediction.map(|_| class_name(manifest, r.prediction))),
                    number(r.probability),
                    serde_json::json!(r.label.zip(r.prediction).map(|(l, p)| l == p)),
                    serde_json::json!(r.target.map(|_| class_name(manifest, r.target))),
                    number(r.target_probability),
                ];
                for m in 0..manifest.methods.len() {
                    let s = r.stats.get(m);
                    v.push(serde_json::json!(s.map(|s| s.peak_y)));
                    v.push(serde_json::json!(s.map(|s| s.peak_x)));
                    v.push(number(s.map(|s| s.max)));
                    v.push(number(s.and_then(|s| s.centre_share)));
                    if manifest.region.is_some() {
                        v.push(number(s.and_then(|s| s.region_share)));
                    }
                    if manifest.truth.is_some() {
                        let l = r.localisation.get(m);
                        v.push(serde_json::json!(l.and_then(|l| l.pointing_game)));
                        v.push(number(l.and_then(|l| l.relevance_mass)));
                        v.push(number(l.and_then(|l| l.wsol_iou)));
                    }
                }
                v.push(serde_json::json!(r.reason));
                v
            })
            .collect();
        let json = serde_json::json!({ "columns": columns, "rows": values })
            .to_string()
            // Nothing in the data may close the script element.
            .replace('<', "\\u003c");
        let _ = write!(
            self.body,
            "<h2>Every image</h2><p>The index's rows; click a column to sort by it, click again to \
             reverse; the filter keeps rows with the text in any column.</p>\
             <input id=filter placeholder=filter> <span class=pager><button id=prev>previous</button> \
             <span id=page></span> <button id=next>next</button></span>\
             <table id=rows><thead><tr></tr></thead><tbody></tbody></table>\
             <script type=application/json id=index-data>{json}</script>"
        );
    }

    fn finish(&self) -> String {
        format!(
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>\
             <meta name=viewport content=\"width=device-width\"><title>Audit report</title>\
             <script>{ERROR_TRAP}</script><style>{STYLE}</style></head><body>{}<script>{SCRIPT}</script></body></html>\n",
            self.body
        )
    }
}
