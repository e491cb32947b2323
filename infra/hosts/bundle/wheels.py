"""Python wheels and model weights for the bundle: everything the hosts' virtual environments install offline.

The hosts run Debian 13's Python 3.13, so the wheels are resolved by that Python: pip runs inside a throwaway
container of the hosts' image (infra/hosts/bundle/image.py), whatever Python the build machine has.
- The gateway (phistack with its `gateway` extra) runs in a virtual environment that sees Debian's site packages:
  its PyTorch is Debian's CPU build (python3-torch, from the bundle's .debs; the GPUs are the engine's, and PyPI's
  Linux torch is the multi-GB CUDA build). pip is asked what it would install next to Debian's packages
  (`install --dry-run --report`), and exactly those releases are downloaded.
- The engine has a virtual environment of its own: vLLM as published (it pins its CUDA torch), or llama.cpp, which
  has no binary wheel on PyPI: it is built once for portable x86-64 (AVX2/FMA/F16C, which every current EC2 CPU
  has; never -march=native, the build machine is not the host) and kept in a wheelhouse outside the repository.
  Its wheel loads its library through ctypes, so it is one py3-none wheel for every Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infra.errors import BundleError
from infra.hosts.bundle import debs

LLAMA_CPP = "llama-cpp-python[server]==0.3.36"
LLAMA_CPP_WHEEL = "llama_cpp_python-0.3.36-*.whl"
VLLM = "vllm==0.18.0"  # the release whose server arguments the llm_server unit was checked against
PORTABLE_LLAMA_CMAKE = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF "
    "-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF"
)
ENGINES = ("llama_cpp", "vllm")
# Debian packages the gateway's virtual environment takes from the system (the rag_gateway role installs the same).
# Debian's CPU PyTorch and Pillow (the venv sees them), and tesseract for OCR of scanned PDFs.
GATEWAY_DEBS = (
    "python3-venv", "python3-packaging", "python3-torch", "python3-pil", "tesseract-ocr", "tesseract-ocr-eng",
)  # fmt: skip


def default_wheelhouse() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "phistack" / "wheelhouse"


def _pip(args: list[str], env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise BundleError(f"pip {args[0]} failed (exit {result.returncode}): {' | '.join(tail)}")


def portable_llama_cpp(wheelhouse: Path) -> Path:
    """The portable llama.cpp wheel, built on first use (about 3 minutes on 2 cores), then reused."""
    found = sorted(wheelhouse.glob(LLAMA_CPP_WHEEL))
    if found:
        return found[-1]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": PORTABLE_LLAMA_CMAKE, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
    # No cache: pip's wheel cache is keyed by the source, not by CMAKE_ARGS, and may hold a -march=native build.
    _pip(["wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", str(wheelhouse), LLAMA_CPP.split("[")[0]], env)
    found = sorted(wheelhouse.glob(LLAMA_CPP_WHEEL))
    if not found:
        raise BundleError(f"{wheelhouse}: the llama.cpp build left no {LLAMA_CPP_WHEEL}.")
    return found[-1]


def pip_cache() -> Path:
    """pip's cache for builds on the hosts' image, kept between builds (downloads, not built code)."""
    return default_wheelhouse().with_name("pip-trixie")


def _phistack_wheel(source: Path, out: Path) -> str:
    """phistack is pure Python: one wheel, built here from a clean copy of the checkout's packages (building in the
    checkout itself would leave build/ there, and a stale build/lib can carry deleted modules into the wheel)."""
    with tempfile.TemporaryDirectory(prefix="phistack-wheel-") as tmp:
        clean = Path(tmp) / "src"
        clean.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, clean / name)
        for package in ("infra", "phistack", "compliance", "stack"):
            shutil.copytree(source / package, clean / package, ignore=ignore)
        _pip(["wheel", "--no-deps", "--wheel-dir", str(out), str(clean)])
    return next(out.glob("phistack-*.whl")).name


def collect(image: Path, out: Path, source: Path, engine: str, wheelhouse: Path) -> list[str]:
    """Wheels for the gateway (built from the checkout at source) and for engine, into out, for the image's Python."""
    if engine not in ENGINES:
        raise BundleError(f"--engine: {engine!r} is not one of {', '.join(ENGINES)}.")
    if engine == "llama_cpp":
        portable_llama_cpp(wheelhouse)
    out.mkdir(parents=True, exist_ok=True)
    cache = pip_cache()
    cache.mkdir(parents=True, exist_ok=True)
    gateway = _phistack_wheel(source, out)
    pip = "-m pip --disable-pip-version-check -q"
    engine_wheels = (
        f"/engine/bin/python3 {pip} wheel --wheel-dir /out --find-links /wheelhouse --prefer-binary '{LLAMA_CPP}'"
        if engine == "llama_cpp"
        else f"/engine/bin/python3 {pip} download --dest /out --only-binary=:all: '{VLLM}'"
    )
    report = (
        "import json; pins = [i['metadata']['name'] + '==' + i['metadata']['version'] for i in "
        "json.load(open('/tmp/report.json'))['install'] if i['metadata']['name'] != 'phistack']; "
        "print(*pins, sep=chr(10))"
    )
    script = (
        "apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        f"python3-pip {' '.join(GATEWAY_DEBS)} >/dev/null; "
        # The gateway: what pip would add to Debian's packages, then exactly those releases.
        "python3 -m venv --system-site-packages /gateway; "
        f"/gateway/bin/python3 {pip} install --dry-run --report /tmp/report.json '/out/{gateway}[gateway]'; "
        f'/gateway/bin/python3 -c "{report}" > /tmp/pins.txt; '
        f"/gateway/bin/python3 {pip} download --no-deps --only-binary=:all: --dest /out -r /tmp/pins.txt; "
        # The engine, in its own environment.
        f"python3 -m venv /engine; {engine_wheels}"
    )
    mounts = (f"--bind-ro={wheelhouse}:/wheelhouse", f"--bind={cache}:/root/.cache/pip")
    debs.in_image(image, out, script, mounts)
    return sorted(p.name for p in out.glob("*.whl"))


def add_model(out: Path, model: Path) -> str:
    """Copy model weights (one file, e.g. a GGUF, or a Hugging Face folder) under out; return its name there."""
    if not model.exists():
        raise BundleError(f"--model: {model} does not exist.")
    out.mkdir(parents=True, exist_ok=True)
    target = out / model.name
    if model.is_dir():
        if not (model / "config.json").is_file():
            raise BundleError(f"--model: {model} has no config.json; give the downloaded Hugging Face folder.")
        shutil.copytree(model, target, ignore=shutil.ignore_patterns(".cache", ".git*"))
    else:
        shutil.copy2(model, target)
    return model.name


def main() -> int:
    """`python -m infra.hosts.bundle.wheels`: build (or find) the portable llama.cpp wheel; print its path. Used by
    scripts/setup.sh, so the development environment and the bundle share one build."""
    try:
        print(portable_llama_cpp(default_wheelhouse()))  # noqa: T201
    except BundleError as exc:
        print(f"phistack: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
