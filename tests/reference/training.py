"""Python counterpart of include/vit/train.h and data.h: the losses (PyTorch's label-smoothed
cross-entropy and DeiT's DistillationLoss, written out here as DeiT's losses.py defines them), timm's
weight-decay and layer-decay parameter groups, the Trainer's steps (normalise, forward, loss,
backward, clip, AdamW), and timm's training transform (RandomResizedCrop, flip, ToTensor, Normalize)
with its random numbers given, so that C++ and Python draw the same boxes."""
import math
import re

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

NO_WEIGHT_DECAY = {"cls_token", "dist_token", "reg_token", "pos_embed", "pos_embedding"}


def weight_decay_groups(model, weight_decay):
    """timm's param_groups_weight_decay: 1-D parameters, biases and the no_weight_decay set are not decayed."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") or name in NO_WEIGHT_DECAY else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.}]


def smoothed_cross_entropy(logits, labels, smoothing):
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


def distillation_loss(cls, dist, labels, teacher, kind, alpha, tau, smoothing):
    """DeiT's DistillationLoss (losses.py) with a label-smoothed base criterion."""
    base = smoothed_cross_entropy(cls, labels, smoothing)
    if kind == "soft":
        kd = F.kl_div(F.log_softmax(dist / tau, dim=1), F.log_softmax(teacher / tau, dim=1),
                      reduction="sum", log_target=True) * (tau * tau) / dist.numel()
    else:
        kd = F.cross_entropy(dist, teacher.argmax(dim=1))
    return base * (1 - alpha) + kd * alpha


def normalise(images_u8, mean, std, channels=3):
    x = images_u8.float() / 255
    return ((x - mean) / std).expand(-1, channels, -1, -1)


def train_steps(model, images_u8, labels, steps, lr, weight_decay, smoothing, clip, mean, std):
    """`steps` full-batch steps at a constant learning rate (no augmentation, no dropout): the losses
    and the parameters after them."""
    model.train()
    opt = torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr)
    x = normalise(images_u8, mean, std)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = smoothed_cross_entropy(model(x), labels, smoothing)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64)


# ---- layer-wise learning-rate decay ---------------------------------------------------------------

MATCH_PREV_GROUP = 99999.


def layer_ids(model, family, distilled=False):
    """timm's group_matcher(coarse=False) as group_with_matcher(reverse=True) resolves it: each
    matching regex gives an ordinal (its group's position, then the captured block index, then the
    suffix); the sorted distinct ordinals are numbered from 0, an ordinal ending in MATCH_PREV_GROUP
    joining the one before it (the final norm joins the last block); unmatched names sort last.
    The VisionTransformer's stem is cls_token|reg_token|pos_embed|patch_embed (deit's distilled model
    adds dist_token); vit-pytorch (no group_matcher in timm) is grouped the same way over its names."""
    if family == "timm":
        stem = r"^cls_token|reg_token|pos_embed|patch_embed" + ("|dist_token" if distilled else "")
        matchers = [(stem, (0.,), ()), (r"^blocks\.(\d+)", (1.,), ()), (r"^norm", (1.,), (MATCH_PREV_GROUP,))]
    else:
        matchers = [(r"^to_patch_embedding|cls_token|pos_embedding", (0.,), ()),
                    (r"^transformer\.layers\.(\d+)", (1.,), ()), (r"^transformer\.norm", (1.,), (MATCH_PREV_GROUP,))]
    matchers = [(re.compile(rx), prefix, suffix) for rx, prefix, suffix in matchers]

    def ordinal(name):
        for rx, prefix, suffix in matchers:
            m = rx.match(name)
            if m:
                return prefix + tuple(float(g) for g in m.groups()) + suffix
        return (math.inf,)

    ordinals = {name: ordinal(name) for name, _ in model.named_parameters()}
    number, lid = {}, -1
    for key in sorted(set(ordinals.values())):
        if lid < 0 or key[-1] != MATCH_PREV_GROUP:
            lid += 1
        number[key] = lid
    return {name: number[key] for name, key in ordinals.items()}


def param_groups(model, family, weight_decay, layer_decay=1., freeze=False, classifier=("head",), distilled=False):
    """Per trained parameter, (lr_scale, weight_decay): timm's param_groups_layer_decay (scale
    layer_decay ** (max layer - layer)) or, at layer_decay 1, param_groups_weight_decay (scale 1);
    1-D parameters, biases and the no_weight_decay names are not decayed. With `freeze`, only the
    classifier's parameters train."""
    ids = layer_ids(model, family, distilled)
    top = max(ids.values())
    out = {}
    for name, p in model.named_parameters():
        if freeze and not any(name.startswith(c + ".") for c in classifier):
            continue
        decay = not (p.ndim <= 1 or name.endswith(".bias") or name in NO_WEIGHT_DECAY)
        scale = layer_decay ** (top - ids[name]) if layer_decay < 1 else 1.
        out[name] = (scale, weight_decay if decay else 0.)
    return out


# ---- timm's training transform ----------------------------------------------------------------------

def random_resized_crop_box(width, height, scale, ratio, uniform):
    """RandomResizedCrop.get_params (torchvision's, as timm's RandomResizedCropAndInterpolation has
    it) with `uniform()` in [0, 1) for each draw: random.uniform(a, b) = a + (b - a) u and
    random.randint(0, n) = floor(u (n + 1)). Returns (left, top, width, height)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * uniform())
        aspect_ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * uniform())
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = min(height - h, math.floor(uniform() * (height - h + 1)))
            left = min(width - w, math.floor(uniform() * (width - w + 1)))
            return left, top, w, h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def train_transform(img, size, crop_scale, flip, uniform, interpolation="bicubic", mean=(0.485, 0.456, 0.406),
                    std=(0.229, 0.224, 0.225)):
    """timm's transforms_imagenet_train without colour jitter or auto-augment, on a PIL RGB image:
    RandomResizedCrop(size, scale=(crop_scale, 1), ratio=(3/4, 4/3)) = crop then resize, then a
    horizontal flip when the next draw is below 0.5, ToTensor, Normalize."""
    left, top, w, h = random_resized_crop_box(img.width, img.height, (crop_scale, 1.), (3 / 4, 4 / 3), uniform)
    resample = Image.BICUBIC if interpolation == "bicubic" else Image.BILINEAR
    out = img.crop((left, top, left + w, top + h))
    if out.size != (size[1], size[0]):
        out = out.resize((size[1], size[0]), resample)
    if flip and uniform() < 0.5:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    x = torch.from_numpy(np.array(out, np.uint8, copy=True)).permute(2, 0, 1).contiguous().float().div(255)
    return x.sub(torch.tensor(mean).view(3, 1, 1)).div(torch.tensor(std).view(3, 1, 1))


# ---- data parallelism --------------------------------------------------------------------------------

def bucket_assignment(numels, cap_bytes, element_size=4):
    """DDP's compute_bucket_assignment_by_size for parameters of one dtype: taken in reverse order (the
    order backward produces their gradients), a bucket closed once it holds cap_bytes or more."""
    buckets, current, size = [], [], 0
    for k in reversed(range(len(numels))):
        if current and size >= cap_bytes:
            buckets.append(current)
            current, size = [], 0
        current.append(k)
        size += numels[k] * element_size
    if current:
        buckets.append(current)
    return buckets


def bucketed_sum(grads_per_rank, buckets):
    """What each rank holds after the bucketed all-reduce: per bucket, the ranks' flattened gradients
    concatenated and summed, then cut back into the parameters."""
    out = [None] * len(grads_per_rank[0])
    for bucket in buckets:
        flat = sum(torch.cat([g[k].reshape(-1) for k in bucket]) for g in grads_per_rank)
        offset = 0
        for k in bucket:
            n = grads_per_rank[0][k].numel()
            out[k] = flat[offset:offset + n].view_as(grads_per_rank[0][k])
            offset += n
    return out
