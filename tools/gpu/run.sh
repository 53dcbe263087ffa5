#!/usr/bin/env bash
# The GPU machine's run: the test suite on a bundle's GPU backend, then the benchmark beside
# Captum and pytorch-grad-cam on CUDA, from the bundle `cargo xtask gpu-bundle --backend B` leaves
# in .gpu-B/ (that machine has no Rust toolchain and no network). docs/gpu.md says how to call it
# and what comes back.
#
#   bash tools/gpu/run.sh [--bundle .gpu-wgpu] [--part all|tests|bench] [--no-peers] [--quick]
#                         [--deadline SECONDS]
#
# --quick: a few images per row, for proving the bundle on a software Vulkan (lavapipe) first.
# --deadline (default 540): no step starts after it and each step's time limit ends at it, so
# that the run ends inside the device run's 10 minutes with whatever finished (a device run
# of --part tests and one of --part bench when the whole does not fit).
# Everything goes to $OUT (the device run's output folder; target/gpu-run here): gpu-run.log,
# summary.json and the benchmark's JSON files.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
part=all
quick=0
deadline=540
bundle=.gpu-wgpu
peers=1
while [ $# -gt 0 ]; do
    case $1 in
        --bundle) bundle=$2; shift 2 ;;
        --no-peers) peers=0; shift ;;
        --part) part=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --deadline) deadline=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
out=${OUT:-$root/target/gpu-run}
mkdir -p "$out"
exec > >(tee -a "$out/gpu-run.log") 2>&1
start=$(date +%s)
step() { echo; echo "== $* (at $(( $(date +%s) - start )) s)"; }
# Seconds a step may take: `cap`, or less where the deadline comes first (0: none left).
limit() {
    local left=$(( deadline - ($(date +%s) - start) ))
    if [ "$left" -lt 10 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
bundle=$root/$bundle
[ -f "$bundle/bin.tar.xz" ] || { echo "no bundle in $bundle: run cargo xtask gpu-bundle first"; exit 1; }
backend=$(cat "$bundle/backend")
echo "bundle $bundle: the $backend backend"

step "Vulkan loader and driver"
if ! ldconfig -p | grep -q 'libvulkan\.so\.1'; then
    for deb in "$bundle"/debs/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null \
    || echo "(no nvidia-smi)"

step "the peers' wheels"
python=${GRADCAM_PYTHON:-python3}
site=/tmp/gradcam-site
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$bundle"/wheels/*.whl || exit 1
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH} GRADCAM_PYTHON=$python
"$python" -c 'import torch, captum, pytorch_grad_cam, zennit
print("torch", torch.__version__, "CUDA", torch.cuda.is_available() and torch.cuda.get_device_name(0))'
peer_device=$("$python" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')

step "binaries"
bin=/tmp/gradcam-bin
rm -rf "$bin" && mkdir -p "$bin" && tar -xJf "$bundle/bin.tar.xz" -C "$bin" || exit 1
"$bin/xtask" adapters

# The tests read the fixtures from this checkout; the example binaries' tests (the command line
# on the CPU) stay on the CPU machine.
export GRADCAM_REPO_ROOT=$root BURN_DEVICE=flex
tests_rc=()
if [ "$part" != bench ]; then
    step "test suite, flex against $backend"
    seconds=$(limit "${GRADCAM_TESTS_TIMEOUT:-300}")
    if [ "$seconds" = 0 ]; then
        echo "skipped: past the deadline"
        tests_rc+=("$backend=skipped")
    else
        GRADCAM_BACKENDS=flex,$backend GRADCAM_REQUIRE_BACKENDS=$backend \
            timeout "$seconds" "$bin/suite" --skip example_job --skip audit_pipeline
        rc=$?
        tests_rc+=("$backend=$rc")
        echo "test suite on $backend: exit status $rc"
    fi
fi

if [ "$part" != tests ]; then
    # One process per model: one that crashes takes no other's rows with it.
    bench() {
        local name=$1; shift
        local with=(--peer-device "$peer_device" --peer-threads "$(nproc)")
        [ $peers = 0 ] && with=(--no-peers)
        step "bench $name on $backend"
        local seconds
        seconds=$(limit 240)
        if [ "$seconds" = 0 ]; then echo "skipped: past the deadline"; return; fi
        timeout "$seconds" "$bin/xtask" bench --backends "$backend" \
            --json "$out/bench-$name-$backend.json" "${with[@]}" "$@"
        echo "bench $name on $backend: exit status $?"
    }
    cams=forward,grad-cam,pgc-grad-cam,guided-backprop,guided-grad-cam
    if [ $quick = 1 ]; then
        bench mnist --model mnist --methods "$cams" --batch1-images 4 --batch 32 --repeats 1
        bench resnet18 --model resnet18 --methods "$cams" --batch1-images 2 --batch 4 --repeats 1
    else
        bench mnist --model mnist --batch1-images 100 --batch 1000 --repeats 3
        bench resnet18 --model resnet18 --methods "$cams" --batch1-images 16 --batch 16,64,256 --repeats 3
        bench resnet50 --model resnet50 --methods "$cams" --batch1-images 16 --batch 16,64 --repeats 3
    fi
fi

step "summary"
"$python" - "$out" "${tests_rc[@]}" <<'EOF'
import glob, json, os, re, sys
out, statuses = sys.argv[1], sys.argv[2:]
log = open(os.path.join(out, "gpu-run.log"), errors="replace").read()
tests = {}
for backend, rc in (s.split("=") for s in statuses):
    part = log.split(f"test suite, flex against {backend}")[-1]
    counts = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", part)
    tests[backend] = {"exit_status": int(rc) if rc.lstrip("-").isdigit() else rc, **({} if counts is None else dict(
        zip(["passed", "failed", "ignored"], map(int, counts.groups()))))}
summary = {"adapters": list(dict.fromkeys(re.findall(r"^(?:wgpu|vulkan): .*$", log, re.M))), "tests": tests,
           "benchmarks": sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "bench-*.json")))}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
echo "done after $(( $(date +%s) - start )) s"
