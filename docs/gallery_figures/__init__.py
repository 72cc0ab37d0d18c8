"""The figures of ``docs/gallery.py``, one module per page section."""
