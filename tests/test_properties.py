"""Property-based: random shapes, dtypes and value ranges through every filter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastdenoise

FILTERS = ("nlm", "median", "adaptive-median", "wiener")


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    height = draw(st.integers(1, 24))
    width = draw(st.integers(1, 24))
    channels = draw(st.sampled_from([None, 1, 3]))
    shape = (height, width) if channels is None else (height, width, channels)
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max
        low = draw(st.integers(0, top))
        high = draw(st.integers(low, top))
        return rng.integers(low, high, shape, dtype=dtype, endpoint=True)
    low = draw(st.floats(-0.2, 1.0))
    high = draw(st.floats(low, 1.2))
    return rng.uniform(low, high, shape).astype(dtype)


@pytest.mark.parametrize("method", FILTERS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), tile=st.sampled_from([None, 7, 16]))
def test_filters_keep_shape_dtype_and_range(method, image, tile):
    out = fastdenoise.denoise(image, method, tile=tile)
    assert out.shape == image.shape and out.dtype == image.dtype
    values = out.astype(np.float64)
    assert np.all(np.isfinite(values))
    span = float(image.max()) - float(image.min())
    slack = 1e-5 * max(span, 1.0) if image.dtype.kind == "f" else 1.0
    assert values.min() >= float(image.min()) - slack
    assert values.max() <= float(image.max()) + slack
