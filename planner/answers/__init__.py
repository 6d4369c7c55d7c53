"""The questions planner answers: ``answer.answer(request)`` is the one entry point (the CLI, the
what-if runner and the Python API all call it); each question's answer type holds one verdict,
``fits``. Nothing here prints; ``planner.export`` formats what these return.

- ``answer.answer_estimate``: exact memory for inference (``estimate.Estimate``), training
  (``train.TrainingAnswer``) or compression (``compress.CompressionAnswer``);
- ``answer.answer_plan``: the optimal device_map on an inventory (``placement.plan.Plan``);
- ``answer.answer_size``: GPUs to buy or rent (``size.ServingAnswer`` with its ``bill.Bill``), what
  GPUs one has serve (``size.CapacityAnswer``), the best pipeline over machines one has
  (``size.ClusterAnswer``), the GPUs a training or compression run needs (``size.WorkloadAnswer``);
- ``whatif.answer_whatif``: every point of a what-if file (``point_rows``: one row per answer;
  ``charts``, ``sweep_series``: what its charts draw);
- ``inputs``: names to specs, GPU types and inventories; ``plan.shortfall_reason``.
"""
