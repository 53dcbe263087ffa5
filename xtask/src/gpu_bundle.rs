//! `cargo xtask gpu-bundle`: everything a GPU machine without a Rust toolchain or a network needs
//! to run the test suite and the benchmark on its GPU for one GPU backend, in one git-ignored
//! folder that a device run carries beside the working tree (`tools/gpu/run.sh` runs it there;
//! docs/gpu.md says how).
//!
//! - `bin.tar.xz`: the test suite and the xtask binary, built in release, stripped.
//! - `backend`: the GPU backend they test. One per bundle: built with `vulkan`, CubeCL compiles
//!   SPIR-V for every Vulkan adapter, `wgpu`'s too, so WGSL needs a build without it; and two
//!   builds' binaries together exceed what one device run carries.
//! - `debs/`: the Vulkan loader, for a machine that has the driver but not the loader.
//! - `wheels/`: Captum, pytorch-grad-cam and their pure-Python companions at the versions
//!   `tools/reference/requirements.txt` pins (torch and the rest are on the GPU machine).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use burn_gradcam::output::ensure_dir;

use crate::Result;

/// What the device run carries at most: the working tree and the bundle together.
const CARRY_LIMIT_MIB: f64 = 64.0;

/// The peers' packages missing from the GPU machine's Python (pure Python, so one wheel fits).
const WHEELS: [&str; 4] = ["captum", "grad-cam", "zennit", "ttach"];

#[derive(clap::Args)]
pub struct GpuBundleArgs {
    /// The GPU backend: `wgpu` (WGSL, what `--features wgpu` builds and CI tests) or `vulkan`
    /// (CubeCL's SPIR-V compiler).
    #[arg(long, value_enum, default_value = "wgpu")]
    backend: GpuBackend,
    /// The bundle's folder (git-ignored: the device run carries it by name; default
    /// `.gpu-<backend>`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The GPU backend a bundle tests.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GpuBackend {
    Wgpu,
    Vulkan,
}

impl GpuBackend {
    fn name(self) -> &'static str {
        match self {
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
        }
    }

    /// Both CPU backends (flex is the parity suite's reference) and this one.
    fn features(self) -> &'static str {
        match self {
            Self::Wgpu => "ndarray,wgpu",
            Self::Vulkan => "ndarray,wgpu,vulkan",
        }
    }

    /// The everyday build's target directory where the features are the everyday build's,
    /// else one of its own, so that neither rebuilds the other's Burn.
    fn target_dir(self) -> &'static str {
        match self {
            Self::Wgpu => "target",
            Self::Vulkan => "target/gpu-bundle",
        }
    }
}

pub fn run(args: &GpuBundleArgs) -> Result {
    let backend = args.backend;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!(".gpu-{}", backend.name())));
    let artifacts = build(backend)?;
    let executable = |name: &str, test: bool| {
        artifacts
            .iter()
            .find(|a| a["target"]["name"] == name && a["profile"]["test"] == test)
            .and_then(|a| a["executable"].as_str())
            .map(PathBuf::from)
            .ok_or_else(|| format!("the build made no {name} executable"))
    };
    let suite = executable("suite", true)?;
    let xtask = executable("xtask", false)?;

    ensure_dir(&out)?;
    let stage = tempfile::tempdir_in(&out)?;
    for (name, binary) in [("suite", &suite), ("xtask", &xtask)] {
        let staged = stage.path().join(name);
        std::fs::copy(binary, &staged)?;
        run_tool(Command::new("strip").arg(&staged), "strip")?;
    }
    compress(stage.path(), &out.join("bin.tar.xz"))?;
    drop(stage);
    std::fs::write(out.join("backend"), backend.name())?;

    let debs = fresh_dir(&out.join("debs"))?;
    run_tool(
        Command::new("apt-get")
            .args(["download", "libvulkan1"])
            .current_dir(&debs),
        "apt-get download libvulkan1",
    )?;
    gather_wheels(&fresh_dir(&out.join("wheels"))?)?;

    let bundle = folder_mib(&out)?;
    let tree = tracked_mib()?;
    println!(
        "{} holds {bundle:.1} MiB; with the working tree's {tree:.1} MiB, {:.1} of the {CARRY_LIMIT_MIB} \
         MiB a device run carries.\nOn the GPU machine: command `bash tools/gpu/run.sh --bundle {}`, \
         carry [\"{}\"].",
        out.display(),
        bundle + tree,
        out.display(),
        out.display(),
    );
    if bundle + tree > CARRY_LIMIT_MIB {
        return Err(format!(
            "the bundle and the working tree ({:.1} MiB) exceed what a device run carries \
             ({CARRY_LIMIT_MIB} MiB)",
            bundle + tree
        )
        .into());
    }
    Ok(())
}

/// Builds every target of the workspace (tests and binaries in one resolution of features, so
/// that Burn compiles once) with the bundle's features and target directory; the artifacts
/// cargo reports.
fn build(backend: GpuBackend) -> Result<Vec<serde_json::Value>> {
    let features = backend.features();
    eprintln!("cargo build --release --workspace --all-targets --features {features} …");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--workspace", "--all-targets"])
        .args(["--features", features])
        .args(["--target-dir", backend.target_dir()])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({})", output.status).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .collect())
}

/// `dir`'s files as one xz-compressed tar: one stream, so that the code the binaries share
/// (Burn, CubeCL) compresses once where the window reaches.
fn compress(dir: &Path, archive: &Path) -> Result {
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()?;
    let file = std::fs::File::create(archive)?;
    let status = Command::new("xz")
        .args(["-9", "-T0", "-c"])
        .stdin(tar.stdout.ok_or("tar's output")?)
        .stdout(file)
        .status()?;
    if !status.success() {
        return Err(format!("xz failed ({status})").into());
    }
    Ok(())
}

/// The peers' wheels at the pinned versions. pytorch-grad-cam is published as source only:
/// its wheel is built here (pure Python, a few files).
fn gather_wheels(dir: &Path) -> Result {
    let pip = |args: &[&str]| {
        let python = crate::bench::peer_python()
            .ok_or("no Python with pip: create tools/reference/.venv as its README says")?;
        let mut command = Command::new(python);
        command.args(["-m", "pip", "-q"]).args(args).arg(dir);
        run_tool(&mut command, "pip")
    };
    let requirements = std::fs::read_to_string("tools/reference/requirements.txt")?;
    for name in WHEELS {
        let pinned = requirements
            .lines()
            .find(|line| line.split("==").next() == Some(name))
            .ok_or_else(|| format!("tools/reference/requirements.txt pins no {name}"))?;
        if name == "grad-cam" {
            pip(&["wheel", "--no-deps", pinned, "--wheel-dir"])?;
        } else {
            pip(&[
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                pinned,
                "--dest",
            ])?;
        }
    }
    Ok(())
}

/// `dir`, emptied.
fn fresh_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    ensure_dir(dir)?;
    Ok(dir.to_path_buf())
}

fn run_tool(command: &mut Command, what: &str) -> Result {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed ({status})").into());
    }
    Ok(())
}

fn folder_mib(dir: &Path) -> Result<f64> {
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        bytes += if entry.file_type()?.is_dir() {
            (folder_mib(&entry.path())? * 1024.0 * 1024.0) as u64
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(bytes as f64 / (1024.0 * 1024.0))
}

/// The size of the files git tracks, which every device run sends.
fn tracked_mib() -> Result<f64> {
    let output = Command::new("git").args(["ls-files", "-z"]).output()?;
    let mut bytes = 0;
    for path in output.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = Path::new(std::str::from_utf8(path)?);
        // A tracked file deleted in the working tree does not travel.
        bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    Ok(bytes as f64 / (1024.0 * 1024.0))
}
