"""Quality of routing: labelled samples and the metrics that score a router on them.

Modules:

- `metrics`: pure, stdlib-only evaluation metrics as the papers define them. For a
  strong/weak pair (RouteLLM, Ong et al., ICLR 2025): `pgr`, `threshold_curve`, `apgr`,
  `cpt`, with the `random_threshold_curve` and `oracle_threshold_curve` baselines. For
  many models with costs (RouterBench, Hu et al. 2024): `cost_quality_curve`,
  `non_decreasing_hull`, `aiq`, `cost_at_quality`, `quality_at_cost`, with the
  `single_model_points` / `random_mixture_curve` and `oracle_cost_quality_curve` /
  `oracle_choices` baselines.
- `data`: `read_labelled_csv` reads a file in RouterBench's column convention
  (`prompt`, one quality column per model, optional `<model>|total_cost` and
  `<model>|model_response`) into a `LabelledSample`.

Nothing here imports numpy: the metrics are plain Python over sequences of floats.
"""
