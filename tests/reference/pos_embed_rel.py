"""Reference PyTorch implementation of timm's relative-position attention biases (timm.layers.pos_embed_rel):
the offset index of a window (gen_relative_position_index), RelPosBias (a learned table per offset, Swin v1 /
BEiT) and RelPosMlp (an MLP of log-spaced offsets, Swin v2 style: modes 'cr' and 'swin'). Each gives an
additive bias (heads, N, N) on the attention logits of a fixed window of h*w patches (row-major) plus at
most one prefix token in front (N = h*w + prefix_tokens). Used by vision_transformer.py (rel_pos_type) and
eva.py (BEiT's use_rel_pos_bias / use_shared_rel_pos_bias).
Written for vitcpp's tests; C++ counterpart: include/vit/pos_embed_rel.h.

Index: patch p = (i, j), q = (k, l) -> (i - k + h - 1) * (2w - 1) + (j - l + w - 1), in [0, (2h-1)(2w-1)).
With a class token (token 0), base = (2h-1)(2w-1): row 0 (class -> any token) is base, column 0 (any
token -> class) base + 1, and [0, 0] (class -> class) base + 2; the table then has base + 3 rows. BEiT's
own gen_relative_position_index gives the same indices.
RelPosMlp: coordinates d = (dy, dx) for dy in -(h-1)..h-1, dx in -(w-1)..w-1 (the (2h-1, 2w-1) grid,
row-major, so row r of the flattened grid is offset index r); 'cr': sign(d) ln(1 + |d|); 'swin':
d / (win - 1) * 8 per axis, then sign(d) log2(1 + |d|) / log2(8). mlp = fc1 (2 -> hidden, bias), ReLU,
dropout 0.125 (training only), fc2 (hidden -> heads; no bias in 'swin'); bias = mlp(coords)[index]
(heads, h*w, h*w); 'swin' then 16 * sigmoid(.); a prefix token gets zero rows / columns in front."""
import math

import torch
import torch.nn.functional as F
from torch import nn

REL_POS_MODES = ("cr", "swin")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def relative_position_index(window, class_token=False):
    """(N, N) int64 rows of the table for every (query, key) token pair of a (h, w) window,
    N = h*w (+ 1 with class_token, the class token first)."""
    h, w = (int(s) for s in _pair(window))
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    rows, cols = rows.flatten(), cols.flatten()
    dy = rows[:, None] - rows[None, :] + (h - 1)
    dx = cols[:, None] - cols[None, :] + (w - 1)
    index = dy * (2 * w - 1) + dx
    if class_token:
        base = (2 * h - 1) * (2 * w - 1)
        index = F.pad(index, [1, 0, 1, 0])
        index[0, :] = base
        index[:, 0] = base + 1
        index[0, 0] = base + 2
    return index.contiguous()


def relative_position_table_size(window, class_token=False):
    h, w = (int(s) for s in _pair(window))
    return (2 * h - 1) * (2 * w - 1) + (3 if class_token else 0)


def relative_position_bias(table, window, class_token=False):
    """The bias (heads, N, N) a table (entries, heads) gives a (h, w) window."""
    index = relative_position_index(window, class_token)
    n = index.shape[0]
    return table[index.view(-1)].view(n, n, -1).permute(2, 0, 1).contiguous()


def relative_log_coords(window, mode='cr'):
    """(2h-1, 2w-1, 2) float32 log-spaced offsets (dy, dx) of a (h, w) window (timm's
    gen_relative_log_coords without a pretrained window)."""
    assert mode in REL_POS_MODES, f"unknown RelPosMlp mode {mode!r} (expected one of {REL_POS_MODES})"
    h, w = (int(s) for s in _pair(window))
    dy = torch.arange(-(h - 1), h).to(torch.float32)
    dx = torch.arange(-(w - 1), w).to(torch.float32)
    coords = torch.stack(torch.meshgrid(dy, dx, indexing='ij'), dim=-1)  # (2h-1, 2w-1, 2)
    if mode == 'swin':
        coords[..., 0] /= (h - 1)
        coords[..., 1] /= (w - 1)
        coords *= 8
        return torch.sign(coords) * torch.log2(1.0 + coords.abs()) / math.log2(8)
    return torch.sign(coords) * torch.log(1.0 + coords.abs())


class RelPosBias(nn.Module):
    """timm's RelPosBias: parameter relative_position_bias_table ((2h-1)(2w-1) + 3*prefix_tokens, heads),
    trunc_normal(std .02) at init; get_bias() -> (heads, N, N), N = h*w + prefix_tokens."""

    def __init__(self, window_size, num_heads, prefix_tokens=0):
        super().__init__()
        assert prefix_tokens in (0, 1), f"RelPosBias supports at most one prefix token, got {prefix_tokens}"
        self.window_size = tuple(int(s) for s in _pair(window_size))
        self.prefix_tokens = prefix_tokens
        self.relative_position_bias_table = nn.Parameter(
            torch.empty(relative_position_table_size(self.window_size, prefix_tokens > 0), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=.02)

    def get_bias(self):
        return relative_position_bias(self.relative_position_bias_table, self.window_size, self.prefix_tokens > 0)

    def forward(self):
        return self.get_bias()


class _LogCoordsMlp(nn.Module):
    """timm's Mlp as RelPosMlp builds it: fc1 (2 -> hidden, bias), ReLU, drop1 Dropout(0.125), fc2
    (hidden -> heads, bias fc2_bias)."""

    def __init__(self, hidden_dim, num_heads, fc2_bias=True):
        super().__init__()
        self.fc1 = nn.Linear(2, hidden_dim)
        self.act = nn.ReLU()
        self.drop1 = nn.Dropout(0.125)
        self.fc2 = nn.Linear(hidden_dim, num_heads, bias=fc2_bias)

    def forward(self, x):
        return self.fc2(self.drop1(self.act(self.fc1(x))))


class RelPosMlp(nn.Module):
    """timm's RelPosMlp (no pretrained window): submodule mlp (fc1, ReLU, drop1 = Dropout(0.125), fc2; fc2
    without bias in mode 'swin'), get_bias() -> (heads, N, N), N = h*w + prefix_tokens (zero bias for the
    prefix token); 'swin' maps the bias through 16 * sigmoid and needs a window of at least 2 x 2."""

    def __init__(self, window_size, num_heads, hidden_dim=128, prefix_tokens=0, mode='cr'):
        super().__init__()
        assert mode in REL_POS_MODES, f"unknown RelPosMlp mode {mode!r} (expected one of {REL_POS_MODES})"
        assert prefix_tokens in (0, 1), f"RelPosMlp supports at most one prefix token, got {prefix_tokens}"
        self.window_size = tuple(int(s) for s in _pair(window_size))
        if mode == 'swin' and min(self.window_size) < 2:
            raise ValueError(f"RelPosMlp 'swin' needs a window of at least 2x2, got {self.window_size}")
        self.num_heads = num_heads
        self.prefix_tokens = prefix_tokens
        self.mode = mode
        self.mlp = _LogCoordsMlp(hidden_dim, num_heads, fc2_bias=mode != 'swin')

    def get_bias(self):
        coords = relative_log_coords(self.window_size, self.mode).to(self.mlp.fc1.weight.dtype)
        table = self.mlp(coords).reshape(-1, self.num_heads)  # ((2h-1)(2w-1), heads)
        bias = relative_position_bias(table, self.window_size, class_token=False)
        if self.mode == 'swin':
            bias = 16 * torch.sigmoid(bias)
        if self.prefix_tokens:
            bias = F.pad(bias, [self.prefix_tokens, 0, self.prefix_tokens, 0])
        return bias.contiguous()

    def forward(self):
        return self.get_bias()


REL_POS_TYPES = ("", "bias", "mlp", "mlp_swin")


def make_rel_pos(rel_pos_type, window_size, num_heads, prefix_tokens=0, rel_pos_dim=None):
    """The module of a VisionTransformer rel_pos_type: 'bias' RelPosBias, 'mlp' RelPosMlp 'cr', 'mlp_swin'
    RelPosMlp 'swin' (hidden width rel_pos_dim, None: 128); '' None."""
    assert rel_pos_type in REL_POS_TYPES, f"unknown rel_pos_type {rel_pos_type!r} (expected one of {REL_POS_TYPES})"
    if not rel_pos_type:
        return None
    if rel_pos_type == 'bias':
        return RelPosBias(window_size, num_heads, prefix_tokens)
    return RelPosMlp(window_size, num_heads, rel_pos_dim or 128, prefix_tokens,
                     'swin' if rel_pos_type == 'mlp_swin' else 'cr')
