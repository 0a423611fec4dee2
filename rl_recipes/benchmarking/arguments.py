"""The benchmark's command line: `BenchmarkArguments` (every flag of `scripts/benchmark.py`), what `--quick` sets,
the checks that need no model, and `BenchmarkError`, a benchmark that cannot run as asked (one `error:` line)."""

from dataclasses import dataclass, field, replace

from rl_recipes.tiny_models.story_model import DEFAULT_TINY_MODEL_DIR
from rl_recipes.tiny_models.tool_model import DEFAULT_TOOL_MODEL_DIR

# The launch setups of --launch_memory, by key; `launch_memory.LAUNCH_SETUPS` holds how each is launched.
LAUNCH_SETUP_KEYS = ("single", "ddp", "zero2", "zero3")


class BenchmarkError(Exception):
    """A benchmark that cannot run as asked; `scripts/benchmark.py` prints it as one `error:` line."""


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(
        default=str(DEFAULT_TINY_MODEL_DIR), metadata={"help": "Model directory or Hub id."}
    )
    generations_per_step: int = field(
        default=10, metadata={"help": "Generations per step (RLOO: one prompt x generations_per_step)."}
    )
    completion_length: int = field(default=100, metadata={"help": "Tokens per completion (max_completion_length)."})
    dtype: str = field(default="float32", metadata={"help": "float32 or bfloat16."})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda."})
    steps: int = field(default=10, metadata={"help": "Timed steps per contender."})
    warmup_steps: int = field(default=2, metadata={"help": "Untimed steps first."})
    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter (r=16, all linear layers)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in backward."})
    time_to_reward: bool = field(
        default=True, metadata={"help": "Also time the default RLOO recipe to the reward target."}
    )
    time_to_reward_seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2],
        metadata={"help": "Seeds of the default RLOO recipe's runs to the reward target; the median is reported."},
    )
    reward_target: float = field(default=0.9, metadata={"help": "Fraction of the maximum a-word reward to reach."})
    quick: bool = field(
        default=False,
        metadata={
            "help": "A smoke test: 2 timed steps, 1 warm-up, 20-token completions, one "
            "time-to-reward seed, a small cost-growth grid (QUICK_SETTINGS); flags given "
            "win."
        },
    )
    json_path: str = field(default="outputs/benchmark.json", metadata={"help": "Where to write the numbers."})
    launch_memory: bool = field(
        default=False,
        metadata={"help": "Memory and speed per process under each launch setup: 1 process, DDP, ZeRO-2 and ZeRO-3."},
    )
    launch_memory_contenders: list[str] = field(
        default_factory=lambda: list(LAUNCH_SETUP_KEYS), metadata={"help": f"Of {', '.join(LAUNCH_SETUP_KEYS)}."}
    )
    launch_memory_hidden_size: int = field(default=512, metadata={"help": "Hidden size of the launch-memory model."})
    launch_memory_layers: int = field(default=8, metadata={"help": "Decoder layers of the launch-memory model."})
    cost_growth: bool = field(
        default=False,
        metadata={"help": "How a step's cost grows with model size, completion length and generations per step."},
    )
    cost_growth_models: list[str] = field(
        default_factory=lambda: ["128x4", "256x9", "384x16"],
        metadata={"help": "Model sizes of the cost-growth mode, HIDDENxLAYERS (about 1M, 8M and 30M parameters)."},
    )
    cost_growth_lengths: list[int] = field(
        default_factory=lambda: [100, 200, 400], metadata={"help": "Completion lengths of the cost-growth mode."}
    )
    cost_growth_generations: list[int] = field(
        default_factory=lambda: [10, 40], metadata={"help": "Generations per step of the cost-growth mode."}
    )
    generation_options: bool = field(
        default=False, metadata={"help": "Time the RLOO recipe with each generation option against its own setting."}
    )
    agent: bool = field(default=False, metadata={"help": "Time agent rollouts against single-turn generation."})
    agent_model: str = field(
        default=str(DEFAULT_TOOL_MODEL_DIR), metadata={"help": "Model of the agent mode (a tool-using one)."}
    )
    agent_batch: int = field(default=64, metadata={"help": "Rollouts per batch in the agent mode (8 tasks x 8)."})
    tool_latency: float = field(
        default=0.0,
        metadata={
            "help": "Agent mode: seconds every tool call takes (a sleep before the tool runs, as an HTTP API "
            "waits). Above 0, it also times our agent trainer with tools that slow and TRL's "
            "GRPOTrainer loop with the same slow tools, on the same tasks and seed; keep it under the "
            "recipe's tool_call_timeout (10 s). 0: the agent rollouts alone."
        },
    )
    max_parallel_tool_calls: int = field(
        default=0,
        metadata={
            "help": "Agent mode: our agent trainer's max_parallel_tool_calls, where its config has that "
            "setting (TRL's GRPOTrainer has none). 0: the recipe's own."
        },
    )


# What --quick sets, where the command line left the default.
QUICK_SETTINGS = dict(
    steps=2,
    warmup_steps=1,
    completion_length=20,
    time_to_reward_seeds=[0],
    cost_growth_models=["64x1", "64x2"],
    cost_growth_lengths=[10, 20],
    cost_growth_generations=[2, 4],
)


def quick_settings(args: BenchmarkArguments) -> BenchmarkArguments:
    defaults = BenchmarkArguments()
    return replace(
        args, **{key: value for key, value in QUICK_SETTINGS.items() if getattr(args, key) == getattr(defaults, key)}
    )


def check_arguments(args: BenchmarkArguments) -> None:
    """The checks that need no model: one mode at a time, and settings each mode can run with."""
    if args.generations_per_step < 2:
        raise BenchmarkError("--generations_per_step must be at least 2 (RLOO needs two generations per prompt).")
    if args.launch_memory + args.cost_growth + args.generation_options + args.agent > 1:
        raise BenchmarkError(
            "--launch_memory, --cost_growth, --generation_options and --agent are separate runs: set "
            "one of them to true."
        )
    if (args.tool_latency or args.max_parallel_tool_calls) and not args.agent:
        raise BenchmarkError("--tool_latency and --max_parallel_tool_calls belong to the agent mode: add --agent true.")
    if args.tool_latency < 0 or args.max_parallel_tool_calls < 0:
        raise BenchmarkError(
            "--tool_latency and --max_parallel_tool_calls cannot be negative (0: the recipe as it is)."
        )
