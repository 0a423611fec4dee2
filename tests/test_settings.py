"""Settings a recipe accepts either do what they say or stop the run at start-up with one line."""

import json

import pytest
import torch

from rl_recipes.checks import RecipeError
from rl_recipes.runner.cli import parse_args
from tests.conftest import REPO_ROOT, assert_succeeded, run_script


def rloo_args(tmp_path, recipe: str, *flags: str):
    from trl import RLOOConfig

    config = tmp_path / "recipe.yaml"
    config.write_text(recipe)
    return parse_args(RLOOConfig, config, ["--config", str(config), "--output_dir", str(tmp_path / "out"), *flags])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for machines without a bf16 GPU")
@pytest.mark.parametrize("flags", [[], ["--use_cpu", "true"]], ids=["bf16 refused by transformers", "use_cpu"])
def test_a_gpu_recipe_that_leaves_bf16_to_the_default_runs_in_float32_and_says_so(tmp_path, capsys, flags):
    _, training_args, _ = rloo_args(tmp_path, "learning_rate: 1.0e-5\n", *flags)
    assert training_args.bf16 is False
    assert (
        "bf16 is off because this run trains on the CPU (no GPU with bf16 support, or --use_cpu true): training in float32"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "launcher", [{}, {"ACCELERATE_USE_CPU": "true"}], ids=["no GPU with bf16", "CPU launch config"]
)
@pytest.mark.parametrize("use_cpu", [[], ["--use_cpu", "true"]], ids=["", "use_cpu"])
@pytest.mark.parametrize(
    "recipe, flags", [("bf16: true\n", []), ("", ["--bf16", "true"])], ids=["in the YAML", "as a flag"]
)
def test_bf16_asked_for_on_a_run_that_trains_on_the_cpu_is_refused_in_one_line(
    tmp_path, monkeypatch, launcher, use_cpu, recipe, flags
):
    if torch.cuda.is_available() and not (launcher or use_cpu):
        pytest.skip("this machine's GPU may have bf16")
    for name, value in launcher.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RecipeError, match="^bf16 is set, but this run trains on the CPU") as error:
        rloo_args(tmp_path, recipe + "learning_rate: 1.0e-5\n", *flags, *use_cpu)
    assert "\n" not in str(error.value)


def fake_machine(monkeypatch, cuda: bool, bitsandbytes: bool):
    import transformers.utils

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(transformers.utils, "is_bitsandbytes_available", lambda: bitsandbytes)


@pytest.mark.parametrize(
    "cuda, bitsandbytes, flags, message",
    [
        (
            False,
            True,
            ["--load_in_4bit", "true", "--use_peft", "true"],
            "--load_in_4bit quantizes the model with bitsandbytes, which needs a CUDA GPU",
        ),
        (
            True,
            False,
            ["--load_in_8bit", "true", "--use_peft", "true"],
            "--load_in_8bit needs the bitsandbytes package",
        ),
        (True, True, ["--load_in_4bit", "true"], "only a LoRA adapter can train: add --use_peft true"),
    ],
    ids=["no GPU", "no bitsandbytes", "no LoRA"],
)
def test_qlora_where_it_cannot_work_stops_at_start_up(tmp_path, monkeypatch, cuda, bitsandbytes, flags, message):
    from rl_recipes.checks import check_quantization

    _, _, model_args = rloo_args(tmp_path, "bf16: false\n", *flags)
    fake_machine(monkeypatch, cuda, bitsandbytes)
    with pytest.raises(RecipeError, match=message):
        check_quantization(model_args)


@pytest.mark.parametrize("flag, bits", [("--load_in_4bit", "4"), ("--load_in_8bit", "8")])
def test_qlora_quantizes_the_model_the_trainer_loads(tmp_path, monkeypatch, flag, bits):
    from rl_recipes.checks import check_quantization
    from rl_recipes.runner.assembly import model_init_kwargs

    _, training_args, model_args = rloo_args(tmp_path, "bf16: false\n", flag, "true", "--use_peft", "true")
    _, plain_training_args, plain_model_args = rloo_args(tmp_path, "bf16: false\n", "--use_peft", "true")
    fake_machine(monkeypatch, cuda=True, bitsandbytes=True)
    check_quantization(model_args)
    kwargs = model_init_kwargs(model_args, training_args)
    assert getattr(kwargs["quantization_config"], f"load_in_{bits}bit") is True
    assert kwargs["device_map"] == {"": 0}  # the process's own GPU
    assert "quantization_config" not in model_init_kwargs(plain_model_args, plain_training_args)


def prompt_splits(tmp_path):
    """A data set directory with a train and a test split, as `datasets` reads one."""
    data = tmp_path / "prompts"
    data.mkdir()
    (data / "train.jsonl").write_text('{"prompt": "Once upon a time"}\n{"prompt": "One day"}\n')
    (data / "test.jsonl").write_text('{"prompt": "Lily saw"}\n{"prompt": "A big dog"}\n')
    return data


@pytest.mark.slow
def test_evaluation_scores_held_out_prompts_during_training(tiny_model_dir, tmp_path):
    output_dir = tmp_path / "out"
    result = run_script(
        "rloo.py",
        "--model_name_or_path",
        str(tiny_model_dir),
        "--output_dir",
        str(output_dir),
        "--dataset_name",
        str(prompt_splits(tmp_path)),
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "1",
        "--num_generations_eval",
        "2",
        "--per_device_eval_batch_size",
        "4",
        "--max_steps",
        "2",
        "--max_completion_length",
        "8",
    )
    assert_succeeded(result)
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    evaluations = [entry for entry in history if "eval_reward" in entry]
    assert [entry["step"] for entry in evaluations] == [1, 2]


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--eval_strategy", "steps", "--dataset_name", "PROMPTS_FILE"],
            "is one file, with no 'test' split to evaluate on",
        ),
        (["--eval_strategy", "steps", "--dataset_test_split", "validation"], "has no split 'validation'"),
        (["--dataset_streaming", "true"], "dataset_streaming is not supported"),
        (["--push_to_hub", "true"], "push_to_hub is not supported"),
        (["--eval_on_start", "true"], "eval_on_start evaluates before the first step, but eval_strategy is no"),
    ],
    ids=["one file", "missing split", "streaming", "push to hub", "evaluation on start without evaluation"],
)
def test_evaluation_and_hub_settings_that_cannot_work_stop_before_the_model_loads(
    tiny_model_dir, tmp_path, flags, message
):
    from trl import RLOOConfig

    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.runner.assembly import build_trainer

    flags = [str(tmp_path / "p.jsonl") if flag == "PROMPTS_FILE" else flag for flag in flags]
    (tmp_path / "p.jsonl").write_text('{"prompt": "Once"}\n')
    config = REPO_ROOT / "recipes" / "configs" / "a_words" / "rloo.yaml"
    args = parse_args(
        RLOOConfig,
        config,
        [
            "--model_name_or_path",
            str(tiny_model_dir),
            "--dataset_name",
            str(prompt_splits(tmp_path)),
            "--output_dir",
            str(tmp_path / "out"),
            "--num_generations_eval",
            "2",
            *flags,
        ],
    )
    with pytest.raises(RecipeError, match=message):
        build_trainer(ALGORITHMS["rloo"], *args)


@pytest.mark.parametrize(
    "recipe, flags, expected",
    [
        ("activation_checkpointing: false\n", ["--gradient_checkpointing", "true"], True),  # a flag over the YAML
        ("activation_checkpointing: true\n", ["--gradient_checkpointing=false"], False),
        ("gradient_checkpointing: true\n", [], True),  # the old name in the YAML alone
        ("gradient_checkpointing: true\n", ["--activation_checkpointing", "false"], False),  # a flag over the YAML
    ],
    ids=["flag true over yaml false", "flag false over yaml true", "yaml alone", "new flag over old yaml"],
)
def test_a_deprecated_setting_name_is_honoured_where_it_is_written(tmp_path, recipe, flags, expected):
    _, training_args, _ = rloo_args(tmp_path, "bf16: false\n" + recipe, *flags)
    assert training_args.activation_checkpointing is expected


@pytest.mark.parametrize(
    "recipe, flags, where",
    [
        ("activation_checkpointing: false\ngradient_checkpointing: true\n", [], "Recipe"),
        ("", ["--gradient_checkpointing", "--activation_checkpointing", "false"], "The command line"),
    ],
    ids=["both in the yaml", "both as flags"],
)
def test_a_deprecated_name_beside_its_replacement_in_one_place_is_refused(tmp_path, recipe, flags, where):
    with pytest.raises(RecipeError, match=f"^{where}.* sets both gradient_checkpointing and activation_checkpointing"):
        rloo_args(tmp_path, "bf16: false\n" + recipe, *flags)


@pytest.mark.parametrize(
    "recipe, flags",
    [("max_prompt_length: 256\n", []), ("", ["--max_prompt_length", "256"])],
    ids=["in the yaml", "as a flag"],
)
def test_trls_removed_prompt_truncation_setting_is_refused_saying_what_to_do(tmp_path, recipe, flags):
    with pytest.raises(
        RecipeError, match="max_prompt_length.*TRL 1.x removed it and no longer truncates prompts"
    ) as error:
        rloo_args(tmp_path, "bf16: false\n" + recipe, *flags)
    assert "did you mean" not in str(error.value)  # not "did you mean 'max_completion_length'?", another setting


@pytest.mark.parametrize(
    "recipe, flags, setting, expected",
    [
        ("console_metrics: all\n", [], "console_metrics", ["all"]),
        ("console_metrics: reward\n", [], "console_metrics", ["reward"]),
        ("reward_funcs: a_words\n", [], "reward_funcs", ["a_words"]),
        ("tools: add\n", [], "tools", ["add"]),
        ("reward_weights: 2.0\n", [], "reward_weights", [2.0]),
        ("lora_modules_to_save: lm_head\n", [], "lora_modules_to_save", ["lm_head"]),
        ("lora_target_modules: all-linear\n", [], "lora_target_modules", "all-linear"),  # TRL's ModelConfig unwraps one
        ("console_metrics: [reward, entropy]\n", [], "console_metrics", ["reward", "entropy"]),
        (
            "console_metrics: all\n",
            ["--console_metrics", "reward", "entropy"],
            "console_metrics",
            ["reward", "entropy"],
        ),
        ("", ["--console_metrics", "all"], "console_metrics", ["all"]),
    ],
    ids=[
        "console_metrics all",
        "console_metrics reward",
        "reward_funcs",
        "tools",
        "reward_weights",
        "lora_modules_to_save",
        "lora_target_modules all-linear",
        "a yaml list",
        "flags over a single yaml value",
        "a flag alone",
    ],
)
def test_a_single_value_of_a_list_setting_in_the_yaml_is_a_list_of_that_one_value(
    tmp_path, recipe, flags, setting, expected
):
    parsed = rloo_args(tmp_path, "bf16: false\n" + recipe, *flags)
    assert next(getattr(args, setting) for args in parsed if hasattr(args, setting)) == expected


@pytest.mark.parametrize("config_name", ["AgentRLOOConfig", "ReinforceConfig"])
def test_both_agent_configs_check_the_tool_call_settings_also_with_one_generation(config_name, tmp_path):
    import rl_recipes.trainers as trainers

    config_class = getattr(trainers, config_name)
    generations = 1 if config_name == "ReinforceConfig" else 2  # REINFORCE's case, which RLOOConfig's own check refuses
    with pytest.raises(ValueError, match="max_parallel_tool_calls is 0: give at least 1"):
        config_class(
            output_dir=str(tmp_path),
            num_generations=generations,
            per_device_train_batch_size=2,
            max_parallel_tool_calls=0,
            use_cpu=True,
            bf16=False,
        )
