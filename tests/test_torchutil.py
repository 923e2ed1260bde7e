"""The shared primitives: eval mode restored (also on error), batched prediction, one hardware
string."""
import pytest
import torch
import torch.nn as nn

from rethinkmmc.torchutil import accuracy, default_device, eval_mode, hardware, predict


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_the_mode_also_on_error(training):
    m = net().train(training)
    with eval_mode(m):
        assert not m.training and not m[1].training
    assert m.training == training
    with pytest.raises(RuntimeError), eval_mode(m):
        raise RuntimeError("boom")
    assert m.training == training


def test_predict_batches_match_one_pass_and_leave_bn_alone():
    m = net().train()
    x = torch.randn(37, 4)
    stats = m[1].running_mean.clone()
    want = m.eval()(x).argmax(1)
    m.train()
    for bs in (1, 5, 37, 100):
        assert torch.equal(predict(m, x, bs), want)
    assert torch.equal(m[1].running_mean, stats) and m.training
    assert predict(m, x[:0]).shape == (0,)
    y = want.clone()
    y[:10] = (y[:10] + 1) % 3
    assert accuracy(m, x, y, 7) == pytest.approx(27 / 37)
    assert accuracy(m, x[:0], y[:0]) == 0.0


def test_default_device_and_hardware():
    assert default_device("cpu") == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == want
    h = hardware("cpu")
    assert "CPU" in h and "cores" in h and f"{torch.get_num_threads()} threads" in h
