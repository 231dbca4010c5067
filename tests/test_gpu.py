"""CPU and CUDA give the same numbers: saliency maps within 1e-4, identical predictions.

Marked ``gpu``; skipped without CUDA.  Covers both routes through cuDNN: the closed-form local
Jacobian (forward only) and the through-time saliency (autograd through an LSTM in eval mode,
which cuDNN refuses unless it is switched off for that call: skelvis.saliency does that).
"""
from __future__ import annotations

import pytest
import torch

from skelvis.models import build_model, predict

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch.cuda.is_available() is False)")]

saliency = pytest.importorskip("skelvis.saliency")

N, T, J, C, H, K = 12, 40, 25, 3, 32, 5


def _model_and_data(cell="lstm", num_layers=2, seed=0):
    torch.manual_seed(seed)
    model = build_model({"input_size": J * C, "hidden_size": H, "num_classes": K, "cell": cell,
                         "num_layers": num_layers}).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(N, T, J, C, generator=g)
    length = torch.randint(T // 2, T + 1, (N,), generator=g)
    x[torch.arange(T)[None, :] >= length[:, None]] = 0.0
    return model, x, length


def _close(cpu: torch.Tensor, gpu: torch.Tensor, tol: float = 1e-4):
    """|cpu - gpu| <= tol, relative to the map's scale (float32 sums differ in the last bits)."""
    cpu, gpu = cpu.detach().double().cpu(), gpu.detach().double().cpu()
    scale = max(1.0, float(cpu.abs().max()))
    err = float((cpu - gpu).abs().max()) / scale
    assert err <= tol, f"CPU and CUDA differ by {err:.2e} (relative to max {scale:.3g})"
    return err


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_predictions_identical(cell):
    model, x, length = _model_and_data(cell)
    xf = x.flatten(2)
    cpu = predict(model, xf, length)
    gpu = predict(model.to("cuda"), xf.cuda(), length.cuda()).cpu()
    _close(cpu, gpu, 1e-5)
    assert torch.equal(cpu.argmax(1), gpu.argmax(1))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_local_jacobian_same_on_cuda(cell):
    model, x, length = _model_and_data(cell)
    cpu = saliency.local_jacobian(model, x, length)
    gpu = saliency.local_jacobian(model.to("cuda"), x.cuda(), length.cuda())
    assert gpu.shape == (N, T, H, J * C)
    _close(cpu, gpu)


@pytest.mark.parametrize("mode", ["local", "through_time"])
def test_class_sensitivity_same_on_cuda(mode):
    model, x, length = _model_and_data("lstm")
    classes = torch.arange(N) % K
    cpu = saliency.class_sensitivity(model, x, length, classes, mode=mode)
    gpu = saliency.class_sensitivity(model.to("cuda"), x.cuda(), length.cuda(), classes.cuda(), mode=mode)
    assert cpu.shape == gpu.shape == (N, T, J)
    assert float(cpu.abs().sum()) > 0
    _close(cpu, gpu)
    # the same joints stand out: the most sensitive joint per frame agrees where it is clear-cut
    top_c, top_g = cpu.argmax(-1), gpu.cpu().argmax(-1)
    assert float((top_c == top_g).double().mean()) > 0.99


def test_through_time_needs_no_train_mode():
    """The model stays in eval mode (no dropout) and its mode is not changed by the call."""
    model, x, length = _model_and_data("lstm")
    model = model.to("cuda").eval()
    saliency.class_sensitivity(model, x.cuda(), length.cuda(), 0, mode="through_time")
    assert not model.training
