"""Relaxed samplers behind :mod:`softjax.random`.

One module per sampler family; ``_common`` holds validation, noise draws and
shape helpers shared by all of them, ``straight_through`` the ``*_st``
variants.
"""
