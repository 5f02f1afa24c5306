"""Type stubs of kexue.diffusion (see the module docstring for the eps_fn crossing)."""

from os import PathLike
from typing import Callable, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
EpsFn = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], FloatArray]
TrajectoryLike = Union[Literal["even", "quad", "uniform"], "Trajectory", "OptimalTrajectory", Sequence[int]]
GammaLike = Union["Gamma", FloatArray]

DISCRETE_SAMPLERS: list[str]
CONTINUOUS_SAMPLERS: list[str]

class Schedule:
    """A noise schedule β_1..β_N; arrays have length N+1 with index 0 = data."""
    @staticmethod
    def linear(n_steps: int = 1000, beta_start: Optional[float] = None, beta_end: Optional[float] = None) -> Schedule: ...
    @staticmethod
    def cosine(n_steps: int = 1000) -> Schedule: ...
    @staticmethod
    def from_betas(betas: FloatArray) -> Schedule: ...
    @staticmethod
    def from_alphas_cumprod(alphas_cumprod: FloatArray) -> Schedule: ...
    @property
    def n_steps(self) -> int: ...
    @property
    def betas(self) -> npt.NDArray[np.float64]: ...
    @property
    def alpha_bar(self) -> npt.NDArray[np.float64]: ...
    @property
    def beta_bar(self) -> npt.NDArray[np.float64]: ...
    @property
    def alphas_cumprod(self) -> npt.NDArray[np.float64]: ...

class Trajectory:
    """Model times 1 ≤ τ_1 < … < τ_K ≤ N."""
    def __init__(self, n_steps: int, steps: Sequence[int]) -> None: ...
    @staticmethod
    def even(n_steps: int, k: int) -> Trajectory: ...
    @staticmethod
    def quadratic(n_steps: int, k: int) -> Trajectory: ...
    @staticmethod
    def uniform(n_steps: int, k: int) -> Trajectory: ...
    @property
    def steps(self) -> list[int]: ...
    @property
    def n_steps(self) -> int: ...
    def pairs(self) -> list[tuple[int, int]]: ...
    def __len__(self) -> int: ...

class Gamma:
    """Γ_n = E‖ε̂(x_n)‖²/d at some or all n; values[n], NaN where unknown."""
    def __init__(self, values: FloatArray) -> None: ...
    @staticmethod
    def from_fn(schedule: Schedule, f: Callable[[float], float]) -> Gamma: ...
    @property
    def values(self) -> npt.NDArray[np.float64]: ...
    @property
    def n_steps(self) -> int: ...
    def get(self, n: int) -> Optional[float]: ...

class OptimalTrajectory:
    @property
    def trajectory(self) -> Trajectory: ...
    @property
    def steps(self) -> list[int]: ...
    @property
    def cost(self) -> float: ...
    @property
    def guard(self) -> Optional[dict[str, int]]: ...

class Model:
    """A kexue checkpoint; callable as an eps_fn."""
    def __call__(self, x_t: FloatArray, t: Union[float, FloatArray]) -> npt.NDArray[np.float64]: ...
    @property
    def shape(self) -> list[int]: ...
    @property
    def dim(self) -> int: ...
    @property
    def schedule(self) -> Schedule: ...
    @property
    def step(self) -> int: ...
    @property
    def levels(self) -> Optional[int]: ...
    @property
    def gamma(self) -> Optional[Gamma]: ...

def estimate_gamma(
    eps_fn: Union[EpsFn, Model],
    data: FloatArray,
    schedule: Schedule,
    m: Optional[int] = None,
    batch: int = 256,
    times: Optional[Sequence[int]] = None,
    seed: int = 0,
) -> Gamma: ...
def optimal_trajectory(schedule: Schedule, gamma: Gamma, k: int) -> OptimalTrajectory: ...
def sample(
    eps_fn: Union[EpsFn, Model],
    shape: Sequence[int],
    schedule: Schedule,
    sampler: str = "analytic-ddpm",
    steps: int = 10,
    gamma: Optional[GammaLike] = None,
    trajectory: Optional[TrajectoryLike] = None,
    seed: int = 0,
    batch: int = 256,
    eta: float = 0.0,
    x_init: Optional[FloatArray] = None,
    clip_x0: Optional[tuple[float, float]] = None,
    final_step: Literal["sample", "mean"] = "sample",
) -> npt.NDArray[np.float64]: ...
def nelbo(
    eps_fn: Union[EpsFn, Model],
    data: FloatArray,
    schedule: Schedule,
    sampler: str = "analytic-ddpm",
    steps: int = 10,
    gamma: Optional[GammaLike] = None,
    trajectory: Optional[TrajectoryLike] = None,
    seed: int = 0,
    batch: int = 256,
    eta: float = 0.0,
    decoder_variance: Optional[float] = None,
    levels: Optional[int] = None,
    clip_x0: Optional[tuple[float, float]] = None,
) -> dict[str, Union[float, int, list[float]]]: ...
def load(dir: Union[str, PathLike[str]], weights: Literal["ema", "raw"] = "ema") -> Model: ...
