"""The evaluation's command line: its arguments, their checks, and paths read from the user's directory."""

from dataclasses import dataclass, field
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.checks import RecipeError, check_reward_weights, looks_like_local_path, parse_reward_kwargs

DEFAULT_PROMPTS = REPO_ROOT / "recipes" / "configs" / "a_words" / "prompts.jsonl"


@dataclass
class EvaluateArguments:
    models: list[str] = field(
        metadata={
            "help": "Models to compare, the baseline first: model directories, LoRA output directories or Hub ids."
        }
    )
    dataset_name: str = field(
        default=str(DEFAULT_PROMPTS),
        metadata={
            "help": "Prompts: a Hub data set, a local data set directory or a .jsonl/.json/.csv/.parquet/.txt file."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration of a Hub data set."})
    dataset_split: str = field(
        default="test",
        metadata={"help": "Split of a Hub data set or of a local data set directory (a local file is read whole)."},
    )
    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the prompts."})
    conversational: bool = field(
        default=False,
        metadata={"help": "Send text prompts as a user message through the chat template, as in the recipes."},
    )
    system_prompt: str | None = field(
        default=None,
        metadata={"help": "A system message before every prompt (implies conversational), as in the recipes."},
    )
    max_prompts: int | None = field(default=None, metadata={"help": "Evaluate on the first N prompts only."})
    num_samples: int = field(default=4, metadata={"help": "Completions sampled per prompt and model."})
    pass_at_k: list[int] = field(
        default_factory=list,
        metadata={
            "help": "Report pass@k for each k given (at most --num_samples): the chance that at least one of k "
            "completions of a prompt succeeds, estimated without bias from the --num_samples drawn (Chen et al., "
            "2021); pass@1 is the success rate."
        },
    )
    success_reward: float = field(
        default=1.0, metadata={"help": "A completion succeeds, for pass@k, when its total reward is at least this."}
    )
    max_completion_length: int = field(default=100, metadata={"help": "Most tokens per completion."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    seed: int = field(default=0, metadata={"help": "Seed of every model's sampling."})
    batch_size: int = field(default=32, metadata={"help": "Completions generated at once."})
    device: str = field(default="auto", metadata={"help": "Where to generate.", "choices": ["auto", "cpu", "cuda"]})
    dtype: str = field(
        default="float32",
        metadata={
            "help": "dtype to load the models in; 'auto' keeps each checkpoint's.",
            "choices": ["auto", "float32", "bfloat16", "float16"],
        },
    )
    reward_funcs: list[str] | None = field(
        default=None,
        metadata={
            "help": "Rewards: names from the `rewards` registry or dotted paths package.module.function. Default: "
            "a_words, or none with an environment_factory (its get_reward scores)."
        },
    )
    reward_kwargs: str | None = field(
        default=None,
        metadata={"help": 'Settings of the rewards by reward name, as JSON: \'{"format": {"pattern": "^<a>"}}\'.'},
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per reward for the total; default: all 1, as in the trainers."}
    )
    output_json: str | None = field(default=None, metadata={"help": "Write the settings and numbers here."})
    output_completions: str | None = field(
        default=None,
        metadata={"help": "Write every completion with its model, prompt, length and rewards here (jsonl)."},
    )
    overwrite_outputs: bool = field(
        default=False, metadata={"help": "Allow --output_json/--output_completions to replace files."}
    )
    tools: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Tools the models may call, as in the recipes: shipped names (add, subtract, multiply) or dotted paths."
        },
    )
    environment_factory: str | None = field(
        default=None,
        metadata={"help": "Dotted path of an environment class, as in the recipes (its get_reward scores)."},
    )
    max_tool_calling_iterations: int | None = field(
        default=None, metadata={"help": "Most rounds of tool calls a rollout makes."}
    )
    tool_call_timeout: float = field(default=10.0, metadata={"help": "Seconds a tool call may take; 0: no limit."})
    max_parallel_tool_calls: int = field(
        default=64,
        metadata={
            "help": "Most tool calls running at once, as in the recipes (1 with tool_call_timeout 0: "
            "in the main thread, one after another)."
        },
    )


def check_arguments(args: EvaluateArguments) -> None:
    if args.reward_funcs is None:
        args.reward_funcs = [] if args.environment_factory else ["a_words"]
    for key in ("num_samples", "max_completion_length", "batch_size", "max_parallel_tool_calls"):
        if getattr(args, key) <= 0:
            raise RecipeError(f"{key} is {getattr(args, key)}: set it to a positive number.")
    for k in args.pass_at_k:
        if not 1 <= k <= args.num_samples:
            raise RecipeError(
                f"--pass_at_k {k} needs k between 1 and --num_samples ({args.num_samples}): draw at least k samples."
            )
    if args.max_prompts is not None and args.max_prompts <= 0:
        raise RecipeError(f"max_prompts is {args.max_prompts}: set it to a positive number, or leave it out for all.")
    if args.temperature <= 0:
        raise RecipeError(f"temperature is {args.temperature}: sampling needs a positive temperature.")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RecipeError("--device cuda, but no CUDA device is available: use --device cpu or auto.")
    args.reward_kwargs = parse_reward_kwargs(args.reward_kwargs)
    check_reward_weights(args.reward_funcs, args.reward_weights)
    for output in (args.output_json, args.output_completions):
        if output and Path(output).exists() and not args.overwrite_outputs:
            raise RecipeError(f"{output} already exists: pass another path, or --overwrite_outputs true to replace it.")


def resolved_if_local(name: str) -> str:
    """A local path made absolute against the working directory; a Hub id as it is."""
    return (
        str(Path(name).expanduser().resolve())
        if Path(name).expanduser().exists() or looks_like_local_path(name)
        else name
    )


def resolve_user_paths(args: EvaluateArguments) -> list[str]:
    """The models' names as given (for the table); the paths in `args` made absolute.

    Paths are the user's, from their working directory: the evaluation moves to the repository root
    before it loads anything (`pipeline.prepare`)."""
    names = list(args.models)
    args.models = [resolved_if_local(m) for m in args.models]
    if args.dataset_name:
        args.dataset_name = resolved_if_local(args.dataset_name)
    for key in ("output_json", "output_completions"):
        if getattr(args, key):
            setattr(args, key, str(Path(getattr(args, key)).resolve()))
    return names
