"""Python counterpart of include/vit/train.h: the losses (PyTorch's label-smoothed cross-entropy and
DeiT's DistillationLoss, written out here as DeiT's losses.py defines them), timm's weight-decay
parameter groups, and the Trainer's steps (normalise, forward, loss, backward, clip, AdamW)."""
import torch
import torch.nn.functional as F

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
