//! Layer-wise relevance propagation equals zennit's composites (`EpsilonPlus`,
//! `EpsilonPlusFlat`, `EpsilonAlpha2Beta1`, `EpsilonAlpha2Beta1Flat`, `EpsilonGammaBox`, and
//! w² on the convolutions) on the MNIST net's 29 reference images, the relevance starting at the
//! predicted class's logit, and its conservation is zennit's. Fixture: `tools/reference/lrp.py`.

use crate::common;

use burn::tensor::Device;
use burn_gradcam::data::Normalization;
use burn_gradcam::explain::{
    Attribution, ExplainError, Lrp, LrpComposite, LrpRule, STABILIZER, Score, Targets,
};
use burn_gradcam::mnist::{MNIST_MEAN, MNIST_STD, preprocess};
use burn_gradcam::zoo::{ResNet, ResNetConfig};
use common::{Check, Suite, devices, explain, net, repo_path};

/// The suite's checks (worst relative error measured: flex / ndarray / wgpu).
pub(crate) const SUITE: Suite = Suite {
    name: "lrp_parity",
    fixture: "tests/fixtures/lrp.safetensors",
    checks: &[
        Check::new("epsilon_plus", 5e-6),         // 4.8e-7 / 5.5e-7 / 4.1e-7
        Check::new("epsilon_plus_flat", 5e-6),    // 5.5e-7 / 5.7e-7 / 4.8e-7
        Check::new("epsilon_alpha2_beta1", 5e-6), // 5.3e-7 / 7.1e-7 / 5.6e-7
        Check::new("epsilon_alpha2_beta1_flat", 5e-6), // 5.3e-7 / 6.3e-7 / 5.3e-7
        Check::new("epsilon_gamma_box", 5e-6),    // 5.2e-7 / 6.3e-7 / 4.8e-7
        Check::new("wsquare_epsilon", 5e-6),      // 7.3e-7 / 7.5e-7 / 5.3e-7
    ],
};

fn composites() -> [(&'static str, LrpComposite); 6] {
    let black = (0.0 - MNIST_MEAN) / MNIST_STD;
    let white = (1.0 - MNIST_MEAN) / MNIST_STD;
    [
        ("epsilon_plus", LrpComposite::epsilon_plus()),
        ("epsilon_plus_flat", LrpComposite::epsilon_plus_flat()),
        ("epsilon_alpha2_beta1", LrpComposite::epsilon_alpha2_beta1()),
        (
            "epsilon_alpha2_beta1_flat",
            LrpComposite::epsilon_alpha2_beta1_flat(),
        ),
        (
            "epsilon_gamma_box",
            LrpComposite::epsilon_gamma_box(black, white),
        ),
        (
            "wsquare_epsilon",
            LrpComposite {
                convolution: LrpRule::WSquare {
                    stabilizer: STABILIZER,
                },
                ..LrpComposite::epsilon_plus()
            },
        ),
    ]
}

#[test]
fn lrp_on_the_mnist_net_equals_zennit() {
    let fixture = SUITE.fixture();
    let digits = common::reference().digits();
    let logits = Targets::predicted().with_score(Score::Logit);
    for (backend, device) in devices() {
        let net = net(&device);
        for (key, composite) in composites() {
            let result = explain(
                &Lrp::new(composite),
                &net,
                preprocess(&digits, &device),
                &logits,
            );
            let classes: Vec<usize> = result.iter().map(|r| r.prediction.target).collect();
            assert_eq!(classes, fixture.classes("target"), "{backend}: predictions");
            SUITE.check_maps(&fixture, backend.name(), result.iter().map(|r| &r.map), key);
            // Conservation: what the input's relevance misses of the logit is zennit's too.
            let (shape, expected) = fixture.f32(key);
            let per_image = expected.len() / shape[0];
            let mut worst = 0.0_f32;
            let mut kept = (f32::INFINITY, f32::NEG_INFINITY);
            for (i, r) in result.iter().enumerate() {
                let zennit_sum: f32 = expected[i * per_image..(i + 1) * per_image].iter().sum();
                let delta = r.convergence_delta.expect("a conservation delta");
                let logit = r.prediction.score;
                worst = worst.max((delta - (zennit_sum - logit)).abs() / logit.abs());
                let ratio = (delta + logit) / logit;
                kept = (kept.0.min(ratio), kept.1.max(ratio));
            }
            println!(
                "{backend}: {key}: Σ relevance / logit {:.3}…{:.3}, zennit's within {worst:.1e} of the logit",
                kept.0, kept.1
            );
            assert!(
                worst <= 1e-4,
                "{backend}: {key}: conservation differs by {worst:e}"
            );
        }
    }
}

/// A model that does not route its affine layers is refused, by name.
#[test]
fn lrp_refuses_a_model_that_does_not_route_its_layers() {
    let device = Device::default();
    let (net, _) = ResNet::load(
        ResNetConfig::fashion(),
        repo_path("data/fashion_resnet.pth"),
        &device,
    )
    .expect("the committed weights load");
    let images =
        burn_gradcam::data::Images::from_dir(repo_path("data/fashion"), 1, [28, 28], false)
            .expect("bundled images");
    let error = Lrp::default()
        .attribute(
            &net,
            images.to_tensor(Normalization::FashionMnist, &device),
            &Targets::predicted(),
        )
        .expect_err("refused");
    assert!(matches!(error, ExplainError::Unrouted { method: "LRP" }));
    assert!(error.to_string().contains("ReluMode::affine"));
}
