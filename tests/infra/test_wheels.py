"""The bundle's Python side: engine checks, model weights, the portable llama.cpp wheel cache.
The real wheel collection runs in the Molecule test's bundle build, installed offline on the test host."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import BundleError
from infra.hosts.bundle import wheels


def test_collect_refuses_an_unknown_engine_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="--engine: 'tgi' is not one of llama_cpp, vllm"):
        wheels.collect(tmp_path / "image", tmp_path / "w", tmp_path, "tgi", tmp_path / "house")
    assert not (tmp_path / "w").exists()


def test_model_weights_are_copied_a_gguf_file_or_a_hugging_face_folder(tmp_path: Path) -> None:
    gguf = tmp_path / "SmolLM2.gguf"
    gguf.write_bytes(b"GGUF")
    assert wheels.add_model(tmp_path / "out", gguf) == "SmolLM2.gguf"
    assert (tmp_path / "out" / "SmolLM2.gguf").read_bytes() == b"GGUF"
    folder = tmp_path / "Meta-Llama-3.1-8B-Instruct"
    (folder / ".cache").mkdir(parents=True)
    (folder / ".cache" / "lock").write_text("x")
    (folder / "model.safetensors").write_bytes(b"w")
    with pytest.raises(BundleError, match="has no config.json"):
        wheels.add_model(tmp_path / "out", folder)
    (folder / "config.json").write_text("{}")
    wheels.add_model(tmp_path / "out", folder)
    copied = sorted(p.name for p in (tmp_path / "out" / folder.name).iterdir())
    assert copied == ["config.json", "model.safetensors"]  # the download cache stays behind
    with pytest.raises(BundleError, match="--model: .* does not exist"):
        wheels.add_model(tmp_path / "out", tmp_path / "nothing")


def test_a_built_llama_cpp_wheel_is_reused_not_rebuilt(tmp_path: Path) -> None:
    built = tmp_path / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
    built.write_bytes(b"wheel")
    assert wheels.portable_llama_cpp(tmp_path) == built
    assert "-DGGML_NATIVE=OFF" in wheels.PORTABLE_LLAMA_CMAKE  # never tuned to the build machine's CPU


def test_bundle_build_for_the_python_roles_needs_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from phistack.cli import main

    out = str(tmp_path / "b")
    assert main(["bundle", "build", "--client", "c", "--out", out, "--roles", "base,rag_gateway"]) == 2
    assert "--model: give the model weights" in capsys.readouterr().err
    assert main(["bundle", "build", "--client", "c", "--out", out, "--model", str(tmp_path / "none.gguf")]) == 2
    assert "none.gguf does not exist" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
