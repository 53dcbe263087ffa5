//! Stable under load: explaining the whole evaluation set 20 times keeps memory flat and gives
//! bit-identical results every time. Alone in its test binary, so the process's RSS is its own.

mod common;

use std::hash::{Hash, Hasher};

use burn_gradcam::explain::{Attribution, GuidedGradCam, Preset, Targets};
use burn_gradcam::mnist::{Digits, preprocess};
use common::{net, repo_path};

const ROUNDS: usize = 20;
const BATCH: usize = 500;

/// A `/proc/self/status` field in KiB: `VmRSS:` (now) or `VmHWM:` (peak so far).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

#[test]
fn repeated_explanations_keep_memory_flat_and_results_identical() {
    let digits =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let device = burn_gradcam::Backend::default()
        .device()
        .expect("CPU device");
    let net = net(&device);
    let method = GuidedGradCam::guided(Preset::Seed.cam_settings());
    let mut fingerprints = Vec::new();
    let mut rss = Vec::new();
    let mut peak = Vec::new();
    for _ in 0..ROUNDS {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for start in (0..digits.len()).step_by(BATCH) {
            let batch = digits.slice(start..start + BATCH).expect("batch");
            let images = method
                .attribute(&net, preprocess(&batch, &device), &Targets::predicted())
                .and_then(|a| a.to_host())
                .expect("explains");
            for image in &images {
                image.prediction.target.hash(&mut hasher);
                for map in [image.cam.as_ref(), image.pixel.as_ref(), Some(&image.map)] {
                    map.expect("a product's maps")
                        .values
                        .iter()
                        .for_each(|v| v.to_bits().hash(&mut hasher));
                }
            }
        }
        fingerprints.push(hasher.finish());
        rss.push(status_kib("VmRSS:"));
        peak.push(status_kib("VmHWM:"));
    }
    assert!(
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        "results differ between rounds"
    );
    // The allocator keeps or returns a freed batch's buffers from one round to the next, so RSS
    // between rounds moves between two levels; a leak would push it, and the peak, ever higher.
    // The first rounds warm the allocator's pools: growth is measured against round 3's peak.
    let reference = peak[2] as f64;
    let rss_growth = *rss[2..].iter().max().expect("rounds") as f64 / reference - 1.0;
    let peak_growth = peak[ROUNDS - 1] as f64 / reference - 1.0;
    println!(
        "{ROUNDS} rounds of {} digits: RSS after each (KiB) {rss:?}; peak RSS {} → {} KiB; largest RSS vs that peak {:+.2}%, peak growth {:.2}%",
        digits.len(),
        peak[2],
        peak[ROUNDS - 1],
        rss_growth * 100.0,
        peak_growth * 100.0
    );
    assert!(
        rss_growth < 0.05,
        "RSS grew {:.1}% above the early peak",
        rss_growth * 100.0
    );
    assert!(
        peak_growth < 0.05,
        "peak RSS grew by {:.1}%",
        peak_growth * 100.0
    );
}
