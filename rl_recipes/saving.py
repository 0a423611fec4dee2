"""What the recipes and scripts write: JSON that standard readers accept, and model directories that are either
complete or not there at all."""

import json
import math
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def strict_json(value, **kwargs) -> str:
    """`value` as JSON that every standard reader accepts: NaN and infinities, which JSON has no number for (Python
    would write the bare tokens `NaN` and `Infinity`), become null, which is what they mean here: no value. A value
    JSON has no type for (a date in a tool's result rows, say) is written as its `str`."""
    return json.dumps(_finite_or_none(value), allow_nan=False, **{"default": str, **kwargs})


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    return value


@contextmanager
def model_dir_written_whole(output_dir: Path):
    """Yield a scratch directory beside `output_dir`; what the block saves in `<scratch>/model` then replaces
    `output_dir`. An interrupted write never leaves a half-written model that later runs would take as
    finished, nor one mixed with an old directory's files."""
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    try:
        yield scratch
        if output_dir.exists():
            shutil.rmtree(output_dir)
        (scratch / "model").rename(output_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
