import os
import shutil
import tempfile

from hypothesis import settings

# The suite runs on the CPU; several tests need more than one device.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The CLI keeps its compiled programs in the user's cache directory by default: the
# suite's (in-process and child) commands keep theirs in a directory of their own.
_CACHE_HOME = tempfile.mkdtemp(prefix="gdjax-tests-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE_HOME

# Property tests draw the same examples on every machine and in every run: CI
# must pass every time, so no draw depends on chance or on a local .hypothesis/
# database of earlier failures (whose examples a clean clone would not replay).
settings.register_profile("gdjax", database=None, derandomize=True)
settings.load_profile("gdjax")


def pytest_unconfigure(config):
    # Removed when this pytest process (the controller, or an xdist worker) is done: an
    # atexit hook left one worker's directory behind after a full run.
    shutil.rmtree(_CACHE_HOME, ignore_errors=True)
