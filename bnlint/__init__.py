"""bnlint: catch the BatchNormalization pitfalls of Keras transfer learning, statically.

The Python API (`check_paths`, `check_source`, `check_model`, see bnlint.api) and the IPython
extension are imported on first use, so `import bnlint` stays as light as `bnlint --version`.
"""

__version__ = "0.1.0"

__all__ = ["check_paths", "check_source", "check_model", "__version__"]
_API = frozenset({"check_paths", "check_source", "check_model"})


def __getattr__(name: str):
    if name in _API:
        from bnlint import api

        return getattr(api, name)
    raise AttributeError(f"module 'bnlint' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _API)


def load_ipython_extension(ipython):
    """`%load_ext bnlint` (bnlint.ipython; nothing is imported until then)."""
    from bnlint.ipython import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    from bnlint.ipython import unload_ipython_extension as unload

    unload(ipython)
