//! Stable under load: explaining the whole evaluation set 20 times keeps memory flat and gives
//! bit-identical results every time. Alone in its test binary, so the process's RSS is its own.

mod common;

use std::hash::{Hash, Hasher};

use burn_gradcam::explain::{Explainer, Preset, Targets};
use burn_gradcam::model::{Digits, preprocess};
use common::{net, repo_path};

const ROUNDS: usize = 20;
const BATCH: usize = 500;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("number")
}

#[test]
fn repeated_explanations_keep_memory_flat_and_results_identical() {
    let digits =
        Digits::from_packed_file(repo_path("data/eval_digits.bin.gz")).expect("evaluation set");
    let device = burn_gradcam::Backend::default().device();
    let net = net(&device);
    let explainer = Explainer::new(&net, Preset::Seed.config());
    let mut fingerprints = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..ROUNDS {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for start in (0..digits.len()).step_by(BATCH) {
            let batch = digits.slice(start..start + BATCH).expect("batch");
            let explanation = explainer
                .explain(preprocess(&batch, &device), &Targets::Predicted)
                .expect("explains");
            for image in &explanation.images {
                image.prediction.target.hash(&mut hasher);
                for map in [&image.cam, &image.guided_backprop, &image.guided_grad_cam] {
                    map.values
                        .iter()
                        .for_each(|v| v.to_bits().hash(&mut hasher));
                }
            }
        }
        fingerprints.push(hasher.finish());
        rss.push(rss_kib());
    }
    assert!(
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        "results differ between rounds"
    );
    // The first rounds warm the allocator's pools; growth is measured from round 3 on.
    let baseline = rss[2] as f64;
    let peak = *rss[2..].iter().max().expect("rounds") as f64;
    let growth = peak / baseline - 1.0;
    println!(
        "RSS over {ROUNDS} rounds of {} digits (KiB): {rss:?}; growth after warm-up {:.2}%",
        digits.len(),
        growth * 100.0
    );
    assert!(
        growth < 0.05,
        "RSS grew by {:.1}% ({baseline} → {peak} KiB)",
        growth * 100.0
    );
}
