"""rethinkmmc: a reproducibility report of Pang et al., "Rethinking Softmax Cross-Entropy Loss
for Adversarial Robustness" (ICLR 2020), the Max-Mahalanobis Center (MMC) loss."""
__version__ = "0.1.0"

from .centers import hierarchical_centers, mm_centers, random_centers  # noqa: E402
from .config import TrainConfig  # noqa: E402
from .profiles import train_config  # noqa: E402
from .runs import Run, load_run  # noqa: E402
from .train import build_model, train  # noqa: E402

__all__ = ["mm_centers", "random_centers", "hierarchical_centers", "TrainConfig", "train_config",
           "train", "build_model", "Run", "load_run", "__version__"]
