import os
import shutil
import tempfile

from hypothesis import settings

# The suite runs on the CPU; several tests need more than one device.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The suite is compile-bound: with LLVM's optimisation off, XLA compiles its CPU programs
# in about half the time (the whole suite: 2,834 s of test time at XLA's default level 3,
# 1,595 s at 0). The arithmetic is IEEE at either level, but two different programs may
# round differently at level 0 where they happen to agree at 3; a test that claims bit for
# bit equality of two programs compiles them with `tests.helpers.DEFAULT_COMPILER`. Child processes
# inherit the flag (`tests.helpers.start_python` keeps it when it sets the device count).
OPTIMISATION_FLAG = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {OPTIMISATION_FLAG}".strip()

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
