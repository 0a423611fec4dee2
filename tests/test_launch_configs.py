"""Launch configurations: the accelerate configs, and the per-node launch lines of the SLURM script.

Nothing here starts a process group or needs SLURM: the script's dry run (DRY_RUN=1) prints what each
node would run, with `scontrol` faked on PATH, and accelerate's and TRL's own parsers read the lines.
"""

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
import torch.distributed.run as torchrun
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import launch_command, launch_command_parser
from accelerate.utils import DistributedType

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "accelerate_configs"
SLURM_SCRIPT = REPO_ROOT / "scripts" / "slurm" / "train.slurm"
RECIPE = "recipes/rloo.py"
RECIPE_CONFIG = "recipes/configs/a_words/rloo.yaml"  # its model_name_or_path: models/tiny-story

# What each config is for. All of them describe one machine; the SLURM script adds the others.
PURPOSES = {
    "cpu.yaml": {"distributed_type": DistributedType.NO, "use_cpu": True, "num_processes": 1},
    "single_gpu.yaml": {"distributed_type": DistributedType.NO, "use_cpu": False, "num_processes": 1},
    "multi_gpu.yaml": {"distributed_type": DistributedType.MULTI_GPU, "use_cpu": False},
    "deepspeed_zero2.yaml": {"distributed_type": DistributedType.DEEPSPEED, "use_cpu": False},
    "deepspeed_zero3.yaml": {"distributed_type": DistributedType.DEEPSPEED, "use_cpu": False},
    "fsdp2.yaml": {"distributed_type": DistributedType.FSDP, "use_cpu": False},
}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.name)
def test_accelerate_config_loads_with_accelerates_own_loader_and_fits_its_purpose(path):
    assert path.name in PURPOSES, f"say what {path.name} is for in PURPOSES"
    config = load_config_from_file(str(path))

    assert isinstance(config, ClusterConfig)
    for field, expected in PURPOSES[path.name].items():
        assert getattr(config, field) == expected, field
    assert config.num_machines == 1 and config.machine_rank == 0
    assert config.num_processes >= (2 if config.distributed_type != DistributedType.NO else 1)
    assert config.mixed_precision in ("no", "bf16")
    if config.distributed_type == DistributedType.DEEPSPEED:
        stage = int(re.search(r"zero(\d)", path.name).group(1))
        assert config.deepspeed_config["zero_stage"] == stage
        assert config.deepspeed_config["zero3_init_flag"] is (stage == 3)
        # One torchrun per node, started by srun: no pdsh/ssh from the first node.
        assert config.deepspeed_config["deepspeed_multinode_launcher"] == "standard"
    else:
        assert config.deepspeed_config == {}
    if config.distributed_type == DistributedType.FSDP:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    else:
        assert config.fsdp_config == {}


def dry_run(tmp_path: Path, *args: str, nodes=("node01", "node02")) -> list[tuple[str, str, list[str]]]:
    """(host, role, argv) for each node, from the script's dry run in a faked SLURM job on `nodes`."""
    nodelist = "node[01-%02d]" % len(nodes)
    fake_bin = tmp_path / "fake_bin"
    fake_bin.mkdir(exist_ok=True)
    scontrol = fake_bin / "scontrol"
    scontrol.write_text(
        "#!/bin/sh\n"
        f'[ "$*" = "show hostnames {nodelist}" ] || {{ echo "fake scontrol: unexpected $*" >&2; exit 1; }}\n'
        f"printf '%s\\n' {' '.join(nodes)}\n"
    )
    scontrol.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if not name.startswith("SLURM_")}
    env.update(
        PATH=f"{fake_bin}{os.pathsep}{env['PATH']}",
        DRY_RUN="1",
        SLURM_JOB_NODELIST=nodelist,
        SLURM_NNODES=str(len(nodes)),
    )
    result = subprocess.run(
        ["bash", str(SLURM_SCRIPT), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr

    plan, lines = [], result.stdout.splitlines()
    for header, command in zip(lines, lines[1:]):
        if match := re.fullmatch(r"# (\S+) \((.+)\)", header):
            plan.append((match[1], match[2], shlex.split(command)))
    return plan


def parse_launch(argv: list[str]):
    assert argv[:2] == ["accelerate", "launch"]
    return launch_command_parser().parse_args(argv[2:])


@pytest.mark.slow
def test_two_node_launch_lines_give_each_node_its_rank_and_all_of_them_the_first_node_as_main(tmp_path):
    recipe_flags = ["--learning_rate", "1e-6", "--run_name", "two nodes"]
    plan = dry_run(tmp_path, RECIPE, RECIPE_CONFIG, "accelerate_configs/deepspeed_zero3.yaml", *recipe_flags)

    assert [(host, role) for host, role, _ in plan] == [("node01", "machine rank 0"), ("node02", "machine rank 1")]
    for rank, (_, _, argv) in enumerate(plan):
        args = parse_launch(argv)
        assert args.machine_rank == rank
        assert args.num_machines == 2
        assert args.num_processes == 16  # 2 nodes x 8 GPUs
        assert args.main_process_ip == "node01"
        assert args.main_process_port == 29500
        assert args.rdzv_backend == "c10d"
        assert args.config_file == "accelerate_configs/deepspeed_zero3.yaml"
        assert args.training_script == RECIPE
        assert args.training_script_args == ["--config", RECIPE_CONFIG, *recipe_flags]


@pytest.fixture
def restored_environ():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
@pytest.mark.parametrize("config", ["multi_gpu.yaml", "fsdp2.yaml"])  # DeepSpeed's launcher needs `deepspeed`
def test_accelerate_hands_torchrun_one_rendezvous_on_the_first_node_from_every_node(
    tmp_path, monkeypatch, restored_environ, config
):
    with socket.socket() as probe:  # machine rank 0 checks that the port is free on this machine
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    plan = dry_run(
        tmp_path,
        "--gpus_per_node",
        "4",
        "--main_process_port",
        str(port),
        RECIPE,
        RECIPE_CONFIG,
        f"accelerate_configs/{config}",
    )
    started = []
    monkeypatch.setattr(torchrun, "run", started.append)  # record what torchrun would start, start nothing

    for _, _, argv in plan:
        launch_command(parse_launch(argv))

    assert len(started) == 2
    for torchrun_args in started:
        launch_config, program, program_args = torchrun.config_from_args(torchrun_args)
        assert (launch_config.min_nodes, launch_config.max_nodes, launch_config.nproc_per_node) == (2, 2, 4)
        assert launch_config.rdzv_backend == "c10d"
        assert launch_config.rdzv_endpoint == f"node01:{port}"  # not each node's own localhost
        assert program_args[-3:] == [RECIPE, "--config", RECIPE_CONFIG]


@pytest.mark.slow
def test_vllm_server_runs_on_the_last_node_and_the_others_train_against_it(tmp_path):
    from trl import RLOOConfig
    from trl.scripts.vllm_serve import make_parser as vllm_serve_parser

    from rl_recipes.runner.cli import parse_args as parse_recipe_args

    plan = dry_run(
        tmp_path,
        "--vllm_server",
        "--vllm_tensor_parallel_size",
        "2",
        RECIPE,
        RECIPE_CONFIG,
        "accelerate_configs/deepspeed_zero2.yaml",
        nodes=("node01", "node02", "node03"),
    )

    assert [(host, role) for host, role, _ in plan] == [
        ("node01", "machine rank 0"),
        ("node02", "machine rank 1"),
        ("node03", "vLLM server"),
    ]
    serve_argv = plan[-1][2]
    assert serve_argv[:2] == ["trl", "vllm-serve"]
    serve_args, unknown = vllm_serve_parser().parse_args_and_config(args=serve_argv[2:], return_remaining_strings=True)
    assert unknown == []
    assert (serve_args.model, serve_args.tensor_parallel_size, serve_args.port) == ("models/tiny-story", 2, 8000)

    for rank, (_, _, argv) in enumerate(plan[:-1]):
        args = parse_launch(argv)
        assert (args.machine_rank, args.num_machines, args.num_processes) == (rank, 2, 16)
        assert args.main_process_ip == "node01"
        flags = " ".join(args.training_script_args)
        assert "--use_vllm true --vllm_mode server --vllm_server_host node03 --vllm_server_port 8000" in flags
        _, training_args, model_args = parse_recipe_args(
            RLOOConfig, REPO_ROOT / RECIPE_CONFIG, [*args.training_script_args, "--output_dir", str(tmp_path / "out")]
        )
        assert (training_args.use_vllm, training_args.vllm_mode) == (True, "server")
        assert (training_args.vllm_server_host, training_args.vllm_server_port) == ("node03", 8000)
        assert model_args.model_name_or_path == serve_args.model  # the server generates with the trained model


@pytest.mark.slow
def test_vllm_server_serves_the_model_named_on_the_command_line_over_the_yaml(tmp_path):
    plan = dry_run(
        tmp_path,
        "--vllm_server",
        RECIPE,
        RECIPE_CONFIG,
        "accelerate_configs/multi_gpu.yaml",
        "--model_name_or_path",
        "Qwen/Qwen2.5-0.5B-Instruct",
    )

    assert [role for _, role, _ in plan] == ["machine rank 0", "vLLM server"]
    assert plan[-1][2][:4] == ["trl", "vllm-serve", "--model", "Qwen/Qwen2.5-0.5B-Instruct"]
    assert parse_launch(plan[0][2]).num_processes == 8  # one training node left


@pytest.mark.slow
def test_vllm_server_needs_a_node_to_train_on(tmp_path):
    with pytest.raises(AssertionError, match="at least 2 nodes"):
        dry_run(
            tmp_path, "--vllm_server", RECIPE, RECIPE_CONFIG, "accelerate_configs/multi_gpu.yaml", nodes=("node01",)
        )
