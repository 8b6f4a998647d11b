"""Evaluation: metrics (``metrics``), scoring against ground truth (``scoring``: the one hand-matching rule,
per-hand errors, summaries; used by the evaluator, the main job and the benches), the evaluator that runs a
Pipeline on labelled records and writes ``metrics.json`` / ``metrics.md`` / worst-hand overlays
(``evaluator``, ``report``), and record sources (``sources``: the bundled sample, synthetic folders,
dataset readers). ``wildhands eval`` is the CLI."""
