"""Reference PyTorch implementation of timm's Eva family (timm.models.eva: EVA, EVA02, EVA-CLIP, the timm
SBB RoPE ViTs, Perception Encoder, RoPE-ViT 'mixed', DINOv3): EvaAttention (both attention types, 'eva'
and timm's AttentionRope), EvaBlock (pre-norm and post-norm), the three rotary position embeddings
('cat', 'mixed', 'dinov3'), and the model Eva with forward_intermediates, prune_intermediate_layers and
attention_maps; and timm's BEiT (timm.models.beit) as Eva options: use_rel_pos_bias, use_shared_rel_pos_bias
(relative-position biases: pos_embed_rel.py).
Layers are named by strings (the JSON option names of the C++ side), never by classes; the shared
building blocks (PatchEmbed, norms, Mlp, GluMlp, SwiGLU, DropPath, AttentionPoolLatent, ...) come from
vision_transformer.py. Written for vitcpp's tests (checked against timm by scripts/check_timm_eva.py).

state_dict keys are timm's, in timm's order. A module's own parameters come before its children's, so:
  model:     cls_token, reg_token, pos_embed, patch_embed.*, rope.freqs ('mixed' only),
             rel_pos_bias.relative_position_bias_table (use_shared_rel_pos_bias), norm_pre.*, blocks.*,
             norm.*, attn_pool.*, fc_norm.*, head.*
  pre-norm block:  gamma_1, gamma_2 (init_values), norm1.*, attn.*, norm2.*, mlp.*
  post-norm block: attn.*, norm1.*, mlp.*, norm2.*  (no LayerScale: init_values is ignored)
  attention: q_bias, v_bias ('eva' fused with qkv_bias), relative_position_bias_table (use_rel_pos_bias),
             then qkv.weight [qkv.bias for 'rope'] or q_proj.*, k_proj.* (no bias for 'eva'), v_proj.*,
             then norm.* (scale_norm), proj.*
Non-persistent state (the 'eva' attention's zero k bias, the rope tables) is computed, never stored.

RoPE tables are float32 and computed with timm's operations in timm's order, so they are bit-identical:
  cat:    bands = 1 / temperature ** (arange(hd/4) / (hd/4)); per axis t = arange(n) + grid_offset, then
          t / n * ref_n with ref_feat_shape; 'xy' swaps the grid and ref_feat_shape, so channel 0 is the
          column; angles (h, w, 2, hd/4) -> (N, hd/2) -> each repeated twice (interleaved): (N, hd) sin
          and cos, concatenated (N, 2*hd).
  mixed:  learnable freqs (2, depth, heads, hd/2) (parameter `freqs`); 'ij': t_x = row, t_y = column;
          'xy': t_x = column, t_y = row; angle = t_x * freqs[0] + t_y * freqs[1] (depth, heads, N, hd/2),
          sin and cos repeated twice (interleaved) and concatenated: (depth, heads, N, 2*hd).
  dinov3: periods = temperature ** (2 * arange(hd/4) / (hd/2)); coords (i + 0.5) / h and (j + 0.5) / w
          mapped to [-1, 1]; angles 2*pi*coord / period (N, 2, hd/4) -> (N, hd/2), tiled twice (the
          'half' layout, whatever rotate_half says): (N, 2*hd).
The tables are applied to q and k of the patch tokens only (prefix tokens pass unchanged) as
x * cos + rot(x) * sin, rot interleaved ([-x1, x0, -x3, x2, ...]) or, with rotate_half,
[-x_{d/2..d-1}, x_{0..d/2-1}]. Like timm's Eva: grid_offset and ref_feat_shape only apply to 'cat'."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from pos_embed_rel import RelPosBias, relative_position_bias, relative_position_table_size
from vision_transformer import (
    NORM_LAYERS, AttentionPoolLatent, DropPath, GluMlp, Mlp, PatchEmbed, SwiGLU, _KeepsAttention,
    _pair, _softmax_attention, feature_take_indices, format_intermediates, make_norm, patch_dropout,
    resample_abs_pos_embed)

ROPE_TYPES = ("cat", "mixed", "dinov3")
ATTN_TYPES = ("eva", "rope")
GLOBAL_POOLS = ('', 'avg', 'avgmax', 'max', 'token', 'map')


# ---- rotary position embeddings ---------------------------------------------------------------------

def rope_cat_table(grid, head_dim, temperature=10000., grid_offset=0., grid_indexing='ij', ref_feat_shape=None):
    """timm's RotaryEmbeddingCat (in_pixels=False) for a (h, w) grid: (h*w, 2*head_dim) = [sin | cos]."""
    assert head_dim % 4 == 0, "rope needs head_dim divisible by 4"
    num_bands = head_dim // 4
    # ref: freq_bands(step=1)
    bands = 1. / (temperature ** (torch.arange(num_bands, dtype=torch.int64).to(torch.float32) / num_bands))
    shape = [int(s) for s in grid]
    ref = [int(s) for s in _pair(ref_feat_shape)] if ref_feat_shape is not None else None
    if grid_indexing == 'xy':  # the first axis becomes the column
        shape = shape[::-1]
        ref = ref[::-1] if ref is not None else None
    axes = [torch.arange(n, dtype=torch.int64).to(torch.float32) + grid_offset for n in shape]
    if ref is not None:  # EVA's resize scheme: positions in units of the reference (pretraining) grid
        axes = [t / n * r for t, n, r in zip(axes, shape, ref)]
    coords = torch.stack(torch.meshgrid(axes[0], axes[1], indexing=grid_indexing), dim=-1)  # (h, w, 2)
    angles = coords.unsqueeze(-1) * bands  # (h, w, 2, hd/4)
    n = shape[0] * shape[1]
    sin = angles.sin().reshape(n, -1).repeat_interleave(2, -1)
    cos = angles.cos().reshape(n, -1).repeat_interleave(2, -1)
    return torch.cat([sin, cos], dim=-1)


def rope_mixed_init(head_dim, depth, num_heads, temperature=10.):
    """RoPE-Mixed's initial frequencies (2, depth, heads, hd/2): magnitudes 1 / temperature ** (4k / hd),
    k < hd/4, in a random direction per block and head (angle a): x = [m cos a, m cos(a + pi/2)],
    y = [m sin a, m sin(a + pi/2)]."""
    mag = 1. / (temperature ** (torch.arange(0, head_dim, 4, dtype=torch.float32) / head_dim))
    angle = torch.rand(depth, num_heads, 1) * 2 * math.pi
    fx = torch.cat([mag * torch.cos(angle), mag * torch.cos(angle + math.pi / 2)], dim=-1)
    fy = torch.cat([mag * torch.sin(angle), mag * torch.sin(angle + math.pi / 2)], dim=-1)
    return torch.stack([fx, fy], dim=0)


def rope_mixed_table(freqs, grid, grid_indexing='ij'):
    """timm's RotaryEmbeddingMixed for a (h, w) grid: (depth, heads, h*w, 2*head_dim) from freqs
    (2, depth, heads, hd/2)."""
    h, w = (int(s) for s in grid)
    if grid_indexing == 'xy':
        t_x, t_y = torch.meshgrid(torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32),
                                  indexing='xy')  # (h, w): t_x = column, t_y = row
    else:
        t_x, t_y = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                  indexing='ij')  # t_x = row, t_y = column
    t_x, t_y = t_x.flatten(), t_y.flatten()
    f = freqs.float()
    angles = t_x[:, None] * f[0][..., None, :] + t_y[:, None] * f[1][..., None, :]  # (depth, heads, N, hd/2)
    sin = angles.sin().repeat_interleave(2, -1)
    cos = angles.cos().repeat_interleave(2, -1)
    return torch.cat([sin, cos], dim=-1).to(freqs.dtype)


def rope_dinov3_table(grid, head_dim, temperature=100., grid_indexing='ij'):
    """timm's RotaryEmbeddingDinoV3 (normalize_coords 'separate', no offset, no augmentation) for a
    (h, w) grid: (h*w, 2*head_dim), always in the tiled ('half') layout."""
    assert head_dim % 4 == 0, "rope needs head_dim divisible by 4"
    h, w = (int(s) for s in grid)
    quarter = head_dim // 4
    periods = float(temperature) ** (2.0 * torch.arange(quarter, dtype=torch.float32) / (head_dim // 2))
    ch = (torch.arange(0.5, h, dtype=torch.float32) + 0.) / float(h)
    cw = (torch.arange(0.5, w, dtype=torch.float32) + 0.) / float(w)
    if grid_indexing == 'xy':
        gw, gh = torch.meshgrid(cw, ch, indexing='xy')
        coords = torch.stack([gh, gw], dim=-1)
    else:
        coords = torch.stack(torch.meshgrid(ch, cw, indexing='ij'), dim=-1)
    coords = 2.0 * coords.flatten(0, 1) - 1.0  # (N, 2) in [-1, 1]
    angles = (2 * math.pi * coords[:, :, None] / periods[None, None, :]).flatten(1)  # (N, hd/2)
    angles = angles.tile(2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def rotate_interleaved(x):
    """[x0, x1, x2, x3, ...] -> [-x1, x0, -x3, x2, ...]"""
    return torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape(x.shape)


def rotate_halves(x):
    """[a | b] (halves of the last dim) -> [-b | a]"""
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def apply_rope(x, table, rotate_half=False):
    """x * cos + rot(x) * sin, table = [sin | cos] on its last dim (timm's apply_rot_embed_cat)."""
    sin, cos = table.chunk(2, dim=-1)
    return x * cos + (rotate_halves(x) if rotate_half else rotate_interleaved(x)) * sin


class EvaRope(nn.Module):
    """The model's `rope`: the table of one rope_type for a grid. Only 'mixed' has state, its parameter
    `freqs` (2, depth, heads, head_dim/2). As in timm's Eva, grid_offset and ref_feat_shape are used by
    'cat' only, and 'dinov3' has no offset."""

    def __init__(self, rope_type='cat', embed_dim=768, num_heads=12, depth=12, temperature=10000., grid_offset=0.,
                 grid_indexing='ij', ref_feat_shape=None):
        super().__init__()
        assert rope_type in ROPE_TYPES, f"unknown rope_type {rope_type!r} (expected one of {ROPE_TYPES})"
        assert grid_indexing in ('ij', 'xy'), f"unknown grid_indexing {grid_indexing!r}"
        self.rope_type = rope_type
        self.head_dim = embed_dim // num_heads
        assert self.head_dim % 4 == 0, f"rope needs head_dim divisible by 4, got {self.head_dim}"
        self.temperature = temperature
        self.grid_offset = grid_offset
        self.grid_indexing = grid_indexing
        self.ref_feat_shape = ref_feat_shape
        if rope_type == 'mixed':
            self.freqs = nn.Parameter(rope_mixed_init(self.head_dim, depth, num_heads, temperature))
        else:
            self.freqs = None

    def get_embed(self, grid):
        """(h*w, 2*head_dim), or for 'mixed' (depth, heads, h*w, 2*head_dim)."""
        if self.rope_type == 'cat':
            return rope_cat_table(grid, self.head_dim, self.temperature, self.grid_offset, self.grid_indexing,
                                  self.ref_feat_shape)
        if self.rope_type == 'mixed':
            return rope_mixed_table(self.freqs, grid, self.grid_indexing)
        return rope_dinov3_table(grid, self.head_dim, self.temperature, self.grid_indexing)


class RopeApply(EvaRope):
    """One rotary embedding applied as Eva's attention applies it, for tests: forward(x) with x
    (B, heads, h*w, head_dim) of the `grid` (h, w) -> x rotated (every token: no prefix here).
    'mixed' uses its table of block `block`. rotate_half picks the rotation (for 'dinov3' the table
    stays tiled either way, as in timm's Eva)."""

    def __init__(self, rope_type='cat', embed_dim=64, num_heads=4, depth=1, grid=(4, 4), temperature=10000.,
                 grid_offset=0., grid_indexing='ij', ref_feat_shape=None, rotate_half=False, block=0):
        super().__init__(rope_type, embed_dim, num_heads, depth, temperature, grid_offset, grid_indexing,
                         ref_feat_shape)
        self.grid = tuple(int(s) for s in grid)
        self.rotate_half = rotate_half
        self.block = block

    def forward(self, x):
        table = self.get_embed(self.grid)
        if self.rope_type == 'mixed':
            table = table[self.block]
        return apply_rope(x, table, self.rotate_half)


# ---- attention and block ----------------------------------------------------------------------------

class EvaAttention(_KeepsAttention, nn.Module):
    """attn_type 'eva' (timm's EvaAttention): fused qkv has no bias of its own; with qkv_bias, q_bias and
    v_bias (the k bias is zero, not stored); separate q_proj, k_proj (never a bias), v_proj.
    attn_type 'rope' (timm's AttentionRope): qkv (or q/k/v_proj) with bias qkv_bias.
    scale_norm: norm_layer (eps norm_eps) over the attention output before proj. forward(x, rope):
    the rope table (N - num_prefix_tokens, 2*head_dim) or per head (heads, N - npt, 2*head_dim)
    rotates q and k of the tokens after the num_prefix_tokens first (rotate_half: the half layout).
    timm's own default is scale_norm=True for 'eva'; ours is False (the blocks always pass it).
    rel_pos_window [h, w] (BEiT's Attention window_size): a parameter relative_position_bias_table
    ((2h-1)(2w-1) + 3, heads), zeros at init, in BEiT's class-token layout (needs num_prefix_tokens 1, inputs
    of h*w + 1 tokens); its bias (heads, N, N) is added to the logits q * scale k^T, then forward's
    attn_bias (the model's shared one), before the softmax."""

    def __init__(self, dim, num_heads=8, qkv_bias=True, qkv_fused=True, attn_type='eva', num_prefix_tokens=1,
                 attn_drop=0., proj_drop=0., scale_norm=False, norm_layer='layernorm', norm_eps=1e-6,
                 rotate_half=False, rel_pos_window=None):
        super().__init__()
        assert attn_type in ATTN_TYPES, f"unknown attn_type {attn_type!r} (expected one of {ATTN_TYPES})"
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.num_prefix_tokens = num_prefix_tokens
        self.rotate_half = rotate_half
        self.q_bias = self.v_bias = None
        self.qkv = self.q_proj = self.k_proj = self.v_proj = None
        if qkv_fused:
            if attn_type == 'eva':
                self.qkv = nn.Linear(dim, dim * 3, bias=False)
                if qkv_bias:
                    self.q_bias = nn.Parameter(torch.zeros(dim))
                    self.v_bias = nn.Parameter(torch.zeros(dim))
            else:
                self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        else:
            self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)
            self.k_proj = nn.Linear(dim, dim, bias=qkv_bias and attn_type == 'rope')
            self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)
        self.rel_pos_window = None
        self.relative_position_bias_table = None
        if rel_pos_window is not None:
            if num_prefix_tokens != 1:
                raise ValueError(f"rel_pos_window needs exactly one prefix token (the class token), got {num_prefix_tokens}")
            self.rel_pos_window = tuple(int(s) for s in _pair(rel_pos_window))
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros(relative_position_table_size(self.rel_pos_window, True), num_heads))
        self.attn_drop = nn.Dropout(attn_drop)
        self.norm = make_norm(norm_layer, dim, norm_eps) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, rope=None, attn_bias=None):
        b, n, c = x.shape
        if self.qkv is not None:
            if self.q_bias is not None:  # the k part of the bias is zero
                bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
                qkv = F.linear(x, self.qkv.weight, bias)
            else:
                qkv = self.qkv(x)
            q, k, v = qkv.reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q = self.q_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
            k = self.k_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
            v = self.v_proj(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        if rope is not None:
            npt = self.num_prefix_tokens
            q = torch.cat([q[:, :, :npt], apply_rope(q[:, :, npt:], rope, self.rotate_half)], dim=2).type_as(v)
            k = torch.cat([k[:, :, :npt], apply_rope(k[:, :, npt:], rope, self.rotate_half)], dim=2).type_as(v)
        biases = []
        if self.relative_position_bias_table is not None:
            h, w = self.rel_pos_window
            if n != h * w + 1:
                raise ValueError(f"the relative position bias is for {h}x{w} patches and a class token "
                                 f"({h * w + 1} tokens), got {n} tokens")
            biases.append(relative_position_bias(self.relative_position_bias_table, self.rel_pos_window, True))
        if attn_bias is not None:
            biases.append(attn_bias)
        x = (_softmax_attention(self, q, k, self.scale, biases) @ v).transpose(1, 2).reshape(b, n, c)
        x = self.norm(x)
        return self.proj_drop(self.proj(x))


def swiglu_hidden(hidden, align_to):
    """SwiGLU's hidden width rounded up to a multiple of align_to (0: unchanged)."""
    return hidden + (-hidden % align_to) if align_to else hidden


class EvaBlock(nn.Module):
    """timm's EvaBlock (pre-norm): x + [gamma_1 *] attn(norm1(x), rope), then x + [gamma_2 *] mlp(norm2(x));
    gamma_1/gamma_2 (LayerScale, start at init_values) when init_values is not None.
    use_post_norm (timm's EvaBlockPostNorm): x + norm1(attn(x, rope)), then x + norm2(mlp(x)), no gammas.
    The mlp: swiglu_mlp -> SwiGLU (separate fc1_g / fc1_x, hidden int(dim*mlp_ratio) rounded up to
    swiglu_align_to, norm over hidden with scale_mlp) when scale_mlp or (pre-norm only) swiglu_align_to,
    else GluMlp packed (fc1 to 2*hidden, silu on the first half, no norm; align_to ignored);
    otherwise Mlp (gelu, norm over hidden with scale_mlp). scale_attn_inner: the attention's scale_norm.
    `proj_drop` is the projection dropout of attn and mlp (also the mlps' hidden dropout).
    rel_pos_window: the attention's own relative-position bias (EvaAttention); forward's attn_bias goes to
    the attention (BEiT's Block with shared_rel_pos_bias)."""

    def __init__(self, dim, num_heads, qkv_bias=True, qkv_fused=True, mlp_ratio=4., swiglu_mlp=False,
                 swiglu_align_to=0, scale_mlp=False, scale_attn_inner=False, num_prefix_tokens=1, attn_type='eva',
                 rotate_half=False, proj_drop=0., attn_drop=0., drop_path=0., init_values=None,
                 norm_layer='layernorm', norm_eps=1e-6, use_post_norm=False, rel_pos_window=None):
        super().__init__()
        self.use_post_norm = use_post_norm
        norm = lambda: make_norm(norm_layer, dim, norm_eps)  # noqa: E731
        attn = lambda: EvaAttention(dim, num_heads=num_heads, qkv_bias=qkv_bias, qkv_fused=qkv_fused,  # noqa: E731
                                    attn_type=attn_type, num_prefix_tokens=num_prefix_tokens, attn_drop=attn_drop,
                                    proj_drop=proj_drop, scale_norm=scale_attn_inner, norm_layer=norm_layer,
                                    norm_eps=norm_eps, rotate_half=rotate_half, rel_pos_window=rel_pos_window)
        hidden = int(dim * mlp_ratio)
        norm_kw = dict(norm_layer=norm_layer, norm_eps=norm_eps)
        if swiglu_mlp and (scale_mlp or (swiglu_align_to and not use_post_norm)):
            mlp = lambda: SwiGLU(dim, swiglu_hidden(hidden, swiglu_align_to), drop=proj_drop,  # noqa: E731
                                 act_layer="silu", scale_norm=scale_mlp, **norm_kw)
        elif swiglu_mlp:
            mlp = lambda: GluMlp(dim, hidden * 2, drop=proj_drop, act_layer="silu", gate_last=False)  # noqa: E731
        else:
            mlp = lambda: Mlp(dim, hidden, drop=proj_drop, act_layer="gelu", scale_norm=scale_mlp,  # noqa: E731
                              **norm_kw)
        self.gamma_1 = self.gamma_2 = None
        if use_post_norm:
            self.attn = attn()
            self.norm1 = norm()
            self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
            self.mlp = mlp()
            self.norm2 = norm()
            self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        else:
            self.norm1 = norm()
            self.attn = attn()
            if init_values is not None:
                self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.drop_path1 = DropPath(drop_path) if drop_path > 0. else nn.Identity()
            self.norm2 = norm()
            self.mlp = mlp()
            if init_values is not None:
                self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
            self.drop_path2 = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def attention_layers(self):
        return [self.attn]

    def forward(self, x, rope=None, attn_bias=None):
        if self.use_post_norm:
            x = x + self.drop_path1(self.norm1(self.attn(x, rope=rope, attn_bias=attn_bias)))
            return x + self.drop_path2(self.norm2(self.mlp(x)))
        if self.gamma_1 is None:
            x = x + self.drop_path1(self.attn(self.norm1(x), rope=rope, attn_bias=attn_bias))
            return x + self.drop_path2(self.mlp(self.norm2(x)))
        x = x + self.drop_path1(self.gamma_1 * self.attn(self.norm1(x), rope=rope, attn_bias=attn_bias))
        return x + self.drop_path2(self.gamma_2 * self.mlp(self.norm2(x)))


# ---- the model --------------------------------------------------------------------------------------

class Eva(nn.Module):
    """timm's Eva. Norms (all norm_layer, eps norm_eps): norm_pre with use_pre_transformer_norm (the
    patch projection then has no bias); fc_norm = use_fc_norm, None: on for global_pool 'avg' only;
    norm (after the blocks) = use_post_transformer_norm, None: on when fc_norm is off.
    Pooling: 'map' pools over ALL tokens, prefix tokens included (AttentionPoolLatent with
    attn_pool_num_heads or num_heads, attn_pool_mlp_ratio or mlp_ratio, gelu); 'token' takes token 0
    (whatever it is); 'avg' / 'max' / 'avgmax' reduce the patch tokens. drop_rate is head dropout
    (after fc_norm), pos_drop_rate the dropout after the position embedding (applied even without
    one), patch_drop_rate patch dropout in training after it (the rope tables follow each image's kept
    patches). RoPE (use_rot_pos_emb): rope_type 'cat' | 'mixed' | 'dinov3' on the grid of each input
    (timm caches it for img_size; same values), applied to the patch tokens of every block ('mixed':
    block i uses its table i). dynamic_img_size: inputs of any size (multiple of the patch, or any
    with dynamic_img_pad), pos_embed resampled (bicubic, antialiased) from the img_size grid.
    BEiT (timm's Beit): use_rel_pos_bias gives every block's attention its own relative_position_bias_table
    (EvaAttention rel_pos_window = the patch grid at img_size); use_shared_rel_pos_bias a model module
    rel_pos_bias (RelPosBias with the class token, after rope, before norm_pre) whose bias every block adds
    after its own. Both need exactly one prefix token (class_token, no register tokens), no rotary
    embedding, no patch dropout, and inputs whose patch grid is the img_size one; tables start at zero."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, global_pool='avg', embed_dim=768,
                 depth=12, num_heads=12, qkv_bias=True, qkv_fused=True, mlp_ratio=4., swiglu_mlp=False,
                 swiglu_align_to=0, scale_mlp=False, scale_attn_inner=False, attn_type='eva', drop_rate=0.,
                 pos_drop_rate=0., patch_drop_rate=0., proj_drop_rate=0., attn_drop_rate=0., drop_path_rate=0., norm_layer='layernorm',
                 norm_eps=1e-6, init_values=None, class_token=True, num_reg_tokens=0, no_embed_class=False,
                 use_abs_pos_emb=True, use_rot_pos_emb=False, rope_type='cat', rope_grid_offset=0.,
                 rope_grid_indexing='ij', rope_temperature=10000., rope_rotate_half=False, use_post_norm=False,
                 use_pre_transformer_norm=False, use_post_transformer_norm=None, use_fc_norm=None,
                 attn_pool_num_heads=None, attn_pool_mlp_ratio=None, dynamic_img_size=False, dynamic_img_pad=False,
                 ref_feat_shape=None, use_rel_pos_bias=False, use_shared_rel_pos_bias=False):
        super().__init__()
        assert global_pool in GLOBAL_POOLS, f"unknown global_pool {global_pool!r}"
        assert attn_type in ATTN_TYPES, f"unknown attn_type {attn_type!r}"
        assert norm_layer in NORM_LAYERS, f"unknown norm_layer {norm_layer!r}"
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.embed_dim = embed_dim
        self.num_prefix_tokens = int(class_token) + num_reg_tokens
        self.no_embed_class = no_embed_class
        self.dynamic_img_size = dynamic_img_size
        if use_rel_pos_bias or use_shared_rel_pos_bias:
            if not class_token or num_reg_tokens:
                raise ValueError("use_rel_pos_bias / use_shared_rel_pos_bias need exactly one prefix token: class_token "
                                 f"and no register tokens (class_token={class_token}, num_reg_tokens={num_reg_tokens})")
            if use_rot_pos_emb:
                raise ValueError("use_rel_pos_bias / use_shared_rel_pos_bias do not go with use_rot_pos_emb")
            if patch_drop_rate > 0.:
                raise ValueError("use_rel_pos_bias / use_shared_rel_pos_bias do not work with patch dropout "
                                 "(the bias is for every patch)")
        fc_norm_on = global_pool == 'avg' if use_fc_norm is None else use_fc_norm
        post_norm_on = not fc_norm_on if use_post_transformer_norm is None else use_post_transformer_norm
        norm = lambda: make_norm(norm_layer, embed_dim, norm_eps)  # noqa: E731

        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, bias=not use_pre_transformer_norm,
                                      strict_img_size=not dynamic_img_size, dynamic_img_pad=dynamic_img_pad)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.reg_token = nn.Parameter(torch.zeros(1, num_reg_tokens, embed_dim)) if num_reg_tokens else None
        num_pos = num_patches if no_embed_class else num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, num_pos, embed_dim)) if use_abs_pos_emb else None
        self.pos_drop = nn.Dropout(p=pos_drop_rate)
        self.patch_drop_rate = patch_drop_rate
        if use_rot_pos_emb:
            self.rope = EvaRope(rope_type, embed_dim, num_heads, depth, rope_temperature, rope_grid_offset,
                                rope_grid_indexing, ref_feat_shape)
        else:
            self.rope = None
        grid = self.patch_embed.grid_size
        self.rel_pos_window = grid if use_rel_pos_bias or use_shared_rel_pos_bias else None
        self.rel_pos_bias = RelPosBias(grid, num_heads, prefix_tokens=1) if use_shared_rel_pos_bias else None
        self.norm_pre = norm() if use_pre_transformer_norm else nn.Identity()
        dpr = [r.item() for r in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.ModuleList([
            EvaBlock(embed_dim, num_heads, qkv_bias=qkv_bias, qkv_fused=qkv_fused, mlp_ratio=mlp_ratio,
                     swiglu_mlp=swiglu_mlp, swiglu_align_to=swiglu_align_to, scale_mlp=scale_mlp,
                     scale_attn_inner=scale_attn_inner, num_prefix_tokens=self.num_prefix_tokens, attn_type=attn_type,
                     rotate_half=rope_rotate_half, proj_drop=proj_drop_rate, attn_drop=attn_drop_rate,
                     drop_path=dpr[i], init_values=init_values, norm_layer=norm_layer, norm_eps=norm_eps,
                     use_post_norm=use_post_norm, rel_pos_window=list(grid) if use_rel_pos_bias else None)
            for i in range(depth)])
        self.norm = norm() if post_norm_on else nn.Identity()
        if global_pool == 'map':
            self.attn_pool = AttentionPoolLatent(embed_dim, num_heads=attn_pool_num_heads or num_heads,
                                                 mlp_ratio=attn_pool_mlp_ratio or mlp_ratio, norm_layer=norm_layer,
                                                 norm_eps=norm_eps, act_layer="gelu")
        else:
            self.attn_pool = None
        self.fc_norm = norm() if fc_norm_on else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.init_weights()

    def init_weights(self, head_init_scale=0.001):
        """timm's init: Linear weights trunc_normal(.02) and zero biases; tokens and pos_embed
        trunc_normal(.02); attn.proj and mlp.fc2 weights of block i divided by sqrt(2 (i + 1)); the head
        scaled by head_init_scale. q/v biases and relative-position tables start at zero, gammas at
        init_values, norms at one, the 'mixed' frequencies as RoPE-Mixed draws them (the attention pool's
        latent keeps its own init)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for p in (self.pos_embed, self.cls_token, self.reg_token):
            if p is not None:
                nn.init.trunc_normal_(p, std=.02)
        with torch.no_grad():
            if self.rel_pos_bias is not None:
                self.rel_pos_bias.relative_position_bias_table.zero_()
            for i, blk in enumerate(self.blocks):
                scale = math.sqrt(2.0 * (i + 1))
                blk.attn.proj.weight.div_(scale)
                blk.mlp.fc2.weight.div_(scale)
            if isinstance(self.head, nn.Linear):
                self.head.weight.mul_(head_init_scale)
                self.head.bias.mul_(head_init_scale)

    # ---- forward ---------------------------------------------------------------------------------

    def _resampled_pos_embed(self, grid):
        """pos_embed for a (h, w) token grid (dynamic_img_size), as timm's resample_abs_pos_embed: kept
        as is when the token count matches and the new grid is square, else resampled from img_size's."""
        npt = 0 if self.no_embed_class else self.num_prefix_tokens
        if grid[0] * grid[1] + npt == self.pos_embed.shape[1] and grid[0] == grid[1]:
            return self.pos_embed
        return resample_abs_pos_embed(self.pos_embed, grid, self.patch_embed.grid_size, npt)

    def _embed(self, x):
        """Image (B, C, H, W) -> (the token sequence the first block sees, the rope table: None, (N, 2*hd)
        or for 'mixed' (depth, heads, N, 2*hd), N = patch tokens)."""
        _, _, h, w = x.shape
        grid = self.patch_embed.feat_size(h, w)
        if self.rel_pos_window is not None and tuple(grid) != tuple(self.rel_pos_window):
            raise ValueError(f"the relative position bias is for a {self.rel_pos_window[0]}x{self.rel_pos_window[1]} "
                             f"patch grid (img_size), the input gives {grid[0]}x{grid[1]}")
        x = self.patch_embed(x)
        pos_embed = self.pos_embed
        if self.dynamic_img_size and pos_embed is not None:
            pos_embed = self._resampled_pos_embed(grid)
        rope = self.rope.get_embed(grid) if self.rope is not None else None
        prefix = [t.expand(x.shape[0], -1, -1) for t in (self.cls_token, self.reg_token) if t is not None]
        if self.no_embed_class:
            if pos_embed is not None:
                x = x + pos_embed
            x = torch.cat(prefix + [x], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1)
            if pos_embed is not None:
                x = x + pos_embed
        x = self.pos_drop(x)
        x, keep = patch_dropout(x, self.patch_drop_rate, self.num_prefix_tokens, self.training)
        if keep is not None and rope is not None:  # each image's rows of the table
            if self.rope.rope_type == 'mixed':  # (depth, heads, N, C) -> (depth, B, heads, kept, C)
                rope = torch.stack([rope[:, :, k] for k in keep], dim=1)
            else:  # (N, C) -> (B, 1, kept, C)
                rope = torch.stack([rope[k] for k in keep]).unsqueeze(1)
        return self.norm_pre(x), rope

    def _shared_bias(self):
        """The shared relative-position bias (heads, N, N) every block adds, or None."""
        return self.rel_pos_bias.get_bias() if self.rel_pos_bias is not None else None

    def _block_rope(self, rope, i):
        if rope is None or self.rope.rope_type != 'mixed':
            return rope
        return rope[i]

    def forward_features(self, x):
        x, rope = self._embed(x)
        attn_bias = self._shared_bias()
        for i, blk in enumerate(self.blocks):
            x = blk(x, rope=self._block_rope(rope, i), attn_bias=attn_bias)
        return self.norm(x)

    def pool(self, x):
        """'map': the attention pool over all tokens; 'token': x[:, 0]; 'avg' / 'max' / 'avgmax' over the
        patch tokens; '': no pooling."""
        if self.attn_pool is not None:
            return self.attn_pool(x)
        if not self.global_pool:
            return x
        if self.global_pool == 'token':
            return x[:, 0]
        x = x[:, self.num_prefix_tokens:]
        if self.global_pool == 'avg':
            return x.mean(dim=1)
        if self.global_pool == 'max':
            return x.amax(dim=1)
        return 0.5 * (x.amax(dim=1) + x.mean(dim=1))  # avgmax

    def forward_head(self, x, pre_logits=False):
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    # ---- features --------------------------------------------------------------------------------

    def forward_intermediates(self, x, indices=None, norm=False, output_fmt="NCHW", intermediates_only=False,
                              return_prefix_tokens=False, stop_early=False):
        """timm's Eva.forward_intermediates, with the semantics of VisionTransformer's (see
        vision_transformer.py): the outputs of the blocks feature_take_indices(depth, indices) names,
        [self.norm'ed], prefix tokens split off, NCHW (B, D, h, w) or NLC; return_prefix_tokens pairs
        them with their prefix tokens (B, num_prefix_tokens, D) when the model has some (timm raises
        when it has none; we return the plain list). Returns the list (intermediates_only) or
        (norm(final tokens), list); stop_early skips the blocks after the last one taken."""
        assert output_fmt in ('NCHW', 'NLC'), 'Output format must be one of NCHW or NLC.'
        take, max_index = feature_take_indices(len(self.blocks), indices)
        height, width = x.shape[2:]
        x, rope = self._embed(x)
        attn_bias = self._shared_bias()
        blocks = self.blocks[:max_index + 1] if stop_early else self.blocks
        intermediates = []
        for i, blk in enumerate(blocks):
            x = blk(x, rope=self._block_rope(rope, i), attn_bias=attn_bias)
            if i in take:
                intermediates.append(self.norm(x) if norm else x)
        intermediates = format_intermediates(intermediates, self.num_prefix_tokens, output_fmt,
                                             self.patch_embed.feat_size(height, width), return_prefix_tokens)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(self, indices=1, prune_norm=False, prune_head=True):
        """timm's: drops the blocks after the last one `indices` takes; prune_norm: norm -> Identity;
        prune_head: attn_pool, fc_norm and head go, num_classes 0, global_pool '' (forward then returns
        the token sequence). Beyond timm: a 'mixed' rope's freqs are cut to the kept blocks
        (rope.freqs (2, kept depth, heads, hd/2); timm keeps all, the outputs are the same).
        Returns the taken indices."""
        take, max_index = feature_take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[:max_index + 1]
        if self.rope is not None and self.rope.freqs is not None:
            self.rope.freqs = nn.Parameter(self.rope.freqs.detach()[:, :max_index + 1].clone())
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.attn_pool = None
            self.fc_norm = nn.Identity()
            self.num_classes = 0
            self.global_pool = ''
            self.head = nn.Identity()
        return take

    def attention_maps(self, x, indices=None):
        """The softmax attention probabilities (B, heads, N, N), N = all tokens incl. prefix, of the blocks
        feature_take_indices(depth, indices) names, in block order (what timm's AttentionExtract captures
        at attn_drop with fused attention off). Runs the blocks up to the last one taken."""
        take, max_index = feature_take_indices(len(self.blocks), indices)
        x, rope = self._embed(x)
        attn_bias = self._shared_bias()
        maps = []
        for i, blk in enumerate(self.blocks[:max_index + 1]):
            layer = blk.attn
            layer.keep_attention = i in take
            try:
                x = blk(x, rope=self._block_rope(rope, i), attn_bias=attn_bias)
                if i in take:
                    maps.append(layer.attention)
            finally:
                layer.keep_attention, layer.attention = False, None
        return maps
