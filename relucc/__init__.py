"""relucc: compile Boolean circuits and local PRGs into exact, certified ReLU networks.

``relucc.compile(path)``, ``relucc.compile_source(text)`` and ``relucc.load(path)`` are the
Python API (see ``relucc.api``); they are imported on first use, so ``import relucc`` stays light.
"""

__version__ = "0.1.0"

__all__ = ["compile", "compile_source", "load", "Compiled", "SavedModel", "LocalNetwork"]


def __getattr__(name: str):
    if name in __all__:
        from relucc import api

        return getattr(api, name)
    raise AttributeError(f"module 'relucc' has no attribute {name!r}")
