"""Build the embedded tool-using model: synthetic transcripts of the calculator and vault tasks, a tokenizer with a
tool-calling chat template, Llama pretraining.

    python scripts/build_tool_model.py [--output_dir models/tiny-tools] [--tool_share 0.2] [--max_steps 3000] ...

Recipes whose model path is `models/tiny-tools` run this by themselves when the model is missing; run it by hand
to rebuild, or to build a variant elsewhere (`--help` lists every setting and its default). A model that does not
copy the numbers it needs reliably enough (`--min_copy_probability`) is not saved, and the build exits with one
line naming the weak copy. See `rl_recipes/tiny_models/tool_model.py`.
"""

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from rl_recipes.console import quiet_library_warnings
from rl_recipes.tiny_models.tool_model import DEFAULT_TOOL_MODEL_DIR, ToolModelSpec, build_tool_model
from rl_recipes.tiny_models.transcript_tokens import ToolModelTooWeak


@dataclass
class BuildArguments:
    output_dir: str = field(
        default=str(DEFAULT_TOOL_MODEL_DIR), metadata={"help": "Where to save model and tokenizer."}
    )


def main() -> None:
    build_args, spec = HfArgumentParser((BuildArguments, ToolModelSpec)).parse_args_into_dataclasses()
    quiet_library_warnings()
    try:
        path = build_tool_model(build_args.output_dir, spec)
    except ToolModelTooWeak as error:
        sys.exit(f"error: {error}")
    print(f"Tiny tool-using model saved to {path}")


if __name__ == "__main__":
    main()
