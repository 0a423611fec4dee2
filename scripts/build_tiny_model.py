"""Build the embedded tiny story model: story corpus, byte-level BPE tokenizer, Llama pretraining.

    python scripts/build_tiny_model.py [--output_dir models/tiny-story] [--max_steps 300] ...

Recipes whose model path is the default (`models/tiny-story`) run this by themselves when the model
is missing; run it by hand to rebuild, or to build a variant elsewhere. See `rl_recipes/tiny_models/story_model.py`.
"""

from dataclasses import dataclass, field

from transformers import HfArgumentParser

from rl_recipes.console import quiet_library_warnings
from rl_recipes.tiny_models.story_model import DEFAULT_TINY_MODEL_DIR, TinyModelSpec, build_tiny_model


@dataclass
class BuildArguments:
    output_dir: str = field(
        default=str(DEFAULT_TINY_MODEL_DIR), metadata={"help": "Where to save model and tokenizer."}
    )


def main() -> None:
    build_args, spec = HfArgumentParser((BuildArguments, TinyModelSpec)).parse_args_into_dataclasses()
    quiet_library_warnings()  # the first default run builds the model: its output is the Quickstart's too
    path = build_tiny_model(build_args.output_dir, spec)
    print(f"Tiny story model saved to {path}")


if __name__ == "__main__":
    main()
