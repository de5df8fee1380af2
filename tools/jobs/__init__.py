"""Jobs: experiments running as local process groups or Kubernetes Jobs.

``model`` (states, records), ``store`` (records on disk), ``base`` (the backend interface),
``local`` and ``kubernetes`` (the backends, each with its own submit, refresh, cancel and logs),
``lifecycle`` (submit and refresh through the store), ``cancel`` (the one cancel that also settles
Optuna trials and MLflow runs), ``finalize`` (job log to MLflow), ``watchdog``, ``recovery`` and
``api`` (the plain-text operations behind ``trialrun jobs``).
"""
