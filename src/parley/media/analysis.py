"""Finding known audio in received audio: normalised cross-correlation with lag search.

Used to check that a caller heard a prompt, that an echo came back, that a recording's
channels hold what each party sent. ``find`` slides the reference over the recording (by
FFT) and returns the best match, scored like a Pearson correlation (1.0 is identical up to
gain; G.711 coding of speech typically keeps it above 0.95).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from parley.media import MediaError

RATE = 8000


@dataclass(frozen=True, slots=True)
class Match:
    correlation: float
    offset: int  # samples into the recording where the reference starts

    @property
    def offset_s(self) -> float:
        return self.offset / RATE


def find(reference: npt.NDArray[np.int16], recording: npt.NDArray[np.int16]) -> Match:
    """Where ``reference`` best matches a stretch of ``recording``, and how well."""
    ref = reference.astype(np.float64)
    rec = recording.astype(np.float64)
    m, n = len(ref), len(rec)
    if m == 0 or n < m:
        raise MediaError(f"the recording ({n} samples) must be at least as long as the "
                         f"reference ({m} samples), which must not be empty")
    ref = ref - ref.mean()
    ref_norm = float(np.sqrt(np.sum(ref**2)))
    if ref_norm == 0:
        raise MediaError("the reference is silent: nothing to look for")
    size = 1 << int(np.ceil(np.log2(n + m)))
    spectrum = np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size))
    numerator = np.fft.irfft(spectrum, size)[:n - m + 1]
    # Energy (about its mean) of every window of the recording, from running sums.
    sums = np.concatenate([[0.0], np.cumsum(rec)])
    squares = np.concatenate([[0.0], np.cumsum(rec**2)])
    window_sum = sums[m:] - sums[:-m]
    window_energy = np.maximum(squares[m:] - squares[:-m] - window_sum**2 / m, 0.0)
    denominator = np.sqrt(window_energy) * ref_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(denominator > ref_norm * 1e-3, numerator / denominator, 0.0)
    best = int(np.argmax(scores))
    return Match(float(scores[best]), best)
