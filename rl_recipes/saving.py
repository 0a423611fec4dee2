"""Writing a model directory so that it is either complete or not there at all."""

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


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
