"""Start-up: every check that can run before the model loads, then the trainer assembled from the algorithm's class
(`rl_recipes.algorithms`), the prompts, the rewards (guarded), the tools and the callbacks.
"""

import sys
from pathlib import Path

from trl import ModelConfig

from rl_recipes.checks import (
    check_evaluation_split,
    check_generation_sizes,
    check_hub_settings,
    check_model_source,
    check_process_group,
    check_quantization,
    check_reward_settings,
    check_reward_weights,
)
from rl_recipes.runner.agent_wiring import check_agent_prompts, environment_owned_prompts, offered_tools, resolve_agent
from rl_recipes.runner.cli import RecipeArguments


def prepare_output_dir(script_args: RecipeArguments, training_args) -> None:
    """Refuse an output directory that holds files unless the run resumes or overwrites it; on an overwrite, move
    the earlier run's checkpoints aside (`rl_recipes.checkpoints`), so that a later resume finds this run's only."""
    from rl_recipes.checkpoints import move_earlier_checkpoints_aside
    from rl_recipes.run_directory import refuse_used_output_dir

    output_dir = Path(training_args.output_dir)
    if training_args.resume_from_checkpoint:
        return
    if not script_args.overwrite_output_dir:
        refuse_used_output_dir(
            output_dir,
            "pass another --output_dir, --overwrite_output_dir true to train over it, "
            "or --resume_from_checkpoint to continue it",
        )
        return
    # One process moves (one per machine where each saves its own copy); the others wait until it has.
    with training_args.main_process_first(local=training_args.save_on_each_node, desc="moving earlier checkpoints"):
        if training_args.should_save and (moved := move_earlier_checkpoints_aside(output_dir)):
            destination, names = moved
            print(
                f"Moved the earlier run's checkpoints ({', '.join(names)}) to {destination}, so that "
                "--resume_from_checkpoint true continues this run only; delete that folder if you do not need it.",
                file=sys.stderr,
            )


def resolve_resume_checkpoint(training_args) -> None:
    """Turn `resume_from_checkpoint` into the checkpoint directory to resume from, or None; say which torn
    checkpoints (interrupted saves) were passed over."""
    from rl_recipes.checkpoints import resolve_resume

    checkpoint, torn = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    training_args.resume_from_checkpoint = checkpoint
    if torn and training_args.process_index == 0:
        print(
            f"Resuming from {checkpoint}: skipped {', '.join(map(str, torn))}, whose save was interrupted "
            "(no trainer_state.json).",
            file=sys.stderr,
        )


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


def build_trainer(algorithm, script_args: RecipeArguments, training_args, model_args: ModelConfig):
    """Check the input, make sure the model exists, load prompts and construct the trainer.

    Every check runs before the model is loaded (or built). The trainer is the `rl_recipes.algorithms.Algorithm`'s
    class for the recipe (its agent class where the recipe has tools or environments): a named stack of
    `rl_recipes.trainers.stacks`.
    """
    from trl import get_peft_config

    from rewards import get_reward_funcs
    from rl_recipes.agents.tools import check_tool_chat_template
    from rl_recipes.console import check_console_metrics, quiet_library_warnings, use_console
    from rl_recipes.curves import CurvesCallback
    from rl_recipes.data import check_prompts_fit, load_prompts, repeat_to_fill, rows_per_generation_batch
    from rl_recipes.embedded import ensure_embedded_model
    from rl_recipes.precision import half_precision_notice, say_once
    from rl_recipes.run_directory import COMPLETIONS_FILE
    from rl_recipes.trainers.reward_guard import guard_rewards
    from rl_recipes.trainers.stop_on_signal import StopOnSignal

    quiet_library_warnings()
    check_process_group(training_args)
    reward_funcs = get_reward_funcs(script_args.reward_funcs, script_args.reward_kwargs)
    check_reward_weights(script_args.reward_funcs, training_args.reward_weights)
    check_generation_sizes(training_args)
    check_hub_settings(script_args, training_args)
    check_evaluation_split(
        script_args.dataset_name,
        script_args.dataset_test_split,
        training_args.eval_strategy,
        training_args.eval_on_start,
    )
    resolve_resume_checkpoint(training_args)
    check_console_metrics(script_args.console_metrics)
    check_model_source(model_args.model_name_or_path)
    check_quantization(model_args)
    agent = resolve_agent(script_args, reward_funcs, algorithm.agent_trainer_class)
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
        dataset = load_prompts(
            script_args.dataset_name,
            split=script_args.dataset_train_split,
            split_setting="dataset_train_split",
            **prompt_source,
        )
    eval_dataset = None  # as in TRL's scripts, dataset_test_split is read only when the run evaluates
    if training_args.eval_strategy != "no":
        eval_dataset = load_prompts(
            script_args.dataset_name,
            split=script_args.dataset_test_split,
            split_setting="dataset_test_split",
            **prompt_source,
        )
    splits = {script_args.dataset_train_split: dataset, script_args.dataset_test_split: eval_dataset}
    for prompts in filter(None, splits.values()):
        check_reward_settings(reward_funcs, script_args.reward_funcs, prompts.column_names)
        if agent:
            check_agent_prompts(prompts, script_args.environment_factory)
    ensure_embedded_model(model_args.model_name_or_path)
    processing_class = load_processing_class(model_args, training_args)
    if agent:
        check_tool_chat_template(processing_class, model_args.model_name_or_path)
    context_length = model_context_length(model_args, training_args)  # the model's config, read once
    for split, prompts in splits.items():
        if prompts is None:
            continue
        # An agent's prompts are measured with the tools listed, as the model sees them (per environment, rows by rows).
        for tools, rows in offered_tools(script_args, prompts):
            check_prompts_fit(
                rows["prompt"],
                tokenizer_of(processing_class),
                context_length,
                training_args.max_completion_length,
                f"{script_args.dataset_name} (split '{split}')",
                training_args.chat_template_kwargs,
                tools,
            )
    dataset = repeat_to_fill(dataset, rows_per_generation_batch(training_args))
    prepare_output_dir(script_args, training_args)
    if notice := half_precision_notice(model_args, training_args):
        say_once(notice)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    if training_args.device.type == "cpu":
        # Pinned memory only speeds up copies to an accelerator; on a CPU the data loader warns that it is unused.
        training_args.dataloader_pin_memory = False
    trainer = algorithm.trainer_for(agent=bool(agent))(
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
    trainer.add_callback(
        CurvesCallback(reward_maximum(reward_funcs, training_args, tokenizer_of(trainer.processing_class)))
    )
    if script_args.save_completions:
        trainer.completions_file = Path(training_args.output_dir) / COMPLETIONS_FILE
        if not training_args.resume_from_checkpoint and trainer.accelerator.is_main_process:
            trainer.completions_file.unlink(missing_ok=True)  # a fresh run over an old one starts a fresh file
    return trainer


def load_processing_class(model_args: ModelConfig, training_args):
    """The model's tokenizer (or multimodal processor), loaded exactly as TRL's trainers load it when given none,
    and handed to the trainer: the prompts are checked against it before the model loads."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        truncation_side="left",
        padding_side="left",
        trust_remote_code=training_args.trust_remote_code,
    )


def tokenizer_of(processing_class):
    return getattr(processing_class, "tokenizer", processing_class)  # a multimodal processor holds one


def model_context_length(model_args: ModelConfig, training_args) -> int | None:
    """How many positions the model has (its text model's `max_position_embeddings`), or None where its config does
    not say."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )
    return getattr(config.get_text_config(), "max_position_embeddings", None)


def reward_maximum(reward_funcs: list, training_args, tokenizer) -> float | None:
    """The highest total reward a completion can get, where it is known: a recipe with one reward, weighted at least
    0, whose function declares its maximum as `maximum(tokenizer, max_completion_length)` (as `rewards.a_words`
    does). With several rewards the sum of their maxima need not be reachable by one completion, so it is None."""
    maximum = getattr(reward_funcs[0], "maximum", None) if len(reward_funcs) == 1 else None
    weight = training_args.reward_weights[0] if training_args.reward_weights else 1.0
    if maximum is None or weight < 0:
        return None
    return weight * maximum(tokenizer, training_args.max_completion_length)
