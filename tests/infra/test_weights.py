"""vLLM weights are checked against the client's configured model before a bundle is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import MODELS
from infra.errors import BundleError
from infra.hosts.bundle.weights import check
from tests.conftest import EXAMPLE

EIGHT_B = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "torch_dtype": "bfloat16",
}


def folder(tmp_path: Path, config: dict[str, Any], name: str = "Meta-Llama-3.1-8B-Instruct") -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    (path / "model-00001-of-00004.safetensors").write_bytes(b"weights")
    return path


def test_the_configured_model_in_its_format_passes(tmp_path: Path) -> None:
    check(folder(tmp_path, EIGHT_B), MODELS["llama-3.1-8b-instruct"], "none")
    check(tmp_path / "Meta-Llama-3.1-8B-Instruct", MODELS["llama-3.1-8b-instruct"], "fp8")  # vLLM quantizes bf16
    awq = {**EIGHT_B, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
    check(folder(tmp_path, awq, "awq"), MODELS["llama-3.1-8b-instruct"], "awq-int4")


FOUR_HUNDRED_FIVE_B = {**EIGHT_B, "hidden_size": 16384, "num_hidden_layers": 126, "num_attention_heads": 128}


def test_405b_fp8_is_a_compressed_tensors_checkpoint_not_metas_deprecated_fbgemm(tmp_path: Path) -> None:
    model = MODELS["llama-3.1-405b-instruct"]
    quantized = {"quant_method": "compressed-tensors", "format": "float-quantized"}
    check(folder(tmp_path, {**FOUR_HUNDRED_FIVE_B, "quantization_config": quantized}, "ct"), model, "fp8")
    meta = {"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}
    with pytest.raises(BundleError, match="fbgemm_fp8 weights, which vLLM no longer serves by default") as raised:
        check(folder(tmp_path, {**FOUR_HUNDRED_FIVE_B, "quantization_config": meta}, "meta"), model, "fp8")
    assert "compressed-tensors" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("config", "model", "quantization", "message"),
    [
        (EIGHT_B, "llama-3.1-70b-instruct", "none", r"num_hidden_layers = 32, but llama-3\.1-70b-instruct .* has 80"),
        ({**EIGHT_B, "vocab_size": 32000}, "llama-3.1-8b-instruct", "none", "vocab_size = 32000"),
        ({**EIGHT_B, "architectures": ["MistralForCausalLM"]}, "llama-3.1-8b-instruct", "none", "architectures"),
        (EIGHT_B, "llama-3.1-8b-instruct", "awq-int4", r"holds unquantized \(bf16\) weights, but .* awq-int4"),
        (
            {**EIGHT_B, "quantization_config": {"quant_method": "gptq", "bits": 4}},
            "llama-3.1-8b-instruct",
            "none",
            "holds gptq weights",
        ),
        (
            {**EIGHT_B, "quantization_config": {"quant_method": "awq", "bits": 8}},
            "llama-3.1-8b-instruct",
            "awq-int4",
            "AWQ with 8 bits",
        ),
    ],
)
def test_weights_that_are_not_the_configured_model_are_refused_in_one_line(
    tmp_path: Path, config: dict[str, Any], model: str, quantization: Any, message: str
) -> None:
    with pytest.raises(BundleError, match=message) as raised:
        check(folder(tmp_path, config), MODELS[model], quantization)  # type: ignore[index]
    assert "\n" not in str(raised.value)


def test_broken_folders_are_refused(tmp_path: Path) -> None:
    model = MODELS["llama-3.1-8b-instruct"]
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(BundleError, match="is not a folder"):
        check(gguf, model, "none")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match="has no config.json"):
        check(empty, model, "none")
    (empty / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="is not JSON"):
        check(empty, model, "none")
    (empty / "config.json").write_text(json.dumps(EIGHT_B))
    with pytest.raises(BundleError, match="no .safetensors weights"):
        check(empty, model, "none")


def test_bundle_build_checks_vllm_weights_against_the_client_config_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phistack.cli import main

    seventy = folder(tmp_path, {**EIGHT_B, "num_hidden_layers": 80, "hidden_size": 8192}, "Llama-3.1-70B")
    out = tmp_path / "bundle"
    argv = ["bundle", "build", "--client", "example", "--config", str(EXAMPLE), "--out", str(out), "--engine", "vllm"]
    assert main([*argv, "--model", str(seventy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("phistack: error: --model: ") and "num_hidden_layers = 80" in err and "\n" not in err
    assert not out.exists() and not out.with_name("bundle.partial").exists()  # nothing half-made
    assert main([*argv[:5], str(tmp_path / "absent.yaml"), *argv[6:], "--model", str(seventy)]) == 2
    assert "absent.yaml not found" in capsys.readouterr().err
