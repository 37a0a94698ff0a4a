"""Large-kernel filtering by one FFT per channel (the defocus disk at 1024² is up to 97×97).

Why: `cv2.filter2D` switches to a DFT for large kernels too, but in tiles, re-transforming the
kernel on every call, at OpenCV's "optimal" sizes (1125 for 1116: 3²·5³, ~45 % slower than
1152 = 2⁷·3²). Here the image is padded once (reflect-101, as filter2D), transformed at a
2ᵃ·3ᵇ size, multiplied by the kernel's spectrum (computed once per kernel and image shape) and
transformed back. Float32 rounding differs from filter2D's: after rounding to 8 bits a few
pixels differ by one level (tested), nothing more.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np


@functools.lru_cache(maxsize=64)
def fft_size(n: int) -> int:
    """The smallest 2ᵃ·3ᵇ ≥ n (OpenCV's DFT is fastest on these)."""
    best, three = 1 << (n - 1).bit_length(), 1
    while three < 2 * n:
        size = three
        while size < n:
            size *= 2
        best = min(best, size)
        three *= 3
    return best


def correlator(kernel: np.ndarray, h: int, w: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping an HxWxC uint8 image (this h, w) to its correlation with `kernel`
    (odd square, non-negative, anchor at the centre, reflect-101 borders) — `cv2.filter2D`'s
    result, rounded and saturated to uint8."""
    r = kernel.shape[0] // 2
    rows, cols = fft_size(h + 2 * r), fft_size(w + 2 * r)
    embedded = np.zeros((rows, cols), np.float32)
    embedded[: kernel.shape[0], : kernel.shape[1]] = kernel
    spectrum = cv2.dft(embedded, nonzeroRows=kernel.shape[0])

    def correlate(arr: np.ndarray) -> np.ndarray:
        padded = cv2.copyMakeBorder(arr, r, r, r, r, cv2.BORDER_REFLECT_101)
        out = np.empty(arr.shape, np.uint8)
        plane = np.zeros((rows, cols), np.float32)
        for c in range(arr.shape[2]):
            plane[: h + 2 * r, : w + 2 * r] = padded[..., c]
            product = cv2.mulSpectrums(cv2.dft(plane, nonzeroRows=h + 2 * r), spectrum, 0, conjB=True)
            flags = cv2.DFT_INVERSE | cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT
            # values ≥ 0 up to float error (~1e-4): abs, round and saturate in one pass
            out[..., c] = cv2.convertScaleAbs(cv2.dft(product, flags=flags, nonzeroRows=h)[:h, :w])
        return out

    return correlate
