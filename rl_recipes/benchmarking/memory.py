"""What a contender holds in memory: its peak (the allocator's on a GPU, the process's resident set on a CPU), and
the bytes one process keeps for the model's weights and for the optimizer."""

from pathlib import Path

import torch
from transformers import TrainerCallback


class PeakMemory:
    """Peak memory of one contender: CUDA's allocator peak, or the process's resident-set peak on CPU."""

    def __init__(self, device: str):
        self.device = device

    def reset(self):
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the VmHWM high-water mark

    def read_mib(self) -> float:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


class HeldBytes(TrainerCallback):
    """After the last step: the bytes this process holds for the model's weights (its ZeRO-3 partition, if
    sharded) and for the optimizer (its state, and a master copy of the weights where it keeps one)."""

    trainer = None

    def on_train_end(self, args, state, control, **kwargs):
        weights = {}
        for param in self.trainer.model.parameters():
            held = getattr(param, "ds_tensor", param)  # ZeRO-3 keeps a partition; the full tensor is gathered on use
            weights[held.data_ptr()] = held.numel() * held.element_size()
        optimizer = self.trainer.optimizer
        while hasattr(optimizer, "optimizer"):  # accelerate's and DeepSpeed's wrappers around the torch optimizer
            optimizer = optimizer.optimizer
        tensors = [p for group in optimizer.param_groups for p in group["params"]]
        tensors += [
            value for per_param in optimizer.state.values() for value in per_param.values() if torch.is_tensor(value)
        ]
        optimizer_bytes = {t.data_ptr(): t.numel() * t.element_size() for t in tensors if t.data_ptr() not in weights}
        self.weights_mib = sum(weights.values()) / 2**20
        self.optimizer_mib = sum(optimizer_bytes.values()) / 2**20
