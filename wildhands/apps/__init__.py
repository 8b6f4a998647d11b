"""Applications on top of the ``wildhands`` library: the main job (``wildhands demo``, :mod:`.demo`).

The library (everything else under ``wildhands/`` except ``cli.py``) never imports from here.
"""
