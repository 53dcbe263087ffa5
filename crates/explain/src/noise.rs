//! Seeded noise: the one source of randomness of every method and metric. The generator is
//! named explicitly (ChaCha12, whose stream `rand` documents as portable), so the same seed
//! gives the same numbers on every backend, platform and `rand` release.

use rand::rngs::ChaCha12Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::Distribution;

/// `count` samples of `N(0, stdev²)` from a generator seeded with `seed` (a non-finite or
/// negative `stdev` gives zeros; callers refuse it first).
///
/// ```
/// use gradcam_explain::noise;
/// assert_eq!(noise::gaussian(4, 1.0, 7), noise::gaussian(4, 1.0, 7));
/// assert_ne!(noise::gaussian(4, 1.0, 7), noise::gaussian(4, 1.0, 8));
/// ```
pub fn gaussian(count: usize, stdev: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    match rand_distr::Normal::new(0.0_f32, stdev) {
        Ok(normal) => (0..count).map(|_| normal.sample(&mut rng)).collect(),
        Err(_) => vec![0.0; count],
    }
}

/// `count` samples uniform in `[-radius, radius]` (Captum's `sensitivity_max` perturbation, and
/// PyTorch's default layer initialisation with `radius = 1/√fan_in`), from a generator seeded
/// with `seed` (a non-finite or negative `radius` gives zeros).
///
/// ```
/// use gradcam_explain::noise;
/// let values = noise::uniform(100, 0.5, 1);
/// assert!(values.iter().all(|v| v.abs() <= 0.5));
/// ```
pub fn uniform(count: usize, radius: f32, seed: u64) -> Vec<f32> {
    if !(radius.is_finite() && radius > 0.0) {
        return vec![0.0; count];
    }
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    match rand_distr::Uniform::new_inclusive(-radius, radius) {
        Ok(uniform) => (0..count).map(|_| uniform.sample(&mut rng)).collect(),
        Err(_) => vec![0.0; count],
    }
}

/// `count` samples uniform in `[0, 1)` (GradientSHAP's path coefficients), from a generator
/// seeded with `seed`.
///
/// ```
/// use gradcam_explain::noise;
/// assert!(noise::unit(100, 3).iter().all(|v| (0.0..1.0).contains(v)));
/// ```
pub fn unit(count: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    (0..count).map(|_| rng.random::<f32>()).collect()
}

/// `count` indices uniform in `0..bound` (GradientSHAP's choice of baselines), from a generator
/// seeded with `seed` (empty when `bound` is 0).
///
/// ```
/// use gradcam_explain::noise;
/// assert!(noise::indices(100, 4, 3).iter().all(|&i| i < 4));
/// ```
pub fn indices(count: usize, bound: usize, seed: u64) -> Vec<usize> {
    if bound == 0 {
        return Vec::new();
    }
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    (0..count).map(|_| rng.random_range(0..bound)).collect()
}

/// `count` permutations of `0..length` (Shapley value sampling's orders), from a generator
/// seeded with `seed`.
///
/// ```
/// use gradcam_explain::noise;
/// let orders = noise::permutations(3, 5, 1);
/// assert!(orders.iter().all(|o| { let mut s = o.clone(); s.sort(); s == [0, 1, 2, 3, 4] }));
/// ```
pub fn permutations(count: usize, length: usize, seed: u64) -> Vec<Vec<usize>> {
    use rand::seq::SliceRandom;
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let mut order: Vec<usize> = (0..length).collect();
            order.shuffle(&mut rng);
            order
        })
        .collect()
}

/// `count` coalitions of `features` features as KernelSHAP draws them (Lundberg and Lee, 2017,
/// as Captum's `KernelShap`): the full and the empty coalition first, then coalitions whose size
/// `k` in `1..features` is drawn with probability ∝ `(features − 1) / (k (features − k))` and
/// whose members are `k` features drawn uniformly. Each coalition is `features` values, 1 for a
/// member; from a generator seeded with `seed`.
///
/// ```
/// use gradcam_explain::noise;
/// let coalitions = noise::coalitions(10, 6, 2);
/// assert_eq!(coalitions[0], vec![1.0; 6]);
/// assert_eq!(coalitions[1], vec![0.0; 6]);
/// assert!(coalitions[2..].iter().all(|c| (1.0..6.0).contains(&c.iter().sum::<f32>())));
/// ```
pub fn coalitions(count: usize, features: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let sizes: Vec<f64> = (1..features)
        .map(|k| (features - 1) as f64 / (k * (features - k)) as f64)
        .collect();
    let size = rand::distr::weighted::WeightedIndex::new(&sizes).ok();
    (0..count)
        .map(|i| {
            let mut coalition = vec![0.0; features];
            match (i, &size) {
                (0, _) => coalition.fill(1.0),
                // The empty coalition, and nothing else where no proper one exists.
                (1, _) | (_, None) => {}
                (_, Some(size)) => {
                    let k = size.sample(&mut rng) + 1;
                    for f in rand::seq::index::sample(&mut rng, features, k) {
                        coalition[f] = 1.0;
                    }
                }
            }
            coalition
        })
        .collect()
}

/// `count` samples of `features` values, each 1 or 0 with probability ½ (Lime's perturbations,
/// as Captum's default `perturb_func`), from a generator seeded with `seed`.
///
/// ```
/// use gradcam_explain::noise;
/// let samples = noise::bernoulli(200, 5, 4);
/// assert!(samples.iter().flatten().all(|&v| v == 0.0 || v == 1.0));
/// let ones: f32 = samples.iter().flatten().sum();
/// assert!((400.0..600.0).contains(&ones));
/// ```
pub fn bernoulli(count: usize, features: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            (0..features)
                .map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 })
                .collect()
        })
        .collect()
}
