"""timm's eval transform on PIL images, as timm 0.5 - 1.0 apply it with torchvision (written without
torchvision, which Debian lacks): Image.open(...).convert('RGB'), Resize(shorter side =
floor(size / crop_pct), bicubic), CenterCrop(size), ToTensor, Normalize(mean, std). C++ counterpart:
include/vit/image.h (vit::preprocess)."""
import math

import numpy as np
import torch
from PIL import Image


def preprocess(path, size=224, crop_pct=0.875, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
               interpolation="bicubic", crop_mode="center"):
    """crop_mode "squash": Resize((scale, scale)) ignoring the aspect ratio, then the center crop."""
    img = Image.open(path).convert("RGB")
    scale = math.floor(size / crop_pct)
    w, h = img.size
    if crop_mode == "squash":
        new_w, new_h = scale, scale
    elif w <= h:  # torchvision _compute_resized_output_size: long = int(size * long / short)
        new_w, new_h = scale, int(scale * h / w)
    else:
        new_w, new_h = int(scale * w / h), scale
    resample = Image.BICUBIC if interpolation == "bicubic" else Image.BILINEAR
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), resample)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    img = img.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.array(img, np.uint8, copy=True)).permute(2, 0, 1).contiguous().float().div(255)
    return x.sub(torch.tensor(mean).view(3, 1, 1)).div(torch.tensor(std).view(3, 1, 1))
