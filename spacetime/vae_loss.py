"""Training objective of the video VAE, and the reconstruction metrics (PSNR, SSIM).

Kept apart from the model (`spacetime.vae`) so the trainer, the benchmarks and
`spacetime vae roundtrip` share one definition.

Objective (Kingma & Welling 2014, with the L1 reconstruction of latent-diffusion VAEs,
Rombach et al. 2022):
    loss = rec + chroma_weight * l1(chroma) + gradient_weight * l1(finite differences) + kl_weight * kl
- rec: mean absolute (reconstruction="l1") or squared ("mse") error per pixel value, video in
  [-1, 1]. In the synthetic world the objects are small (about 4 % of the pixels) and are the
  only coloured ones: under L1 every pixel pulls with the same force, the grey background
  wins, and the embedded VAE trained 6000 steps with L1 returned every object grey. MSE
  weighs an object's large error 20x a background pixel's small one and learns colour within
  a few hundred steps (measured on one world batch: object chroma 0.76 of the input after 200
  steps, against 0.45 with L1); the embedded VAE trains with "mse";
- chroma term (optional): L1 between the colour-minus-luminance of reconstruction and
  target. Added with L1 at weight 1 and 4, from scratch, it had not restored colour after 250
  steps where MSE had begun to; it stays an option for fine-tuning;
- gradient term (optional): L1 between the finite differences of reconstruction and
  target along time, height and width. Beware: from scratch it makes a flat output
  cheaper than any blurry first guess of an object, and the VAE stops learning objects;
- kl: KL(N(mean, exp(logvar)) || N(0, 1)) averaged per latent element (not summed), so
  kl_weight does not depend on the clip size.
"""

from __future__ import annotations

import torch


def vae_loss(
    vae,
    video: torch.Tensor,
    *,
    kl_weight: float = 1e-6,
    gradient_weight: float = 0.0,
    chroma_weight: float = 0.0,
    reconstruction: str = "l1",
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One training evaluation on video (B, 3, T, H, W) in [-1, 1].

    Returns dict(loss, l1, kl, psnr, gradient, chroma); `loss` carries the gradient, the others are detached.
    """
    if reconstruction not in ("l1", "mse"):
        raise ValueError(f"reconstruction must be 'l1' or 'mse', got {reconstruction!r}")
    recon, mean, logvar = vae(video, generator=generator)  # (B, 3, T, H, W), (B, C, T', h, w) x2
    error = recon - video
    l1 = error.abs().mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
    loss = (l1 if reconstruction == "l1" else error.pow(2).mean()) + kl_weight * kl
    chroma = torch.zeros((), device=video.device)
    if chroma_weight > 0:
        chroma = _chroma(recon).sub(_chroma(video)).abs().mean()
        loss = loss + chroma_weight * chroma
    gradient = torch.zeros((), device=video.device)
    if gradient_weight > 0:
        gradient = _difference_l1(recon, video)
        loss = loss + gradient_weight * gradient
    return dict(
        loss=loss,
        l1=l1.detach(),
        kl=kl.detach(),
        gradient=gradient.detach(),
        chroma=chroma.detach(),
        psnr=psnr(recon.detach().clamp(-1, 1), video),
    )


def decoder_loss(vae, video: torch.Tensor, z: torch.Tensor, *, object_weight: float = 0.0,
                 object_weight_drawn: bool = False) -> dict[str, torch.Tensor]:
    """Decoder-only training evaluation: normalised latents z (B, C, T', h, w) decoded against video (B, 3, T, H, W).

    For a decoder trained under a frozen encoder on latents that did not come straight from it
    (a DiT's reconstructions of them: `VAETask`). Squared error per pixel value; with
    object_weight > 0 each pixel is weighted as `spacetime.flow.object_weights` weights latent
    cells (1 + object_weight x its distance from the frame's per-channel median, mean 1 per
    frame), so a small object's pixels, not the plain background, set the decoder's gradient.
    Those weights come from the target alone, so a decoder that draws an object too large pays
    for the extra pixels at the background's weight and learns to draw objects larger;
    object_weight_drawn also weights the pixels where its own drawing shows an object
    (`object_weights` with the detached reconstruction as its estimate), so extra pixels cost
    as much as missing ones.
    Returns dict(loss, l1, kl, gradient, chroma, psnr) with the same keys as `vae_loss`.
    """
    from spacetime.flow import object_weights

    recon, _, _ = vae(video, latents=z)  # (B, 3, T, H, W)
    difference = recon - video
    error = difference.pow(2).mean(dim=1)  # (B, T, H, W)
    if object_weight > 0:
        error = error * object_weights(video, object_weight, recon.detach() if object_weight_drawn else None)
    zero = torch.zeros((), device=video.device)
    return dict(loss=error.mean(), l1=difference.abs().mean().detach(), kl=zero, gradient=zero, chroma=zero,
                psnr=psnr(recon.detach().clamp(-1, 1), video))


def _chroma(video: torch.Tensor) -> torch.Tensor:
    """Colour without luminance: each channel minus the mean of the three, (B, 3, T, H, W)."""
    return video - video.mean(dim=1, keepdim=True)


def _difference_l1(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    total = recon.new_zeros(())
    for dim in (2, 3, 4):
        if recon.shape[dim] > 1:
            total = total + (recon.diff(dim=dim) - target.diff(dim=dim)).abs().mean()
    return total


def psnr(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for videos in [-1, 1] (peak-to-peak 2, the same as 255 on uint8)."""
    mse = (recon.float() - target.float()).pow(2).mean()
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))


def ssim(recon: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5,
         planes_per_chunk: int = 64) -> torch.Tensor:
    """Mean structural similarity (Wang et al. 2004), Gaussian 11x11 window, per frame and channel.

    Inputs (B, 3, T, H, W) in [-1, 1]; computed on the [0, 1] scale with the paper's constants.
    Frames smaller than the window use a window of their size. The Gaussian is applied as two
    1D passes (it is separable: 22 taps instead of 121) over `planes_per_chunk` frame-channel
    planes at a time, so a long clip costs time linear in its length and bounded memory.
    """
    B, C, T, H, W = recon.shape
    x_all = recon.permute(0, 2, 1, 3, 4).reshape(B * T * C, 1, H, W)
    y_all = target.permute(0, 2, 1, 3, 4).reshape(B * T * C, 1, H, W)
    size = min(window, H, W)
    coords = torch.arange(size, dtype=torch.float32, device=recon.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    weights = g.tolist()

    def blur(a: torch.Tensor, dim: int) -> torch.Tensor:
        # A weighted sum of shifted views: CPU kernels for depthwise k x 1 convolutions are far slower.
        n = a.shape[dim] - size + 1
        out = a.narrow(dim, 0, n) * weights[0]
        for i in range(1, size):
            out.add_(a.narrow(dim, i, n), alpha=weights[i])
        return out

    c1, c2 = 0.01**2, 0.03**2
    total = torch.zeros((), dtype=torch.float64, device=recon.device)
    for i in range(0, x_all.shape[0], planes_per_chunk):
        x = (x_all[i : i + planes_per_chunk].float().clamp(-1, 1) + 1) / 2  # (n, 1, H, W)
        y = (y_all[i : i + planes_per_chunk].float().clamp(-1, 1) + 1) / 2
        stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (n, 5, H, W)
        stats = blur(blur(stats, 2), 3)  # (n, 5, H-k+1, W-k+1)
        mu_x, mu_y, xx, yy, xy = stats.unbind(1)
        var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
        s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        total += s.double().sum()
    count = x_all.shape[0] * (H - size + 1) * (W - size + 1)
    return (total / count).to(torch.float32)

