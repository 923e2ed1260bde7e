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


def check_invariants(attack, model, x, y, train_mode):
    """What every attack promises: x untouched, within eps, inside [0, 1], the model's mode,
    BN statistics and parameter gradients as they were, a detached output, same seed same
    output. Returns x_adv."""
    model.train(train_mode)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_copy = x.clone()
    x_adv = attack(model, x, y)
    assert torch.equal(x, x_copy)                                    # input untouched
    assert (x_adv - x).abs().max().item() <= attack.eps + 1e-6       # within eps
    assert x_adv.min().item() >= 0 and x_adv.max().item() <= 1       # inside [0, 1]
    assert model.training is train_mode                              # mode restored
    for k, v in model.state_dict().items():                          # BN statistics untouched
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters())           # no parameter gradients
    assert not x_adv.requires_grad
    assert torch.equal(attack(model, x, y), x_adv)                   # same seed, same output
    return x_adv
