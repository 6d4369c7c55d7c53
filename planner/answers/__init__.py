"""The questions planner answers, one function each, each returning a typed result.

The CLI, the Python API, the what-if runner and the plots call these; exporters (planner.export)
only format what they return. Nothing here prints.

- ``estimate.estimate``: exact memory of a model for a workload, and GPUs needed per type.
- ``plan.plan``: the optimal device_map on a given inventory.
- ``size.size_serving`` / ``size_cluster`` / ``serve_capacity`` / ``size_workload``: GPUs to buy
  or rent for vLLM, a pipeline over machines one has, what GPUs one has can serve, and the GPUs
  a training or compression run needs.
- ``train.train``: a training step's memory, the hardware it needs and what lowers its peak.
- ``compress.compress``: a one-shot compression run's memory and the settings that fit.
"""
