import json
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO_ROOT


def run_benchmark(tmp_path, tiny_model_dir, *flags) -> tuple[dict, list[str], str]:
    """The benchmark's numbers, the first cells of its table's rows, and its standard output."""
    json_path = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "benchmark.py"),
        *flags,
        "--model_name_or_path",
        str(tiny_model_dir),
        "--json_path",
        str(json_path),
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    return json.loads(json_path.read_text()), [row.split("|")[1].strip() for row in rows[1:]], result.stdout


@pytest.mark.slow
def test_quick_benchmark_writes_a_well_formed_table_and_json(tiny_model_dir, tmp_path):
    numbers, rows, stdout = run_benchmark(tmp_path, tiny_model_dir, "--quick", "true", "--generations_per_step", "4")
    names = [r["name"] for r in numbers["results"]]
    assert names == ["RLOO trainer", "stock TRL RLOOTrainer", "REINFORCE trainer", "floor (plain PyTorch)"]
    for r in numbers["results"]:
        for key in (
            "seconds_per_step",
            "generation_s",
            "scoring_s",
            "update_s",
            "generations_per_s",
            "tokens_per_s",
            "peak_memory_mib",
        ):
            assert r[key] > 0, (r["name"], key)
        # The phases are what a step is made of: a timer that missed one (or timed it elsewhere) leaves most of the
        # step unaccounted for. What no phase covers is the advantage and the logging.
        assert r["generation_s"] + r["scoring_s"] + r["update_s"] >= 0.5 * r["seconds_per_step"], r
    assert rows == names
    assert "REINFORCE / RLOO generations per second:" in stdout
    rloo, stock = numbers["results"][:2]
    assert numbers["rloo_vs_stock_trl"] == pytest.approx(rloo["generations_per_s"] / stock["generations_per_s"])
    assert f"RLOO trainer / stock TRL RLOOTrainer generations per second: {numbers['rloo_vs_stock_trl']:.2f}" in stdout

    # Time to reward: the default recipe, one seed in quick mode, stopped at 90% of the maximum.
    to_reward = numbers["time_to_reward"]
    assert to_reward["maximum"] == 100 and to_reward["target"] == pytest.approx(90)
    (run,) = to_reward["runs"]
    assert run["reached"] and run["seconds"] > 0 and 0 < run["steps"] < 60
    assert run["generations"] == run["steps"] * 10  # the recipe's 10 a step, not --generations_per_step
    assert to_reward["median_generations"] == run["generations"]
    assert "Default RLOO recipe to a mean reward of 90 (of 100): median" in stdout


@pytest.mark.slow
def test_cost_growth_mode_varies_one_axis_at_a_time_and_draws_the_growth(tiny_model_dir, tmp_path):
    numbers, rows, _ = run_benchmark(
        tmp_path,
        tiny_model_dir,
        "--cost_growth",
        "true",
        "--quick",
        "true",
        "--cost_growth_models",
        "64x1",
        "128x2",
        "--cost_growth_lengths",
        "10",
        "20",
        "--cost_growth_generations",
        "2",
    )
    points = [(p["model"], p["completion_length"], p["generations"]) for p in numbers["points"]]
    assert points == [("64x1", 10, 2), ("128x2", 10, 2), ("64x1", 20, 2)]
    small, wide = numbers["points"][:2]
    assert wide["parameters"] > 3 * small["parameters"]  # wider and deeper: the model really grew
    for point in numbers["points"]:
        for contender in ("rloo", "floor"):
            r = point[contender]
            assert r["seconds_per_step"] > 0 and r["tokens_per_s"] > 0 and r["peak_memory_mib"] > 0
            assert r["generation_s"] + r["update_s"] >= 0.5 * r["seconds_per_step"], r
        assert point["vs_floor"] == pytest.approx(point["rloo"]["tokens_per_s"] / point["floor"]["tokens_per_s"])
    assert rows == ["64x1", "64x1", "128x2", "128x2", "64x1", "64x1"]
    assert (tmp_path / "bench.png").stat().st_size > 10_000


TOOL_LATENCY_S = 0.05


@pytest.mark.slow
def test_agent_mode_times_tool_loops_against_single_turn_and_with_slow_tools_ours_against_trls_loop(
    tool_model_dir, tmp_path
):
    from transformers.utils import get_json_schema

    from rl_recipes.benchmarking.slow_tools import SlowTools
    from rl_recipes.tasks.calculator.tools import add

    # The agent mode needs no story model: the tool model stands in for --model_name_or_path.
    numbers, rows, stdout = run_benchmark(
        tmp_path,
        tool_model_dir,
        "--agent",
        "true",
        "--agent_model",
        str(tool_model_dir),
        "--tool_latency",
        str(TOOL_LATENCY_S),
        "--agent_batch",
        "16",
        "--steps",
        "1",
        "--warmup_steps",
        "0",
    )
    # Agent rollouts against single-turn generation of as many tokens a rollout.
    agent, single = numbers["agent"], numbers["single_turn"]
    assert agent["model_tokens_per_rollout"] > 0 and agent["tokens_per_s"] > 0 and single["tokens_per_s"] > 0
    shares = agent["shares"]
    assert set(shares) == {"model", "tools", "parsing", "rendering", "other"}
    assert all(share >= 0 for share in shares.values()) and sum(shares.values()) == pytest.approx(1)
    assert shares["model"] > 0.5  # the model's generation is most of a rollout's time, and it is timed
    assert numbers["agent_vs_single_turn"] == pytest.approx(agent["tokens_per_s"] / single["tokens_per_s"])
    assert f"agent rollouts / single turn, model tokens per second: {numbers['agent_vs_single_turn']:.2f}" in stdout
    # With slow tools: ours, instant and slow, and TRL's loop, on the same tasks.
    latency = numbers["tool_latency"]
    names = ["ours, instant tools", "ours, tools taking 0.05 s", "TRL GRPOTrainer, tools taking 0.05 s"]
    assert rows == ["agent rollouts (tool loop)", "single turn, same length", "contender", *names]
    assert latency["latency_s"] == TOOL_LATENCY_S
    assert latency["max_parallel_tool_calls"] is None or latency["max_parallel_tool_calls"] >= 1
    instant, ours, trl = latency["ours_instant"], latency["ours_slow"], latency["trl_slow"]
    # The instant contender is the agent rollouts the mode times anyway.
    assert instant["seconds_per_batch"] == numbers["agent"]["seconds_per_batch"]
    assert instant["tool_calls_per_rollout"] == numbers["agent"]["tool_calls_per_rollout"] > 0
    # The same tasks from the same seed, and a slow tool answers as the tool does: the same rollouts, the same calls.
    assert ours["tool_calls_per_rollout"] == instant["tool_calls_per_rollout"]
    for slow in (ours, trl):
        assert slow["tool_calls_per_rollout"] > 0 and slow["slow_calls_per_batch"] >= 1
        # Calls that fail before the tool runs (an unknown name, wrong arguments) count as calls but wait for nothing.
        assert slow["slow_calls_per_batch"] <= slow["tool_calls_per_rollout"] * 16
        # At least one round of calls waited the latency, and the batch waited for its calls.
        assert slow["seconds_per_batch"] >= slow["tool_wait_s_per_batch"] >= TOOL_LATENCY_S
    # TRL 1.16's loop runs every call after the one before: its batch waits for each.
    assert trl["tool_wait_s_per_batch"] >= trl["slow_calls_per_batch"] * TOOL_LATENCY_S
    assert trl["seconds_per_batch"] >= trl["slow_calls_per_batch"] * TOOL_LATENCY_S
    # Ours runs a round's calls together: the batch waits about a call a round (3 rounds at most), not one a call.
    assert (
        ours["slow_calls_per_batch"] >= 6
        and ours["tool_wait_s_per_batch"] < 0.5 * ours["slow_calls_per_batch"] * TOOL_LATENCY_S
    )
    assert latency["ours_slow_vs_instant"] == pytest.approx(ours["seconds_per_batch"] / instant["seconds_per_batch"])
    assert latency["trl_slow_vs_ours_slow"] == pytest.approx(trl["seconds_per_batch"] / ours["seconds_per_batch"])
    # Whole training steps too (rollouts, rewards, loss and backward), each at least its batch of rollouts.
    for contender in (instant, ours, trl):
        assert contender["seconds_per_step"] > 0
    assert trl["seconds_per_step"] >= trl["slow_calls_per_batch"] * TOOL_LATENCY_S
    per_step = latency["per_step"]
    assert per_step["ours_slow_vs_instant"] == pytest.approx(ours["seconds_per_step"] / instant["seconds_per_step"])
    assert per_step["trl_slow_vs_ours_slow"] == pytest.approx(trl["seconds_per_step"] / ours["seconds_per_step"])
    assert (
        f"ours slow / ours instant: {per_step['ours_slow_vs_instant']:.2f} a training step, "
        f"{latency['ours_slow_vs_instant']:.2f} a batch of rollouts"
    ) in stdout
    assert (
        f"TRL slow / ours slow: {per_step['trl_slow_vs_ours_slow']:.2f} a training step, "
        f"{latency['trl_slow_vs_ours_slow']:.2f} a batch of rollouts"
    ) in stdout
    shared = latency["shared_settings"]  # read from the calculator recipe by both trainers
    assert (shared["num_generations"], shared["max_completion_length"], shared["max_tool_calling_iterations"]) == (
        8,
        64,
        3,
    )
    assert shared["per_device_train_batch_size"] == 16
    # The model is shown the same tool: name, signature and docstring are the tool's.
    slow_add = SlowTools(TOOL_LATENCY_S).wrap(add)
    assert get_json_schema(slow_add) == get_json_schema(add) and slow_add(a=2, b=3) == add(a=2, b=3)


@pytest.mark.slow
def test_generation_options_are_timed_against_the_recipe_and_sample_the_same(tiny_model_dir, tmp_path):
    numbers, rows, _ = run_benchmark(
        tmp_path, tiny_model_dir, "--generation_options", "true", "--quick", "true", "--generations_per_step", "2"
    )
    names = [r["name"] for r in numbers["results"]]
    assert rows == names and len(names) == 4
    baseline, *options = numbers["results"]
    assert baseline["vs_recipe"] == 1
    for option in options:
        assert option["vs_recipe"] == pytest.approx(option["generations_per_s"] / baseline["generations_per_s"])
    # A static KV cache and a compiled model change how the same tokens are computed, not which are drawn.
    same_samples = [o["name"] for o in options if o["step_rewards"] == baseline["step_rewards"]]
    assert {"static KV cache", "torch.compile"} <= set(same_samples), numbers["results"]


SLOW_REWARD_S = 1.0  # well above how much a step's generation time varies between runs on a busy machine


def slow_a_words(completions, **kwargs):
    """The a-word reward, slowed on purpose."""
    from rewards.a_words import a_words

    time.sleep(SLOW_REWARD_S)
    return a_words(completions=completions, **kwargs)


def test_a_contender_slowed_on_purpose_is_timed_slower_in_the_phase_that_was_slowed(
    tiny_model_dir, tmp_path, monkeypatch
):
    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.benchmarking.arguments import BenchmarkArguments
    from rl_recipes.benchmarking.builders import recipe_builder
    from rl_recipes.benchmarking.memory import PeakMemory
    from rl_recipes.benchmarking.timing import time_recipe

    monkeypatch.chdir(REPO_ROOT)  # the recipes name their prompts from the repository root
    args = BenchmarkArguments(
        model_name_or_path=str(tiny_model_dir), generations_per_step=4, completion_length=10, steps=2, warmup_steps=1
    )
    memory = PeakMemory("cpu")
    build = recipe_builder(ALGORITHMS["rloo"])

    def timed(*extra):
        return time_recipe("RLOO", build, ["--num_generations", "4", *extra], args, memory)

    plain = timed()
    slowed = timed("--reward_funcs", f"{__name__}.slow_a_words")
    assert slowed["scoring_s"] >= SLOW_REWARD_S > plain["scoring_s"]
    assert slowed["seconds_per_step"] > plain["seconds_per_step"] + SLOW_REWARD_S / 2
    assert slowed["generations_per_s"] < plain["generations_per_s"]


@pytest.mark.slow
def test_launch_memory_mode_shows_zero3_holding_half_the_weights_and_optimizer_state_of_ddp(tiny_model_dir, tmp_path):
    numbers, rows, _ = run_benchmark(
        tmp_path,
        tiny_model_dir,
        "--launch_memory",
        "true",
        "--launch_memory_contenders",
        "ddp",
        "zero3",
        "--launch_memory_hidden_size",
        "256",
        "--launch_memory_layers",
        "2",
        "--generations_per_step",
        "4",
        "--completion_length",
        "8",
        "--steps",
        "1",
        "--warmup_steps",
        "1",
    )
    ddp, zero3 = numbers["results"]
    assert (ddp["name"], zero3["name"]) == ("DDP x 2", "ZeRO-3 x 2")
    for contender in (ddp, zero3):
        assert len(contender["ranks"]) == 2
        assert contender["seconds_per_step"] > 0 and contender["peak_memory_mib"] > 0
    # 4 x 256 x 256 + 3 x 256 x 768 weights a layer, float32: ZeRO-3 holds half of them on each process.
    assert ddp["weights_mib"] == pytest.approx(numbers["parameters"] * 4 / 2**20)
    assert zero3["weights_mib"] == pytest.approx(ddp["weights_mib"] / 2, rel=0.01)
    # AdamW's two moments (and DeepSpeed's master partition) are sharded too.
    assert zero3["weights_mib"] + zero3["optimizer_mib"] <= 0.6 * (ddp["weights_mib"] + ddp["optimizer_mib"])
    assert rows == ["DDP x 2", "ZeRO-3 x 2"]


def test_stock_trl_trains_the_same_lora_adapter_as_the_recipe_when_asked(tiny_model_dir, tmp_path, monkeypatch):
    from peft import PeftModel

    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.benchmarking.arguments import BenchmarkArguments
    from rl_recipes.benchmarking.builders import recipe_builder, recipe_overrides, stock_trl_trainer

    monkeypatch.chdir(REPO_ROOT)
    args = BenchmarkArguments(model_name_or_path=str(tiny_model_dir), use_peft=True, steps=1, warmup_steps=0)
    trainable = {}
    for name, build in [("recipe", recipe_builder(ALGORITHMS["rloo"])), ("stock", stock_trl_trainer)]:
        overrides = recipe_overrides(args, str(tmp_path / name))
        trainer = build(overrides)
        assert isinstance(trainer.model, PeftModel), name
        trainable[name] = sorted(n for n, p in trainer.model.named_parameters() if p.requires_grad)
    assert trainable["stock"] == trainable["recipe"] and all("lora_" in n for n in trainable["stock"])


def test_gpu_phase_timings_wait_for_the_queued_work(monkeypatch):
    import torch

    from rl_recipes.benchmarking.timing import PhaseTimer

    waits = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: waits.append("sync"))
    timer = PhaseTimer("cuda")
    timer.begin()
    timer.wrap("generation", lambda: waits.append("work"))()
    timer.end(tokens=1)
    # The clock is read after the queued work: before the phase starts, when it ends, and at the step's end.
    assert waits == ["sync", "sync", "work", "sync", "sync"]
    assert PhaseTimer("cpu").now() > 0 and len(waits) == 5  # on a CPU nothing is queued
