"""The compact CNN (PyTorch; training only — the edge runs the exported ONNX)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CellNet(nn.Module):
    """(N, 1, 160, 160) -> class-activation maps (N, C, 10, 10); logits are their spatial mean.

    Full resolution in the first layer keeps 1-2 px cracks; the CAM gives the rework page a
    defect location without a detection head.
    """

    def __init__(self, n_classes: int, width: tuple[int, int, int, int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        c1, c2, c3, c4 = width
        self.features = nn.Sequential(_block(1, c1), _block(c1, c2), _block(c2, c3), _block(c3, c4))
        self.dropout = nn.Dropout2d(0.1)
        self.cam = nn.Conv2d(c4, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps (N, C, h, w)."""
        return self.cam(self.dropout(self.features(x)))

    @staticmethod
    def logits(cam: torch.Tensor) -> torch.Tensor:
        """(N, C) logits from the maps."""
        return cam.mean(dim=(2, 3))


class ExportWrapper(nn.Module):
    """What goes into ONNX: probabilities and a [0,1] defect heat map per cell."""

    def __init__(self, net: CellNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cam = self.net(x)
        probs = torch.softmax(CellNet.logits(cam), dim=1)
        heat = torch.relu(cam[:, 1:].amax(dim=1) - cam[:, 0])
        heat = heat / (heat.amax(dim=(1, 2), keepdim=True) + 1e-6)
        return probs, heat
