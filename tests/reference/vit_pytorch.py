"""Reference PyTorch implementation of lucidrains' vit-pytorch ViT of vit-pytorch 0.35.x:
PreNorm, Attention, FeedForward, Transformer, ViT with cls or mean pooling, and the later layouts
(layout="1.0": dual patch norm; layout="current": norms inside the blocks, transformer.norm, plain
Linear head, 2-D tokens, no cls token with mean pooling). einops is replaced by reshape/permute.
Written for vitcpp's tests; C++ counterpart: include/vit/vit_pytorch.h."""
import torch
from torch import nn


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class PatchRearrange(nn.Module):
    """Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)')"""

    def __init__(self, p1, p2):
        super().__init__()
        self.p1, self.p2 = p1, p2

    def forward(self, x):
        b, c, hh, ww = x.shape
        h, w = hh // self.p1, ww // self.p2
        x = x.view(b, c, h, self.p1, w, self.p2)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(b, h * w, self.p1 * self.p2 * c)


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim, dropout=0., norm=False):
        super().__init__()
        layers = [nn.LayerNorm(dim)] if norm else []
        self.net = nn.Sequential(*layers, nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_dim, dim), nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim, heads=8, dim_head=64, dropout=0., norm=False, attn_dropout=False):
        super().__init__()
        inner_dim = dim_head * heads
        project_out = not (heads == 1 and dim_head == dim)
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.norm = nn.LayerNorm(dim) if norm else nn.Identity()
        self.attend = nn.Softmax(dim=-1)
        self.dropout = nn.Dropout(dropout if attn_dropout else 0.)
        self.to_qkv = nn.Linear(dim, inner_dim * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner_dim, dim), nn.Dropout(dropout)) if project_out else nn.Identity()

    def forward(self, x):
        x = self.norm(x)
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.to_qkv(x).chunk(3, dim=-1))
        dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        out = torch.matmul(self.dropout(self.attend(dots)), v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class Transformer(nn.Module):
    def __init__(self, dim, depth, heads, dim_head, mlp_dim, dropout=0., layout="0.35"):
        super().__init__()
        current = layout == "current"
        self.norm = nn.LayerNorm(dim) if current else nn.Identity()
        self.layers = nn.ModuleList([])
        for _ in range(depth):
            attn = Attention(dim, heads=heads, dim_head=dim_head, dropout=dropout, norm=current,
                             attn_dropout=layout != "0.35")
            ff = FeedForward(dim, mlp_dim, dropout=dropout, norm=current)
            self.layers.append(nn.ModuleList([attn, ff] if current else [PreNorm(dim, attn), PreNorm(dim, ff)]))

    def forward(self, x):
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class ViT(nn.Module):
    def __init__(self, *, image_size, patch_size, num_classes, dim, depth, heads, mlp_dim, pool='cls', channels=3,
                 dim_head=64, dropout=0., emb_dropout=0., layout="0.35"):
        super().__init__()
        ih, iw = _pair(image_size)
        ph, pw = _pair(patch_size)
        assert ih % ph == 0 and iw % pw == 0
        assert pool in {'cls', 'mean'}
        num_patches = (ih // ph) * (iw // pw)
        patch_dim = channels * ph * pw
        if layout == "0.35":
            self.to_patch_embedding = nn.Sequential(PatchRearrange(ph, pw), nn.Linear(patch_dim, dim))
        else:
            self.to_patch_embedding = nn.Sequential(PatchRearrange(ph, pw), nn.LayerNorm(patch_dim),
                                                    nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        if layout == "current":
            n_cls = 1 if pool == "cls" else 0
            self.cls_token = nn.Parameter(torch.randn(n_cls, dim))
            self.pos_embedding = nn.Parameter(torch.randn(num_patches + n_cls, dim))
        else:
            self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.dropout = nn.Dropout(emb_dropout)
        self.transformer = Transformer(dim, depth, heads, dim_head, mlp_dim, dropout, layout)
        self.pool = pool
        self.to_latent = nn.Identity()
        if layout == "current":
            self.mlp_head = nn.Linear(dim, num_classes)
        else:
            self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, img):
        x = self.to_patch_embedding(img)
        b, n, _ = x.shape
        cls = self.cls_token if self.cls_token.dim() == 3 else self.cls_token.unsqueeze(0)
        pos = self.pos_embedding if self.pos_embedding.dim() == 3 else self.pos_embedding.unsqueeze(0)
        x = torch.cat((cls.expand(b, -1, -1), x), dim=1)
        x = x + pos[:, :x.shape[1]]
        x = self.dropout(x)
        x = self.transformer(x)
        x = x.mean(dim=1) if self.pool == 'mean' else x[:, 0]
        return self.mlp_head(self.to_latent(x))
