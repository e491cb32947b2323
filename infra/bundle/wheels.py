"""Python wheels and model weights for the bundle: everything the hosts' virtual environments install offline.

The hosts run Debian 12's Python 3.11, so wheels are made with a Python 3.11 (the build machine's): the gateway
(phistack with its `gateway` extra) and the chosen engine. llama.cpp has no binary wheel on PyPI; it is built
once for portable x86-64 (AVX2/FMA/F16C, which every current EC2 CPU has; never -march=native, the build machine
is not the host) and kept in a wheelhouse outside the repository. vLLM wheels are downloaded as published."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.errors import BundleError

LLAMA_CPP = "llama-cpp-python[server]==0.3.36"
LLAMA_CPP_WHEEL = "llama_cpp_python-0.3.36-*.whl"
VLLM = "vllm==0.18.0"  # the release whose server arguments the llm_server unit was checked against
# The gateway embeds on CPU (the GPUs are the engine's): the CPU build of PyTorch, from PyTorch's CPU index
# (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu) or a local wheel; PyPI's default build is CUDA's.
GATEWAY_TORCH = "torch==2.13.0+cpu"
PORTABLE_LLAMA_CMAKE = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF "
    "-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF"
)
ENGINES = ("llama_cpp", "vllm")
HOST_PYTHON = (3, 11)  # Debian 12


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


def collect(out: Path, source: Path, engine: str, wheelhouse: Path) -> list[str]:
    """Wheels for the gateway (built from the checkout at source) and for engine, into out."""
    if engine not in ENGINES:
        raise BundleError(f"--engine: {engine!r} is not one of {', '.join(ENGINES)}.")
    if sys.version_info[:2] != HOST_PYTHON:
        want = ".".join(map(str, HOST_PYTHON))
        raise BundleError(f"wheels must be built with Python {want} (the hosts' Debian 12 Python), not {sys.version}.")
    out.mkdir(parents=True, exist_ok=True)
    _pip(["wheel", "--wheel-dir", str(out), f"{source}[gateway]", GATEWAY_TORCH])
    if engine == "llama_cpp":
        portable_llama_cpp(wheelhouse)
        _pip(["wheel", "--wheel-dir", str(out), "--find-links", str(wheelhouse), "--prefer-binary", LLAMA_CPP])
    else:
        _pip(["download", "--dest", str(out), "--only-binary=:all:", VLLM])
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
    """`python -m infra.bundle.wheels`: build (or find) the portable llama.cpp wheel; print its path. Used by
    scripts/setup.sh, so the development environment and the bundle share one build."""
    try:
        print(portable_llama_cpp(default_wheelhouse()))  # noqa: T201
    except BundleError as exc:
        print(f"phistack: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
