"""What this project knows about GPUs and cloud instance types without asking anyone: the GPUs'
bf16 peaks (for MFU and GPU-hour estimates) and what the instance types in cluster.yaml hold.

No torch, no Ray, no network: the dry run and the cluster check read this offline.
"""

from __future__ import annotations

from dataclasses import dataclass

# bf16 dense (no sparsity) tensor-core TFLOP/s, matched as substrings of a GPU's name
# (torch.cuda.get_device_name(), or an instance type's `gpu` below) in this order ("H100 PCIe"
# before "H100", which is the SXM part). From NVIDIA's data sheets, except the A10G: AWS's variant
# of the A10 has no NVIDIA data sheet. 70 is the figure quoted for it (e.g. Baseten's "NVIDIA A10 vs
# A10G for ML model inference"), below the A10's 125: its tensor cores are slower than the A10's.
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0, "A10G": 70.0}


def peak_for(name: str) -> float | None:
    """The bf16 dense peak of the GPU called `name`, in TFLOP/s; None when it is not in the table."""
    return next((tflops for key, tflops in PEAK_BF16_TFLOPS.items() if key in name), None)


@dataclass(frozen=True)
class Instance:
    cpus: int  # vCPUs, which Ray counts as its CPU resource
    gpus: int
    gpu: str = ""  # the GPU's name, a key of PEAK_BF16_TFLOPS


# The instance types the shipped cluster.yaml names, from AWS's instance-type pages. When a node
# type gives no `resources:`, `ray up` asks EC2 what its instance type holds; offline, this small
# table stands in for that look-up. Any other type needs `resources: {"CPU": n, "GPU": m}` in its
# node type (the cluster check says so).
INSTANCE_TYPES = {
    "m6i.2xlarge": Instance(cpus=8, gpus=0),  # the head
    "g5.2xlarge": Instance(cpus=8, gpus=1, gpu="A10G"),  # 1 × A10G, 24 GB
}
