from . import cws as cws, diffusion as diffusion, probmap as probmap, series as series

__version__: str
