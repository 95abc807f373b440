import os
import shutil
import tempfile

from hypothesis import settings

# The suite runs on the CPU; several tests need more than one device.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The suite is compile-bound, and two XLA flags make compiling cheaper: LLVM -O0, and
# XLA's older LLVM fusion emitters instead of its default MLIR ones (which compile some
# programs faster, others slower: with -O0 they are faster on the whole). The whole suite
# on 2 workers, summed test time and wall: 2,834 s, 24 min 24 s with XLA's defaults (the
# session before); 1,595 s, 14 min 3 s at -O0; 1,589 s, 14 min 0 s with the older emitters;
# 999 s, 8 min 50 s with both. The arithmetic is IEEE either way, but two different programs may
# round differently here where they agree as XLA compiles by default: a test that claims
# two programs agree bit for bit, or to a few roundings, compiles them with
# `tests.helpers.DEFAULT_COMPILER`. Child processes inherit the flags
# (`tests.helpers.start_python` keeps them with the device count).
COMPILER_FLAGS = {"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"}
for _name, _value in COMPILER_FLAGS.items():
    if _name not in os.environ.get("XLA_FLAGS", ""):  # unless the user sets it
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{_name}={_value}".strip()

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
