"""Bad input, buggy rewards and interruptions, through the recipes' real entry points."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO_ROOT, assert_succeeded, launch, run_script

DEFAULT_RECIPE = REPO_ROOT / "recipes" / "configs" / "a_words" / "rloo.yaml"


@pytest.fixture
def unloadable_model(tmp_path):
    """A directory that passes for a model path but cannot be loaded: an error from loading would show."""
    path = tmp_path / "not-a-model"
    path.mkdir()
    return str(path)


def bad_inputs(tmp_path):
    """(arguments, expected message) for each bad input; the files they name are written when `tmp_path` exists."""
    no_prompt_column = tmp_path / "stories.jsonl"
    empty = tmp_path / "empty.jsonl"
    typo_recipe = tmp_path / "typo.yaml"
    if tmp_path.is_dir():
        no_prompt_column.write_text('{"text": "Once"}\n')
        empty.write_text("")
        typo_recipe.write_text(DEFAULT_RECIPE.read_text().replace("learning_rate:", "lerning_rate:"))
    return [
        (["--reward_funcs", "nope"], "Unknown reward 'nope': use one of a_words"),
        (["--reward_funcs", "no_such_pkg.rewards.fn"], "cannot import module 'no_such_pkg.rewards'"),
        (["--reward_funcs", "tests.custom_rewards.NOT_A_FUNCTION"], "is a int, not a function"),
        (["--reward_weights", "1.0", "0.5"], "2 reward_weights for 1 reward_funcs (a_words)"),
        (["--dataset_name", "./missing/prompts.jsonl"], "Dataset path ./missing/prompts.jsonl does not exist"),
        (["--dataset_name", str(no_prompt_column)], "has no column 'prompt' (it has text): set --prompt_column"),
        (["--dataset_name", str(empty)], "is empty: give it at least one prompt"),
        (["--per_device_train_batch_size", "7"], "generation_batch_size (7) must be divisible by num_generations (10)"),
        (["--max_completion_length", "0"], "max_completion_length is 0: set it to a positive number"),
        (["--config", str(typo_recipe)], "Unknown key 'lerning_rate' in recipe"),
        (["--model_name_or_path", "./no/such/model"], "Model path ./no/such/model does not exist"),
        (["--model_name_or_path", "nobody/uncached-model"], "neither a local directory nor in the Hub cache"),
        (["--reward_kwargs", "{format: 1}"], "reward_kwargs is not valid JSON"),
        (
            ["--reward_kwargs", '{"format": {"pattern": "a"}}'],
            "reward_kwargs names 'format', which is not in reward_funcs",
        ),
        (
            ["--reward_funcs", "format", "--reward_kwargs", '{"format": {"regex": "a"}}'],
            "Reward 'format' has no setting 'regex': it takes pattern",
        ),
        (
            ["--reward_funcs", "format", "--reward_kwargs", '{"format": {"pattern": "(unclosed"}}'],
            "is not a valid regular expression",
        ),
        (["--reward_funcs", "math_accuracy"], "from the dataset column 'answer', which this data set lacks"),
        (["--resume_from_checkpoint", "true"], "holds no complete checkpoint: give a checkpoint's path"),
        (
            ["--load_in_4bit", "true", "--use_peft", "true"],
            "--load_in_4bit ",
        ),  # bitsandbytes needs CUDA and the package
    ]


# Every case of the list runs: the count is taken from the list itself (its files are written per test). The recipe
# runs in this process, as `recipes/rloo.py` runs it (`main("rloo")`): the one-line exit of a script is tested
# through the real entry points below and in tests/test_rewards.py.
@pytest.mark.parametrize("case", range(len(bad_inputs(Path("/nonexistent")))))
def test_bad_input_stops_with_one_line_before_any_model_is_loaded(tmp_path, unloadable_model, case, monkeypatch, capfd):
    from rl_recipes.runner.lifecycle import main

    args, message = bad_inputs(tmp_path)[case]
    if "--model_name_or_path" not in args:
        args = ["--model_name_or_path", unloadable_model, *args]
    output_dir = tmp_path / "out"
    monkeypatch.chdir(REPO_ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # a dotted-path reward adds the working directory
    with pytest.raises(SystemExit) as stop:  # anything else (an error from loading the model, say) fails the test
        main("rloo", [*args, "--output_dir", str(output_dir)])
    error = stop.value.code
    assert isinstance(error, str) and error.startswith("error:") and "\n" not in error
    assert message in error
    assert "error" not in capfd.readouterr().err.lower()  # the message is the only error said
    assert not output_dir.exists()


@pytest.mark.slow
def test_bad_input_under_accelerate_launch_exits_non_zero_with_the_message(unloadable_model):
    result = launch("reinforce.py", "--model_name_or_path", unloadable_model, "--reward_funcs", "nope")
    assert result.returncode != 0
    assert "error: Unknown reward 'nope'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "reward, fault",
    [
        ("one_value_short", "returned 9 values for 10 completions"),
        ("text_not_number", "returned a non-number (str 'high') for completion"),
        ("infinite", "returned inf for completion"),
        ("nan_for_odd", "returned nan for completion"),
    ],
)
def test_faulty_reward_stops_the_run_naming_reward_fault_and_completion(tiny_model_dir, tmp_path, reward, fault):
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(tmp_path / "out"),
        "--reward_funcs",
        f"tests.custom_rewards.{reward}",
        "--max_steps",
        "3",
        "--max_completion_length",
        "10",
    )
    assert result.returncode != 0
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert error.startswith(f"error: Reward 'tests.custom_rewards.{reward}' {fault}")
    assert "No step had completed, so nothing was saved" in error
    # One true line: not TRL's warning that the reward returned None, which the guard's values would set off.
    assert "All reward functions returned None" not in result.stderr


@pytest.mark.slow
def test_reward_that_raises_mid_run_stops_after_saving_the_last_completed_step(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--reward_funcs",
        "tests.custom_rewards.fails_from_step_3",
        "--max_steps",
        "5",
        "--max_completion_length",
        "10",
    )
    assert result.returncode != 0
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert "Reward 'tests.custom_rewards.fails_from_step_3' raised ValueError: lookup table is empty" in error
    assert "(first completion: '" in error and f"Saved {output_dir / 'checkpoint-2'}" in error
    state = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


@pytest.mark.slow
def test_skip_policy_trains_on_and_counts_the_faulty_samples(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--reward_funcs",
        "tests.custom_rewards.nan_for_odd",
        "--reward_faults",
        "skip",
        "--max_steps",
        "3",
        "--max_completion_length",
        "10",
    )
    assert_succeeded(result)
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    faults = [entry["reward_faults/nan_for_odd"] for entry in history if "reward_faults/nan_for_odd" in entry]
    assert faults == [5.0, 5.0, 5.0]  # half of each batch of 10
    warnings = [line for line in result.stderr.splitlines() if "Reward 'tests.custom_rewards.nan_for_odd'" in line]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: Reward 'tests.custom_rewards.nan_for_odd' returned nan"
    )
    assert "All reward functions returned None" not in result.stderr


def default_signal_handling() -> None:
    """Ctrl-C and SIGTERM as a terminal delivers them. A suite started in the background (`nohup`, `cmd &` in a
    script, some CI runners) has SIGINT ignored, and an ignored signal stays ignored in the processes it starts."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def start_recipe(args, env=None):
    """A recipe run in its own process group, as a terminal runs it, with its output line by line."""
    return subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=default_signal_handling,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def signal_after_steps(process, signum, steps) -> str:
    output, seen = [], 0
    for line in process.stdout:
        output.append(line)
        if line.startswith("{'loss'"):
            seen += 1
            if seen == steps:
                os.killpg(process.pid, signum)
    process.wait(timeout=300)
    return "".join(output)


@pytest.mark.slow
def test_sigterm_checkpoints_and_the_resumed_run_ends_with_the_uninterrupted_weights(tiny_model_dir, tmp_path):
    common = [
        "--model_name_or_path",
        str(tiny_model_dir),
        "--max_steps",
        "15",
        "--max_completion_length",
        "40",
        "--seed",
        "0",
    ]
    recipe = [sys.executable, str(REPO_ROOT / "recipes" / "rloo.py"), *common]
    interrupted = tmp_path / "interrupted"
    process = start_recipe([*recipe, "--output_dir", str(interrupted), "--console_metrics", "all"])  # a line per step
    output = signal_after_steps(process, signal.SIGTERM, steps=4)
    assert process.returncode == 128 + signal.SIGTERM
    checkpoints = sorted(interrupted.glob("checkpoint-*"))
    assert len(checkpoints) == 1 and 4 <= int(checkpoints[0].name.split("-")[1]) < 15
    assert f"saved {checkpoints[0]}. Resume with --resume_from_checkpoint true" in output

    assert_succeeded(
        run_script("rloo.py", *common, "--output_dir", str(interrupted), "--resume_from_checkpoint", "true")
    )
    assert_succeeded(run_script("rloo.py", *common, "--output_dir", str(tmp_path / "uninterrupted")))
    resumed = load_file(interrupted / "model.safetensors")
    uninterrupted = load_file(tmp_path / "uninterrupted" / "model.safetensors")
    for name, tensor in uninterrupted.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_ctrl_c_under_accelerate_launch_stops_cleanly_with_a_checkpoint(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    process = start_recipe(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"),
            str(REPO_ROOT / "recipes" / "reinforce.py"),
            "--model_name_or_path",
            str(tiny_model_dir),
            "--output_dir",
            str(output_dir),
            "--baseline",
            "moving_average",
            "--max_steps",
            "200",
            "--console_metrics",
            "all",
        ]
    )
    output = signal_after_steps(process, signal.SIGINT, steps=3)
    assert process.returncode != 0
    assert "Stopped by signal 2 after step" in output
    # accelerate's launcher may print its own KeyboardInterrupt traceback; none comes from the recipe.
    assert f'File "{REPO_ROOT / "recipes"}' not in output
    assert f'File "{REPO_ROOT / "rl_recipes"}' not in output
    checkpoint = next(output_dir.glob("checkpoint-*"))
    assert (checkpoint / "reinforce_baseline.json").is_file()


@contextmanager
def running_recipe(args, env=None):
    """`start_recipe`, and whatever is left of its process group is killed when the test ends, on every path."""
    process = start_recipe(args, env)
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        process.stdout.close()


def quick_rloo(model, output_dir, *args):
    return [
        sys.executable,
        str(REPO_ROOT / "recipes" / "rloo.py"),
        "--model_name_or_path",
        str(model),
        "--output_dir",
        str(output_dir),
        "--max_steps",
        "2",
        "--max_completion_length",
        "8",
        *args,
    ]


SLOW_MODEL_CODE = """import time

from transformers import LlamaConfig

print("loading the model code", flush=True)
time.sleep(60)


class SlowLoadingConfig(LlamaConfig):
    pass
"""


def read_until(process, marker: str) -> str:
    output = []
    for line in process.stdout:
        output.append(line)
        if marker in line:  # a progress bar redrawn with a carriage return may stand before it on the line
            return "".join(output)
    raise AssertionError(f"the recipe ended before printing {marker!r}:\n" + "".join(output)[-3000:])


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 128 + signal.SIGINT)])
def test_a_signal_while_the_model_loads_ends_the_run_at_once(tiny_model_dir, tmp_path, signum, status):
    model = tmp_path / "model"  # a model with code of its own, which takes a minute to load
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(
        json.dumps({**config, "auto_map": {"AutoConfig": "slow_config.SlowLoadingConfig"}})
    )
    (model / "slow_config.py").write_text(SLOW_MODEL_CODE)
    output_dir = tmp_path / "out"
    command = quick_rloo(model, output_dir, "--model_init_kwargs", '{"trust_remote_code": true}')
    with running_recipe(command, env={"HF_MODULES_CACHE": str(tmp_path / "modules")}) as process:
        output = read_until(process, "loading the model code")
        os.killpg(process.pid, signum)
        process.wait(timeout=20)
        output += process.stdout.read()
    assert process.returncode == status, output[-3000:]
    if signum == signal.SIGINT:
        assert "Interrupted before training began; nothing was saved." in output and "Traceback" not in output
    assert not list(output_dir.glob("checkpoint-*"))


@pytest.mark.slow
def test_a_second_signal_during_a_step_ends_the_run_at_once(tiny_model_dir, tmp_path):
    from rl_recipes.trainers.stop_on_signal import SAME_REQUEST_S

    output_dir = tmp_path / "out"
    with running_recipe(
        quick_rloo(tiny_model_dir, output_dir, "--reward_funcs", "tests.custom_rewards.slow")
    ) as process:
        output = read_until(process, "scoring a batch")  # the first step's scoring takes 10 s
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(SAME_REQUEST_S + 0.5)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=15)
        output += process.stdout.read()
    assert process.returncode == -signal.SIGINT, output[-3000:]
    assert "Signal 2: stopping at the end of this step with a checkpoint; send it again to end now" in output
    assert "Signal 2 again: ending now, without a checkpoint." in output
    assert not list(output_dir.glob("checkpoint-*"))


@pytest.mark.slow
def test_sigterm_after_training_ends_the_process_at_once(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    os.mkfifo(output_dir / "samples.jsonl")  # saving the outputs stops there, after training, until read: never
    with running_recipe(quick_rloo(tiny_model_dir, output_dir, "--overwrite_output_dir", "true")) as process:
        deadline = time.monotonic() + 180
        while not (output_dir / "trainer_state.json").exists():  # written by save_outputs, after training
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-3000:]
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGTERM


def test_reward_fault_stop_ends_through_the_common_teardown_and_gives_the_signals_back(
    tiny_model_dir, tmp_path, monkeypatch
):
    from rl_recipes.runner import lifecycle

    ended_at_steps = []
    end_together = lifecycle.end_together
    monkeypatch.setattr(
        lifecycle,
        "end_together",
        lambda trainer: (ended_at_steps.append(trainer.state.global_step), end_together(trainer)),
    )
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit) as stop:
        lifecycle.main(
            "rloo",
            [
                "--model_name_or_path",
                str(tiny_model_dir),
                "--output_dir",
                str(tmp_path / "out"),
                "--report_to",
                "none",
                "--reward_funcs",
                "tests.custom_rewards.fails_from_step_3",
                "--max_steps",
                "5",
                "--max_completion_length",
                "4",
            ],
        )
    assert stop.value.code == 1
    assert ended_at_steps == [2]
    assert {signum: signal.getsignal(signum) for signum in handlers} == handlers


def test_remote_code_is_off_unless_the_recipe_turns_it_on(tmp_path):
    from rl_recipes.runner.cli import parse_args
    from rl_recipes.trainers.reinforce import ReinforceConfig

    _, training_args, _ = parse_args(
        ReinforceConfig, REPO_ROOT / "recipes" / "configs" / "a_words" / "reinforce.yaml", []
    )
    assert training_args.trust_remote_code is False
    _, training_args, _ = parse_args(ReinforceConfig, DEFAULT_RECIPE, ["--trust_remote_code", "true"])
    assert training_args.trust_remote_code is True


def strict_json_loads(text: str):
    """json.loads that refuses NaN and Infinity, as strict JSON readers (JavaScript's, jq) do."""

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, flags",
    [
        ("rloo.py", ["--reward_funcs", "tests.custom_rewards.none_at_step_2"]),
        ("reinforce.py", ["--reward_funcs", "tests.custom_rewards.none_at_step_2", "--baseline", "moving_average"]),
        ("rloo.py", ["--reward_funcs", "tests.custom_rewards.fails_from_step_3", "--reward_faults", "skip"]),
    ],
    ids=["rloo, a step of None", "reinforce, a step of None", "rloo, a step of faults skipped"],
)
def test_a_run_with_a_step_without_rewards_ends_well_and_writes_valid_json(tiny_model_dir, tmp_path, script, flags):
    output_dir = tmp_path / "out"
    result = run_script(
        script,
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        *flags,
        "--max_steps",
        "3",
        "--max_completion_length",
        "10",
        "--save_strategy",
        "steps",
        "--save_steps",
        "3",
        "--save_completions",
        "true",
    )
    assert_succeeded(result)
    assert "=== Summary ===" in result.stdout and "1 logged steps had no reward" in result.stdout
    assert (output_dir / "curves.png").stat().st_size > 10_000
    for path in [output_dir / "trainer_state.json", *output_dir.rglob("*.json")]:
        strict_json_loads(path.read_text())
    for name in ("samples.jsonl", "completions.jsonl"):
        for line in (output_dir / name).read_text().splitlines():
            strict_json_loads(line)


def test_a_stop_learned_from_a_peer_makes_this_processs_late_copy_of_the_signal_the_same_request(monkeypatch):
    # Two processes: the peer got SIGTERM first and the step's all-reduce tells this one; then this process's own
    # copy of the same SIGTERM (a launcher forwards it to every worker) arrives. It must not end the run now.
    import torch.distributed as dist
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from rl_recipes.trainers.stop_on_signal import StopOnSignal

    def peer_signalled(tensor, op):
        tensor.fill_(signal.SIGTERM)

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    monkeypatch.setattr(dist, "all_reduce", peer_signalled)
    kills = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: kills.append(signum))
    stop = StopOnSignal()
    args, state, control = (
        TrainingArguments(output_dir="unused", use_cpu=True),
        TrainerState(global_step=3),
        TrainerControl(),
    )
    stop.on_train_begin(args, state, control)
    try:
        stop.on_step_end(args, state, control)
        assert control.should_training_stop and stop.stopped_at_step == 3
        stop._receive(signal.SIGTERM, None)  # the late local copy
    finally:
        stop.restore_handlers()
    assert kills == []
