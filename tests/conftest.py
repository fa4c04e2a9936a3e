"""Suite-wide settings."""

import pytest
import torch

try:
    import numba
except ImportError:  # numba is optional (the torch backend runs everywhere)
    numba = None


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The suite runs many small calls: on a 2-core machine shared with other work, the
    thread pools of torch (MKL's FFT above all) and numba spend milliseconds per call
    synchronising and spinning against each other (measured 5-100x slower), so the
    tests run single-threaded; the threads are restored afterwards."""
    threads = torch.get_num_threads(), numba.get_num_threads() if numba else None
    torch.set_num_threads(1)
    if numba:
        numba.set_num_threads(1)
    yield
    torch.set_num_threads(threads[0])
    if numba:
        numba.set_num_threads(threads[1])
