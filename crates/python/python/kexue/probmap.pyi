"""Type stubs of kexue.probmap."""

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
NOISES: list[str]

def probs(mu: FloatArray, noise: str = "gauss", scale: float = 1.0, axis: int = -1) -> npt.NDArray[np.float64]: ...
def jacobian(mu: FloatArray, noise: str = "gauss", scale: float = 1.0, axis: int = -1) -> npt.NDArray[np.float64]: ...
def vjp(mu: FloatArray, v: FloatArray, noise: str = "gauss", scale: float = 1.0, axis: int = -1) -> npt.NDArray[np.float64]: ...
def sample(
    mu: FloatArray, noise: str = "gauss", size: int = 1, seed: int = 0, scale: float = 1.0, axis: int = -1
) -> npt.NDArray[np.int64]: ...
