"""bnlint: catch the BatchNormalization pitfalls of Keras transfer learning, statically."""

__version__ = "0.1.0"
