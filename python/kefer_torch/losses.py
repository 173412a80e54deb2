"""The KE-FER losses as the engine computes them (src/engine/losses.ts; shared/docs/method.md).

  Ls  cross-entropy over s * cos(v, t_k) (all samples; with class weights sum w_i CE_i / sum w_i)
  Lt  mean over non-neutral samples of 1 - cos(v - n, t_y - t_N)
  Lc  self-contrast, anchor t_y, positive v, negative n (L2-normalised), "+2" offset: over all pairs of
      non-neutral samples ('pairwise', the released code) or per sample ('per-sample', the paper text)
Text embeddings enter L2-normalised. A batch without a non-neutral sample gives Lt = Lc = 0, not NaN.
"""
import torch

EPS = 1e-8
TINY = 1e-6


def l2normalize(x):
    return x / torch.clamp(torch.sqrt((x * x).sum(1, keepdim=True)), min=EPS)


def cosine_logits(v, text_norm, logit_scale):
    return l2normalize(v) @ text_norm.t() * logit_scale


def kefer_loss(v, n, text_norm, labels, neutral, contrast="pairwise", lambdas=(1.0, 1.0, 1.0), logit_scale=100.0, class_weights=None):
    """v, n [B, D]; text_norm [K, D] normalised; labels int64 [B]. Returns (total, ls, lt, lc, logits)."""
    if class_weights is not None:
        return _weighted(v, n, text_norm, labels, neutral, contrast, lambdas, logit_scale, class_weights)
    k = text_norm.shape[0]
    logits = cosine_logits(v, text_norm, logit_scale)
    onehot = torch.nn.functional.one_hot(labels, k).to(v.dtype)
    ls = (-(onehot * torch.log_softmax(logits, 1)).sum(1)).mean()
    mask = (labels != neutral).to(v.dtype)
    m = mask.sum()
    denom = torch.clamp(m, min=1)
    t_y = onehot @ text_norm
    t_n = text_norm[neutral:neutral + 1]
    cos_t = (l2normalize(v - n) * l2normalize(t_y - t_n)).sum(1)
    lt = (mask * (1 - cos_t)).sum() / denom
    v_n, n_n = l2normalize(v), l2normalize(n)
    if contrast == "pairwise":
        s = onehot @ (text_norm @ (n_n - v_n).t())
        lc = (torch.outer(mask, mask) * (s + 2)).sum() / torch.clamp(m * m, min=1)
    else:
        s = (t_y * (n_n - v_n)).sum(1)
        lc = (mask * (s + 2)).sum() / denom
    total = lambdas[0] * ls + lambdas[1] * lt + lambdas[2] * lc
    return total, ls, lt, lc, logits


def _weighted(v, n, text_norm, labels, neutral, contrast, lambdas, logit_scale, class_weights):
    """losses.ts weightedKeferLoss with a one-hot target matrix and Ls class weights (--balance weights)."""
    k = text_norm.shape[0]
    logits = cosine_logits(v, text_norm, logit_scale)
    logp = torch.log_softmax(logits, 1)
    w = torch.nn.functional.one_hot(labels, k).to(v.dtype)
    per_sample = -(w * logp).sum(1)
    cw = torch.as_tensor(class_weights, dtype=v.dtype, device=v.device)
    if cw.numel() != k:
        raise ValueError(f"class weights: {cw.numel()} given for {k} classes")
    sw = w @ cw
    ls = (sw * per_sample).sum() / torch.clamp(sw.sum(), min=TINY)
    not_neutral = torch.ones(k, dtype=v.dtype, device=v.device)
    not_neutral[neutral] = 0
    wn = w * not_neutral
    m = wn.sum(1)
    total = m.sum()
    t_n = text_norm[neutral:neutral + 1]
    cos_all = l2normalize(v - n) @ l2normalize(text_norm - t_n).t()
    lt = (wn * (1 - cos_all)).sum() / torch.clamp(total, min=TINY)
    diff = l2normalize(n) - l2normalize(v)
    if contrast == "pairwise":
        s = wn @ (text_norm @ diff.t())
        lc = ((s * m[None, :]).sum() + 2 * total * total) / torch.clamp(total * total, min=TINY * TINY)
    else:
        s = ((wn @ text_norm) * diff).sum(1)
        lc = (s.sum() + 2 * total) / torch.clamp(total, min=TINY)
    return lambdas[0] * ls + lambdas[1] * lt + lambdas[2] * lc, ls, lt, lc, logits


def balanced_class_weights(labels, k):
    """balance.ts balancedClassWeights: n / (K_present n_c), 0 for an absent class."""
    counts = [0] * k
    for y in labels:
        counts[y] += 1
    present = sum(1 for c in counts if c > 0)
    return [len(labels) / (present * c) if c > 0 else 0.0 for c in counts]
