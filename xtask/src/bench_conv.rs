//! `cargo xtask bench-conv`: the ops crate's square convolution (`ops::SquareConv2d`:
//! im2col and gemm, or Winograd's F(2×2, 3×3)) beside Burn's own `conv2d`, on the stride-1 3×3
//! convolutions of ResNet-18's four stages, forward alone and forward with the input gradient,
//! on flex. Milliseconds per call, median of repeated calls after a warm-up.

use std::time::Instant;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use burn_gradcam::ops::SquareConv2d;

use crate::Result;

#[derive(clap::Args)]
pub struct BenchConvArgs {
    /// Timed calls per measurement (after one warm-up call); the median is reported.
    #[arg(long, default_value_t = 7)]
    repeats: usize,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
}

/// ResNet-18's stride-1 3×3 convolutions: `(channels in and out, side)` of each stage at 224×224.
const SHAPES: [(usize, usize); 4] = [(64, 56), (128, 28), (256, 14), (512, 7)];

/// One way of computing the convolution.
#[derive(Clone, Copy)]
enum Kernel {
    Burn,
    Im2col,
    Winograd,
}

impl Kernel {
    const ALL: [Kernel; 3] = [Self::Burn, Self::Im2col, Self::Winograd];
}

pub fn run(args: &BenchConvArgs) -> Result {
    if args.repeats == 0 || args.batches.contains(&0) {
        return Err("--repeats and --batches must be positive".into());
    }
    let device = burn_gradcam::Backend::Flex.device()?;
    println!(
        "| channels × side | batch | Burn conv2d | im2col + gemm | Winograd | Burn conv2d, + input gradient | im2col + gemm, + input gradient | Winograd, + input gradient |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (channels, side) in SHAPES {
        for &batch in &args.batches {
            device.seed(3);
            let weight = Tensor::<4>::random(
                [channels, channels, 3, 3],
                Distribution::Normal(0.0, (1.0 / (9.0 * channels as f64)).sqrt()),
                &device,
            );
            let bias = Tensor::<1>::random([channels], Distribution::Normal(0.0, 0.1), &device);
            let x = Tensor::<4>::random(
                [batch, channels, side, side],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let im2col = SquareConv2d::new(weight.clone(), bias.clone(), 1, 1).with_winograd(false);
            let winograd = SquareConv2d::new(weight.clone(), bias.clone(), 1, 1);
            if !winograd.is_winograd() {
                return Err(
                    format!("{channels} channels do not run by Winograd's algorithm").into(),
                );
            }
            let forward = |kernel: Kernel, x: Tensor<4>| match kernel {
                Kernel::Burn => conv2d(
                    x,
                    weight.clone(),
                    Some(bias.clone()),
                    ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
                ),
                Kernel::Im2col => im2col.forward(x),
                Kernel::Winograd => winograd.forward(x),
            };
            check_agreement(
                &forward(Kernel::Burn, x.clone()),
                &forward(Kernel::Winograd, x.clone()),
            )?;
            let mut row = format!("| {channels} × {side} | {batch} |");
            for kernel in Kernel::ALL {
                let ms = median_ms(args.repeats, || drop(forward(kernel, x.clone())));
                row += &format!(" {ms:.2} |");
            }
            for kernel in Kernel::ALL {
                let ms = median_ms(args.repeats, || {
                    let leaf = x.clone().autodiff().require_grad();
                    let grads = forward(kernel, leaf.clone()).sum().backward();
                    drop(leaf.grad(&grads));
                });
                row += &format!(" {ms:.2} |");
            }
            println!("{row}");
        }
    }
    println!(
        "\n(milliseconds per call, median of {} calls after a warm-up; flex, {} cores)",
        args.repeats,
        cores()
    );
    Ok(())
}

/// The Winograd output against Burn's, relative to the largest magnitude: the benchmark times
/// kernels that compute the same thing.
fn check_agreement(burn: &Tensor<4>, ours: &Tensor<4>) -> Result {
    let scale = burn.clone().abs().max().into_scalar::<f32>().max(1.0);
    let difference = (burn.clone() - ours.clone())
        .abs()
        .max()
        .into_scalar::<f32>()
        / scale;
    if difference < 1e-4 {
        Ok(())
    } else {
        Err(format!("Winograd's output differs from Burn's by {difference:e}").into())
    }
}

fn median_ms(repeats: usize, call: impl Fn()) -> f64 {
    call();
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            call();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
