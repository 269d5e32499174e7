"""Take a machine learning model from a notebook to production and keep it healthy there

Modules:

- `workbench.compare`: Champion against challenger on the same labelled rows: paired tests (DeLong's for ROC AUC, McNemar's for accuracy, a paired bootstrap for every other metric and for business value), a minimum sample, and a verdict that stays "not decided yet" until the data decides; or each model on its own share of keys (an A/B split).
- `workbench.container`: A container recipe that serves one registered model version, pinned by its artifacts' sha256: a Dockerfile, a .dockerignore, the entry point and a registry that holds that version alone.
- `workbench.engines`: The engines that do the data-heavy work of `score`, `validate` and `monitor`: pandas on one machine (the default) and Spark (`workbench.spark`), in a registry that takes others.
- `workbench.estimators`: What `performance` builds on: chunks of time, intervals for rates and ROC AUC, metrics from a confusion matrix, calibration, and the estimators of performance without labels: confidence-based estimation (CBPE) for classifiers and a model of the expected error for regressors.
- `workbench.export`: A registered model version exported for another tool: an MLflow model folder with its signature, an input example, its model card and where it came from.
- `workbench.payload`: The rows of a scoring request: JSON parsed strictly, MLflow's four input formats read as columns, values coerced to the model's signature with errors that name the row and column, and the model's data contract applied fast to the request's rows. Used by `workbench serve`.
- `workbench.performance`: A model's performance over time: realized where labels have arrived (joined by key, with a label delay), estimated where they have not (with `workbench.estimators`: confidence-based estimation from calibrated probabilities for classifiers, a model of the expected error for regressors), each with an interval, against the reference and the model's evaluation-time figures; and the JSON, plot and HTML that `workbench performance` writes.
- `workbench.registry`: The model registry: versions with their evidence, aliases (`champion`, `challenger`, any name), gated promotion, an audit log, safe persistence with skops and sha256, and training a project's model into it.
- `workbench.registry_browser`: The registry browser widget for JupyterLab: models, versions with their metrics and lineage, aliases, the audit log, and Promote / Rollback through the same gate as the command line.
- `workbench.retrain`: Retraining: a challenger trained on fresh data with the project's charter, judged against the champion on rows neither learnt from (paired tests), and promoted through the registry's gate only if it wins; triggered by drift, by performance below the charter, or by a schedule; the monitoring figures for Prometheus.
- `workbench.schedule`: Cron schedules in a time zone, run by `workbench scheduler`: each run its own process, never two of a job at once, missed runs caught up by policy, retries with backoff, dependencies and Prometheus metrics. Exports for Airflow, cron and systemd are in `workbench.schedule_export`.
- `workbench.schedule_export`: The project's schedule written for another scheduler: an Airflow DAG, a crontab, or a systemd unit that runs `workbench scheduler` itself.
- `workbench.schedule_widget`: The schedule browser for JupyterLab: each job's schedule, its next runs in its time zone, its latest runs with links to their reports, and a Run now button.
- `workbench.serve`: HTTP serving of a registered model with FastAPI on uvicorn: `/predict`, MLflow-compatible `/invocations`, `/health`, Prometheus `/metrics`; strict input checks, the model's data contract, bearer tokens, hot swaps when an alias moves, a challenger scored in shadow or answering a stable share of keys, and a sampled Parquet log of what was served.
- `workbench.widgets`: The one-cell workbench for JupyterLab: every lifecycle step's widget as a tab, built when first opened, with long work in the background and errors shown as text in the tab."""

__version__ = "0.1.0"
