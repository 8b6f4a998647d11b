"""Evaluation: metrics (``metrics``), the evaluator that runs a Pipeline on labelled records and writes
``metrics.json`` / ``metrics.md`` / worst-hand overlays (``evaluator``, ``report``), and record sources
(``sources``: the bundled sample, synthetic folders, dataset readers). ``wildhands eval`` is the CLI."""
