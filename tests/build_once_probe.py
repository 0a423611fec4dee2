"""Run under a multi-process launch, or as several processes at once (machines sharing a checkout): asks every
process for the default model, with the build faked.

The fake build takes a second and appends a line to $BUILD_LOG, so the test can count builds.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from accelerate import PartialState

import rl_recipes.embedded as embedded

# In a recipe the parsed training arguments have set up the process group by now; do the same.
PartialState(cpu=True)

target = Path(sys.argv[1]).resolve()
embedded.EMBEDDED_MODELS = [embedded.EmbeddedModel(target, "build_tiny_model.py", "tiny story model", "a second")]


def fake_build(command, env):
    time.sleep(1)
    target.mkdir(parents=True, exist_ok=True)
    (target / "config.json").write_text("{}")
    (target / "tokenizer.json").write_text("{}")
    with open(os.environ["BUILD_LOG"], "a") as log:
        log.write(json.dumps({"rank": os.environ.get("RANK", "0"), "launcher_vars_left": "RANK" in env}) + "\n")
    return subprocess.CompletedProcess(command, 0)


embedded.subprocess.run = fake_build
embedded.ensure_embedded_model(str(target))
assert embedded.is_built(target)
