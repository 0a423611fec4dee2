"""Full fine-tuning keeps float32 weights where it must, and says so where it does not."""

import pytest
from safetensors.torch import load_file

from tests.conftest import assert_succeeded, run_script

NOTICE = "note: full fine-tuning of bfloat16 weights"


def share_changed(trained_dir, base_dir) -> float:
    """The share of weight elements that differ from the base model's (cast to the trained dtype)."""
    trained, base = load_file(trained_dir / "model.safetensors"), load_file(base_dir / "model.safetensors")
    changed = sum((trained[name] != base[name].to(trained[name].dtype)).sum().item() for name in base)
    return changed / sum(tensor.numel() for tensor in base.values())


@pytest.mark.slow
def test_one_step_at_a_small_learning_rate_changes_float32_weights_but_rounds_away_in_pure_bf16(
    tiny_model_dir, tmp_path
):
    shares = {}
    for dtype in ("bfloat16", "float32"):
        result = run_script(
            "rloo.py",
            "--model_name_or_path",
            str(tiny_model_dir),
            "--output_dir",
            str(tmp_path / dtype),
            "--dtype",
            dtype,
            "--learning_rate",
            "1e-5",
            "--max_steps",
            "1",
            "--max_completion_length",
            "16",
            "--report_to",
            "none",
        )
        assert_succeeded(result)
        assert (NOTICE in result.stderr) is (dtype == "bfloat16")
        shares[dtype] = share_changed(tmp_path / dtype, tiny_model_dir)
    # AdamW's first step moves every weight with a gradient by about the learning rate: float32 keeps each move, while
    # bf16 rounds it away wherever its gap between neighbouring numbers is wider (all but the smallest weights).
    assert shares["float32"] > 0.99, shares
    assert shares["bfloat16"] < 0.2, shares


@pytest.mark.parametrize(
    "settings, deepspeed, expected",
    [
        ({"dtype": "bfloat16"}, False, True),
        ({"dtype": "float16"}, False, True),
        ({"dtype": "float32"}, False, False),
        ({"dtype": "bfloat16", "use_peft": True}, False, False),  # peft creates the adapter in float32
        ({"dtype": "bfloat16"}, True, False),  # DeepSpeed with bf16 on keeps float32 master weights
        ({"dtype": "auto", "checkpoint_dtype": "bfloat16"}, False, True),  # the checkpoint's own dtype
        ({"dtype": "auto", "checkpoint_dtype": "float32"}, False, False),
    ],
    ids=["bf16", "fp16", "float32", "lora", "deepspeed", "auto, bf16 checkpoint", "auto, float32 checkpoint"],
)
def test_the_half_precision_notice_names_full_fine_tuning_without_a_float32_copy(
    tmp_path, monkeypatch, settings, deepspeed, expected
):
    from types import SimpleNamespace

    from transformers import LlamaConfig

    from rl_recipes.precision import half_precision_notice

    model_dir = tmp_path / "model"
    LlamaConfig(dtype=settings.get("checkpoint_dtype", "float32")).save_pretrained(model_dir)
    model_args = SimpleNamespace(
        model_name_or_path=str(model_dir),
        model_revision="main",
        dtype=settings["dtype"],
        use_peft=settings.get("use_peft", False),
    )
    training_args = SimpleNamespace(deepspeed=None, bf16=True, fp16=False, learning_rate=1e-5)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", str(deepspeed).lower())
    notice = half_precision_notice(model_args, training_args)
    assert (notice is not None) is expected
    if expected:
        assert notice.startswith("note: full fine-tuning of") and "\n" not in notice
