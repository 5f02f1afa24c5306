"""kexue from Python: the four systems of the kexue workspace, as thin bindings.

- ``kexue.diffusion``: Analytic-DPM around any ε-network ``eps_fn(x_t, t) -> ε̂``
  (a numpy function, a PyTorch model wrapped in three lines, or a kexue checkpoint);
- ``kexue.cws``: Chinese word segmentation, jieba-shaped (``cut``, ``lcut``, ``tokenize``);
- ``kexue.probmap``: probability maps (softmax and its alternatives) over any array axis;
- ``kexue.series``: convergence of Σ a_n with the deciding test.

All numerics run in the Rust crates; errors are ``ValueError``/``TypeError`` with the
libraries' messages.
"""

from . import cws, diffusion, probmap, series
from ._kexue import __version__

__all__ = ["cws", "diffusion", "probmap", "series", "__version__"]
