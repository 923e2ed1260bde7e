"""Small random models and inputs shared by the attack tests."""
import torch

from rethinkmmc import mm_centers
from rethinkmmc.losses import make_head
from rethinkmmc.models import Classifier, SmallCNN


def random_model(head_kind, seed=0):
    """An untrained digits-sized classifier with a linear ("sce") or MM-center ("mmc") head."""
    torch.manual_seed(seed)
    head = make_head(head_kind, 16, 10, mm_centers(10, 16) if head_kind == "mmc" else None)
    return Classifier(SmallCNN(1, feat_dim=16, width=8), head)


def random_inputs(n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()
