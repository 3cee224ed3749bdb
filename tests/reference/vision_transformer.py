"""Reference PyTorch implementation of the timm Vision Transformer of timm 0.5.x: PatchEmbed,
Attention, Mlp, DropPath, Block, VisionTransformer with pre-logits and DeiT distillation, plus the
options of current timm (1.0.x): global_pool, class_token, reg_tokens, no_embed_class, init_values
(LayerScale), pre_norm, qk_norm, final_norm, fc_norm, dynamic_img_size.
Written for vitcpp's tests; C++ counterpart: include/vit/vision_transformer.h.
Construction order follows timm 0.5.x's __init__ so seeded builds draw the same random numbers."""
import torch
import torch.nn.functional as F
from torch import nn


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, norm_layer=False, flatten=True,
                 bias=True, strict_img_size=True):
        super().__init__()
        self.strict_img_size = strict_img_size
        self.img_size, self.patch_size = _pair(img_size), _pair(patch_size)
        self.grid_size = (self.img_size[0] // self.patch_size[0], self.img_size[1] // self.patch_size[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.flatten = flatten
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size, bias=bias)
        self.norm = nn.LayerNorm(embed_dim) if norm_layer else nn.Identity()

    def forward(self, x):
        _, _, h, w = x.shape
        if self.strict_img_size:
            assert (h, w) == self.img_size, f"Input image size ({h}*{w}) doesn't match model {self.img_size}"
        else:
            assert h % self.patch_size[0] == 0 and w % self.patch_size[1] == 0
        x = self.proj(x)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)
        return self.norm(x)


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0., qk_norm=False, norm_eps=1e-5):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(dim // num_heads, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(dim // num_heads, eps=norm_eps) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = self.q_norm(q), self.k_norm(k)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0.):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


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


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, drop=0., attn_drop=0., drop_path=0.,
                 norm_eps=1e-5, qk_norm=False, init_values=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop,
                              qk_norm=qk_norm, norm_eps=norm_eps)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), drop=drop)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x):
        x = x + self.drop_path(self.ls1(self.attn(self.norm1(x))))
        x = x + self.drop_path(self.ls2(self.mlp(self.norm2(x))))
        return x


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
    def __init__(self, img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4., qkv_bias=True, representation_size=None, distilled=False,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0., global_pool='token', class_token=True,
                 reg_tokens=0, no_embed_class=False, init_values=None, pre_norm=False, qk_norm=False,
                 final_norm=True, fc_norm=None, dynamic_img_size=False):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.global_pool = global_pool
        self.no_embed_class = no_embed_class
        self.dynamic_img_size = dynamic_img_size
        self.num_prefix_tokens = int(class_token) + int(distilled) + reg_tokens
        use_fc_norm = global_pool == 'avg' if fc_norm is None else fc_norm
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, bias=not pre_norm,
                                      strict_img_size=not dynamic_img_size)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if distilled else None
        self.reg_token = nn.Parameter(torch.zeros(1, reg_tokens, embed_dim)) if reg_tokens else None
        embed_len = num_patches if no_embed_class else num_patches + self.num_prefix_tokens
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_len, embed_dim))
        self.pos_drop = nn.Dropout(p=drop_rate)
        self.norm_pre = nn.LayerNorm(embed_dim, eps=1e-6) if pre_norm else nn.Identity()
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.Sequential(*[
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, dpr[i], norm_eps=1e-6,
                  qk_norm=qk_norm, init_values=init_values)
            for i in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6) if final_norm and not use_fc_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6) if final_norm and use_fc_norm else nn.Identity()
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

    def forward_features(self, x):
        b, _, h, w = x.shape
        x = self.patch_embed(x)
        pos_embed = self.pos_embed
        if self.dynamic_img_size:
            grid = (h // self.patch_embed.patch_size[0], w // self.patch_embed.patch_size[1])
            pos_embed = resample_abs_pos_embed(pos_embed, grid, self.patch_embed.grid_size,
                                               0 if self.no_embed_class else self.num_prefix_tokens)
        prefix = [t.expand(b, -1, -1) for t in (self.cls_token, self.dist_token, self.reg_token) if t is not None]
        if self.no_embed_class:
            x = torch.cat(prefix + [x + pos_embed], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + pos_embed
        x = self.norm_pre(self.pos_drop(x))
        return self.norm(self.blocks(x))

    def forward_head(self, x):
        if self.global_pool == 'avg':
            x = x[:, self.num_prefix_tokens:].mean(dim=1)
        elif self.global_pool == 'max':
            x = x[:, self.num_prefix_tokens:].amax(dim=1)
        elif self.global_pool == 'avgmax':
            x = 0.5 * (x[:, self.num_prefix_tokens:].mean(dim=1) + x[:, self.num_prefix_tokens:].amax(dim=1))
        elif self.global_pool == 'token':
            x = x[:, 0]
        return self.head(self.pre_logits(self.fc_norm(x)))

    def forward(self, x):
        """timm 0.5.x semantics: a distilled model returns (cls, dist) logits in training, their mean in eval."""
        x = self.forward_features(x)
        if self.head_dist is not None:
            x, x_dist = self.head(x[:, 0]), self.head_dist(x[:, 1])
            if self.training:
                return x, x_dist
            return (x + x_dist) / 2
        return self.forward_head(x)


class ResamplePosEmbed(nn.Module):
    """resample_abs_pos_embed as a module, so the golden generator can treat it like the others."""

    def __init__(self, new_size, old_size=None, num_prefix_tokens=1):
        super().__init__()
        self.new_size, self.old_size, self.num_prefix_tokens = new_size, old_size, num_prefix_tokens

    def forward(self, pos_embed):
        return resample_abs_pos_embed(pos_embed, self.new_size, self.old_size, self.num_prefix_tokens)
