"""The scale paths, executed: DDP, DeepSpeed ZeRO-2 and ZeRO-3 on two CPU processes, as a user launches them.

Each launch is short (2 steps, 16-token completions) and checks several things at once. The recipes run
under `tests/scale_probe.py`, which adds a callback recording, per process, the engine and how much of
the model's largest weight the process holds. The test model is a random Llama whose MLP weights
(128 x 1024) exceed DeepSpeed's persistence threshold (1e5 elements), so ZeRO-3 really partitions them.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO_ROOT, assert_succeeded, logged_rewards

ENGINES = {
    # DDP over two gloo processes: the GPU launcher with --use_cpu true for the recipe.
    "ddp": (["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"], ["--use_cpu", "true"]),
    # The shipped ZeRO configs as typed; the recipe picks gloo by itself.
    "zero2": (
        ["--config_file", "accelerate_configs/deepspeed_zero2.yaml", "--num_processes", "2", "--mixed_precision", "no"],
        [],
    ),
    "zero3": (
        ["--config_file", "accelerate_configs/deepspeed_zero3.yaml", "--num_processes", "2", "--mixed_precision", "no"],
        [],
    ),
}
SHORT_RUN = [
    "--max_steps",
    "2",
    "--max_completion_length",
    "16",
    "--report_to",
    "none",
    "--seed",
    "0",
    "--logging_steps",
    "1",
]
TRAINERS = {
    # One prompt's 8 generations per step, 4 on each process; a-words plus a denser reward to compare runs by.
    "rloo_full": (
        "rloo.py",
        [
            "--per_device_train_batch_size",
            "4",
            "--num_generations",
            "8",
            "--reward_funcs",
            "a_words",
            "tests.custom_rewards.brevity",
        ],
    ),
    "rloo_lora": (
        "rloo.py",
        [
            "--per_device_train_batch_size",
            "4",
            "--num_generations",
            "8",
            "--use_peft",
            "true",
            "--lora_r",
            "8",
            "--learning_rate",
            "1e-2",
        ],
    ),
    "reinforce_moving_average": (
        "reinforce.py",
        ["--per_device_train_batch_size", "2", "--baseline", "moving_average", "--learning_rate", "1e-2"],
    ),
}


@pytest.fixture(scope="module")
def partitionable_model_dir(tmp_path_factory) -> Path:
    """A random Llama of 0.9M parameters whose largest weights ZeRO-3 partitions, with the stand-ins' tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.stand_ins import build_tokenizer

    output_dir = tmp_path_factory.mktemp("models") / "llama-partitionable"
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def launch_command(engine: str, trainer: str, model_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    launcher, recipe_flags = ENGINES[engine]
    script, trainer_flags = TRAINERS[trainer]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *launcher,
        "tests/scale_probe.py",
        f"recipes/{script}",
        "--model_name_or_path",
        str(model_dir),
        "--output_dir",
        str(output_dir),
        *SHORT_RUN,
        *trainer_flags,
        *recipe_flags,
        *extra,
    ]


def probe_env(output_dir: Path) -> dict:
    return {**os.environ, "SCALE_PROBE_LOG": str(output_dir.parent / f"{output_dir.name}.probe.jsonl")}


def probe_records(output_dir: Path) -> list[dict]:
    log = output_dir.parent / f"{output_dir.name}.probe.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def train(engine: str, trainer: str, model_dir: Path, output_dir: Path, *extra: str) -> list[dict]:
    """Launch, check it succeeded as one group of two processes under `engine`, and return the probe's records."""
    result = subprocess.run(
        launch_command(engine, trainer, model_dir, output_dir, *extra),
        cwd=REPO_ROOT,
        env=probe_env(output_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_succeeded(result)
    records = probe_records(output_dir)
    assert sorted(r["rank"] for r in records if r["when"] == "begin") == [0, 1]
    for record in records:
        assert record["processes"] == 2
        if engine == "ddp":
            assert (record["distributed_type"], record["zero_stage"]) == ("MULTI_CPU", None)
        else:
            assert (record["distributed_type"], record["zero_stage"]) == ("DEEPSPEED", int(engine[-1]))
    assert len(logged_rewards(output_dir)) == 2
    return records


@pytest.fixture(scope="module")
def ddp_reference(partitionable_model_dir, tmp_path_factory) -> Path:
    """RLOO full fine-tuning under DDP: the run the ZeRO runs are compared with."""
    output_dir = tmp_path_factory.mktemp("ddp") / "rloo_full"
    records = train("ddp", "rloo_full", partitionable_model_dir, output_dir)
    assert all(r["weight_held"] == r["weight_numel"] for r in records)  # DDP: a whole copy on each process
    return output_dir


def assert_trained_full_model(output_dir: Path, model_dir: Path) -> dict:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(output_dir)  # whole weights, not ZeRO-3's empty placeholders
    trained = {name: tensor.detach() for name, tensor in model.state_dict().items()}
    initial = load_file(model_dir / "model.safetensors")
    assert any(not torch.equal(trained[name], tensor) for name, tensor in initial.items())
    return trained


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["zero2", "zero3"])
def test_zero_rloo_full_partitions_as_its_stage_says_and_matches_ddp(
    engine, partitionable_model_dir, ddp_reference, tmp_path
):
    output_dir = tmp_path / engine
    records = train(engine, "rloo_full", partitionable_model_dir, output_dir)

    for record in records:
        assert record["weight"].endswith("mlp.gate_proj.weight") and record["weight_numel"] == 128 * 1024
        # ZeRO-3 shards the weights themselves: each process holds half of the largest one. ZeRO-2 keeps them whole.
        expected = record["weight_numel"] // 2 if engine == "zero3" else record["weight_numel"]
        assert record["weight_held"] == expected, record
    # Same seed, same data, same updates: the same rewards step by step, and the same weights at the end.
    assert logged_rewards(output_dir) == pytest.approx(logged_rewards(ddp_reference), abs=1e-4)
    trained = assert_trained_full_model(output_dir, partitionable_model_dir)
    reference = assert_trained_full_model(ddp_reference, partitionable_model_dir)
    for name, tensor in reference.items():
        torch.testing.assert_close(trained[name], tensor, atol=1e-4, rtol=1e-3)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    from tests.stand_ins import build_classifier

    return build_classifier(tmp_path_factory.mktemp("models") / "classifier")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ddp", "zero2", "zero3"])
def test_lora_trains_an_adapter_with_a_reward_model_under_each_engine(
    engine, partitionable_model_dir, classifier_dir, tmp_path
):
    from peft import AutoPeftModelForCausalLM

    from rewards.reward_model import reward_model

    output_dir = tmp_path / engine
    reward_kwargs = json.dumps({"reward_model": {"model_name_or_path": str(classifier_dir), "score_label": "POSITIVE"}})
    records = train(
        engine,
        "rloo_lora",
        partitionable_model_dir,
        output_dir,
        "--reward_funcs",
        "a_words",
        "reward_model",
        "--reward_kwargs",
        reward_kwargs,
    )

    for record in records:  # the frozen base weights are sharded too
        assert record["weight_held"] == record["weight_numel"] // (2 if engine == "zero3" else 1), record
    model = AutoPeftModelForCausalLM.from_pretrained(output_dir)
    assert model.peft_config["default"].r == 8
    # Under ZeRO-3 the classifier would be sharded on load and then called outside any DeepSpeed engine;
    # its scores in the run must be the whole classifier's.
    samples = [json.loads(line) for line in (output_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 8
    expected = reward_model(
        prompts=[s["prompt"] for s in samples],
        completions=[s["completion"] for s in samples],
        model_name_or_path=str(classifier_dir),
        score_label="POSITIVE",
    )
    assert [s["reward_model"] for s in samples] == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ddp", "zero2"])
def test_reinforce_with_a_moving_average_keeps_one_baseline_across_processes(engine, partitionable_model_dir, tmp_path):
    output_dir = tmp_path / engine
    records = train(engine, "reinforce_moving_average", partitionable_model_dir, output_dir)

    baselines = [r["baseline"] for r in records if r["when"] == "end"]
    assert len(baselines) == 2 and baselines[0] is not None and baselines[0] == baselines[1]
    assert_trained_full_model(output_dir, partitionable_model_dir)


@pytest.mark.slow
def test_zero3_reinforce_stopped_by_sigterm_resumes_to_the_planned_step_with_one_baseline(
    partitionable_model_dir, tmp_path
):
    output_dir = tmp_path / "zero3"
    command = launch_command(
        "zero3",
        "reinforce_moving_average",
        partitionable_model_dir,
        output_dir,
        "--max_steps",
        "8",
        "--console_metrics",
        "all",
    )  # every log as a line
    # A scheduler's SIGTERM reaches the training processes; each finishes its step and saves a checkpoint.
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**probe_env(output_dir), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, sent = [], False
        for line in process.stdout:
            output.append(line)
            if "{'loss'" in line and not sent:  # the first step's log
                for worker in psutil.Process(process.pid).children(recursive=True):
                    worker.send_signal(signal.SIGTERM)
                sent = True
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(output)
    checkpoints = sorted(output_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 1, output[-3000:]
    stopped_at = int(checkpoints[0].name.split("-")[1])
    assert 1 <= stopped_at < 8 and f"Stopped by signal 15 after step {stopped_at}" in output
    saved_baseline = json.loads((checkpoints[0] / "reinforce_baseline.json").read_text())["value"]

    result = subprocess.run(
        [*command, "--resume_from_checkpoint", "true"],
        cwd=REPO_ROOT,
        env=probe_env(output_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert_succeeded(result)
    history = json.loads((output_dir / "trainer_state.json").read_text())
    assert history["global_step"] == 8
    resumed = probe_records(output_dir)[-4:]
    assert sorted((r["when"], r["rank"]) for r in resumed) == [("begin", 0), ("begin", 1), ("end", 0), ("end", 1)]
    assert all(r["zero_stage"] == 3 and r["weight_held"] == r["weight_numel"] // 2 for r in resumed)
    # Every process resumes with the saved baseline, and they keep one value to the end.
    assert [r["baseline"] for r in resumed if r["when"] == "begin"] == [saved_baseline, saved_baseline]
    ends = [r["baseline"] for r in resumed if r["when"] == "end"]
    assert ends[0] == ends[1] and ends[0] != saved_baseline
    assert_trained_full_model(output_dir, partitionable_model_dir)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, recipe_flags, message",
    [
        # DDP's config without --use_cpu true: no backend, so each process would train alone.
        (
            "multi_gpu.yaml",
            [],
            "error: The launcher started 2 processes but they did not join one process group, so each "
            "would train its own copy into the same output_dir: on a machine without GPUs pass "
            "--use_cpu true to the recipe for DDP",
        ),
        # FSDP2 on CPU: accelerate would quietly run DDP.
        ("fsdp2.yaml", ["--use_cpu", "true"], "error: FSDP2 needs GPUs, and this machine has none"),
    ],
    ids=["ddp_without_use_cpu", "fsdp2_on_cpu"],
)
def test_a_launch_that_would_not_train_as_configured_stops_before_loading_the_model(
    config, recipe_flags, message, tmp_path
):
    output_dir = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        f"accelerate_configs/{config}",
        "--num_processes",
        "2",
        "--mixed_precision",
        "no",
        "recipes/rloo.py",
        "--model_name_or_path",
        str(tmp_path / "never-loaded"),
        "--output_dir",
        str(output_dir),
        *recipe_flags,
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors and all(line.startswith(message) for line in errors), result.stderr[-3000:]
    assert not output_dir.exists()


@pytest.mark.slow
def test_two_machines_on_one_host_train_one_run_from_the_slurm_scripts_own_lines(partitionable_model_dir, tmp_path):
    """`scripts/slurm/train.slurm`'s per-node command lines, for two nodes that are both 127.0.0.1, started as
    two `accelerate launch` processes: machine ranks 0 and 1 of one ZeRO-3 run of one process each."""
    import socket

    from tests.test_launch_configs import dry_run, parse_launch

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The shipped ZeRO-3 config with CPU precision: the SLURM lines pass no --mixed_precision.
    config = tmp_path / "deepspeed_zero3_cpu.yaml"
    config.write_text(
        (REPO_ROOT / "accelerate_configs" / "deepspeed_zero3.yaml")
        .read_text()
        .replace("mixed_precision: bf16", "mixed_precision: 'no'")
    )
    output_dir = tmp_path / "out"
    plan = dry_run(
        tmp_path,
        "--gpus_per_node",
        "1",
        "--main_process_port",
        str(port),
        "recipes/rloo.py",
        "recipes/configs/a_words/rloo.yaml",
        str(config),
        "--model_name_or_path",
        str(partitionable_model_dir),
        "--output_dir",
        str(output_dir),
        *SHORT_RUN,
        "--per_device_train_batch_size",
        "4",
        "--num_generations",
        "8",
        nodes=("127.0.0.1", "127.0.0.1"),
    )
    assert [parse_launch(argv).machine_rank for _, _, argv in plan] == [0, 1]

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    machines, logs = [], [tmp_path / f"machine{rank}.log" for rank in range(len(plan))]
    try:
        for (_, _, argv), log in zip(plan, logs):
            with open(log, "w") as output:  # a file each: a full pipe would stall its machine mid-collective
                machines.append(subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT))
            if len(machines) == 1:  # machine rank 0 hosts the rendezvous: let it take the port first
                wait_for_port(port)
        for machine in machines:
            machine.wait(timeout=600)
    finally:
        for machine in machines:
            if machine.poll() is None:
                machine.kill()
    outputs = [log.read_text() for log in logs]
    for machine, output in zip(machines, outputs):
        assert machine.returncode == 0, output[-4000:]

    # 8 generations of one prompt need 2 processes of 4: each machine alone would have failed RLOOConfig's check.
    assert len(logged_rewards(output_dir)) == 2
    assert sum("=== Summary ===" in output for output in outputs) == 1  # one run, one main process
    assert_trained_full_model(output_dir, partitionable_model_dir)


def wait_for_port(port: int, timeout: float = 120) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")
