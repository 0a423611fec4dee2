"""The flow every recipe shares: parse, check, load, build the trainer, train, save, summarise.

A recipe script (`recipes/rloo.py`, ...) names its config class, its trainer class and its default
YAML, and hands over to `main`. Arguments come from `TrlParser`: a YAML recipe (`--config`) sets the
defaults and command-line flags override it, exactly as in TRL's own scripts. Heavy imports live
inside the functions so that `--help` answers at once.
"""

import inspect
import os
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments

from rewards import UnknownRewardError
from rewards.text import completion_text
from rl_recipes.checks import (
    RecipeError,
    check_evaluation_split,
    check_generation_sizes,
    check_hub_settings,
    check_model_source,
    check_process_group,
    check_quantization,
    check_recipe_keys,
    check_reward_settings,
    check_reward_weights,
    parse_reward_kwargs,
    setting_names,
    unknown_setting_hint,
)
from rl_recipes.saving import strict_json
from rl_recipes.trainers.reward_guard import FAULT_POLICIES


@dataclass
class RecipeArguments(ScriptArguments):
    """TRL's script arguments (`dataset_name`, `dataset_config`, `dataset_train_split`, ...) plus the rewards."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["a_words"],
        metadata={
            "help": "Rewards to train on: names from the `rewards` registry (TRL's own names among them, such as "
            "`accuracy_reward`) or dotted paths `package.module.function` to your own. Weight them with `--reward_weights`."
        },
    )
    reward_kwargs: dict | str | None = field(
        default=None,
        metadata={
            "help": "Settings of the rewards, by reward name: in YAML a mapping such as {format: {pattern: '...'}}, "
            "on the command line the same as JSON."
        },
    )
    prompt_column: str = field(
        default="prompt", metadata={"help": "Dataset column holding the prompts (renamed to `prompt` for TRL)."}
    )
    conversational: bool = field(
        default=False,
        metadata={"help": "Send text prompts as a user message through the model's chat template (instruct models)."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "A system message before every prompt; implies conversational."}
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow training into an output directory that already holds files."}
    )
    save_completions: bool = field(
        default=False,
        metadata={"help": "Append every completion with its step and reward to <output_dir>/completions.jsonl."},
    )
    reward_faults: str = field(
        default="stop",
        metadata={
            "help": "What a reward that raises or returns a bad value does: 'stop' saves a checkpoint and stops the "
            "run, naming the fault; 'skip' leaves those samples out (as None) and logs reward_faults/<name>.",
            "choices": list(FAULT_POLICIES),
        },
    )
    tools: list[str] = field(
        default_factory=list,
        metadata={"help": "Tools the model may call, as in TRL's GRPOTrainer: names of shipped tools (add, subtract, multiply) or "
                          "dotted paths package.module.function to your own (type hints and an Args: docstring)."},
    )
    environment_factory: dict | str | None = field(
        default=None,
        metadata={"help": "Dotted path of an environment class, as in TRL's GRPOTrainer: one instance per rollout, "
                          "reset(**row) per task, its public methods as tools, an optional get_reward(). Or several, "
                          "by name (in YAML a mapping, on the command line JSON), picked by each row's `environment` column."},
    )
    tool_call_timeout: float = field(
        default=10.0,
        metadata={"help": "Seconds a tool call may take; past them the model gets an error result. 0: no limit."},
    )
    num_samples_to_show: int = field(
        default=3, metadata={"help": "How many of the last completions to print in the closing summary."}
    )
    console_metrics: list[str] = field(
        default_factory=lambda: ["reward", "reward_std", "entropy", "distinct_completions", "eval_reward"],
        metadata={
            "help": "Logged metrics shown in the progress bar (eval_ ones once an evaluation logs them); `all` prints "
            "every log as a dictionary instead. Every log goes to trainer_state.json and --report_to either way."
        },
    )


def parse_args(config_class, default_config: Path, argv: list[str] | None = None):
    """(RecipeArguments, config, ModelConfig) from `--config` YAML and flags; `default_config` when no YAML is named.

    bf16 follows `rl_recipes.precision`: on a run that trains on the CPU, left unset it becomes float32
    with one line, and asked for it stops the run with one line."""
    from rl_recipes.arguments import RecipeParser
    from rl_recipes.console import quiet_library_warnings
    from rl_recipes.precision import (
        BF16_UNSUPPORTED, bf16_fallback_notice, bf16_left_to_default, bf16_refusal, say_once, trains_on_cpu,
    )

    quiet_library_warnings()  # before the configs are built: some of their defaults warn
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        argv = ["--config", str(default_config), *argv]
    dataclass_types = (RecipeArguments, config_class, ModelConfig)
    config_path = argv[argv.index("--config") + 1]
    recipe_keys = check_recipe_keys(config_path, dataclass_types)
    parser = RecipeParser(dataclass_types, config_path)
    if backend := launcher_default_backend():
        parser.set_defaults(ddp_backend=backend)  # a default: the YAML's ddp_backend and the flag still win
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
        bf16_on_cpu = training_args.bf16 and trains_on_cpu(training_args)
    except ValueError as error:  # the config classes' own checks: batch and generation sizes, ...
        if BF16_UNSUPPORTED not in str(error):
            raise RecipeError(argument_error(error, argv, dataclass_types)) from None
        bf16_on_cpu = True
    if bf16_on_cpu:
        if not bf16_left_to_default(argv, recipe_keys):
            raise RecipeError(bf16_refusal())
        # TRL's configs default to bf16, for GPUs; a recipe that does not ask for it runs here in float32.
        say_once(bf16_fallback_notice())
        return parse_args(config_class, default_config, [*argv, "--bf16", "false"])
    script_args.reward_kwargs = parse_reward_kwargs(script_args.reward_kwargs)
    return script_args, training_args, model_args


def argument_error(error: ValueError, argv: list[str], dataclass_types) -> str:
    """The parser's or a config class's error as one line; an unknown flag gets the same hint as an unknown YAML key."""
    from rl_recipes.arguments import flag_name

    valid = setting_names(dataclass_types) | {"config"}
    unknown = next((name for name in map(flag_name, argv) if name is not None and name not in valid), None)
    if unknown and str(error).startswith("Some specified arguments are not used"):
        return f"Unknown flag --{unknown}: {unknown_setting_hint(unknown, valid)}"
    return " ".join(str(error).split())


def launcher_default_backend() -> str | None:
    """"gloo" for the processes of a DeepSpeed launch on a machine without GPUs, else None (the default).

    The parsed training arguments set up the process group, so this must be decided before parsing.
    Left to itself, a DeepSpeed launch on such a machine finds no backend: accelerate counts one
    process while DeepSpeed counts them all, and fails its batch-size check. With gloo they form one
    group on the CPU (DeepSpeed picks its CPU accelerator). DDP on CPU is asked for with --use_cpu true,
    which picks gloo in accelerate; a DDP launch without it stops in `check_process_group`.
    """
    import torch

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    if deepspeed and int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return "gloo"
    return None


def prepare_output_dir(script_args: RecipeArguments, training_args) -> None:
    """Refuse an output directory that holds files unless the run resumes or overwrites it; on an overwrite, move
    the earlier run's checkpoints aside (`rl_recipes.checkpoints`), so that a later resume finds this run's only."""
    from rl_recipes.checkpoints import move_earlier_checkpoints_aside

    output_dir = Path(training_args.output_dir)
    if training_args.resume_from_checkpoint:
        return
    if not script_args.overwrite_output_dir:
        if output_dir.is_dir() and any(output_dir.iterdir()):
            raise RecipeError(
                f"Output directory {output_dir} already holds files: pass another --output_dir, "
                "--overwrite_output_dir true to train over it, or --resume_from_checkpoint to continue it."
            )
        return
    # One process moves (one per machine where each saves its own copy); the others wait until it has.
    with training_args.main_process_first(local=training_args.save_on_each_node, desc="moving earlier checkpoints"):
        if training_args.should_save and (moved := move_earlier_checkpoints_aside(output_dir)):
            destination, names = moved
            print(f"Moved the earlier run's checkpoints ({', '.join(names)}) to {destination}, so that "
                  "--resume_from_checkpoint true continues this run only; delete that folder if you do not need it.",
                  file=sys.stderr)


def resolve_resume_checkpoint(training_args) -> None:
    """Turn `resume_from_checkpoint` into the checkpoint directory to resume from, or None; say which torn
    checkpoints (interrupted saves) were passed over."""
    from rl_recipes.checkpoints import resolve_resume

    checkpoint, torn = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    training_args.resume_from_checkpoint = checkpoint
    if torn and training_args.process_index == 0:
        print(f"Resuming from {checkpoint}: skipped {', '.join(map(str, torn))}, whose save was interrupted "
              "(no trainer_state.json).", file=sys.stderr)


def rows_per_generation_batch(training_args) -> int:
    """Distinct prompts the trainer draws for one generation batch across all processes."""
    return training_args.generation_batch_size // training_args.num_generations


def model_init_kwargs(model_args: ModelConfig, training_args) -> dict:
    """How the trainer loads the model, as TRL's own scripts set it up, QLoRA's quantization included."""
    from trl import get_quantization_config

    kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
    }
    quantization_config = get_quantization_config(model_args)
    if quantization_config is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quantization_config
        kwargs["device_map"] = {"": PartialState().local_process_index}  # each process's quantized copy on its own GPU
    return {**kwargs, **(training_args.model_init_kwargs or {})}


def build_trainer(trainer_class, script_args: RecipeArguments, training_args, model_args: ModelConfig):
    """Check the input, make sure the model exists, load prompts and construct the trainer.

    Every check runs before the model is loaded (or built). The trainer class gets the collapse
    diagnostics (`rl_recipes.trainers.diagnostics`) and the reward fault policy (`rl_recipes.trainers.reward_guard`) mixed in,
    and RLOOTrainer and its subclasses skip the log-probability pass they do not need (`rl_recipes.trainers.single_pass`).
    """
    from trl import RLOOTrainer, get_peft_config

    from rewards import get_reward_funcs
    from rl_recipes.agents.tools import check_tool_chat_template
    from rl_recipes.console import check_console_metrics, quiet_library_warnings, use_console
    from rl_recipes.curves import CurvesCallback
    from rl_recipes.data import check_prompts_fit, load_prompts, repeat_to_fill
    from rl_recipes.precision import half_precision_notice, say_once
    from rl_recipes.embedded import ensure_embedded_model
    from rl_recipes.trainers.diagnostics import CollapseDiagnosticsMixin
    from rl_recipes.trainers.reward_guard import RewardGuardMixin, guard_rewards
    from rl_recipes.trainers.single_pass import SinglePassMixin
    from rl_recipes.trainers.stop_on_signal import StopOnSignal

    quiet_library_warnings()
    check_process_group(training_args)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, script_args.reward_kwargs)
    check_reward_weights(script_args.reward_funcs, training_args.reward_weights)
    check_generation_sizes(training_args)
    check_hub_settings(script_args, training_args)
    check_evaluation_split(script_args.dataset_name, script_args.dataset_test_split, training_args.eval_strategy,
                           training_args.eval_on_start)
    resolve_resume_checkpoint(training_args)
    check_console_metrics(script_args.console_metrics)
    check_model_source(model_args.model_name_or_path)
    check_quantization(model_args)
    agent = resolve_agent(script_args, reward_funcs, trainer_class)
    prompt_source = {
        "config": script_args.dataset_config,
        "prompt_column": script_args.prompt_column,
        "conversational": script_args.conversational,
        "system_prompt": script_args.system_prompt,
        "environment_prompts": bool(script_args.environment_factory),
    }
    if script_args.dataset_name is None and script_args.environment_factory:
        dataset = environment_owned_prompts(script_args, training_args)
    else:
        dataset = load_prompts(script_args.dataset_name, split=script_args.dataset_train_split,
                               split_setting="dataset_train_split", **prompt_source)
    eval_dataset = None  # as in TRL's scripts, dataset_test_split is read only when the run evaluates
    if training_args.eval_strategy != "no":
        eval_dataset = load_prompts(script_args.dataset_name, split=script_args.dataset_test_split,
                                    split_setting="dataset_test_split", **prompt_source)
    splits = {script_args.dataset_train_split: dataset, script_args.dataset_test_split: eval_dataset}
    for prompts in filter(None, splits.values()):
        check_reward_settings(reward_funcs, script_args.reward_funcs, prompts.column_names)
        if agent:
            check_agent_prompts(prompts, script_args.environment_factory)
    ensure_embedded_model(model_args.model_name_or_path)
    processing_class = load_processing_class(model_args, training_args)
    if agent:
        check_tool_chat_template(processing_class, model_args.model_name_or_path)
    for split, prompts in splits.items():
        if prompts is None:
            continue
        # An agent's prompts are measured with the tools listed, as the model sees them (per environment, rows by rows).
        for tools, rows in offered_tools(script_args, prompts):
            check_prompts_fit(rows["prompt"], tokenizer_of(processing_class), model_context_length(model_args, training_args),
                              training_args.max_completion_length, f"{script_args.dataset_name} (split '{split}')",
                              training_args.chat_template_kwargs, tools)
    dataset = repeat_to_fill(dataset, rows_per_generation_batch(training_args))
    prepare_output_dir(script_args, training_args)
    if notice := half_precision_notice(model_args, training_args):
        say_once(notice)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    if training_args.device.type == "cpu":
        # Pinned memory only speeds up copies to an accelerator; on a CPU the data loader warns that it is unused.
        training_args.dataloader_pin_memory = False
    mixins = (CollapseDiagnosticsMixin, RewardGuardMixin)
    if issubclass(trainer_class, RLOOTrainer):
        mixins += (SinglePassMixin,)
    if agent:
        trainer_class = agent_trainer_class(trainer_class)
    recipe_class = type(trainer_class.__name__, (*mixins, trainer_class), {})
    trainer = recipe_class(
        **agent,
        model=model_args.model_name_or_path,
        reward_funcs=guard_rewards(reward_funcs, script_args.reward_funcs),
        args=training_args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=processing_class,
        peft_config=get_peft_config(model_args),
        callbacks=[StopOnSignal()],
    )
    trainer.reward_fault_policy = script_args.reward_faults
    use_console(trainer, script_args.console_metrics)
    trainer.add_callback(CurvesCallback(reward_maximum(script_args, training_args, trainer.processing_class)))
    if script_args.save_completions:
        trainer.completions_file = Path(training_args.output_dir) / "completions.jsonl"
        if not training_args.resume_from_checkpoint and trainer.accelerator.is_main_process:
            trainer.completions_file.unlink(missing_ok=True)  # a fresh run over an old one starts a fresh file
    return trainer


def resolve_agent(script_args: RecipeArguments, reward_funcs: list, trainer_class) -> dict:
    """The trainer's `tools` and `environment_factory` (TRL's GRPOTrainer arguments), checked, with the time limit of
    each call (`tool_call_timeout`); empty for a single-turn recipe. Our agent trainers run the calls under the limit
    themselves; for TRL's GRPOTrainer, each tool is wrapped in it."""
    from trl import RLOOTrainer

    from rl_recipes.agents.tools import resolve_environment, resolve_tools, time_limited_environment, with_time_limit

    if not script_args.tools and not script_args.environment_factory:
        return {}
    if script_args.tool_call_timeout < 0:
        raise RecipeError(f"tool_call_timeout is {script_args.tool_call_timeout}: give seconds, or 0 for no limit.")
    timeout = script_args.tool_call_timeout
    ours = issubclass(trainer_class, RLOOTrainer)
    tools = resolve_tools(script_args.tools)
    agent = {"tools": tools, "tool_call_timeout": timeout} if ours else \
        {"tools": [with_time_limit(tool, timeout) for tool in tools]}
    scored_by_environment = False
    if script_args.environment_factory:
        factories = {name: resolve_environment(path) for name, path in environment_paths(script_args).items()}
        # Read from the user's factories, not the time-limited wrappers, so a class need not be instantiated here.
        scored_by_environment = any(callable(getattr(class_of(factory), "get_reward", None))
                                    for factory in factories.values())
        if not ours:
            factories = {name: time_limited_environment(factory, timeout) for name, factory in factories.items()}
        agent["environment_factory"] = factories if isinstance(script_args.environment_factory, dict) else factories[None]
    if not reward_funcs and not scored_by_environment:
        raise RecipeError("reward_funcs is empty and no environment get_reward scores the rollouts: name a reward, "
                          "or give the environment a get_reward method.")
    return agent


def environment_paths(script_args: RecipeArguments) -> dict:
    """The recipe's environments by name (None for the one of a single `environment_factory`), as dotted paths; a
    mapping given as JSON on the command line is read here."""
    import json

    value = script_args.environment_factory
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = script_args.environment_factory = json.loads(value)
        except json.JSONDecodeError as error:
            raise RecipeError(f"environment_factory is not valid JSON ({error}): give a dotted path, or a mapping "
                              '\'{"game": "my_envs.Game", "shop": "my_envs.Shop"}\'.') from None
    if isinstance(value, dict):
        if not value or not all(isinstance(path, str) for path in value.values()):
            raise RecipeError("environment_factory as a mapping names each environment's dotted path, such as "
                              "{game: my_envs.Game, shop: my_envs.Shop}.")
        return {str(name): path for name, path in value.items()}
    return {None: value}


def class_of(factory) -> type:
    """The class of an environment factory's instances (a class, or a function returning an instance: one is made)."""
    return factory if inspect.isclass(factory) else type(factory())


def environment_owned_prompts(script_args: RecipeArguments, training_args):
    """The rows of a run without a data set, whose environment supplies every prompt from `reset` (TRL's contract):
    one generation batch of empty user messages, drawn again each step; `max_steps` says how long to train."""
    from datasets import Dataset

    from rl_recipes.data import EMPTY_PROMPT

    if isinstance(script_args.environment_factory, dict):
        raise RecipeError("Several environments (environment_factory as a mapping) need a data set whose environment "
                          "column picks each row's: set dataset_name, or name one environment.")
    if training_args.max_steps <= 0:
        raise RecipeError("No data set: the environment's reset supplies the prompts, so the run has no epochs to "
                          "count: set max_steps to the number of steps to train.")
    return Dataset.from_dict({"prompt": [EMPTY_PROMPT] * rows_per_generation_batch(training_args)})


def check_agent_prompts(dataset, environment_factory) -> None:
    """Tools are listed, called and answered in chat turns: the prompts must be conversations. With several
    environments, each row must name one of them in its `environment` column."""
    if isinstance(dataset[0]["prompt"], str):
        raise RecipeError("tools and environments need chat prompts, and these are plain text: set conversational true "
                          "(each text prompt becomes the user's message), or give a data set of message lists.")
    if isinstance(environment_factory, dict):
        if "environment" not in dataset.column_names:
            raise RecipeError(f"environment_factory names several environments ({', '.join(environment_factory)}), and "
                              "the data set has no environment column to pick each row's: add it.")
        unknown = sorted({str(name) for name in dataset["environment"]} - set(map(str, environment_factory)))
        if unknown:
            raise RecipeError(f"Rows pick environment {', '.join(unknown)}, which environment_factory does not name "
                              f"(it names {', '.join(environment_factory)}): fix the rows' environment or add it.")


def offered_tools(script_args: RecipeArguments, dataset):
    """(the JSON schemas of the tools a row is offered, those rows) for each group of rows offered the same tools: one
    group, but for several environments, where each row's `environment` picks."""
    from transformers.utils import get_json_schema

    from rl_recipes.agents.tools import resolve_environment, resolve_tools, unbound_tools

    if not script_args.tools and not script_args.environment_factory:
        return [(None, dataset)]

    standalone = [get_json_schema(tool) for tool in resolve_tools(script_args.tools)]
    groups = []
    for name, path in (environment_paths(script_args) if script_args.environment_factory else {None: None}).items():
        schemas = list(standalone)
        if path is not None:
            schemas += [get_json_schema(method) for method in unbound_tools(class_of(resolve_environment(path)))]
        rows = dataset if name is None else dataset.filter(lambda row: str(row["environment"]) == name)
        if len(rows):
            groups.append((schemas, rows))
    return groups


def agent_trainer_class(trainer_class):
    """The trainer that runs tools: ours for RLOO and REINFORCE; TRL's GRPOTrainer runs them itself."""
    from trl import RLOOTrainer

    from rl_recipes.trainers.agents import AgentRLOOTrainer
    from rl_recipes.trainers.reinforce import AgentReinforceTrainer, ReinforceTrainer

    if issubclass(trainer_class, ReinforceTrainer):
        return AgentReinforceTrainer
    if issubclass(trainer_class, RLOOTrainer):
        return AgentRLOOTrainer
    return trainer_class


def load_processing_class(model_args: ModelConfig, training_args):
    """The model's tokenizer (or multimodal processor), loaded exactly as TRL's trainers load it when given none,
    and handed to the trainer: the prompts are checked against it before the model loads."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, truncation_side="left",
        padding_side="left", trust_remote_code=training_args.trust_remote_code,
    )


def tokenizer_of(processing_class):
    return getattr(processing_class, "tokenizer", processing_class)  # a multimodal processor holds one


def model_context_length(model_args: ModelConfig, training_args) -> int | None:
    """How many positions the model has (its text model's `max_position_embeddings`), or None where its config does
    not say."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision,
                                        trust_remote_code=training_args.trust_remote_code)
    return getattr(config.get_text_config(), "max_position_embeddings", None)


def reward_maximum(script_args: RecipeArguments, training_args, tokenizer) -> float | None:
    """The highest total reward a completion can get, where it is known: the a-word reward alone."""
    from rewards.a_words import max_a_words

    if script_args.reward_funcs != ["a_words"]:
        return None
    weight = training_args.reward_weights[0] if training_args.reward_weights else 1.0
    return weight * max_a_words(tokenizer, training_args.max_completion_length)


def save_outputs(trainer, num_samples: int) -> list[dict]:
    """Save model (or adapter) and tokenizer, `trainer_state.json`, and the last completions as `samples.jsonl`."""
    output_dir = Path(trainer.args.output_dir)
    trainer.save_model(str(output_dir))
    trainer.save_state()
    samples = last_completions(trainer)
    if trainer.accelerator.is_main_process:
        with open(output_dir / "samples.jsonl", "w") as f:
            for sample in samples:
                f.write(strict_json(sample) + "\n")
    return samples[:num_samples]


def last_completions(trainer) -> list[dict]:
    """The completions of the last logged step with their rewards, as the trainer kept them for its logs."""
    logs = trainer._logs  # TRL keeps the most recent generation batch here for its completion tables
    prompts, completions = list(logs["prompt"]), list(logs["completion"])
    rewards = {name: list(values) for name, values in logs["rewards"].items()}
    return [
        {"prompt": prompt, "completion": completion, **{name: values[i] for name, values in rewards.items()}}
        for i, (prompt, completion) in enumerate(zip(prompts, completions))
    ]


def print_summary(trainer, samples: list[dict]) -> None:
    """What the run did, in under 20 lines: reward, time, collapse diagnostics, samples, where to look next."""
    from rl_recipes.curves import CURVES_FILE, CurvesCallback

    history = trainer.state.log_history
    output_dir = Path(trainer.args.output_dir)
    curves = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, CurvesCallback))
    logged = [entry for entry in history if "reward" in entry]
    steps = [entry for entry in logged if entry["reward"] is not None]  # None: no sample of that step had a reward
    print("\n=== Summary ===")
    if steps:
        best = max(steps, key=lambda entry: entry["reward"])
        maximum = f" (maximum possible {curves.max_reward:g})" if curves.max_reward is not None else ""
        unscored = f"; {len(logged) - len(steps)} logged steps had no reward" if len(steps) < len(logged) else ""
        print(f"reward: {steps[0]['reward']:.2f} at step {steps[0]['step']} -> {steps[-1]['reward']:.2f} at step "
              f"{steps[-1]['step']}; best {best['reward']:.2f} at step {best['step']}{maximum}{unscored}")
    elif logged:
        print(f"reward: none of the {len(logged)} logged steps had a reward (every reward returned None or faulted)")
    evaluations = [entry for entry in history if entry.get("eval_reward") is not None]
    if evaluations:  # on the held-out split: for a task rewarded 1 or 0 (the tool tasks), its success rate
        first, last = evaluations[0], evaluations[-1]
        before = f"{first['eval_reward']:.2f} at step {first['step']} -> " if len(evaluations) > 1 else ""
        print(f"held-out reward (evaluation): {before}{last['eval_reward']:.2f} at step {last['step']}")
    timing = next((entry for entry in reversed(history) if "train_runtime" in entry), None)
    if timing and timing.get("train_steps_per_second"):
        print(f"time: {timing['train_runtime']:.1f} s of training, {1 / timing['train_steps_per_second']:.2f} s a step")
    for line in trainer.collapse_summary():
        print(line)
    for sample in samples:
        print(f"- {shorten(completion_summary(sample['completion']))!r}")
    if (output_dir / CURVES_FILE).is_file():
        print(f"curves: {output_dir / CURVES_FILE}")
    tensorboard = tensorboard_logdir(trainer)
    if tensorboard:
        print(f"tensorboard: tensorboard --logdir {tensorboard}")
    print(f"outputs: {output_dir} (model, tokenizer, trainer_state.json, samples.jsonl)")


def completion_summary(completion) -> str:
    """A completion as the summary shows it: its text, or a tool-using transcript on one line."""
    from rl_recipes.agents.rollout import format_transcript

    if isinstance(completion, list) and any(m.get("tool_calls") or m.get("role") == "tool" for m in completion):
        return format_transcript(completion)
    return completion_text(completion)


def shorten(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def tensorboard_logdir(trainer) -> str | None:
    """Where TensorBoard finds this run: the output directory's `runs` folder, which holds every run there."""
    from transformers.integrations import TensorBoardCallback

    callback = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TensorBoardCallback)), None)
    if callback is None or callback.logging_dir is None:
        return None
    logdir = Path(callback.logging_dir)
    return str(logdir.parent if logdir.parent.name == "runs" else logdir)


def end_together(trainer) -> None:
    """End on all processes at once, as every path does that the processes agreed on: the normal end,
    a signal stop and a reward-fault stop. A gloo group whose peer has already exited can hang."""
    trainer.accelerator.wait_for_everyone()
    release_processes(trainer)


def release_processes(trainer) -> None:
    """Finish the trackers and free the distributed state in an order that cannot deadlock.

    Left to interpreter exit, the last reference to the gloo process group is DDP's Reducer, which
    frees it holding the GIL; the group's destructor then waits for its mutex, which gloo's worker
    thread may hold while it drops the last collective's work, and dropping that work needs the GIL
    (the work keeps the thread-local state it was started with). So the wrapped model goes first,
    while a Python handle keeps the group alive, and the group goes last with that handle, whose
    destructor releases the GIL. Safe to call again, and on a single process.
    """
    import torch.distributed as dist

    group = dist.group.WORLD if dist.is_available() and dist.is_initialized() else None
    trainer.model_wrapped = trainer.model  # as transformers' Trainer itself unwraps before freeing
    trainer.accelerator.free_memory()  # its prepared models (the DDP wrapper) and optimizers, then a garbage collection
    trainer.end()  # trackers, and destroy_process_group, which unregisters the group
    del group  # the last reference: the group is freed here, outside the GIL


def last_checkpoint(trainer) -> str:
    return str(Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}")


def train_and_save(trainer, script_args: RecipeArguments, stop) -> tuple[int, str | None]:
    """Train, then save and summarise: the exit status and a line for standard error, the same on every process."""
    from rl_recipes.trainers.agents import ToolFault
    from rl_recipes.trainers.reward_guard import RewardFault

    try:
        trainer.train(resume_from_checkpoint=trainer.args.resume_from_checkpoint)
    except (RewardFault, ToolFault) as fault:  # raised on every process alike: they stop together
        what = "the tool settings" if isinstance(fault, ToolFault) else "the reward"
        saved = "No step had completed, so nothing was saved"
        if trainer.state.global_step > 0:
            trainer._save_checkpoint(trainer.model, trial=None)  # the last completed step
            saved = f"Saved {last_checkpoint(trainer)}; fix {what} and resume with --resume_from_checkpoint true"
        if isinstance(fault, ToolFault):
            return 1, f"error: {fault} {saved}."
        return 1, f"error: {fault}. {saved}, or set --reward_faults skip to train on without such samples."
    if stop.stopped_at_step is not None:
        return 128 + stop.received, (f"Stopped by signal {stop.received} after step {stop.stopped_at_step}; saved "
                                     f"{last_checkpoint(trainer)}. Resume with --resume_from_checkpoint true.")
    samples = save_outputs(trainer, script_args.num_samples_to_show)
    if trainer.accelerator.is_main_process:
        print_summary(trainer, samples)
    return 0, None


def exit_interrupted(when: str) -> None:
    """Ctrl-C outside a training step ends the run at once, with one line and the status of a SIGINT."""
    print(f"Interrupted {when}.", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)


def main(config_class, trainer_class, default_config: Path, argv: list[str] | None = None) -> None:
    from rl_recipes.console import close_progress_bar
    from rl_recipes.trainers.stop_on_signal import StopOnSignal

    try:
        script_args, training_args, model_args = parse_args(config_class, default_config, argv)
        trainer = build_trainer(trainer_class, script_args, training_args, model_args)
    except (RecipeError, UnknownRewardError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        exit_interrupted("before training began; nothing was saved")
    stop = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, StopOnSignal))
    try:
        status, message = train_and_save(trainer, script_args, stop)
        end_together(trainer)
    except BaseException as error:  # an error, or Ctrl-C outside a step: the other processes may not get here
        traceback.clear_frames(error.__traceback__)  # the frames hold the DDP wrapper, which must go first
        release_processes(trainer)
        if isinstance(error, KeyboardInterrupt):
            exit_interrupted("outside a training step; the last checkpoint saved is the one to resume from")
        raise
    finally:
        stop.restore_handlers()  # on_train_end's job, which an error skips
    if message and trainer.accelerator.is_main_process:
        close_progress_bar(trainer)  # a run that stopped mid-way left it open: the message starts its own line
        print(message, file=sys.stderr)
    if status:
        sys.exit(status)
