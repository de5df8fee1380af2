"""The experiment: its request, data, parent run, steps and results, and the jobs that run its steps.

The pipeline graph (:mod:`agent.pipeline.graph`) runs the steps as its nodes; the benchmarks run
the same steps in the same order.
"""
