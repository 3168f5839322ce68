"""bnlint: catch the BatchNormalization pitfalls of Keras transfer learning, statically."""

__version__ = "0.1.0"


def load_ipython_extension(ipython):
    """`%load_ext bnlint` (bnlint.ipython; nothing is imported until then)."""
    from bnlint.ipython import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    from bnlint.ipython import unload_ipython_extension as unload

    unload(ipython)
