"""PyTorch export: a relucc network as an ``nn.Module`` with the ONNX model's float32 weights.

The weights are the float32 values the ONNX model stores (in float64 when requested, which is
the same values), and the modules apply the same affine maps in the same order. When the
certificate says ``float32_exact``, every value on the exact domain is computed without rounding,
so the outputs equal the ONNX model's bit for bit whatever order the kernels sum in.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from relucc.emit import float32_weights
from relucc.errors import UsageError
from relucc.network import Network

DTYPES = (torch.float32, torch.float64)


def _check_dtype(dtype) -> torch.dtype:
    dtype = torch.float32 if dtype is None else dtype
    if dtype not in DTYPES:
        raise UsageError(f"unsupported dtype {dtype}; expected torch.float32 or torch.float64")
    return dtype


def linear_layers(network: Network, dtype) -> list[nn.Module]:
    """Return Linear, ReLU, ..., Linear with the network's weights rounded to float32 as in ONNX."""
    dtype = _check_dtype(dtype)
    modules: list[nn.Module] = []
    for index, layer in enumerate(network.layers):
        weight, bias = float32_weights(layer)
        linear = nn.Linear(layer.shape[1], layer.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)).to(dtype))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)).to(dtype))
        modules.append(linear)
        if index < network.depth - 1:
            modules.append(nn.ReLU())
    return modules


def dense_module(network: Network, dtype=None) -> nn.Sequential:
    """Return the dense layout as ``nn.Sequential(Linear, ReLU, ..., Linear)``: [N, n] -> [N, outputs]."""
    return nn.Sequential(*linear_layers(network, dtype))


class LocalMLP(nn.Module):
    """The gather layout: y[:, l] = predicate(x[:, subsets[l]]) with one shared predicate network.

    ``forward`` takes [N, m] and returns [N, d]; ``subsets`` is a [d, k] buffer of input indices.
    """

    def __init__(self, predicate: nn.Sequential, subsets: np.ndarray, input_dim: int):
        super().__init__()
        self.predicate = predicate
        self.input_dim = int(input_dim)
        self.register_buffer("subsets", torch.as_tensor(np.asarray(subsets, dtype=np.int64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, arity = self.subsets.shape
        gathered = x.index_select(1, self.subsets.reshape(-1)).reshape(x.shape[0], outputs, arity)
        return self.predicate(gathered).squeeze(-1)


def local_module(predicate_network: Network, subsets: np.ndarray, input_dim: int, dtype=None) -> LocalMLP:
    """Return the gather layout as a ``LocalMLP`` whose predicate part is Linear and ReLU layers."""
    return LocalMLP(nn.Sequential(*linear_layers(predicate_network, dtype)), subsets, input_dim)
