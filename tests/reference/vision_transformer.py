"""Reference PyTorch implementation of the timm Vision Transformer of timm 0.5.x: PatchEmbed,
Attention, Mlp, DropPath, Block, VisionTransformer with pre-logits and DeiT distillation, plus the
options of current timm (1.0.x): global_pool (with 'map' attention pooling, AttentionPoolLatent),
class_token, reg_tokens, no_embed_class, init_values (LayerScale), pre_norm, qk_norm, final_norm,
fc_norm, pool_include_prefix, dynamic_img_size, dynamic_img_pad, pos_embed ('learn' | 'none'),
norm_layer (LayerNorm | RmsNorm) and its eps, embed_norm_layer, act_layer (gelu | gelu_tanh |
quick_gelu | silu), mlp_layer (Mlp | GluMlp | SwiGLU | packed SwiGLU), attn_layer (Attention |
DiffAttention), block_fn (Block | ResPostBlock | ParallelScalingBlock | DiffParallelScalingBlock |
ParallelThingsBlock), proj_bias, scale_attn_norm, scale_mlp_norm; the relative-position biases of timm's
VisionTransformerRelPos (rel_pos_type, rel_pos_dim, shared_rel_pos: pos_embed_rel.py); and
forward_intermediates, prune_intermediate_layers and attention_maps.
Layers are named by strings (the JSON option names of the C++ side), never by classes.
Written for vitcpp's tests; C++ counterpart: include/vit/vision_transformer.h.
Construction order follows timm 0.5.x's __init__ so seeded builds draw the same random numbers; the
later options add their modules where current timm registers them, so state_dict keys and their
order are timm's (one exception: a distilled model orders cls_token, dist_token, pos_embed, where
timm's VisionTransformerDistilled has cls_token, pos_embed, dist_token)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from pos_embed_rel import REL_POS_TYPES, make_rel_pos


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ---- norms and activations, named by strings ------------------------------------------------------

NORM_LAYERS = ("layernorm", "rmsnorm")
ACT_LAYERS = ("gelu", "gelu_tanh", "quick_gelu", "silu", "sigmoid")
MLP_LAYERS = ("mlp", "glu", "swiglu", "swiglu_packed")
ATTN_LAYERS = ("attn", "diff")


class RmsNorm(nn.Module):
    """timm.layers.RmsNorm: x / sqrt(mean(x^2 over the last dim) + eps) * weight (no bias)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind, dim, eps):
    """A norm over the last dim: "layernorm" (weight, bias) or "rmsnorm" (weight)."""
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    if kind == "rmsnorm":
        return RmsNorm(dim, eps=eps)
    raise ValueError(f"unknown norm_layer {kind!r} (expected one of {NORM_LAYERS})")


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), OpenAI CLIP's approximation of GELU."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


def make_act(name):
    if name == "gelu":
        return nn.GELU()
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if name == "quick_gelu":
        return QuickGELU()
    if name == "silu":
        return nn.SiLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown act_layer {name!r} (expected one of {ACT_LAYERS})")


def feature_take_indices(num_features, indices=None):
    """Which of num_features outputs to take: None = all, int n = the last n, a list = those indices
    (negative ones count from the end). Returns (ascending-as-given absolute indices, their max)."""
    if indices is None:
        indices = num_features
    if isinstance(indices, int):
        assert 0 < indices <= num_features, f"last-n ({indices}) is out of range (1 to {num_features})"
        take = list(range(num_features - indices, num_features))
    else:
        take = []
        for i in indices:
            idx = num_features + i if i < 0 else i
            assert 0 <= idx < num_features, f"feature index {idx} is out of range (0 to {num_features - 1})"
            take.append(idx)
    return take, max(take)


def format_intermediates(intermediates, num_prefix_tokens, output_fmt, grid, return_prefix_tokens):
    """forward_intermediates' outputs from the blocks' token sequences (B, N, D): prefix tokens split
    off; output_fmt "NCHW" (B, D, h, w) for the patch grid `grid` (h, w) or "NLC" (B, h*w, D); with
    return_prefix_tokens, (spatial, prefix (B, num_prefix_tokens, D)) pairs when there are prefix tokens."""
    npt = num_prefix_tokens
    prefix = [y[:, :npt] for y in intermediates] if npt else None
    intermediates = [y[:, npt:] for y in intermediates]
    if output_fmt == 'NCHW':
        h, w = grid
        intermediates = [y.reshape(y.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous() for y in intermediates]
    if return_prefix_tokens and prefix is not None:
        intermediates = list(zip(intermediates, prefix))
    return intermediates


class PatchEmbed(nn.Module):
    """norm_layer: False / "" (none), True (LayerNorm, eps 1e-5: the timm 0.5.x flag), "layernorm" or
    "rmsnorm" (eps norm_eps). dynamic_img_pad pads the input right/bottom to a multiple of the patch;
    the token grid of an input is then ceil(size / patch) (grid_size, from img_size, stays floor)."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, norm_layer=False, flatten=True,
                 bias=True, strict_img_size=True, norm_eps=1e-5, dynamic_img_pad=False):
        super().__init__()
        self.strict_img_size = strict_img_size
        self.dynamic_img_pad = dynamic_img_pad
        self.img_size, self.patch_size = _pair(img_size), _pair(patch_size)
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.flatten = flatten
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size, bias=bias)
        kind = "layernorm" if norm_layer is True else (norm_layer or "")
        self.norm = make_norm(kind, embed_dim, norm_eps) if kind else nn.Identity()

    def feat_size(self, h, w):
        """The token grid of an (h, w) input."""
        ph, pw = self.patch_size
        if self.dynamic_img_pad:
            return -(-h // ph), -(-w // pw)
        return h // ph, w // pw

    def forward(self, x):
        _, _, h, w = x.shape
        if self.strict_img_size:
            assert (h, w) == self.img_size, f"Input image size ({h}*{w}) doesn't match model {self.img_size}"
        elif not self.dynamic_img_pad:
            assert h % self.patch_size[0] == 0 and w % self.patch_size[1] == 0
        if self.dynamic_img_pad:
            pad_h = (self.patch_size[0] - h % self.patch_size[0]) % self.patch_size[0]
            pad_w = (self.patch_size[1] - w % self.patch_size[1]) % self.patch_size[1]
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)
        return self.norm(x)


class _KeepsAttention:
    """Attention layers keep their softmax probabilities (before attention dropout) in
    self.attention while self.keep_attention is set (VisionTransformer.attention_maps sets it)."""
    keep_attention = False
    attention = None

    def _keep(self, attn):
        if self.keep_attention:
            self.attention = attn


def _softmax_attention(layer, q, k, scale, biases=()):
    """softmax(q k^T * scale [+ each of biases, in order]) over keys; kept if asked; then attention dropout."""
    attn = (q * scale) @ k.transpose(-2, -1)
    for bias in biases:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    layer._keep(attn)
    return layer.attn_drop(attn)


def lambda_init_at(depth):
    """Differential attention's lambda_init of the block at index `depth`."""
    return 0.8 - 0.6 * math.exp(-0.3 * depth)


def _diff_attention(layer, q, k, v, scale):
    """Differential attention on q, k (B, 2H, N, hd) and v (B, H, N, 2hd): the two softmax maps of
    each head (channels 2h and 2h+1) subtracted, (A1 - lambda A2) v, RmsNorm'ed and scaled by
    (1 - lambda_init). `layer` holds lambda_q1/k1/q2/k2, lambda_init, sub_norm, attn_drop."""
    b, h2, n, _ = q.shape
    lam = (torch.exp(torch.sum(layer.lambda_q1 * layer.lambda_k1, dim=-1).float())
           - torch.exp(torch.sum(layer.lambda_q2 * layer.lambda_k2, dim=-1).float()) + layer.lambda_init).type_as(q)
    attn = _softmax_attention(layer, q, k, scale).view(b, h2 // 2, 2, n, n)
    x = (attn[:, :, 0] - lam * attn[:, :, 1]) @ v
    return layer.sub_norm(x) * (1 - layer.lambda_init)


class Attention(_KeepsAttention, nn.Module):
    """qk_norm: norm_layer (eps norm_eps) over each head's q and k; scale_norm: norm_layer over dim on
    the attention output before proj; proj_bias: proj's bias. rel_pos (Python only, timm's
    RelPosAttention): a function of no arguments making the submodule `rel_pos` (RelPosBias / RelPosMlp,
    pos_embed_rel.py), registered after k_norm; its get_bias() (heads, N, N), computed after the qkv
    projection (RelPosMlp's dropout draws there), and forward's attn_bias (a bias the model shares
    between blocks) are added to the logits q k^T * scale before the softmax."""

    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0., qk_norm=False, norm_eps=1e-5,
                 norm_layer="layernorm", scale_norm=False, proj_bias=True, rel_pos=None):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = make_norm(norm_layer, dim // num_heads, norm_eps) if qk_norm else nn.Identity()
        self.k_norm = make_norm(norm_layer, dim // num_heads, norm_eps) if qk_norm else nn.Identity()
        self.rel_pos = rel_pos() if rel_pos is not None else None
        self.attn_drop = nn.Dropout(attn_drop)
        self.norm = make_norm(norm_layer, dim, norm_eps) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, attn_bias=None):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = self.q_norm(q), self.k_norm(k)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if self.rel_pos is not None:
            attn = attn + self.rel_pos.get_bias()
        if attn_bias is not None:
            attn = attn + attn_bias
        attn = attn.softmax(dim=-1)
        self._keep(attn)
        attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        x = self.norm(x)
        return self.proj_drop(self.proj(x))


class DiffAttention(_KeepsAttention, nn.Module):
    """timm.layers.DiffAttention (Differential Transformer) with the per-head-dim lambda vectors
    (dual_lambda=False): 2*num_heads query/key heads of head_dim = dim // num_heads // 2, num_heads
    value heads of 2*head_dim; lambda_init from the block index `depth`. qk_norm / scale_norm as in
    Attention (norm_layer, norm_eps); sub_norm is always an RmsNorm(2*head_dim, eps 1e-5).
    Note: timm's own default norm_layer here is RmsNorm; ours is "layernorm" like every other layer
    (timm's blocks always pass theirs)."""

    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0., qk_norm=False,
                 norm_layer="layernorm", norm_eps=1e-5, scale_norm=False, proj_bias=True, depth=0):
        super().__init__()
        assert dim % (2 * num_heads) == 0, "dim must be divisible by 2 * num_heads"
        self.num_heads = num_heads
        self.head_dim = dim // num_heads // 2
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.k_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.norm = make_norm(norm_layer, dim, norm_eps) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)
        self.lambda_q1 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_k1 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_q2 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_k2 = nn.Parameter(torch.empty(self.head_dim))
        self.sub_norm = RmsNorm(2 * self.head_dim, eps=1e-5)
        self.lambda_init = lambda_init_at(depth)
        for p in (self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2):
            nn.init.normal_(p, mean=0., std=0.1)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(b, n, 2 * self.num_heads, self.head_dim).transpose(1, 2)
        k = k.reshape(b, n, 2 * self.num_heads, self.head_dim).transpose(1, 2)
        v = v.reshape(b, n, self.num_heads, 2 * self.head_dim).transpose(1, 2)
        q, k = self.q_norm(q), self.k_norm(k)
        x = _diff_attention(self, q, k, v, self.scale).transpose(1, 2).reshape(b, n, c)
        x = self.norm(x)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    """fc1 -> act -> drop -> [norm over hidden if scale_norm] -> fc2 -> drop; bias: fc1's and fc2's."""

    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0., act_layer="gelu", bias=True,
                 scale_norm=False, norm_layer="layernorm", norm_eps=1e-5):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = make_act(act_layer)
        self.drop1 = nn.Dropout(drop)
        self.norm = make_norm(norm_layer, hidden_features, norm_eps) if scale_norm else nn.Identity()
        self.fc2 = nn.Linear(hidden_features, out_features, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.norm(self.drop1(self.act(self.fc1(x))))))


class GluMlp(nn.Module):
    """timm.layers.GluMlp: fc1 to hidden_features (even), split in halves x1, x2; gate_last:
    x1 * act(x2), else act(x1) * x2; then drop, [norm over hidden/2], fc2 from hidden/2, drop.
    gate_last=False with silu is timm's SwiGLUPacked."""

    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0., act_layer="silu", bias=True,
                 gate_last=True, scale_norm=False, norm_layer="layernorm", norm_eps=1e-5):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        assert hidden_features % 2 == 0, "GluMlp needs an even hidden_features"
        self.gate_last = gate_last
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = make_act(act_layer)
        self.drop1 = nn.Dropout(drop)
        self.norm = make_norm(norm_layer, hidden_features // 2, norm_eps) if scale_norm else nn.Identity()
        self.fc2 = nn.Linear(hidden_features // 2, out_features, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def init_weights(self):
        """timm's: the gate half of fc1 near zero (std 1e-6), its bias one."""
        half = self.fc1.weight.shape[0] // 2
        with torch.no_grad():
            if self.fc1.bias is not None:
                self.fc1.bias[half:].fill_(1.)
            nn.init.normal_(self.fc1.weight[half:], std=1e-6)

    def forward(self, x):
        x1, x2 = self.fc1(x).chunk(2, dim=-1)
        x = x1 * self.act(x2) if self.gate_last else self.act(x1) * x2
        return self.drop2(self.fc2(self.norm(self.drop1(x))))


class SwiGLU(nn.Module):
    """timm.layers.SwiGLU: act(fc1_g(x)) * fc1_x(x) -> drop -> [norm over hidden] -> fc2 -> drop."""

    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0., act_layer="silu", bias=True,
                 scale_norm=False, norm_layer="layernorm", norm_eps=1e-5):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1_g = nn.Linear(in_features, hidden_features, bias=bias)
        self.fc1_x = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = make_act(act_layer)
        self.drop1 = nn.Dropout(drop)
        self.norm = make_norm(norm_layer, hidden_features, norm_eps) if scale_norm else nn.Identity()
        self.fc2 = nn.Linear(hidden_features, out_features, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def init_weights(self):
        """timm's: the gate projection near zero (std 1e-6), its bias one."""
        with torch.no_grad():
            if self.fc1_g.bias is not None:
                self.fc1_g.bias.fill_(1.)
            nn.init.normal_(self.fc1_g.weight, std=1e-6)

    def forward(self, x):
        x = self.act(self.fc1_g(x)) * self.fc1_x(x)
        return self.drop2(self.fc2(self.norm(self.drop1(x))))


def patch_dropout(x, prob, num_prefix_tokens, training):
    """Patch dropout in training (timm's PatchDropout): every image keeps max(1, int(L * (1 - prob))) of
    its L patch tokens, the first of a random permutation (argsort of torch.randn(B, L)), in that
    order, after its prefix tokens. Returns (tokens, kept indices (B, kept) or None)."""
    if not training or prob == 0.:
        return x, None
    prefix, patches = x[:, :num_prefix_tokens], x[:, num_prefix_tokens:]
    b, length = patches.shape[:2]
    kept = max(1, int(length * (1. - prob)))
    keep = torch.randn(b, length, device=x.device).argsort(dim=-1)[:, :kept]
    patches = torch.stack([patches[i, keep[i]] for i in range(b)])
    return torch.cat([prefix, patches], dim=1), keep


def drop_path(x, drop_prob=0., training=False):
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    random_tensor.floor_()
    return x.div(keep_prob) * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob=0.):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training)


class LayerScale(nn.Module):
    def __init__(self, dim, init_values):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


def _make_attn(attn_layer, dim, num_heads, qkv_bias, qk_norm, scale_norm, proj_bias, attn_drop, proj_drop,
               norm_layer, norm_eps, depth, rel_pos=None):
    kw = dict(num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=proj_drop, qk_norm=qk_norm,
              norm_eps=norm_eps, norm_layer=norm_layer, scale_norm=scale_norm, proj_bias=proj_bias)
    if rel_pos is not None and attn_layer != "attn":
        raise ValueError(f"a relative-position bias needs attn_layer 'attn', got {attn_layer!r}")
    if attn_layer == "attn":
        return Attention(dim, rel_pos=rel_pos, **kw)
    if attn_layer == "diff":
        return DiffAttention(dim, depth=depth, **kw)
    raise ValueError(f"unknown attn_layer {attn_layer!r} (expected one of {ATTN_LAYERS})")


def _make_mlp(mlp_layer, dim, hidden, act_layer, bias, drop, scale_norm, norm_layer, norm_eps):
    kw = dict(hidden_features=hidden, drop=drop, act_layer=act_layer, bias=bias, scale_norm=scale_norm,
              norm_layer=norm_layer, norm_eps=norm_eps)
    if mlp_layer == "mlp":
        return Mlp(dim, **kw)
    if mlp_layer == "glu":
        return GluMlp(dim, gate_last=True, **kw)
    if mlp_layer == "swiglu":
        return SwiGLU(dim, **kw)
    if mlp_layer == "swiglu_packed":
        return GluMlp(dim, gate_last=False, **kw)
    raise ValueError(f"unknown mlp_layer {mlp_layer!r} (expected one of {MLP_LAYERS})")


def _attend(attn, x, attn_bias):
    """attn(x), with the model's shared attention bias when there is one (Attention only)."""
    return attn(x) if attn_bias is None else attn(x, attn_bias=attn_bias)


class Block(nn.Module):
    """Pre-norm block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))). `drop` is the projection
    dropout of attn and mlp; LayerScale when init_values is truthy (timm's Block). norm_layer/norm_eps
    are the norms', also q/k and scale norms'; the mlp (mlp_layer) gets act_layer, bias=proj_bias and
    scale_norm=scale_mlp_norm; depth is the block's index (diff attention's lambda_init).
    rel_pos (Python only; attn_layer 'attn'): the attention's relative-position bias (Attention's
    rel_pos); forward's attn_bias goes to the attention (timm's RelPosBlock)."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None, norm_layer="layernorm", act_layer="gelu",
                 mlp_layer="mlp", attn_layer="attn", proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False,
                 depth=0, rel_pos=None):
        super().__init__()
        self.norm1 = make_norm(norm_layer, dim, norm_eps)
        self.attn = _make_attn(attn_layer, dim, num_heads, qkv_bias, qk_norm, scale_attn_norm, proj_bias, attn_drop,
                               drop, norm_layer, norm_eps, depth, rel_pos)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = make_norm(norm_layer, dim, norm_eps)
        self.mlp = _make_mlp(mlp_layer, dim, int(dim * mlp_ratio), act_layer, proj_bias, drop, scale_mlp_norm,
                             norm_layer, norm_eps)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def attention_layers(self):
        return [self.attn]

    def forward(self, x, attn_bias=None):
        x = x + self.drop_path(self.ls1(_attend(self.attn, self.norm1(x), attn_bias)))
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        return x


class ResPostBlock(nn.Module):
    """Post-norm residual block: x + norm1(attn(x)), then x + norm2(mlp(x)); no LayerScale; with
    init_values not None, norm1/norm2 weights start at init_values. Same kwargs as Block (rel_pos and
    attn_bias too: timm's ResPostRelPosBlock)."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None, norm_layer="layernorm", act_layer="gelu",
                 mlp_layer="mlp", attn_layer="attn", proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False,
                 depth=0, rel_pos=None):
        super().__init__()
        self.init_values = init_values
        self.attn = _make_attn(attn_layer, dim, num_heads, qkv_bias, qk_norm, scale_attn_norm, proj_bias, attn_drop,
                               drop, norm_layer, norm_eps, depth, rel_pos)
        self.norm1 = make_norm(norm_layer, dim, norm_eps)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.mlp = _make_mlp(mlp_layer, dim, int(dim * mlp_ratio), act_layer, proj_bias, drop, scale_mlp_norm,
                             norm_layer, norm_eps)
        self.norm2 = make_norm(norm_layer, dim, norm_eps)
        self.init_weights()

    def init_weights(self):
        if self.init_values is not None:
            with torch.no_grad():
                self.norm1.weight.fill_(self.init_values)
                self.norm2.weight.fill_(self.init_values)

    def attention_layers(self):
        return [self.attn]

    def forward(self, x, attn_bias=None):
        x = x + self.drop_path(self.norm1(_attend(self.attn, x, attn_bias)))
        x = x + self.drop_path(self.norm2(self.mlp(x)))
        return x


class ParallelScalingBlock(_KeepsAttention, nn.Module):
    """ViT-22B's parallel block: one in_norm, one in_proj to [mlp hidden | q | k | v] (bias qkv_bias;
    without it, a separate mlp_bias on the mlp part), attention and act(mlp) side by side, out
    projections attn_out_proj + mlp_out_proj (bias proj_bias), LayerScale `ls` when init_values is
    not None. mlp_layer, attn_layer, depth are accepted and ignored (as timm does); the scale
    norms are not supported."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None, norm_layer="layernorm", act_layer="gelu",
                 mlp_layer="mlp", attn_layer="attn", proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False,
                 depth=0):
        super().__init__()
        assert dim % num_heads == 0
        assert not scale_attn_norm and not scale_mlp_norm, "ParallelScalingBlock has no scale norms"
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        hidden = int(mlp_ratio * dim)
        self.in_split = [hidden, dim, dim, dim]
        self.in_norm = make_norm(norm_layer, dim, norm_eps)
        self.in_proj = nn.Linear(dim, hidden + 3 * dim, bias=qkv_bias)
        self.mlp_bias = None if qkv_bias else nn.Parameter(torch.zeros(hidden))
        self.q_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.k_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.mlp_drop = nn.Dropout(drop)
        self.mlp_act = make_act(act_layer)
        self.attn_out_proj = nn.Linear(dim, dim, bias=proj_bias)
        self.mlp_out_proj = nn.Linear(hidden, dim, bias=proj_bias)
        self.ls = LayerScale(dim, init_values) if init_values is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def attention_layers(self):
        return [self]

    def forward(self, x):
        b, n, c = x.shape
        x_mlp, q, k, v = torch.split(self.in_proj(self.in_norm(x)), self.in_split, dim=-1)
        if self.mlp_bias is not None:
            x_mlp = x_mlp + self.mlp_bias
        q = self.q_norm(q.view(b, n, self.num_heads, self.head_dim)).transpose(1, 2)
        k = self.k_norm(k.view(b, n, self.num_heads, self.head_dim)).transpose(1, 2)
        v = v.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        x_attn = (_softmax_attention(self, q, k, self.scale) @ v).transpose(1, 2).reshape(b, n, c)
        x_mlp = self.mlp_drop(self.mlp_act(x_mlp))
        y = self.attn_out_proj(x_attn) + self.mlp_out_proj(x_mlp)
        return x + self.drop_path(self.ls(y))


class DiffParallelScalingBlock(_KeepsAttention, nn.Module):
    """ParallelScalingBlock with differential attention (as DiffAttention: 2*num_heads q/k heads of
    dim // num_heads // 2, lambda vectors, sub_norm RmsNorm eps 1e-5, lambda_init from depth) and
    one fused out_proj over cat(attention, act(mlp)). Same kwargs as Block; mlp_layer, attn_layer
    ignored; no scale norms."""

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None, norm_layer="layernorm", act_layer="gelu",
                 mlp_layer="mlp", attn_layer="attn", proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False,
                 depth=0):
        super().__init__()
        assert dim % (2 * num_heads) == 0, "dim must be divisible by 2 * num_heads"
        assert not scale_attn_norm and not scale_mlp_norm, "DiffParallelScalingBlock has no scale norms"
        self.num_heads = num_heads
        self.head_dim = dim // num_heads // 2
        self.scale = self.head_dim ** -0.5
        hidden = int(mlp_ratio * dim)
        self.in_split = [hidden, dim, dim, dim]
        self.in_norm = make_norm(norm_layer, dim, norm_eps)
        self.in_proj = nn.Linear(dim, hidden + 3 * dim, bias=qkv_bias)
        self.mlp_bias = None if qkv_bias else nn.Parameter(torch.zeros(hidden))
        self.q_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.k_norm = make_norm(norm_layer, self.head_dim, norm_eps) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.sub_norm = RmsNorm(2 * self.head_dim, eps=1e-5)
        self.lambda_q1 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_k1 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_q2 = nn.Parameter(torch.empty(self.head_dim))
        self.lambda_k2 = nn.Parameter(torch.empty(self.head_dim))
        self.mlp_drop = nn.Dropout(drop)
        self.mlp_act = make_act(act_layer)
        self.out_proj = nn.Linear(dim + hidden, dim, bias=proj_bias)
        self.ls = LayerScale(dim, init_values) if init_values is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.lambda_init = lambda_init_at(depth)
        for p in (self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2):
            nn.init.normal_(p, mean=0., std=0.1)

    def attention_layers(self):
        return [self]

    def forward(self, x):
        b, n, c = x.shape
        x_mlp, q, k, v = torch.split(self.in_proj(self.in_norm(x)), self.in_split, dim=-1)
        if self.mlp_bias is not None:
            x_mlp = x_mlp + self.mlp_bias
        q = q.reshape(b, n, 2 * self.num_heads, self.head_dim).transpose(1, 2)
        k = k.reshape(b, n, 2 * self.num_heads, self.head_dim).transpose(1, 2)
        v = v.reshape(b, n, self.num_heads, 2 * self.head_dim).transpose(1, 2)
        q, k = self.q_norm(q), self.k_norm(k)
        x_attn = _diff_attention(self, q, k, v, self.scale).transpose(1, 2).reshape(b, n, c)
        x_mlp = self.mlp_drop(self.mlp_act(x_mlp))
        y = self.out_proj(torch.cat((x_attn, x_mlp), dim=-1))
        return x + self.drop_path(self.ls(y))


class ParallelThingsBlock(nn.Module):
    """'Three things everyone should know about ViTs': num_parallel (2) pre-norm attention branches
    summed into the residual, then as many mlp branches: attns.{i} = (norm, attn, ls, drop_path),
    ffns.{i} = (norm, mlp, ls, drop_path); LayerScale when init_values is truthy. Same kwargs as Block."""
    num_parallel = 2

    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None, norm_layer="layernorm", act_layer="gelu",
                 mlp_layer="mlp", attn_layer="attn", proj_bias=True, scale_attn_norm=False, scale_mlp_norm=False,
                 depth=0):
        super().__init__()
        self.attns = nn.ModuleList()
        self.ffns = nn.ModuleList()
        for _ in range(self.num_parallel):
            attn = nn.Sequential()
            attn.add_module("norm", make_norm(norm_layer, dim, norm_eps))
            attn.add_module("attn", _make_attn(attn_layer, dim, num_heads, qkv_bias, qk_norm, scale_attn_norm,
                                               proj_bias, attn_drop, drop, norm_layer, norm_eps, depth))
            attn.add_module("ls", LayerScale(dim, init_values) if init_values else nn.Identity())
            attn.add_module("drop_path", DropPath(drop_path) if drop_path > 0. else nn.Identity())
            self.attns.append(attn)
            ffn = nn.Sequential()
            ffn.add_module("norm", make_norm(norm_layer, dim, norm_eps))
            ffn.add_module("mlp", _make_mlp(mlp_layer, dim, int(dim * mlp_ratio), act_layer, proj_bias, drop,
                                            scale_mlp_norm, norm_layer, norm_eps))
            ffn.add_module("ls", LayerScale(dim, init_values) if init_values else nn.Identity())
            ffn.add_module("drop_path", DropPath(drop_path) if drop_path > 0. else nn.Identity())
            self.ffns.append(ffn)

    def attention_layers(self):
        return [branch.attn for branch in self.attns]

    def forward(self, x):
        x = x + torch.stack([branch(x) for branch in self.attns]).sum(dim=0)
        x = x + torch.stack([branch(x) for branch in self.ffns]).sum(dim=0)
        return x


BLOCKS = {"block": Block, "res_post": ResPostBlock, "parallel_scaling": ParallelScalingBlock,
          "diff_parallel_scaling": DiffParallelScalingBlock, "parallel_things": ParallelThingsBlock}


class AttentionPoolLatent(_KeepsAttention, nn.Module):
    """timm's attention pooling ('map' head) with one latent query: latent (1, 1, D) -> q, tokens ->
    kv (both with bias qkv_bias), attention, proj, then x + mlp(norm(x)) (Mlp to int(D*mlp_ratio),
    act_layer); returns the latent's token (B, D)."""

    def __init__(self, in_features, num_heads=8, mlp_ratio=4., qkv_bias=True, norm_layer="layernorm", norm_eps=1e-6,
                 act_layer="gelu"):
        super().__init__()
        assert in_features % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = in_features // num_heads
        self.scale = self.head_dim ** -0.5
        self.latent = nn.Parameter(torch.zeros(1, 1, in_features))
        self.q = nn.Linear(in_features, in_features, bias=qkv_bias)
        self.kv = nn.Linear(in_features, in_features * 2, bias=qkv_bias)
        self.attn_drop = nn.Identity()
        self.proj = nn.Linear(in_features, in_features)
        self.norm = make_norm(norm_layer, in_features, norm_eps)
        self.mlp = Mlp(in_features, int(in_features * mlp_ratio), act_layer=act_layer)
        std = in_features ** -0.5
        nn.init.trunc_normal_(self.latent, std=std, a=-2 * std, b=2 * std)

    def forward(self, x):
        b, n, c = x.shape
        q = self.q(self.latent.expand(b, -1, -1)).reshape(b, 1, self.num_heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(x).reshape(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = (_softmax_attention(self, q, k, self.scale) @ v).transpose(1, 2).reshape(b, 1, c)
        x = self.proj(x)
        x = x + self.mlp(self.norm(x))
        return x[:, 0]


def resample_abs_pos_embed(pos_embed, new_size, old_size=None, num_prefix_tokens=1):
    """timm's resample_abs_pos_embed: bicubic, antialiased, float32, prefix tokens kept."""
    n = pos_embed.shape[1] - num_prefix_tokens
    if old_size is None:
        side = int(round(n ** 0.5))
        old_size = (side, side)
    if tuple(new_size) == tuple(old_size):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = pos_embed.shape[-1]
    grid = grid.reshape(1, old_size[0], old_size[1], dim).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=tuple(new_size), mode='bicubic', antialias=True, align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)


class VisionTransformer(nn.Module):
    """timm's VisionTransformer (and, with distilled=True, VisionTransformerDistilled).
    Options as in current timm, by string: norm_layer/norm_eps (norm_pre, blocks, norm, fc_norm,
    attn_pool.norm), embed_norm_layer/embed_norm_eps (patch_embed.norm; "" = none), act_layer,
    mlp_layer, attn_layer, block_fn, pos_embed ("learn" | "none" | ""). fc_norm None: on for the
    'avg', 'avgmax', 'max' pools. timm 0.5.x's meanings kept: drop_rate is the position-embedding and
    projection dropout (no head dropout) unless current timm's pos_drop_rate / proj_drop_rate are given,
    representation_size adds pre_logits (Linear + tanh). patch_drop_rate: patch dropout in training,
    after the position embedding (and its dropout), before norm_pre.
    Relative position (timm's VisionTransformerRelPos): rel_pos_type 'bias' (RelPosBias), 'mlp' (RelPosMlp
    'cr'), 'mlp_swin' (RelPosMlp 'swin'), '' none; rel_pos_dim the MLP's hidden width (None: 128; unused by
    'bias'); over the patch grid at img_size with the model's prefix tokens (at most one). Each attention
    owns one (blocks.i.attn.rel_pos), or with shared_rel_pos the model owns one (shared_rel_pos, after
    pos_embed, before norm_pre), computed once per forward after the embedding (after norm_pre) and added
    in every block. Needs block_fn 'block' or 'res_post', attn_layer 'attn', no patch dropout, and inputs
    whose patch grid is the img_size one."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4., qkv_bias=True, representation_size=None, distilled=False,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0., global_pool='token', class_token=True,
                 reg_tokens=0, no_embed_class=False, init_values=None, pre_norm=False, qk_norm=False,
                 final_norm=True, fc_norm=None, dynamic_img_size=False, proj_bias=True, scale_attn_norm=False,
                 scale_mlp_norm=False, pos_embed="learn", pool_include_prefix=False, dynamic_img_pad=False,
                 norm_layer="layernorm", norm_eps=1e-6, embed_norm_layer="", embed_norm_eps=1e-6, act_layer="gelu",
                 mlp_layer="mlp", block_fn="block", attn_layer="attn", pos_drop_rate=None, proj_drop_rate=None,
                 patch_drop_rate=0., rel_pos_type="", rel_pos_dim=None, shared_rel_pos=False):
        super().__init__()
        assert global_pool in ('', 'avg', 'avgmax', 'max', 'token', 'map'), f"unknown global_pool {global_pool!r}"
        assert class_token or global_pool != 'token', "global_pool 'token' needs the class token"
        assert pos_embed in ('', 'none', 'learn'), f"unknown pos_embed {pos_embed!r}"
        assert block_fn in BLOCKS, f"unknown block_fn {block_fn!r} (expected one of {tuple(BLOCKS)})"
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.global_pool = global_pool
        self.no_embed_class = no_embed_class
        self.dynamic_img_size = dynamic_img_size
        self.pool_include_prefix = pool_include_prefix
        self.num_prefix_tokens = int(class_token) + int(distilled) + reg_tokens
        assert rel_pos_type in REL_POS_TYPES, f"unknown rel_pos_type {rel_pos_type!r} (expected one of {REL_POS_TYPES})"
        if rel_pos_type:
            if self.num_prefix_tokens > 1:
                raise ValueError(f"rel_pos_type needs at most one prefix token, the model has {self.num_prefix_tokens}")
            if block_fn not in ("block", "res_post"):
                raise ValueError(f"rel_pos_type needs block_fn 'block' or 'res_post', got {block_fn!r}")
            if attn_layer != "attn":
                raise ValueError(f"rel_pos_type needs attn_layer 'attn', got {attn_layer!r}")
            if patch_drop_rate > 0.:
                raise ValueError("rel_pos_type does not work with patch dropout (the bias is for every patch)")
        elif shared_rel_pos:
            raise ValueError("shared_rel_pos needs a rel_pos_type")
        use_fc_norm = global_pool in ('avg', 'avgmax', 'max') if fc_norm is None else fc_norm
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, norm_layer=embed_norm_layer,
                                      bias=not pre_norm, strict_img_size=not dynamic_img_size,
                                      norm_eps=embed_norm_eps, dynamic_img_pad=dynamic_img_pad)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if distilled else None
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim)) if reg_tokens else None
        embed_len = num_patches if no_embed_class else num_patches + self.num_prefix_tokens
        if pos_embed == 'learn':
            self.pos_embed = nn.Parameter(torch.zeros(1, embed_len, embed_dim))
        else:
            self.pos_embed = None
        self.pos_drop = nn.Dropout(p=drop_rate if pos_drop_rate is None else pos_drop_rate)
        self.patch_drop_rate = patch_drop_rate
        self.rel_pos_window = self.patch_embed.grid_size if rel_pos_type else None
        rel_pos = None
        if rel_pos_type:
            rel_pos = lambda: make_rel_pos(rel_pos_type, self.patch_embed.grid_size, num_heads,  # noqa: E731
                                           self.num_prefix_tokens, rel_pos_dim)
        self.shared_rel_pos = rel_pos() if shared_rel_pos else None
        block_kw = dict(rel_pos=rel_pos) if rel_pos is not None and not shared_rel_pos else {}
        self.norm_pre = make_norm(norm_layer, embed_dim, norm_eps) if pre_norm else nn.Identity()
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        block = BLOCKS[block_fn]
        self.blocks = nn.Sequential(*[
            block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate if proj_drop_rate is None else proj_drop_rate,
                  attn_drop_rate, dpr[i], norm_eps=norm_eps,
                  qk_norm=qk_norm, init_values=init_values, norm_layer=norm_layer, act_layer=act_layer,
                  mlp_layer=mlp_layer, attn_layer=attn_layer, proj_bias=proj_bias, scale_attn_norm=scale_attn_norm,
                  scale_mlp_norm=scale_mlp_norm, depth=i, **block_kw)
            for i in range(depth)])
        self.norm = make_norm(norm_layer, embed_dim, norm_eps) if final_norm and not use_fc_norm else nn.Identity()
        if global_pool == 'map':
            self.attn_pool = AttentionPoolLatent(embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                                 norm_layer=norm_layer, norm_eps=norm_eps, act_layer=act_layer)
        else:
            self.attn_pool = None
        self.fc_norm = make_norm(norm_layer, embed_dim, norm_eps) if final_norm and use_fc_norm else nn.Identity()
        if representation_size and not distilled:
            self.num_features = representation_size
            self.pre_logits = nn.Sequential()
            self.pre_logits.add_module("fc", nn.Linear(embed_dim, representation_size))
            self.pre_logits.add_module("act", nn.Tanh())
        else:
            self.pre_logits = nn.Identity()
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.head_dist = None
        if distilled:
            self.head_dist = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self):
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=.02)
        if self.dist_token is not None:
            nn.init.trunc_normal_(self.dist_token, std=.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=.02)
        if self.reg_token is not None:
            nn.init.normal_(self.reg_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, RmsNorm):
                nn.init.ones_(m.weight)
        # the layers' own inits that the generic pass above overwrote (gated mlps, ResPostBlock's norms)
        for m in self.modules():
            if isinstance(m, (GluMlp, SwiGLU, ResPostBlock)):
                m.init_weights()

    # ---- forward ---------------------------------------------------------------------------------

    def _pos_embed(self, x, grid):
        """Prefix tokens (cls, dist, reg) and the position embedding; x: (B, L, D) patch tokens of a
        `grid` (h, w) of patches."""
        b = x.shape[0]
        prefix = [t.expand(b, -1, -1) for t in (self.cls_token, self.dist_token, self.reg_token) if t is not None]
        if self.pos_embed is None:  # timm skips pos_drop here
            return torch.cat(prefix + [x], dim=1)
        pos_embed = self.pos_embed
        if self.dynamic_img_size:
            pos_embed = resample_abs_pos_embed(pos_embed, grid, self.patch_embed.grid_size,
                                               0 if self.no_embed_class else self.num_prefix_tokens)
        if self.no_embed_class:
            x = torch.cat(prefix + [x + pos_embed], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + pos_embed
        return self.pos_drop(x)

    def _embed(self, x):
        """Image (B, C, H, W) -> the token sequence the first block sees."""
        _, _, h, w = x.shape
        grid = self.patch_embed.feat_size(h, w)
        if self.rel_pos_window is not None and tuple(grid) != tuple(self.rel_pos_window):
            raise ValueError(f"the relative position bias is for a {self.rel_pos_window[0]}x{self.rel_pos_window[1]} "
                             f"patch grid (img_size), the input gives {grid[0]}x{grid[1]}")
        x = self.patch_embed(x)
        x = self._pos_embed(x, grid)
        x, _ = patch_dropout(x, self.patch_drop_rate, self.num_prefix_tokens, self.training)
        return self.norm_pre(x)

    def _shared_bias(self):
        """The bias every block adds (shared_rel_pos), or None."""
        return self.shared_rel_pos.get_bias() if self.shared_rel_pos is not None else None

    @staticmethod
    def _run_block(blk, x, attn_bias):
        return blk(x) if attn_bias is None else blk(x, attn_bias=attn_bias)

    def forward_features(self, x):
        x = self._embed(x)
        attn_bias = self._shared_bias()
        for blk in self.blocks:
            x = self._run_block(blk, x, attn_bias)
        return self.norm(x)

    def pool(self, x):
        """timm's pool(): the attention pool ('map', over the patch tokens unless pool_include_prefix), or
        'token' (x[:, 0]), 'avg' / 'max' / 'avgmax' over the patch tokens (all tokens with
        pool_include_prefix), or '' (no pooling)."""
        if self.attn_pool is not None:
            if not self.pool_include_prefix:
                x = x[:, self.num_prefix_tokens:]
            return self.attn_pool(x)
        if not self.global_pool:
            return x
        if self.global_pool == 'token':
            return x[:, 0]
        if not self.pool_include_prefix:
            x = x[:, self.num_prefix_tokens:]
        if self.global_pool == 'avg':
            return x.mean(dim=1)
        if self.global_pool == 'max':
            return x.amax(dim=1)
        return 0.5 * (x.mean(dim=1) + x.amax(dim=1))  # avgmax

    def forward_head(self, x, pre_logits=False):
        """pre_logits: the features the classifier sees (after fc_norm and the representation layer;
        a distilled model's: the mean of its class and distillation tokens)."""
        if self.head_dist is not None:
            # timm 0.5.x semantics: a distilled model returns (cls, dist) logits in training, their mean in eval
            x, x_dist = x[:, 0], x[:, 1]
            if pre_logits:
                return (x + x_dist) / 2
            x, x_dist = self.head(x), self.head_dist(x_dist)
            if self.training:
                return x, x_dist
            return (x + x_dist) / 2
        x = self.pre_logits(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    # ---- features --------------------------------------------------------------------------------

    def forward_intermediates(self, x, indices=None, norm=False, output_fmt="NCHW", intermediates_only=False,
                              return_prefix_tokens=False, stop_early=False):
        """timm's forward_intermediates: the outputs of the blocks feature_take_indices(depth, indices)
        names, in block order (a list is taken as a set of blocks: [3, 1] gives blocks 1 then 3), each
        through self.norm when norm (which is Identity when the model uses fc_norm), prefix tokens
        removed; output_fmt "NCHW" (B, D, h, w) or "NLC" (B, h*w, D). return_prefix_tokens: each item
        is (spatial, prefix (B, num_prefix_tokens, D)) when the model has prefix tokens.
        Returns the list (intermediates_only) or (norm(final tokens), list); stop_early only skips
        the blocks after the last one taken (then the final tokens are those of that block)."""
        assert output_fmt in ('NCHW', 'NLC'), 'Output format must be one of NCHW or NLC.'
        take, max_index = feature_take_indices(len(self.blocks), indices)
        height, width = x.shape[2:]
        x = self._embed(x)
        attn_bias = self._shared_bias()
        blocks = self.blocks[:max_index + 1] if stop_early else self.blocks
        intermediates = []
        for i, blk in enumerate(blocks):
            x = self._run_block(blk, x, attn_bias)
            if i in take:
                intermediates.append(self.norm(x) if norm else x)
        intermediates = format_intermediates(intermediates, self.num_prefix_tokens, output_fmt,
                                             self.patch_embed.feat_size(height, width), return_prefix_tokens)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(self, indices=1, prune_norm=False, prune_head=True):
        """Drops the blocks after the last one `indices` takes; prune_norm: self.norm -> Identity;
        prune_head: fc_norm, the attention pool, pre_logits and the heads go, global_pool becomes ''
        (forward then returns the token sequence; a distilled model the mean of its two tokens).
        Returns the taken indices."""
        take, max_index = feature_take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[:max_index + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.fc_norm = nn.Identity()
            self.num_classes = 0
            self.pre_logits = nn.Identity()
            self.num_features = self.embed_dim
            self.head = nn.Identity()
            if self.head_dist is not None:
                self.head_dist = nn.Identity()
            else:
                self.global_pool = ''
                self.attn_pool = None
        return take

    def attention_maps(self, x, indices=None):
        """The softmax attention probabilities of the blocks feature_take_indices(depth, indices) names
        (in block order), one tensor (B, heads, N, N) each, N = tokens incl. prefix: what timm's
        AttentionExtract captures at attn_drop with fused attention off. Differential attention gives
        its 2*num_heads maps (head h's pair at 2h, 2h+1); a parallel_things block the maps of its
        branches concatenated on the head dim (branch 0's heads first: (B, 2*heads, N, N), or
        4*heads with differential attention). Runs the blocks up to the last one taken."""
        take, max_index = feature_take_indices(len(self.blocks), indices)
        x = self._embed(x)
        attn_bias = self._shared_bias()
        maps = []
        for i, blk in enumerate(self.blocks[:max_index + 1]):
            layers = blk.attention_layers()
            for layer in layers:
                layer.keep_attention = i in take
            try:
                x = self._run_block(blk, x, attn_bias)
                if i in take:
                    maps.append(torch.cat([layer.attention for layer in layers], dim=1))
            finally:
                for layer in layers:
                    layer.keep_attention, layer.attention = False, None
        return maps


class ResamplePosEmbed(nn.Module):
    """resample_abs_pos_embed as a module, so the golden generator can treat it like the others."""

    def __init__(self, new_size, old_size=None, num_prefix_tokens=1):
        super().__init__()
        self.new_size, self.old_size, self.num_prefix_tokens = new_size, old_size, num_prefix_tokens

    def forward(self, pos_embed):
        return resample_abs_pos_embed(pos_embed, self.new_size, self.old_size, self.num_prefix_tokens)
