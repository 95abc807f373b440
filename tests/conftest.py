import os

# The suite runs on the CPU; several tests need more than one device.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
