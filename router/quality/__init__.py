"""Quality of routing: labelled samples and the metrics that score a router on them.

Modules:

- `metrics`: pure, stdlib-only evaluation metrics for a strong/weak pair as RouteLLM
  (Ong et al., ICLR 2025) defines them: `pgr`, `threshold_curve`, `apgr`, `cpt`, with
  the `random_threshold_curve` and `oracle_threshold_curve` baselines; and `Point`, the
  (cost, quality) operating point every curve is a list of.
- `frontier`: the same for many models with costs, as RouterBench (Hu et al. 2024)
  defines them: `cost_quality_curve`, `non_decreasing_hull`, `aiq`, `cost_at_quality`,
  `quality_at_cost`, with the `single_model_points` / `random_mixture_curve` and
  `oracle_cost_quality_curve` / `oracle_choices` baselines.
- `_checks` (private): what `metrics` and `frontier` share: `Point`'s definition, the
  input checks (finite, same length, rectangular tables), the exact sweep of an argmax
  router's cost knob (`_frontier`), and the geometry (hull turn test, trapezoid area).
- `data`: `read_labelled_csv` reads a file in RouterBench's column convention
  (`prompt`, one quality column per model, optional `<model>|total_cost` and
  `<model>|model_response`) into a `LabelledSample`; `concat_samples` stacks several;
  `DataFormatError` says where a file breaks the convention.
- `_csvlayout` (private): that convention's column names, `DataFormatError`, the header
  layout (`_Layout`) and the parsers of one quality or cost cell.
- `predictor`: the `Predictor` protocol (per prompt and model, the expected quality) and
  `PriorPredictor`, the family-prior fallback.
- `evaluate`: `evaluate(sample, predictor)` scores a predictor's routing (the pair and,
  with cost columns, all models) beside the random router and the oracle.
- `result`: what `evaluate` returns: `EvalResult`, whose `write` puts `metrics.json`,
  `predictions.csv` and `curve.png` into a folder; `Curves`; `EvalInputError`.
- `plot`: `curve.png`, drawn with the optional matplotlib (`freefirst-router[eval]`).
- `cli`: `python -m router eval`.

Nothing here imports numpy: the metrics are plain Python over sequences of floats.
"""
