"""Dynamic int8 quantisation of a VisionTransformer's block GEMMs: the math of InferenceModel's
quantize 'int8' (include/vit/inference.h, src/engine/onednn.cpp), written independently of it.

Each block Linear (attn.qkv, attn.proj, mlp.fc1, mlp.fc2) becomes
    y = (qx . qw^T) * sx * sw + bias
where the weight is quantised once per output channel, sw[c] = max |w[c, :]| / 127, qw = round(w / sw),
and the input per token (row), sx[r] = max |x[r, :]| / 127, qx = round(x / sx) (round half to even;
a zero row or channel gets scale 1). The integer products are summed exactly (float64 holds them).
Everything else (LayerNorm, attention, the residual stream, embedding and head) stays float32.
"""
import torch
from torch import nn


def quantize_rows(x):
    """Symmetric int8 per row of the last dimension: (q, scale) with x ~ q * scale."""
    amax = x.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    return torch.round(x / scale), scale


def int8_linear(x, weight, bias):
    qw, sw = quantize_rows(weight)           # (out, in), (out, 1)
    qx, sx = quantize_rows(x)                # (..., in), (..., 1)
    acc = (qx.double() @ qw.double().t()).float()  # exact: |sum| < 2^53
    y = acc * sx * sw.view(-1)
    return y + bias if bias is not None else y


class Int8Linear(nn.Module):
    def __init__(self, linear):
        super().__init__()
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x):
        return int8_linear(x, self.weight, self.bias)


def quantize_blocks(model):
    """Replaces the block Linears of a reference VisionTransformer (pre-norm Attention/Mlp blocks) in place."""
    for block in model.blocks:
        for parent, name in ((block.attn, "qkv"), (block.attn, "proj"), (block.mlp, "fc1"), (block.mlp, "fc2")):
            layer = getattr(parent, name)
            if isinstance(layer, nn.Linear):
                setattr(parent, name, Int8Linear(layer))
    return model
