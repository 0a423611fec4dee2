"""What a person sees: the console while a recipe trains, the closing summary and the picture of the run."""

import json
import re
import struct
import warnings

import pytest

from rl_recipes.checks import RecipeError
from tests.conftest import assert_succeeded, launch, run_script

SHORT_RUN = ["--max_steps", "3", "--max_completion_length", "12", "--seed", "0"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def synthetic_history(steps: int, with_eval: bool, with_tools: bool = False) -> list[dict]:
    history = []
    for step in range(1, steps + 1):
        history.append(
            {
                "step": step,
                "loss": 0.1,
                "reward": 8.0 + 9 * step,
                "reward_std": 3.0,
                "entropy": 1.5 / step,
                "distinct_completions": min(50, 10 * step),
            }
        )
        if with_tools:
            history[-1].update({"tools/call_frequency": 1.5, "tools/failure_frequency": 0.1, "tools/turns": 2.5})
        if with_eval and step % 5 == 0:
            history.append({"step": step, "eval_reward": 7.0 + 9 * step, "eval_reward_std": 2.0})
    history.append({"step": steps, "train_runtime": 3.0, "train_steps_per_second": steps / 3.0})
    return history


def test_the_picture_has_a_panel_per_question_and_more_for_the_evaluation_reward_and_tool_use(tmp_path):
    from rl_recipes.curves import draw_curves

    without_eval = draw_curves(synthetic_history(10, with_eval=False), tmp_path / "train.png", max_reward=100)
    with_eval = draw_curves(synthetic_history(10, with_eval=True), tmp_path / "eval.png", max_reward=100)
    (width_3, height_3), (width_4, height_4) = png_size(without_eval), png_size(with_eval)
    assert height_3 == height_4
    assert width_4 / width_3 == pytest.approx(4 / 3, rel=0.02)  # reward, entropy, distinct, evaluation reward
    agent = draw_curves(synthetic_history(10, with_eval=True, with_tools=True), tmp_path / "agent.png", max_reward=1)
    assert png_size(agent)[0] / width_3 == pytest.approx(5 / 3, rel=0.02)  # and the tool use of an agent run


@pytest.mark.parametrize(
    ("recent", "last_batch", "entropy", "reading"),
    [
        (["a b", "c d"] * 20 + ["and and"] * 10, 10, 0.5, "all 10 of the last completions are the same text"),
        ([f"story {i % 3}" for i in range(50)], 10, 0.8, "only 3 distinct texts among the last 50 completions"),
        (
            [f"story {i}" for i in range(50)],
            10,
            0.01,
            "token entropy 0.010: sampling picks nearly the same token every time",
        ),
        ([f"story {i % 25}" for i in range(50)], 10, 0.8, None),
        (["once"], 1, None, None),  # one completion cannot tell
    ],
)
def test_the_collapse_reading_names_how_the_completions_collapsed(recent, last_batch, entropy, reading):
    from rl_recipes.trainers.diagnostics import read_collapse

    assert read_collapse(recent, last_batch, entropy) == reading


def test_console_metrics_all_cannot_be_mixed_with_names():
    from rl_recipes.console import check_console_metrics

    check_console_metrics(["all"])
    check_console_metrics(["reward", "rewards/a_words/mean"])
    with pytest.raises(RecipeError, match="pass either --console_metrics all or the names alone"):
        check_console_metrics(["all", "reward"])


def test_a_console_metric_the_trainer_does_not_log_is_named_once(capsys):
    from rl_recipes.console import ConsoleMetrics

    metrics = ConsoleMetrics(["reward", "rewrd", "eval_reward"])
    assert metrics.update({"loss": 0.1, "reward": 12.5, "entropy": 1.0})
    assert metrics.update({"loss": 0.1, "reward": 14.0})
    assert metrics.items() == [("reward", "14")]
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == ["warning: console_metrics rewrd not logged by this trainer; it logs: entropy, loss, reward"]


def test_without_a_bar_each_log_prints_one_line_from_the_main_process_only(capsys):
    from types import SimpleNamespace

    from rl_recipes.console import MetricsPrinter

    printer = MetricsPrinter(["reward", "entropy"])
    for main_process in (True, False):
        state = SimpleNamespace(is_world_process_zero=main_process, global_step=2, max_steps=60)
        printer.on_log(None, state, None, logs={"loss": 0.1, "reward": 12.25, "entropy": 1.5, "reward_std": 3.0})
    assert capsys.readouterr().out == "step 2/60: reward=12.25 entropy=1.5\n"


def test_only_the_deprecation_that_trl_triggers_is_silenced():
    from transformers import LlamaConfig, LlamaForCausalLM

    from rl_recipes.console import quiet_library_warnings

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=16,
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model.is_gradient_checkpointing is False
        quiet_library_warnings()
        assert model.is_gradient_checkpointing is False
        warnings.warn(
            "`is_gradient_checkpointing` is deprecated here too", FutureWarning, stacklevel=1
        )  # not from transformers
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2 and messages[0].startswith(
        "`is_gradient_checkpointing` is deprecated and will be removed"
    )
    assert messages[1] == "`is_gradient_checkpointing` is deprecated here too"


def test_trls_default_for_the_deprecated_checkpointing_name_is_quiet_and_still_applies(tmp_path):
    from trl import RLOOConfig

    from rl_recipes.console import quiet_library_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RLOOConfig(output_dir=str(tmp_path), report_to="none", bf16=False)  # TRL's default gradient_checkpointing=True
        quiet_library_warnings()
        config = RLOOConfig(output_dir=str(tmp_path), report_to="none", bf16=False)
    deprecations = [str(w.message) for w in caught if "`gradient_checkpointing` is deprecated" in str(w.message)]
    assert len(deprecations) == 1  # before the filter only
    assert config.activation_checkpointing is True  # the default still applies; only the notice is gone


def test_trls_switching_activation_checkpointing_off_around_its_no_grad_passes_is_quiet():
    from transformers import LlamaConfig, LlamaForCausalLM
    from trl.models.utils import disable_gradient_checkpointing

    from rl_recipes.console import quiet_library_warnings

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=16,
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    model.activation_checkpointing_enable()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with disable_gradient_checkpointing(model):  # as TRL calls it, through the deprecated names
            pass
        assert len(caught) > 0
        caught.clear()
        quiet_library_warnings()
        with disable_gradient_checkpointing(model):
            assert not model.is_activation_checkpointing
    assert [str(warning.message) for warning in caught] == []
    assert model.is_activation_checkpointing


def test_deepspeeds_cpu_fallback_notice_alone_is_dropped():
    import logging

    from rl_recipes.console import quiet_library_warnings

    deepspeed_logger = logging.getLogger("DeepSpeed")
    quiet_library_warnings()
    quiet_library_warnings()
    assert deepspeed_logger.filters.count(deepspeed_logger.filters[-1]) == 1
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    deepspeed_logger.addHandler(handler)
    try:
        deepspeed_logger.warning(
            "Setting accelerator to CPU. If you have GPU or other accelerator, we were unable to detect it."
        )
        deepspeed_logger.warning("Setting accelerator to XPU.")
    finally:
        deepspeed_logger.removeHandler(handler)
    assert [record.getMessage() for record in records] == ["Setting accelerator to XPU."]


@pytest.mark.slow
def test_default_run_shows_the_reward_in_its_bar_draws_its_curves_and_sums_up(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "run"
    result = launch(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        *SHORT_RUN,
        "--log_completions",
        "true",
        "--num_completions_to_print",
        "2",
    )
    assert_succeeded(result)
    # TRL's table of completions, asked for, still prints beside the bar at every step.
    assert set(re.findall(r" Step (\d+) ", result.stdout)) == {"1", "2", "3"} and "Advantage" in result.stdout

    # No per-step dictionary anywhere; the bar (on stderr) carries the chosen metrics instead.
    for stream in (result.stdout, result.stderr):
        assert "{'loss'" not in stream and "'reward':" not in stream
    assert re.search(
        r"3/3 \[.*reward=[-\d.e+]+, reward_std=[-\d.e+]+, entropy=[-\d.e+]+, distinct_completions=\d+\]", result.stderr
    )
    # Every log still reaches trainer_state.json.
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    assert len([entry for entry in history if "reward" in entry]) == 3
    # No warning that the recipe's own settings cause.
    assert "pin_memory" not in result.stderr
    assert "is_gradient_checkpointing" not in result.stderr
    assert "Warning" not in result.stderr, result.stderr
    assert "Setting accelerator to CPU" not in result.stdout  # DeepSpeed, installed for the ZeRO paths

    width, height = png_size(output_dir / "curves.png")
    assert width > 1000 and height > 300

    summary = result.stdout[result.stdout.index("=== Summary ===") :].splitlines()
    assert len(summary) <= 20
    text = "\n".join(summary)
    assert re.search(r"best [\d.]+ at step [123] \(maximum possible 12\)", text)
    assert re.search(r"time: [\d.]+ s of training, [\d.]+ s a step", text)
    assert re.search(r"at the end: \d+ distinct of the last 30 completions, token entropy [\d.]+", text)
    assert f"curves: {output_dir / 'curves.png'}" in text
    assert f"tensorboard: tensorboard --logdir {output_dir / 'runs'}" in text


@pytest.mark.slow
def test_console_metrics_all_brings_back_every_log_as_a_dictionary(tiny_model_dir, tmp_path):
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(tmp_path / "run"),
        *SHORT_RUN,
        "--console_metrics",
        "all",
        "--report_to",
        "none",
    )
    assert_succeeded(result)
    assert len(re.findall(r"^\{'loss': .*'reward': ", result.stdout, flags=re.MULTILINE)) == 3
