"""``-m auto``: identify each image's noise, then hand it to the method that suits it.

Impulses go to ``adaptive-median``; everything else goes to the first available of
:data:`PREFERRED` (the shipped real-noise models, FDNet `real` then MWCNN `real`, then NLM fed
the measured sigma, which is more robust than scikit-image's estimate on textured images).
An image passes through untouched, copied byte for byte, when its fine-scale sigma is below
:data:`NOISE_FLOOR` (no measurable noise at all: flat graphics, renders), or when a trial
denoise of a few crops by the chosen model takes off less than :data:`CLEAN_RESIDUAL` in their
flattest blocks (:mod:`fastdenoise.trial`; colour photos bound for a model).

Between that floor and :func:`fastdenoise.analyze.identify`'s clean threshold an image is
"clean-looking": real camera noise hides there, because demosaicing, in-camera noise reduction
and JPEG correlate it and fine-scale estimators under-read it 2-4x (Nam_patches reads 0.50-0.8,
PolyU_crops median 0.51, for a measured RMS of 3.6-4.2). No noise reading separates it from the
texture of clean photos (bench/results/noise_calibration.md); the trial denoise separates
part of them, and below its threshold auto errs towards denoising: missing real noise costs
4.4 dB on Nam_patches, while the real-noise model leaves clean photos at 42.8 dB of
themselves on average (Kodak24). FDNet's learned reading (``learned=True``) keeps its own
clean threshold.

White noise (what synthetic Gaussian noise is) goes to FDNet `gaussian` (:func:`is_white`): it
reads as strong at the finest scale as the learned estimator reads it overall, where camera
noise reads 0.1-0.45 of it there. On CBSD68 the gaussian weights beat the real ones by 0.8-2.2
dB at sigma 15-50, and on gray BSD68 they beat NLM by 0.45-0.8 dB. Other gray images go to
:data:`PREFERRED_GRAY`: the shipped colour models were trained on independent per-channel
noise and barely touch a gray image's identical-in-every-channel noise (MWCNN `real`: 21.5 dB
on BSD68 sigma 25 from 20.5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fastdenoise import methods, trial
from fastdenoise.methods import Denoiser, Method, Param, TilePlan
from fastdenoise.tiler import pad_to_multiple

if TYPE_CHECKING:
    from fastdenoise.analyze import NoiseReport

# fdnet real beats mwcnn real on every real set at 1.7-2x its speed (bench/results/auto_real.md)
PREFERRED = ("fdnet", "mwcnn", "nlm")
PREFERRED_GRAY = ("nlm",)
# 8-bit units. Real camera JPEGs read down to 0.09 at fine scale (in-camera noise reduction
# smooths even the rounding noise): the 13 PolyU_crops a 0.3 floor passed unchanged all gained
# from the real-noise model, 37.52 -> 38.27 dB on average (bench/results/auto_real.md). Only
# images with no measurable noise at all (renders, flat graphics) pass.
NOISE_FLOOR = 0.05
# White noise: fine-scale sigma at least WHITE_SIGMA and at least WHITE_RATIO of the learned
# reading. AWGN on CBSD68 reads 0.68-1.35 of it (sigma 10), 0.96-1.11 (sigma 25-50); camera
# noise 0.13-0.45 (PolyU, Nam, the SIDD block and demo; bench/results/noise_calibration.md).
WHITE_SIGMA = 10.0
WHITE_RATIO = 0.8
WHITE_MODEL = ("fdnet", "gaussian")
# Trial denoise (:mod:`fastdenoise.trial`): a colour photo from which the real-noise model
# takes off less than this in its flattest blocks (8-bit RMS) has no noise to remove; 8-bit
# rounding alone is 0.29. Real noisy photos read 1.30-3.91 (Nam), 0.48-3.66 (PolyU: in-camera
# noise reduction leaves little noise in flat areas, yet denoising still gains 0.8 dB there);
# averaged references 0.38-0.91 (Nam gt), 0.20-1.71 (PolyU gt), film scans 0.36-3.05
# (CBSD68). Set 17% under every real noisy photo here, it calls only the cleanest references
# clean (bench/results/noise_calibration.md): missing noise costs more than denoising a clean
# photo, which the model leaves at 43-48 dB of itself.
CLEAN_RESIDUAL = 0.4


def is_gray(image: np.ndarray) -> bool:
    """One channel, or three identical ones (checked on a subsample)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    sample = image[::7, ::7]
    return bool(np.array_equal(sample[..., 0], sample[..., 1])) and bool(
        np.array_equal(sample[..., 1], sample[..., 2])
    )


def is_white(image: np.ndarray, report: NoiseReport) -> bool:
    """Gaussian-like noise as strong at the finest scale as the learned estimator reads it."""
    if report.kind != "gaussian" or report.sigma < WHITE_SIGMA:
        return False
    from fastdenoise import noisemap

    if not noisemap.available():
        return False
    level = report.rms if report.rms is not None else noisemap.noise_rms(image)
    return report.sigma >= WHITE_RATIO * level


# images up to this a side are tried whole, as one tile: the trial is then their denoise
TRIAL_WHOLE = 512

Answer = tuple[np.ndarray, np.ndarray]  # a region the trial denoised, and the result


def trial_residual(denoiser: Denoiser, image: np.ndarray) -> tuple[float, Answer | None]:
    """What ``denoiser`` takes off ``image``'s flattest blocks (:func:`trial.flat_residual`),
    and, for an image tried whole, the region it denoised with the result (to be reused)."""
    multiple, whole = denoiser.plan.multiple, max(image.shape[:2]) <= TRIAL_WHOLE
    answers: list[Answer] = []

    def denoise(crop: np.ndarray) -> np.ndarray:
        region = pad_to_multiple(crop, multiple)
        result = np.asarray(denoiser(region), dtype=np.float32)
        answers.append((region, result))
        return result[: crop.shape[0], : crop.shape[1]]

    crop, count = (TRIAL_WHOLE, 1) if whole else (trial.CROP, trial.MAX_CROPS)
    residual = trial.flat_residual(image, denoise, crop=crop, count=count)
    return residual, answers[0] if whole and answers else None


class _Passthrough(Denoiser):
    unchanged = True

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        return tile

    def describe(self) -> str:
        return f"auto -> unchanged ({self.reason})"


class _Chosen(Denoiser):
    """The chosen method bound to one image, labelled with why it was chosen. ``answer``: a
    region the trial already denoised; asked for exactly that region, it answers from memory
    (a small image is one tile, so its trial costs nothing)."""

    def __init__(self, inner: Denoiser, label: str, answer: Answer | None = None) -> None:
        self.inner, self.label, self.plan, self.answer = inner, label, inner.plan, answer

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if self.answer is not None:
            region, result = self.answer
            if region.shape == tile.shape and np.array_equal(region, tile):
                return result.copy()
        return self.inner(tile)

    def describe(self) -> str:
        return self.label


class AutoDenoiser(Denoiser):
    """Picks a method per image from :func:`fastdenoise.analyze.identify`."""

    plan = TilePlan()

    def __init__(
        self,
        device: str = "auto",
        learned: bool = False,
        precision: str = "fp32",
        engine: str = "auto",
        threads: int = 0,
    ) -> None:
        from fastdenoise.engines import check_settings

        check_settings(engine, precision)  # refused before any image, not at the first model
        self.device, self.learned = device, learned  # learned: FDNet's reading decides
        # passed on to whichever chosen method takes them (precision and engine: the models)
        self.settings = {"precision": precision, "engine": engine, "threads": threads}
        self._built: dict[str, Denoiser] = {}

    def _build(self, name: str, **params: Any) -> Denoiser:
        method = methods.get(name)
        accepted = {param.name for param in method.params}
        params = {**{k: v for k, v in self.settings.items() if k in accepted}, **params}
        key = f"{name}{sorted(params.items())}"
        if key not in self._built:
            self._built[key] = method.build(device=self.device, **params)
        return self._built[key]

    def choose(
        self, report: NoiseReport, gray: bool = False, white: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """The method name and parameters for a noise report, a gray or colour image, and
        white (AWGN-like) noise or not."""
        if report.kind == "salt-and-pepper":
            return "adaptive-median", {}
        if white:  # colour or gray: the gaussian weights trained on 25% gray patches
            name, variant = WHITE_MODEL
            try:
                self._build(name, variant=variant)
                return name, {"variant": variant}
            except (ValueError, RuntimeError, LookupError, OSError):
                pass  # no shipped gaussian weights: the real-noise model below
        available = methods.available()
        for name in PREFERRED_GRAY if gray else PREFERRED:
            if name in available:
                method = available[name]
                # filters get the measured level; a model that takes a noise map (fdnet) reads
                # its own: the fine-scale sigma under-reads real camera noise 2-4x
                takes_sigma = method.kind == "filter" and any(
                    p.name == "sigma" for p in method.params
                )
                params = {"sigma": round(report.sigma, 2)} if takes_sigma else {}
                try:
                    self._build(name, **params)
                except (ValueError, RuntimeError, LookupError, OSError):
                    continue  # e.g. no shipped weights for this model
                return name, params
        raise RuntimeError("no denoising method is available for -m auto")

    def prepare(self, image: np.ndarray) -> Denoiser:
        from fastdenoise.analyze import identify

        report = identify(image, learned=self.learned)
        if report.kind == "clean" and (self.learned or report.sigma < NOISE_FLOOR):
            return _Passthrough(f"clean: {report.evidence()}")
        gray = is_gray(image)
        white = is_white(image, report)
        name, params = self.choose(report, gray=gray, white=white)
        chosen = self._build(name, **params).prepare(image)
        answer, tried = None, ""
        if report.kind == "clean" and not gray and methods.get(name).kind == "model":
            residual, answer = trial_residual(chosen, image)
            if residual < CLEAN_RESIDUAL:  # NaN (all clipped) is denoised
                return _Passthrough(
                    f"clean: {chosen.describe()} takes off {residual:.2f} in flat areas, "
                    f"under {CLEAN_RESIDUAL}; {report.evidence()}"
                )
            tried = f"a trial takes off {residual:.2f} in flat areas, "
        why = (
            f"clean-looking at fine scale, where real camera noise reads 2-4x low; "
            f"{tried}{report.evidence()}"
            if report.kind == "clean"
            else f"white noise: {report.evidence()}"
            if white
            else f"{report.kind}-like noise: {report.evidence()}"
        )
        return _Chosen(chosen, f"auto -> {chosen.describe()} ({why})", answer)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        raise RuntimeError("auto must be prepared on an image before use")

    def describe(self) -> str:
        return "auto (per-image choice)"


methods.register(
    Method(
        "auto",
        "meta",
        "identify the noise per image, then pick adaptive-median, a model or NLM",
        AutoDenoiser,
        (
            Param("precision", "fp32", "for the chosen model: fp32 or fp16 (CPU bf16)", str),
            Param(
                "engine", "auto", "for the chosen model: auto, torch, onnxruntime, tensorrt", str
            ),
            Param("threads", 0, "CPU threads for the chosen method (0 = its default)", int),
        ),
    )
)
