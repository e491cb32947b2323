"""What each supported model needs and what each supported GPU instance type offers.

The sizing rule is deliberately simple and written out so an engineer can check it by hand:

    needed = weights + KV cache for ``min_concurrent_sequences`` full-length sequences
    usable = total GPU memory x vLLM's default ``gpu_memory_utilization`` (0.90)
             - per-GPU overhead (CUDA context, activations, NCCL buffers) x number of GPUs

A type is refused when ``needed > usable``. Figures are decimal gigabytes (10^9 bytes), as the
instance-type pages and model cards give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelName = Literal["llama-3.1-8b-instruct", "llama-3.1-70b-instruct", "llama-3.1-405b-instruct"]
Quantization = Literal["none", "fp8", "awq-int4"]

GPU_MEMORY_UTILIZATION = 0.90
PER_GPU_OVERHEAD_GB = 1.5
MIN_CONCURRENT_SEQUENCES = 2
# Disk beside the weights: the root volume also holds Debian, the bundle's wheels and its copy of the weights; the
# data volume also holds PostgreSQL (engine host) and the engine's caches.
ROOT_VOLUME_HEADROOM_GB = 50
DATA_VOLUME_HEADROOM_GB = 100

# How vLLM is told each weights format (`--quantization`): bf16 needs no flag; fp8 works for FP8 checkpoints and
# quantizes bf16 weights at load; AWQ checkpoints run fastest on the Marlin kernels (plain "awq" would force the
# slower ones).
VLLM_QUANTIZATION: dict[Quantization, str] = {"none": "", "fp8": "fp8", "awq-int4": "awq_marlin"}

# Bytes per parameter as stored; AWQ int4 carries group-wise scales and zeros (~0.56 B/param).
BYTES_PER_PARAM: dict[Quantization, float] = {"none": 2.0, "fp8": 1.0, "awq-int4": 0.56}


@dataclass(frozen=True)
class ModelSpec:
    name: ModelName
    hf_repo: str
    params_billion: float
    layers: int
    kv_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int = 128256  # Llama 3's tokenizer

    def weights_gb(self, quantization: Quantization) -> float:
        return self.params_billion * BYTES_PER_PARAM[quantization]

    def kv_cache_gb(self, max_model_len: int) -> float:
        # K and V, per layer, per KV head, per head dimension, bf16 (2 bytes), per token.
        per_token = 2 * self.layers * self.kv_heads * self.head_dim * 2
        return per_token * max_model_len * MIN_CONCURRENT_SEQUENCES / 1e9

    def needed_gb(self, quantization: Quantization, max_model_len: int) -> float:
        return self.weights_gb(quantization) + self.kv_cache_gb(max_model_len)


MODELS: dict[ModelName, ModelSpec] = {
    "llama-3.1-8b-instruct": ModelSpec(
        "llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", 8.03, 32, 8, 128, 4096
    ),
    "llama-3.1-70b-instruct": ModelSpec(
        "llama-3.1-70b-instruct", "meta-llama/Llama-3.1-70B-Instruct", 70.6, 80, 8, 128, 8192
    ),
    # In fp8 its weights are ~406 GB: one 8-GPU H100 or H200 host (tensor parallel 8). Serving across hosts
    # (pipeline parallel over the network) is out of scope: see the README.
    "llama-3.1-405b-instruct": ModelSpec(
        "llama-3.1-405b-instruct", "meta-llama/Llama-3.1-405B-Instruct", 405.85, 126, 8, 128, 16384
    ),
}


@dataclass(frozen=True)
class GpuInstanceType:
    name: str
    gpu: str
    gpus: int
    gpu_memory_gb: int  # per GPU

    @property
    def total_gpu_memory_gb(self) -> int:
        return self.gpus * self.gpu_memory_gb

    @property
    def size(self) -> int:
        """The size's multiple of an xlarge (vCPUs / 4): within a GPU count, a smaller size is cheaper."""
        suffix = self.name.split(".")[1]
        return int(suffix.removesuffix("xlarge") or 1)

    @property
    def usable_gb(self) -> float:
        return self.total_gpu_memory_gb * GPU_MEMORY_UTILIZATION - PER_GPU_OVERHEAD_GB * self.gpus


def _family(prefix: str, gpu: str, mem: int, sizes: dict[str, int]) -> dict[str, GpuInstanceType]:
    return {f"{prefix}.{size}": GpuInstanceType(f"{prefix}.{size}", gpu, n, mem) for size, n in sizes.items()}


# GPU counts per size, shared by the g5, g6 and g6e families (AWS accelerated-computing instance pages).
_G_FAMILY_SIZES = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1, "12xlarge": 4,
                   "24xlarge": 4, "48xlarge": 8}  # fmt: skip

GPU_TYPES: dict[str, GpuInstanceType] = {
    **_family("g5", "NVIDIA A10G", 24, _G_FAMILY_SIZES),
    **_family("g6", "NVIDIA L4", 24, _G_FAMILY_SIZES),
    **_family("g6e", "NVIDIA L40S", 48, _G_FAMILY_SIZES),
    **_family("p4d", "NVIDIA A100 40GB", 40, {"24xlarge": 8}),
    **_family("p4de", "NVIDIA A100 80GB", 80, {"24xlarge": 8}),
    **_family("p5", "NVIDIA H100", 80, {"48xlarge": 8}),
    **_family("p5e", "NVIDIA H200", 141, {"48xlarge": 8}),
    **_family("p5en", "NVIDIA H200", 141, {"48xlarge": 8}),
}


def fits(gpu_type: GpuInstanceType, model: ModelSpec, quantization: Quantization, max_model_len: int) -> bool:
    return model.needed_gb(quantization, max_model_len) <= gpu_type.usable_gb


def types_that_fit(model: ModelSpec, quantization: Quantization, max_model_len: int) -> list[str]:
    """Fitting types, smallest total GPU memory first (then fewest GPUs, smallest size), so the first is the cheapest
    fit (g5.xlarge before g5.16xlarge, which has the same GPU)."""
    candidates = [t for t in GPU_TYPES.values() if fits(t, model, quantization, max_model_len)]
    candidates.sort(key=lambda t: (t.total_gpu_memory_gb, t.gpus, t.size, t.name))
    return [t.name for t in candidates]
