"""The agent recipes through their real entry points: start-up checks, one CPU process, DDP and ZeRO-3 on two,
LoRA, GRPO on the same YAML, and a REINFORCE agent stopped by SIGTERM and resumed."""

import json
import signal
import subprocess
import sys

import pytest

from rl_recipes.checks import RecipeError
from tests.conftest import REPO_ROOT, assert_succeeded, launch, logged_rewards, run_script
from tests.test_reliability import running_recipe, signal_after_steps

VAULT = REPO_ROOT / "recipes" / "configs" / "vault" / "rloo.yaml"
CALCULATOR = REPO_ROOT / "recipes" / "configs" / "calculator" / "rloo.yaml"
# 4 vaults x 2 rollouts a step, each process its share; the held-out vaults scored before and after.
QUICK = [
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "8",
    "--num_generations",
    "2",
    "--max_completion_length",
    "40",
    "--eval_steps",
    "2",
    "--report_to",
    "none",
    "--seed",
    "0",
]
TOOL_METRICS = ("tools/call_frequency", "tools/failure_frequency", "tools/turns")
NO_EVALUATION = ["--eval_strategy", "no", "--eval_on_start", "false"]


def history(output_dir) -> list[dict]:
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


@pytest.mark.slow
def test_the_vault_recipe_trains_an_agent_and_shows_tools_transcripts_and_held_out_success(tool_model_dir, tmp_path):
    output_dir = tmp_path / "vault"
    result = launch(
        "rloo.py",
        "--config",
        str(VAULT),
        "--model_name_or_path",
        str(tool_model_dir),
        "--output_dir",
        str(output_dir),
        *QUICK,
    )
    assert_succeeded(result)
    steps = [entry for entry in history(output_dir) if "reward" in entry]
    assert len(steps) == 2 and all(metric in steps[0] for metric in TOOL_METRICS)
    assert all(0 <= entry["reward"] <= 1 and entry["reward"] == entry["rewards/vault_opened/mean"] for entry in steps)
    evaluations = [entry["step"] for entry in history(output_dir) if "eval_reward" in entry]
    assert evaluations == [0, 2]  # held-out success before training and at its end
    assert "held-out reward (evaluation): " in result.stdout and " at step 0 -> " in result.stdout
    # The progress bar carries the tool metrics; the samples are whole transcripts.
    assert "tools/call_frequency=" in result.stderr and "tools/turns=" in result.stderr
    samples = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and all(isinstance(s["completion"], list) for s in samples)
    assert all(s["prompt"][-1]["content"].startswith("Open the vault. The code is in drawer ") for s in samples)
    assert {m["role"] for s in samples for m in s["completion"]} <= {"assistant", "tool"}
    assert (output_dir / "curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_agent_trains_a_lora_adapter(tool_model_dir, tmp_path):
    output_dir = tmp_path / "lora"
    result = run_script(
        "rloo.py",
        "--config",
        str(CALCULATOR),
        "--model_name_or_path",
        str(tool_model_dir),
        "--output_dir",
        str(output_dir),
        *QUICK,
        *NO_EVALUATION,
        "--use_peft",
        "true",
        "--lora_target_modules",
        "q_proj",
        "v_proj",
    )
    assert_succeeded(result)
    assert (output_dir / "adapter_model.safetensors").is_file() and not (output_dir / "model.safetensors").exists()


def distributed(engine_flags: list[str], recipe_flags: list[str], model_dir, output_dir):
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *engine_flags,
        str(REPO_ROOT / "recipes" / "rloo.py"),
        "--config",
        str(VAULT),
        "--model_name_or_path",
        str(model_dir),
        "--output_dir",
        str(output_dir),
        *QUICK,
        *NO_EVALUATION,
        *recipe_flags,
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert_succeeded(result)
    return logged_rewards(output_dir)


@pytest.mark.slow
def test_the_agent_recipe_runs_under_ddp_and_zero3_with_the_same_rewards(tool_model_dir, tmp_path):
    ddp = distributed(
        ["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"],
        ["--use_cpu", "true"],
        tool_model_dir,
        tmp_path / "ddp",
    )
    zero3 = distributed(
        ["--config_file", "accelerate_configs/deepspeed_zero3.yaml", "--num_processes", "2", "--mixed_precision", "no"],
        [],
        tool_model_dir,
        tmp_path / "zero3",
    )
    assert len(ddp) == 2 and zero3 == pytest.approx(ddp, abs=1e-6)  # the same rollouts, step by step


@pytest.mark.slow
def test_a_reinforce_agent_stopped_by_sigterm_resumes_to_the_planned_step(tool_model_dir, tmp_path):
    output_dir = tmp_path / "reinforce"
    common = [
        "--config",
        str(CALCULATOR),
        "--model_name_or_path",
        str(tool_model_dir),
        "--output_dir",
        str(output_dir),
        "--baseline",
        "moving_average",
        "--per_device_train_batch_size",
        "4",
        "--num_generations",
        "1",
        "--max_completion_length",
        "40",
        *NO_EVALUATION,
        "--report_to",
        "none",
        "--seed",
        "0",
    ]
    command = [
        sys.executable,
        str(REPO_ROOT / "recipes" / "reinforce.py"),
        *common,
        "--max_steps",
        "40",
        "--console_metrics",
        "all",
    ]
    with running_recipe(command) as process:
        output = signal_after_steps(process, signal.SIGTERM, steps=2)
    assert process.returncode == 128 + signal.SIGTERM, output[-2000:]
    (checkpoint,) = output_dir.glob("checkpoint-*")
    stopped_at = int(checkpoint.name.split("-")[1])
    assert (checkpoint / "reinforce_baseline.json").is_file()
    assert_succeeded(
        run_script("reinforce.py", *common, "--max_steps", str(stopped_at + 2), "--resume_from_checkpoint", "true")
    )
    steps = [entry["step"] for entry in history(output_dir) if "reward" in entry]
    assert steps == list(range(1, stopped_at + 3))


# --- start-up checks ------------------------------------------------------------------------------


def build(tmp_path, model_dir, config, *flags):
    """build_trainer for the RLOO recipe `config` with `flags`: it raises before the model loads, or returns the trainer."""

    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.runner.assembly import build_trainer
    from rl_recipes.runner.cli import parse_args
    from rl_recipes.trainers.agent_rloo import AgentRLOOConfig

    args = parse_args(
        AgentRLOOConfig,
        config,
        ["--model_name_or_path", str(model_dir), "--output_dir", str(tmp_path / "out"), "--report_to", "none", *flags],
    )
    return build_trainer(ALGORITHMS["rloo"], *args)


def write_module(tmp_path, monkeypatch, source: str) -> None:
    (tmp_path / "my_tools.py").write_text(source)
    monkeypatch.chdir(tmp_path)  # a user's module beside where they launch
    sys.modules.pop("my_tools", None)


@pytest.mark.parametrize(
    "source, flags, message",
    [
        ("", ["--tools", "my_tools.lookup"], "Tool 'my_tools.lookup': module 'my_tools' has no attribute 'lookup'"),
        ("", ["--tools", "nowhere.lookup"], "Tool 'nowhere.lookup': cannot import module 'nowhere'"),
        (
            "def lookup(key):\n    return key\n",
            ["--tools", "my_tools.lookup"],
            "Tool 'my_tools.lookup' cannot be shown to the model",
        ),
        (
            "def lookup(key: str) -> str:\n    return key\n",
            ["--tools", "my_tools.lookup"],
            "Tool 'my_tools.lookup' cannot be shown to the model",
        ),
        (
            "",
            ["--environment_factory", "my_tools.Shop"],
            "Environment 'my_tools.Shop': module 'my_tools' has no attribute",
        ),
        (
            "class Shop:\n    def buy(self, item: str) -> str:\n        '''Buy.\n\n        Args:\n            item: What.\n        '''\n",
            ["--environment_factory", "my_tools.Shop"],
            "Environment 'my_tools.Shop' has no reset method",
        ),
        ("", ["--tool_call_timeout", "-1"], "tool_call_timeout is -1.0"),
    ],
    ids=[
        "tool missing",
        "module missing",
        "no type hints",
        "no docstring",
        "environment missing",
        "no reset",
        "negative timeout",
    ],
)
def test_a_tool_or_environment_that_cannot_work_stops_before_the_model_loads(
    tool_model_dir, tmp_path, monkeypatch, source, flags, message
):
    write_module(tmp_path, monkeypatch, source)
    with pytest.raises(RecipeError, match=message) as error:
        build(tmp_path, tool_model_dir, CALCULATOR, *flags)
    assert "\n" not in str(error.value)


def test_tools_with_a_model_whose_chat_template_cannot_call_them_stop_at_start_up(tiny_model_dir, tmp_path):
    from tests.stand_ins import build_causal_lm

    chat_model = build_causal_lm(tmp_path / "chatml", "qwen2", chat=True)  # ChatML that drops tool calls
    with pytest.raises(RecipeError, match="cannot express tool calls"):
        build(tmp_path, chat_model, CALCULATOR)
    with pytest.raises(RecipeError, match="tools and environments need chat prompts"):
        build(
            tmp_path,
            tiny_model_dir,
            CALCULATOR,
            "--dataset_name",
            "recipes/configs/a_words/prompts.jsonl",
            "--reward_funcs",
            "a_words",
            *NO_EVALUATION,
        )


def test_an_environment_run_needs_a_reward_from_somewhere(tool_model_dir, tmp_path, monkeypatch):
    write_module(
        tmp_path,
        monkeypatch,
        (
            "class Counter:\n    def reset(self, **row):\n        self.n = 0\n"
            "    def bump(self, by: int) -> int:\n        '''Add to the count.\n\n        Args:\n            by: How much.\n        '''\n"
            "        self.n += by\n        return self.n\n"
        ),
    )
    recipe = tmp_path / "counter.yaml"  # the vault recipe without its reward
    recipe.write_text(VAULT.read_text().replace("reward_funcs: [vault_opened]", "reward_funcs: []"))
    with pytest.raises(RecipeError, match="reward_funcs is empty and no environment get_reward scores the rollouts"):
        build(tmp_path, tool_model_dir, recipe, "--environment_factory", "my_tools.Counter")
