"""trialrun in Slack: the same agent, one conversation per thread.

- :mod:`~agent.adapters.slack.settings`: what the app reads from the environment.
- :mod:`~agent.adapters.slack.app`: the Bolt app, its HTTP server and Socket Mode.
- :mod:`~agent.adapters.slack.threads`: turns of a thread's conversation in worker threads.
- :mod:`~agent.adapters.slack.progress`: one progress message per experiment, edited in place,
  and the admission of each experiment under the workspace and user caps.
- :mod:`~agent.adapters.slack.limits`: those caps.
- :mod:`~agent.adapters.slack.commands`: ``cancel``, ``status`` and ``show the best run``.
- :mod:`~agent.adapters.slack.store`: seen deliveries, threads and their experiments, on disk.
- :mod:`~agent.adapters.slack.poster`: every message posted, redacted first.

Importing this package is cheap; Bolt, the agent and MLflow load when the app is built.
"""
