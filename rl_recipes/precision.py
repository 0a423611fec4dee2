"""Which precision a run trains in, settled before the model loads.

Two rules, the same on every launch path (one process, DDP, DeepSpeed, FSDP, several machines):

- **bf16 needs a GPU that has it.** TRL's configs turn bf16 on by default, for GPUs. A run that
  trains on the CPU (no GPU with bf16, `--use_cpu true`, or a CPU launch config) and leaves bf16
  unset trains in float32 and says so in one line; one that asks for bf16 stops with one line.
  (transformers refuses bf16 without such a GPU, but with `use_cpu` it would quietly run CPU autocast.)
- **Half-precision weights need a float32 copy to learn at small learning rates.** An update smaller
  than half the gap between neighbouring bf16 numbers rounds to nothing: near a typical weight
  (|w| about 0.02) that gap is about 1.2e-4, far above an AdamW step of 1e-5. Full fine-tuning of
  weights loaded in bf16 or fp16 with no float32 master copy therefore leaves most weights as they
  were. DeepSpeed with bf16 or fp16 on keeps float32 master weights; a LoRA adapter is created in
  float32 by peft; everything else gets one start-up line naming the effect and the fix (not a
  refusal: people do it knowingly, to fit a model in memory).
"""

import os
import sys

# TrainingArguments' refusal of bf16 on a machine without a bf16 GPU (and without use_cpu).
BF16_UNSUPPORTED = "Your setup doesn't support bf16/gpu"
HALF_PRECISION = ("bfloat16", "float16")


def say_once(line: str) -> None:
    """Print `line` to standard error from the first process of a launch only."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(line, file=sys.stderr)


def bf16_left_to_default(argv: list[str], recipe_keys: set[str]) -> bool:
    """True when neither the YAML recipe nor a flag sets bf16 (TRL's configs then default it to on)."""
    return "bf16" not in recipe_keys and not any(arg == "--bf16" or arg.startswith("--bf16=") for arg in argv)


def trains_on_cpu(training_args) -> bool:
    """Whether the run's device is the CPU: asked for (`use_cpu`, a CPU launch config), or no GPU has bf16."""
    from transformers.utils import is_torch_bf16_gpu_available

    asked = training_args.use_cpu or os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true")
    return asked or not is_torch_bf16_gpu_available()


def bf16_refusal() -> str:
    return (
        "bf16 is set, but this run trains on the CPU (no GPU with bf16 support, or --use_cpu true), where "
        "it would be slow CPU autocast: set bf16 false, or run on a GPU with bf16 (Ampere or newer)."
    )


def bf16_fallback_notice() -> str:
    return (
        "bf16 is off because this run trains on the CPU (no GPU with bf16 support, or --use_cpu true): "
        "training in float32."
    )


def weights_dtype(model_args) -> str | None:
    """The dtype the model's weights are loaded in; for `auto`, the checkpoint's own, read from its config
    (None where the config cannot be read without loading the model)."""
    if model_args.dtype != "auto":
        return model_args.dtype
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    except (OSError, ValueError):
        return None
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else None


def keeps_master_weights(training_args) -> bool:
    """DeepSpeed with bf16 or fp16 on keeps float32 master weights in its optimizer; nothing else here does."""
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" or bool(training_args.deepspeed)
    return deepspeed and (training_args.bf16 or training_args.fp16)


def half_precision_notice(model_args, training_args) -> str | None:
    """One line when full fine-tuning holds half-precision weights with no float32 master copy, else None."""
    if model_args.use_peft or keeps_master_weights(training_args):
        return None
    dtype = weights_dtype(model_args)
    if dtype not in HALF_PRECISION:
        return None
    source = "--dtype auto: the checkpoint's own" if model_args.dtype == "auto" else "--dtype"
    return (
        f"note: full fine-tuning of {dtype} weights ({source}) with no float32 master copy: an update smaller than "
        f"half the gap between neighbouring {dtype} numbers (about 6e-5 near a weight of 0.02 in bfloat16) rounds "
        f"to nothing, so at learning_rate {training_args.learning_rate:g} most weights never change. Load the "
        "weights in float32 (--dtype float32) and compute in bf16 (--bf16 true), train a LoRA adapter "
        "(--use_peft true), or launch with DeepSpeed, which keeps float32 master weights."
    )
