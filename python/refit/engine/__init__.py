"""A reference engine over refit's weights: refit.engine.Engine (model.py)
— the Llama family in vLLM's tensor-parallel layout, torch.distributed
initialised from the MPI ranks (dist.py), fp8 GEMMs (linear.py). Needs torch."""
try:
    import torch  # noqa: F401
except ImportError as e:
    raise ImportError("refit.engine needs PyTorch (pip install torch): %s" % e) from None

from .model import FAMILIES, Config, Engine  # noqa: E402,F401
