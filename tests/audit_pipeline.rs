//! The dataset audit end to end, through the `audit` example: a run killed at any moment and
//! resumed ends identical to an uninterrupted one; three shards sharing a directory make the
//! same files as one process; bad images become rows with their reasons; a run is never
//! overwritten or resumed with other settings.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn_gradcam::audit::{Manifest, Row, read_maps, read_rows, read_run};
use burn_gradcam::metrics::{
    PixelBox, WSOL_THRESHOLD, box_mask, energy_pointing_game, iou, pointing_game,
    relevance_mass_accuracy, relevance_rank_accuracy, wsol_box,
};
use burn_gradcam::mnist::Digits;
use common::{example_binary, repo_path};
use image::{ImageBuffer, Luma, LumaA, Rgba};

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(example_binary("audit"));
    command.current_dir(repo_path("")).args(args);
    command
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("the audit example runs")
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "audit failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file of a run under its final name (temporary `.partial-*` files apart), with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["", "maps", "index"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("run directory") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_file() && !name.starts_with(".partial-") {
                let key = Path::new(sub).join(&name).to_string_lossy().into_owned();
                files.insert(key, std::fs::read(&path).expect("readable"));
            }
        }
    }
    files
}

fn done_chunks(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("index")).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("chunk-"))
            .count()
    })
}

/// Kills `child` (SIGKILL) once `dir` holds at least `chunks` finished chunks.
fn kill_after(mut child: Child, dir: &Path, chunks: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while done_chunks(dir) < chunks {
        assert!(
            child.try_wait().expect("child status").is_none(),
            "the run ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

fn out_arg(dir: &Path) -> String {
    dir.to_string_lossy().into_owned()
}

/// 2,500 digits in 25 chunks with a slow method, so that there is time to kill the run.
const SLOW: [&str; 6] = [
    "--methods",
    "integrated-gradients,guided-grad-cam",
    "--batch-size",
    "50",
    "--chunk-images",
    "100",
];

#[test]
fn killed_and_resumed_run_equals_an_uninterrupted_one() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (whole, killed) = (temp.path().join("whole"), temp.path().join("killed"));
    let args = |dir: &Path, resume: bool| {
        let mut args: Vec<String> = ["run", "--out", &out_arg(dir)]
            .iter()
            .chain(SLOW.iter())
            .map(|s| (*s).to_owned())
            .collect();
        if resume {
            args.push("--resume".to_owned());
        }
        args
    };
    let spawn = |args: Vec<String>| {
        command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the audit example starts")
    };
    let run_owned = |args: Vec<String>| run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_success(&run_owned(args(&whole, false)));

    // Killed early, killed again later (resuming), then resumed to the end.
    kill_after(spawn(args(&killed, false)), &killed, 2);
    let first = done_chunks(&killed);
    assert!(first < 25, "killed after {first} chunks: too late to test");
    kill_after(spawn(args(&killed, true)), &killed, first + 5);
    let resumed = run_owned(args(&killed, true));
    assert_success(&resumed);
    assert!(
        text(&resumed).contains("images done before"),
        "{}",
        text(&resumed)
    );

    let (expected, found) = (files(&whole), files(&killed));
    assert_eq!(
        expected.len(),
        1 + 2 * 25,
        "run.json, 25 maps, 25 index parts"
    );
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &expected {
        assert!(
            &found[name] == bytes,
            "{name} differs after kill and resume"
        );
    }
    // Merging clears what the kills left behind and gives the same index.
    for dir in [&whole, &killed] {
        assert_success(&run(&["merge", &out_arg(dir)]));
    }
    assert_eq!(
        std::fs::read(killed.join("index.parquet")).unwrap(),
        std::fs::read(whole.join("index.parquet")).unwrap()
    );
    for sub in ["maps", "index"] {
        let leftovers = std::fs::read_dir(killed.join(sub))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".partial-"))
            .count();
        assert_eq!(leftovers, 0, "merge leaves no temporary file in {sub}");
    }
}

#[test]
fn three_shards_make_the_files_of_one_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (whole, sharded) = (temp.path().join("whole"), temp.path().join("sharded"));
    let base = [
        "--methods",
        "guided-grad-cam,grad-cam,guided-backprop",
        "--batch-size",
        "64",
        "--chunk-images",
        "128",
    ];
    let mut args = vec!["run", "--out"];
    let whole_arg = out_arg(&whole);
    args.push(&whole_arg);
    args.extend(base);
    assert_success(&run(&args));

    // The three shards at once, sharing the directory, as a job array's tasks would.
    let sharded_arg = out_arg(&sharded);
    let children: Vec<Child> = ["0/3", "1/3", "2/3"]
        .iter()
        .map(|shard| {
            let mut args = vec!["run", "--out", &sharded_arg, "--shard", shard];
            args.extend(base);
            command(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("a shard starts")
        })
        .collect();
    for child in children {
        assert_success(&child.wait_with_output().expect("shard ends"));
    }
    // A shard's manifest records the shard count; the chunks and maps are the same bytes.
    let (expected, found) = (files(&whole), files(&sharded));
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in expected.iter().filter(|(n, _)| n.as_str() != "run.json") {
        assert!(
            &found[name] == bytes,
            "{name} differs between shards and one run"
        );
    }
    for dir in [&whole, &sharded] {
        assert_success(&run(&["merge", &out_arg(dir)]));
    }
    assert_eq!(
        std::fs::read(sharded.join("index.parquet")).unwrap(),
        std::fs::read(whole.join("index.parquet")).unwrap()
    );
    let manifest = Manifest::read(&whole).unwrap();
    let rows = read_rows(&whole.join("index.parquet"), &manifest).unwrap();
    assert_eq!(rows.len(), 2500);
    assert!(rows.iter().enumerate().all(|(i, r)| r.index == i));
    let accuracy =
        rows.iter().filter(|r| r.label == r.prediction).count() as f64 / rows.len() as f64;
    assert!(accuracy > 0.95, "the MNIST net's accuracy is {accuracy}");

    // A shard still missing: merge names it.
    let partial = temp.path().join("partial");
    let partial_arg = out_arg(&partial);
    let mut args = vec!["run", "--out", &partial_arg, "--shard", "1/3"];
    args.extend(base);
    assert_success(&run(&args));
    let merged = run(&["merge", &partial_arg]);
    assert!(!merged.status.success());
    assert!(
        text(&merged).contains("chunk 0 of 20 is missing")
            && text(&merged).contains("index 0 of 3"),
        "{}",
        text(&merged)
    );
}

/// A PNG of a digit, 28×28 grey.
fn digit_png(digits: &Digits, index: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    digits
        .to_grey_image(index)
        .unwrap()
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

fn png<P: image::PixelWithColorType>(image: ImageBuffer<P, Vec<P::Subpixel>>) -> Vec<u8>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// A folder of good and bad images, by name.
fn bad_images(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let digits = Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).unwrap();
    let good = digit_png(&digits, 0);
    let files = vec![
        ("a_good.png", good.clone()),
        ("b_corrupt.png", {
            let mut bytes = good[..16].to_vec();
            bytes.extend((0..200).map(|i| (i * 37 % 251) as u8));
            bytes
        }),
        ("c_truncated.png", good[..good.len() / 2].to_vec()),
        ("d_empty.png", Vec::new()),
        ("e_text.png", b"not an image at all\n".to_vec()),
        (
            "f_one_pixel.png",
            png(ImageBuffer::from_pixel(1, 1, Luma([200_u8]))),
        ),
        (
            "g_sixteen_bit.png",
            png(ImageBuffer::from_fn(28, 28, |x, y| {
                Luma([((x * 28 + y) * 83) as u16])
            })),
        ),
        (
            "h_cmyk.jpg",
            std::fs::read(repo_path("tests/fixtures/cmyk.jpg")).unwrap(),
        ),
        (
            "i_grey_alpha.png",
            png(ImageBuffer::from_pixel(28, 28, LumaA([120_u8, 200]))),
        ),
        (
            "j_rgba.png",
            png(ImageBuffer::from_pixel(40, 40, Rgba([10_u8, 200, 30, 255]))),
        ),
        ("k_good.png", digit_png(&digits, 1)),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    files
}

#[test]
fn bad_images_become_rows_with_their_reasons() {
    let temp = tempfile::tempdir().expect("temp dir");
    let images = temp.path().join("images");
    std::fs::create_dir(&images).unwrap();
    bad_images(&images);
    let out = temp.path().join("out");
    let (images_arg, out_arg) = (out_arg(&images), out_arg(&out));
    let output = run(&[
        "run",
        "--images",
        &images_arg,
        "--resize",
        "--out",
        &out_arg,
        "--methods",
        "grad-cam",
    ]);
    assert_success(&output);
    let report = text(&output);
    assert!(
        report.contains("11 images (6 explained, 5 failed)"),
        "{report}"
    );
    assert!(report.contains("failed (decode): 4") && report.contains("failed (too-small): 1"));

    let manifest = Manifest::read(&out).unwrap();
    let rows: Vec<Row> = read_rows(&out.join("index/chunk-000000.parquet"), &manifest).unwrap();
    let by_name: BTreeMap<String, &Row> = rows
        .iter()
        .map(|r| {
            let name = Path::new(&r.path).file_name().unwrap();
            (name.to_string_lossy().into_owned(), r)
        })
        .collect();
    let failed = |name: &str, reason: &str| {
        let row = by_name[name];
        assert_eq!(row.reason.as_deref(), Some(reason), "{name}: {row:?}");
        let error = row.error.as_deref().unwrap();
        assert!(error.contains(name), "{name}'s error names it: {error}");
        assert!(row.maps_row.is_none() && row.prediction.is_none() && row.stats.is_empty());
    };
    failed("b_corrupt.png", "decode");
    failed("c_truncated.png", "decode");
    failed("d_empty.png", "decode");
    failed("e_text.png", "decode");
    failed("f_one_pixel.png", "too-small");
    let converted = |name: &str, conversions: Option<&str>| {
        let row = by_name[name];
        assert!(
            row.reason.is_none() && row.maps_row.is_some(),
            "{name}: {row:?}"
        );
        assert_eq!(row.conversions.as_deref(), conversions, "{name}");
        assert_eq!(row.stats.len(), 1);
    };
    converted("a_good.png", None);
    converted("k_good.png", None);
    converted("g_sixteen_bit.png", Some("16-bit"));
    converted("h_cmyk.jpg", Some("colour to grey; resized from 32×24"));
    converted("i_grey_alpha.png", Some("alpha dropped"));
    converted(
        "j_rgba.png",
        Some("colour to grey; alpha dropped; resized from 40×40"),
    );
    // The maps' rows are the explained images, in order.
    let rows_of: Vec<usize> = rows.iter().filter_map(|r| r.maps_row).collect();
    assert_eq!(rows_of, (0..6).collect::<Vec<_>>());

    // Strict: the first bad image stops the run, named.
    let strict_out = out_arg.clone() + "-strict";
    let strict = run(&[
        "run",
        "--images",
        &images_arg,
        "--resize",
        "--out",
        &strict_out,
        "--methods",
        "grad-cam",
        "--strict",
    ]);
    assert!(!strict.status.success());
    assert!(
        text(&strict).contains("b_corrupt.png") && text(&strict).contains("(decode)"),
        "{}",
        text(&strict)
    );
}

#[test]
fn a_run_is_never_overwritten_nor_resumed_with_other_settings() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("run");
    let run_dir = out_arg(&out);
    let args = ["run", "--out", &run_dir, "--methods", "grad-cam"];
    assert_success(&run(&args));
    let before = files(&out);

    let again = run(&args);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds a run"),
        "{}",
        text(&again)
    );

    let other = run(&[
        "run",
        "--out",
        &run_dir,
        "--methods",
        "saliency",
        "--resume",
    ]);
    assert!(!other.status.success());
    assert!(
        text(&other).contains("its methods is [\"grad-cam\"], this run's is [\"saliency\"]"),
        "{}",
        text(&other)
    );
    assert!(
        files(&out) == before,
        "refused runs leave the run as it was"
    );

    // Resuming a finished run does nothing, and says so.
    let resumed = run(&[&args[..], &["--resume"]].concat());
    assert_success(&resumed);
    assert!(
        text(&resumed).contains("0 images (0 explained, 0 failed)"),
        "{}",
        text(&resumed)
    );

    // An output path that is a file: a clear error before any work.
    let file = temp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let blocked = run(&["run", "--out", &out_arg(&file), "--methods", "grad-cam"]);
    assert!(!blocked.status.success());
    assert!(
        text(&blocked).contains("is not a directory"),
        "{}",
        text(&blocked)
    );
}

/// The in-memory records' paths say where each digit came from.
#[test]
fn digits_are_named_by_file_and_position() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out: PathBuf = temp.path().join("run");
    assert_success(&run(&[
        "run",
        "--out",
        &out_arg(&out),
        "--methods",
        "grad-cam",
    ]));
    let manifest = Manifest::read(&out).unwrap();
    let rows = read_rows(&out.join("index/chunk-000000.parquet"), &manifest).unwrap();
    assert_eq!(rows[17].path, "data/eval_digits.bin.gz#17");
    assert_eq!(manifest.images, 2500);
}

/// A method's maps in a chunk file: `[rows, C, H, W]` values, as f32.
fn chunk_maps(path: &Path, method: &str) -> (Vec<usize>, Vec<f32>) {
    let dir = path
        .parent()
        .and_then(Path::parent)
        .expect("a run's maps file");
    let manifest = Manifest::read(dir).expect("manifest");
    let file = path.strip_prefix(dir).unwrap().to_string_lossy();
    let maps = read_maps(dir, &manifest, &file).expect("maps file");
    let m = manifest
        .methods
        .iter()
        .position(|n| n == method)
        .expect("the method");
    let mut shape = vec![maps.indices.len()];
    shape.extend(maps.shapes[m]);
    (shape, maps.values[m].clone())
}

#[test]
fn half_precision_maps_region_shares_and_label_targets() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (full, half, labels) = (
        temp.path().join("f32"),
        temp.path().join("f16"),
        temp.path().join("labels"),
    );
    let base = [
        "--methods",
        "grad-cam,guided-backprop",
        "--batch-size",
        "500",
    ];
    let run_with = |dir: &Path, extra: &[&str]| {
        let out = out_arg(dir);
        let mut args = vec!["run", "--out", &out];
        args.extend(base);
        args.extend(extra);
        assert_success(&run(&args));
    };
    run_with(&full, &[]);
    run_with(&half, &["--dtype", "f16", "--region", "0,0,0.5,1"]);
    run_with(&labels, &["--target", "label"]);

    // f16 maps are the f32 maps rounded: within half precision of each map's largest value.
    for method in ["grad-cam", "guided-backprop"] {
        let chunk = "maps/chunk-000000.safetensors";
        let (shape, exact) = chunk_maps(&full.join(chunk), method);
        let (half_shape, rounded) = chunk_maps(&half.join(chunk), method);
        assert_eq!(shape, half_shape);
        assert_eq!(
            shape[0], 500,
            "a chunk of 512 images rounds to whole batches of 500"
        );
        let per_map = shape[1..].iter().product::<usize>();
        let mut worst = 0.0_f32;
        for (a, b) in exact.chunks(per_map).zip(rounded.chunks(per_map)) {
            let scale = a
                .iter()
                .fold(0.0_f32, |m, v| m.max(v.abs()))
                .max(f32::MIN_POSITIVE);
            let error = a
                .iter()
                .zip(b)
                .fold(0.0_f32, |m, (x, y)| m.max((x - y).abs()));
            worst = worst.max(error / scale);
        }
        assert!(worst > 0.0 && worst < 1e-3, "{method}: f16 error {worst:e}");
    }

    // The region's share: the top half of each map, beside the centre's.
    let manifest = Manifest::read(&half).unwrap();
    let rows = read_rows(&half.join("index/chunk-000000.parquet"), &manifest).unwrap();
    for row in &rows {
        let share = row.stats[0].region_share.expect("a region share");
        assert!((0.0..=1.0).contains(&share), "{share}");
    }
    let top_heavy = rows
        .iter()
        .filter(|r| r.stats[0].peak_y < 14)
        .map(|r| r.stats[0].region_share.unwrap())
        .sum::<f32>();
    let bottom_heavy = rows
        .iter()
        .filter(|r| r.stats[0].peak_y >= 14)
        .map(|r| r.stats[0].region_share.unwrap())
        .sum::<f32>();
    let (top, bottom) = rows.iter().fold((0, 0), |(t, b), r| {
        if r.stats[0].peak_y < 14 {
            (t + 1, b)
        } else {
            (t, b + 1)
        }
    });
    assert!(
        top_heavy / top as f32 > bottom_heavy / bottom as f32,
        "maps peaking in the top half have more of their mass there"
    );

    // Label targets: every map explains the image's own label, right or wrong.
    let manifest = Manifest::read(&labels).unwrap();
    let rows = read_rows(&labels.join("index/chunk-000000.parquet"), &manifest).unwrap();
    assert!(
        rows.iter()
            .all(|r| r.target == r.label && r.label.is_some())
    );
    assert!(
        rows.iter().any(|r| r.prediction != r.label),
        "some digits are misclassified"
    );
}

/// The bundled boxes, read here on their own: `images/<name>` → box.
fn bundled_boxes() -> BTreeMap<String, PixelBox> {
    let text = std::fs::read_to_string(repo_path("data/fashion_canvas/boxes.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let parts: Vec<&str> = line.split(',').collect();
            let n: Vec<usize> = parts[1..].iter().map(|v| v.parse().unwrap()).collect();
            (parts[0].to_owned(), PixelBox::new(n[0], n[1], n[2], n[3]))
        })
        .collect()
}

/// Where a browser is: `GRADCAM_CHROMIUM`, else Debian's `chromium` or Chrome on the path.
fn browser() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GRADCAM_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

#[test]
fn localisation_columns_overlays_and_the_report_in_a_browser() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("canvas");
    let output = run(&[
        "run",
        "--model",
        "fashion-canvas",
        "--layer",
        "layer3",
        "--methods",
        "grad-cam,guided-backprop",
        "--batch-size",
        "25",
        "--out",
        &out_arg(&out),
        "--report",
        "--overlays",
    ]);
    assert_success(&output);
    let printed = text(&output);

    // Every image has its box, and every localisation column is the metrics crate's value on
    // the stored map and that box (the metrics themselves are Quantus's, tested on fixtures).
    let (manifest, rows) = read_run(&out).unwrap();
    let boxes = bundled_boxes();
    assert_eq!(rows.len(), 100);
    let mut hits = 0;
    for row in &rows {
        let name = row.path.trim_start_matches("data/fashion_canvas/");
        let truth = boxes[name];
        assert_eq!(row.truth, Some(truth), "{}", row.path);
        let maps = read_maps(&out, &manifest, &manifest.maps_file(row.index)).unwrap();
        for (m, found) in row.localisation.iter().enumerate() {
            let map = maps.map(m, row.maps_row.unwrap()).unwrap();
            let mask = box_mask(truth, [64, 64]).unwrap();
            assert_eq!(
                found.pointing_game,
                pointing_game(map, &mask, [64, 64], 0).ok()
            );
            assert_eq!(
                found.energy_pointing_game,
                energy_pointing_game(map, &mask).ok()
            );
            assert_eq!(
                found.relevance_mass,
                relevance_mass_accuracy(map, &mask).ok()
            );
            assert_eq!(
                found.relevance_rank,
                relevance_rank_accuracy(map, &mask).ok()
            );
            let wsol = wsol_box(map, [64, 64], WSOL_THRESHOLD).ok();
            assert_eq!(found.wsol_iou, wsol.map(|b| iou(b, truth)));
        }
        hits += usize::from(row.localisation[0].pointing_game == Some(true));
    }
    // The items sit anywhere on the canvas: a map that ignored them would hit about a fifth
    // of the time (their boxes cover about 13 % of it).
    assert!(
        hits >= 85,
        "Grad-CAM's peak falls on the item in {hits} of 100"
    );

    // One overlay per image and method.
    let overlays = std::fs::read_dir(out.join("overlays")).unwrap().count();
    assert_eq!(overlays, 200);
    // Each carries its ground-truth box in green, where the box is (the 64×64 input drawn at
    // 112 pixels).
    let first = &rows[0];
    let truth = first.truth.unwrap();
    let overlay = image::open(out.join("overlays/000000_grad-cam.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(overlay.dimensions(), (112, 112));
    let at = |v: usize| (v * 112 / 64) as u32;
    assert_eq!(overlay.get_pixel(at(truth.x0), at(truth.y0)).0, [0, 255, 0]);
    assert_ne!(
        overlay.get_pixel(at(truth.x0) + 1, at(truth.y0) + 1).0,
        [0, 255, 0]
    );

    // The report in a real browser: every picture decodes, no error, the table's first page.
    let pictures: usize = printed
        .split(" pictures")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no picture count in {printed}"));
    assert!(pictures >= 100, "{pictures} pictures");
    let Some(chromium) = browser() else {
        assert!(
            std::env::var_os("GRADCAM_REQUIRE_BROWSER").is_none(),
            "GRADCAM_REQUIRE_BROWSER is set and no chromium was found"
        );
        eprintln!(
            "note: no chromium found (GRADCAM_CHROMIUM, PATH): the report's browser check is skipped"
        );
        return;
    };
    let profile = temp.path().join("profile");
    let page = format!("file://{}", out.join("report.html").display());
    let dom = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", &page])
        .output()
        .expect("chromium runs");
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    let body = html
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_else(|| panic!("no body in the rendered page; chromium said:\n{log}"));
    let attribute = |name: &str| -> usize {
        body.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|v| v.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} on <body {body}>; chromium said:\n{log}"))
    };
    assert_eq!(attribute("data-pictures"), pictures);
    assert_eq!(
        attribute("data-pictures-loaded"),
        pictures,
        "pictures that decoded"
    );
    assert_eq!(attribute("data-errors"), 0, "errors on the page");
    assert_eq!(attribute("data-table-rows"), 100, "the table's first page");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
}
