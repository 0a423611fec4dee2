"""scripts/merge_lora.py and scripts/evaluate.py on the tiny model and a LoRA adapter trained for a few steps."""

import json
import math
import shutil
import subprocess
import sys

import pytest
import torch

from rewards.a_words import count_a_words
from tests.conftest import REPO_ROOT, assert_succeeded
from tests.conftest import run_script as run_recipe

PROMPTS = ["Once upon a time", "One day"]


def run_script(script: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """`python scripts/<script> ARGS` from `cwd`, as a user would run it."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / script), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def refused_in_process(script: str, *args: str, cwd, monkeypatch) -> str:
    """The line `python scripts/<script> ARGS` exits with, run in this process: the script's own checks, without
    an interpreter start for each case (the first case of each script runs as a user runs it)."""
    import runpy

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO_ROOT / "scripts" / script), run_name="__main__")
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    """Nonzero exit with one line `error: ...` that names the problem, and no traceback."""
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: ") and "Traceback" not in result.stderr, result.stderr[-2000:]
    for word in words:
        assert word in last_line, last_line


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("lora") / "adapter"
    result = run_recipe(
        "rloo.py",
        "--config",
        "recipes/configs/a_words/rloo_lora.yaml",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "3",
        "--max_completion_length",
        "30",
        "--report_to",
        "none",
    )
    assert_succeeded(result)
    return output_dir


@pytest.fixture(scope="module")
def merged_dir(adapter_dir):
    output_dir = adapter_dir.parent / "merged"
    assert_succeeded(
        run_script("merge_lora.py", "--adapter_dir", "adapter", "--output_dir", "merged", cwd=adapter_dir.parent)
    )
    return output_dir


@pytest.mark.slow
def test_merged_model_loads_alone_with_the_adapters_logits(tiny_model_dir, adapter_dir, merged_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert not (merged_dir / "adapter_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    inputs = tokenizer(["Once upon a time there was a cat"], return_tensors="pt")
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(merged_dir)(**inputs).logits
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir)(
            **inputs
        ).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(**inputs).logits
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=0)
    assert (merged - base).abs().max() > 1e-2, "three steps of training must have moved the adapter"


@pytest.mark.slow
def test_merge_refuses_bad_input_in_one_line(tiny_model_dir, adapter_dir, merged_dir, tmp_path, monkeypatch):
    assert_refused(
        run_script("merge_lora.py", "--adapter_dir", "missing", "--output_dir", "out", cwd=tmp_path), "does not exist"
    )
    line = refused_in_process(
        "merge_lora.py",
        "--adapter_dir",
        str(tiny_model_dir),
        "--output_dir",
        "out",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert "no adapter_config.json" in line
    line = refused_in_process(
        "merge_lora.py",
        "--adapter_dir",
        str(adapter_dir),
        "--output_dir",
        str(merged_dir),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )
    assert "--overwrite_output_dir" in line
    orphan = tmp_path / "orphan"
    shutil.copytree(adapter_dir, orphan)
    config = json.loads((orphan / "adapter_config.json").read_text())
    (orphan / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": str(tmp_path / "gone")})
    )
    line = refused_in_process(
        "merge_lora.py", "--adapter_dir", "orphan", "--output_dir", "out", cwd=tmp_path, monkeypatch=monkeypatch
    )
    assert "does not exist" in line and "--base_model" in line
    assert not (tmp_path / "out").exists()


def evaluate_args(*models: str, output: str, seed: str = "0") -> list[str]:
    return [
        "--models",
        *models,
        "--dataset_name",
        "prompts.jsonl",
        "--num_samples",
        "4",
        "--max_completion_length",
        "20",
        "--seed",
        seed,
        "--output_json",
        f"{output}.json",
        "--output_completions",
        f"{output}.jsonl",
    ]


@pytest.fixture(scope="module")
def evaluation(tiny_model_dir, adapter_dir, merged_dir):
    """One evaluation of base, adapter and merged model: (stdout, results JSON, completions), run from the runs' folder."""
    workdir = adapter_dir.parent
    with open(workdir / "prompts.jsonl", "w") as f:
        for prompt in PROMPTS:
            f.write(json.dumps({"prompt": prompt}) + "\n")
    result = run_script(
        "evaluate.py", *evaluate_args(str(tiny_model_dir), "adapter", "merged", output="eval"), cwd=workdir
    )
    assert_succeeded(result)
    completions = [json.loads(line) for line in open(workdir / "eval.jsonl")]
    return result.stdout, json.loads((workdir / "eval.json").read_text()), completions


@pytest.mark.slow
def test_evaluate_reports_every_model_with_numbers_its_completions_reproduce(tiny_model_dir, evaluation):
    stdout, report, completions = evaluation
    names = [str(tiny_model_dir), "adapter", "merged"]
    assert [r["model"] for r in report["results"]] == names
    for r in report["results"]:
        mine = [c for c in completions if c["model"] == r["model"]]
        assert r["completions"] == len(mine) == len(PROMPTS) * 4
        assert [c["prompt"] for c in mine] == [p for p in PROMPTS for _ in range(4)]
        for key in ("reward_mean", "reward_std", "distinct_fraction", "distinct_2", "mean_length"):
            assert math.isfinite(r[key]) and r[key] > 0, (r["model"], key)
        assert r["distinct_fraction"] <= 1 and r["distinct_2"] <= 1 and r["mean_length"] <= 20
        # The reward, recomputed from the written completions alone, is the reported one.
        rewards = [count_a_words(c["completion"]) for c in mine]
        assert [c["a_words"] for c in mine] == [c["reward"] for c in mine] == rewards
        assert r["reward_mean"] == pytest.approx(sum(rewards) / len(rewards))
        assert r["rewards"]["a_words"] == {"mean": pytest.approx(r["reward_mean"]), "left_out": 0}
        assert r["mean_length"] == pytest.approx(sum(c["num_tokens"] for c in mine) / len(mine))
        assert r["distinct_fraction"] == len({c["completion"] for c in mine}) / len(mine)
        assert f"| {r['model']} | {r['reward_mean']:.2f} ± {r['reward_std']:.2f} |" in stdout
    # Merged and unmerged adapter are the same model: same seed, same samples.
    adapter, merged = ([c["completion"] for c in completions if c["model"] == name] for name in ("adapter", "merged"))
    assert adapter == merged


@pytest.mark.slow
def test_evaluate_is_deterministic_per_model_whatever_else_is_listed(adapter_dir, evaluation):
    _, report, _ = evaluation
    workdir = adapter_dir.parent
    assert_succeeded(run_script("evaluate.py", *evaluate_args("adapter", output="again"), cwd=workdir))
    again = json.loads((workdir / "again.json").read_text())["results"]
    assert again == [report["results"][1]]


@pytest.mark.slow
def test_evaluate_scores_chat_prompts_with_a_users_reward_and_counts_missing_values(tmp_path):
    from tests.stand_ins import build_causal_lm

    build_causal_lm(tmp_path / "chat_model", "llama", chat=True)
    with open(tmp_path / "chat.jsonl", "w") as f:
        for topic in ("cats", "dogs"):
            f.write(
                json.dumps({"messages": [{"role": "user", "content": f"A story about {topic}"}], "topic": topic}) + "\n"
            )
    # A reward module beside the user, taking the data set's extra column; no value for every third sample.
    (tmp_path / "my_rewards.py").write_text(
        "def mentions_topic(prompts, completions, topic, **kwargs):\n"
        "    return [None if i % 3 == 0 else float(t in c[0]['content']) for i, (c, t) in enumerate(zip(completions, topic))]\n"
    )
    result = run_script(
        "evaluate.py",
        "--models",
        "chat_model",
        "--dataset_name",
        "chat.jsonl",
        "--prompt_column",
        "messages",
        "--reward_funcs",
        "a_words",
        "my_rewards.mentions_topic",
        "--reward_weights",
        "1",
        "2",
        "--num_samples",
        "3",
        "--max_completion_length",
        "8",
        "--output_json",
        "out.json",
        "--output_completions",
        "out.jsonl",
        cwd=tmp_path,
    )
    assert_succeeded(result)
    (r,) = json.loads((tmp_path / "out.json").read_text())["results"]
    completions = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    assert all(c["completion"][0]["role"] == "assistant" for c in completions)
    assert r["rewards"]["my_rewards.mentions_topic"]["left_out"] == 2  # samples 0 and 3 of 6
    assert r["reward_left_out"] == 0  # a_words scores them all
    totals = [c["a_words"] + 2 * (c["my_rewards.mentions_topic"] or 0) for c in completions]
    assert r["reward_mean"] == pytest.approx(sum(totals) / len(totals))
    assert "(2 left out)" in result.stdout


@pytest.mark.slow
def test_evaluate_refuses_bad_input_in_one_line(tiny_model_dir, adapter_dir, evaluation, tmp_path, monkeypatch):
    assert_refused(
        run_script("evaluate.py", "--models", str(tiny_model_dir), "./missing_model", cwd=tmp_path),
        "missing_model",
        "does not exist",
    )
    orphan = tmp_path / "orphan"
    shutil.copytree(adapter_dir, orphan)
    config = json.loads((orphan / "adapter_config.json").read_text())
    (orphan / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": str(tmp_path / "gone")})
    )
    assert "base_model_name_or_path" in refused_in_process(
        "evaluate.py", "--models", "orphan", cwd=tmp_path, monkeypatch=monkeypatch
    )
    existing = adapter_dir.parent / "eval.json"
    assert "--overwrite_outputs" in refused_in_process(
        "evaluate.py",
        "--models",
        str(tiny_model_dir),
        "--output_json",
        str(existing),
        cwd=tmp_path,
        monkeypatch=monkeypatch,
    )


def test_evaluate_samples_with_the_trainers_settings_not_the_models_own():
    from transformers import GenerationConfig

    from rl_recipes.evaluation.sampling import sampling_config

    # An instruct model's generation config, such as Qwen2.5-Instruct's.
    model_config = GenerationConfig(
        do_sample=True, repetition_penalty=1.05, top_k=20, top_p=0.8, min_p=0.1, temperature=0.7
    )
    config = sampling_config(model_config, temperature=1.0)
    # RLOOTrainer's generation: RLOOConfig's defaults over the model's config.
    assert (
        config.do_sample,
        config.temperature,
        config.top_k,
        config.top_p,
        config.min_p,
        config.repetition_penalty,
    ) == (True, 1.0, 0, 1.0, None, 1.0)


@pytest.mark.slow
def test_evaluate_reads_relative_paths_from_the_working_directory(tiny_model_dir, tmp_path):
    # This path exists under the repository root, not under the working directory: it is not found.
    result = run_script(
        "evaluate.py",
        "--models",
        str(tiny_model_dir),
        "--dataset_name",
        "recipes/configs/a_words/prompts.jsonl",
        cwd=tmp_path,
    )
    assert_refused(result, f"{tmp_path}/recipes/configs/a_words/prompts.jsonl does not exist")


@pytest.mark.slow
def test_evaluate_takes_async_and_boolean_rewards_and_stops_on_a_faulty_one(tiny_model_dir, tmp_path):
    # Rewards the recipes take: an async one that reads TRL's keywords, and one returning booleans.
    (tmp_path / "my_rewards.py").write_text(
        "import asyncio\n"
        "async def starts_with_space(completions, trainer_state, log_metric, **kwargs):\n"
        "    await asyncio.sleep(0)\n"
        "    log_metric('my_metric', trainer_state.global_step)\n"
        "    return [float(c.startswith(' ')) for c in completions]\n"
        "def has_an_a_word(completions, **kwargs):\n"
        "    return [any(w[:1] in 'aA' for w in c.split()) for c in completions]\n"
        "def broken(completions, **kwargs):\n"
        "    raise ValueError('judge unreachable')\n"
    )
    common = ["--models", str(tiny_model_dir), "--num_samples", "4", "--max_completion_length", "12"]
    result = run_script(
        "evaluate.py",
        *common,
        "--reward_funcs",
        "my_rewards.starts_with_space",
        "my_rewards.has_an_a_word",
        "--output_completions",
        "out.jsonl",
        cwd=tmp_path,
    )
    assert_succeeded(result)
    completions = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    for c in completions:
        assert c["my_rewards.starts_with_space"] == float(c["completion"].startswith(" "))
        assert c["my_rewards.has_an_a_word"] == float(count_a_words(c["completion"]) > 0)

    result = run_script("evaluate.py", *common, "--reward_funcs", "my_rewards.broken", cwd=tmp_path)
    assert_refused(result, "Reward 'my_rewards.broken' raised ValueError: judge unreachable")


@pytest.mark.slow
def test_evaluate_rolls_out_an_agent_with_its_tools_and_scores_the_final_answers(tool_model_dir, tmp_path):
    from rl_recipes.tasks.calculator.reward import calculator_answer

    tasks = REPO_ROOT / "recipes" / "configs" / "calculator" / "tasks"
    result = run_script(
        "evaluate.py",
        "--models",
        str(tool_model_dir),
        "--dataset_name",
        str(tasks),
        "--dataset_split",
        "test",
        "--max_prompts",
        "16",
        "--num_samples",
        "2",
        "--max_completion_length",
        "64",
        "--reward_funcs",
        "calculator_answer",
        "--tools",
        "add",
        "subtract",
        "multiply",
        "--max_tool_calling_iterations",
        "3",
        "--output_json",
        "report.json",
        "--output_completions",
        "out.jsonl",
        cwd=tmp_path,
    )
    assert_succeeded(result)
    completions = [json.loads(line) for line in open(tmp_path / "out.jsonl")]
    answers = [json.loads(line)["answer"] for line in (tasks / "test.jsonl").read_text().splitlines()[:16]]
    assert len(completions) == 32
    # Each completion is the whole transcript the model and the tools wrote, scored on its final answer.
    for c in completions:
        assert isinstance(c["completion"], list) and {m["role"] for m in c["completion"]} <= {"assistant", "tool"}
    tool_results = [m["content"] for c in completions for m in c["completion"] if m["role"] == "tool"]
    assert tool_results, "no rollout called a tool: the tools were not offered or not run"
    assert (
        calculator_answer([c["completion"] for c in completions], [a for a in answers for _ in range(2)])
        == [c["calculator_answer"] for c in completions]
        == [c["reward"] for c in completions]
    )
    (report,) = json.loads((tmp_path / "report.json").read_text())["results"]
    assert report["reward_mean"] == pytest.approx(sum(c["reward"] for c in completions) / 32)
    # Lengths are the model's own tokens, as training counts them, within the completion budget.
    assert all(0 < c["num_tokens"] <= 64 for c in completions)
    assert report["mean_length"] == pytest.approx(sum(c["num_tokens"] for c in completions) / 32)


def test_evaluate_sums_rewards_and_adds_environment_rewards_by_the_trainers_rules():
    import asyncio

    from rl_recipes.agents.environment_reward import environment_reward_func
    from rl_recipes.scoring import total_reward

    nan = float("nan")
    # A missing reward adds nothing; a completion no reward scores has no total (TRL's RLOOTrainer).
    totals = total_reward(torch.tensor([[1.0, 2.0], [nan, 2.0], [nan, nan]]), torch.tensor([1.0, 0.5]))
    assert totals[:2].tolist() == [2.0, 1.0] and torch.isnan(totals[2])

    class Door:
        def get_reward(self):
            return 1.0

    class Shop:
        async def get_reward(self):
            return 0.5

    environments = [Door(), Shop()]
    door, shop = environment_reward_func(Door), environment_reward_func(Shop)
    assert (door.__name__, shop.__name__) == ("Door", "Shop")
    assert door(environments=environments) == [1.0, None]
    assert asyncio.run(shop(environments=environments)) == [None, 0.5]
