"""Model weights checked against the client's configured model before they go into a bundle: a Hugging Face folder
whose config.json says it is that Llama 3.1 model (architecture, layers, hidden size, vocabulary) in the configured
weights format, with its safetensors shards present. A wrong download (another size, another model, a base model's
quantization) is refused in one line here, not discovered when vLLM fails to start on a host with no way out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.catalog import ModelSpec, Quantization
from infra.errors import BundleError

MAX_CONFIG_BYTES = 1_000_000
ARCHITECTURE = "LlamaForCausalLM"
# What a checkpoint's quantization_config.quant_method may be for each configured format. fp8 also takes bf16
# weights: vLLM quantizes them to FP8 as it loads them.
QUANT_METHODS: dict[Quantization, tuple[str | None, ...]] = {
    "none": (None,),
    "fp8": ("fp8", "compressed-tensors", None),
    "awq-int4": ("awq",),
}

# Formats vLLM deprecated and refuses without --allow-deprecated-quantization; Meta's own 405B FP8 is one.
DEPRECATED_IN_VLLM = ("fbgemm_fp8",)


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise BundleError(f"--model: {folder} has no config.json; give the downloaded Hugging Face folder.")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise BundleError(f"--model: {path} is over {MAX_CONFIG_BYTES} bytes; not a model's config.json.")
    try:
        config = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"--model: {path} is not JSON ({exc.__class__.__name__}).") from None
    if not isinstance(config, dict):
        raise BundleError(f"--model: {path} is not a JSON object.")
    return config


def check(folder: Path, model: ModelSpec, quantization: Quantization) -> None:
    """Raise BundleError naming the first way folder is not `model` in `quantization`."""
    if not folder.is_dir():
        raise BundleError(f"--model: {folder} is not a folder; vLLM serves a Hugging Face folder of {model.hf_repo}.")
    config = _config(folder)
    want: dict[str, Any] = {
        "architectures": [ARCHITECTURE],
        "num_hidden_layers": model.layers,
        "hidden_size": model.hidden_size,
        "num_key_value_heads": model.kv_heads,
        "vocab_size": model.vocab_size,
    }
    for key, expected in want.items():
        seen = config.get(key)
        if seen != expected:
            raise BundleError(
                f"--model: {folder}/config.json has {key} = {seen!r}, but {model.name} ({model.hf_repo}) has "
                f"{expected!r}; these weights are not the configured model."
            )
    quant = config.get("quantization_config")
    method = quant.get("quant_method") if isinstance(quant, dict) else None
    if method in DEPRECATED_IN_VLLM:
        raise BundleError(
            f"--model: {folder} holds {method} weights, which vLLM no longer serves by default; use an FP8 checkpoint "
            f"in compressed-tensors format (e.g. RedHatAI's FP8 build of {model.hf_repo.split('/')[-1]})."
        )
    if method not in QUANT_METHODS[quantization]:
        raise BundleError(
            f"--model: {folder} holds {method or 'unquantized (bf16)'} weights, but the client config says "
            f"model.quantization = {quantization}."
        )
    if quantization == "awq-int4" and isinstance(quant, dict) and quant.get("bits") != 4:
        raise BundleError(f"--model: {folder} is AWQ with {quant.get('bits')!r} bits, not 4.")
    if not any(folder.glob("*.safetensors")):
        raise BundleError(f"--model: {folder} has no .safetensors weights.")
