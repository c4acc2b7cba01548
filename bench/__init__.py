"""LeadHub's benchmark harness: ``make bench`` (``python -m bench``). See bench/README.md.

Not part of the product: the ``bench`` app (the two ceiling endpoints and their table) is
installed only by ``bench.settings``, which the harness and its gunicorn use.
"""
