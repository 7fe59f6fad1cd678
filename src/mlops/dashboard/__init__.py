"""``mlops dashboard``: a local, read-only web page over every project's records.

Modules: :mod:`~mlops.dashboard.security` (bind and token rules, standard
library only), :mod:`~mlops.dashboard.data` (read-only access through the
client), :mod:`~mlops.dashboard.charts` and :mod:`~mlops.dashboard.lineage_svg`
(pictures), :mod:`~mlops.dashboard.pages` and :mod:`~mlops.dashboard.views`
(HTML), :mod:`~mlops.dashboard.app` (the FastAPI app and its uvicorn server).
Nothing is imported here, so ``import mlops.dashboard`` costs nothing; FastAPI,
uvicorn and plotly load with :mod:`mlops.dashboard.app`.
"""
