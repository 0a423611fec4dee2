"""Runs a recipe script as `accelerate launch RECIPE ARGS` would, with one callback added to its trainer.

    accelerate launch ... tests/scale_probe.py recipes/rloo.py ARGS

At the start and at the end of training each process appends a line to $SCALE_PROBE_LOG: its rank,
the engine it trains under (DDP, DeepSpeed and its ZeRO stage), how much of the model's largest weight
it holds, and the REINFORCE moving-average baseline it uses. The recipe itself runs unchanged.
"""

import json
import os
import runpy
import sys

from transformers import TrainerCallback

import rl_recipes.runner.lifecycle as lifecycle


class ScaleProbe(TrainerCallback):
    def __init__(self, trainer):
        self.trainer = trainer

    def record(self, when: str) -> None:
        accelerator = self.trainer.accelerator
        plugin = accelerator.state.deepspeed_plugin
        name, weight = max(
            self.trainer.model.named_parameters(), key=lambda item: getattr(item[1], "ds_numel", item[1].numel())
        )
        moving_average = getattr(self.trainer, "moving_average", None)
        record = {
            "when": when,
            "rank": accelerator.process_index,
            "processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type).split(".")[-1],
            "zero_stage": plugin.zero_stage if plugin else None,
            "weight": name,
            "weight_numel": getattr(weight, "ds_numel", weight.numel()),
            "weight_held": weight.ds_tensor.numel() if hasattr(weight, "ds_tensor") else weight.numel(),
            "baseline": moving_average.value if moving_average else None,
        }
        with open(os.environ["SCALE_PROBE_LOG"], "a") as log:
            log.write(json.dumps(record) + "\n")

    def on_train_begin(self, args, state, control, **kwargs):
        self.record("begin")

    def on_train_end(self, args, state, control, **kwargs):
        self.record("end")


build_trainer = lifecycle.build_trainer


def build_probed_trainer(*args, **kwargs):
    trainer = build_trainer(*args, **kwargs)
    trainer.add_callback(ScaleProbe(trainer))
    return trainer


lifecycle.build_trainer = build_probed_trainer  # the name the recipes' `main` builds its trainer through
recipe = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(recipe, run_name="__main__")
