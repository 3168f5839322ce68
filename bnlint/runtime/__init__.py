"""Runtime tools on top of the model graph: `bnlint probe`, the Keras callback and `check_model`.

Everything here runs a real Keras (the `tf` extra: `pip install 'bnlint[tf]'`). Nothing on the
static check path imports this package; Keras itself is imported inside functions, only once a
probe or a live model needs it.
"""
