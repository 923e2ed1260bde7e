"""Root pytest configuration: applies to tests/ and to nbval over notebooks/."""
import os

# Kernels started by nbval inherit this: OpenMP threads wait passively instead of spinning,
# which keeps the smoke profile's 2 pinned threads from starving each other on a busy machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# nbval re-executes the committed notebooks against the committed smoke store (runs/smoke, with
# its stored evaluations), which is what makes their outputs the same on any CPU
# (notebooks/README.md). A store set for the user's own work must not redirect them to retrain.
os.environ.pop("RETHINKMMC_RUNS", None)
os.environ.pop("RETHINKMMC_VERDICTS", None)  # and the verdict records go to reports/smoke/
