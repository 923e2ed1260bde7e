"""Root pytest configuration: applies to tests/ and to nbval over notebooks/."""
import os

# Kernels started by nbval inherit this: OpenMP threads wait passively instead of spinning,
# which keeps the smoke profile's 2 pinned threads from starving each other on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
