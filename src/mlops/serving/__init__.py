"""Serving on BentoML: model sources, the generated service, the adapter, local servers.

Only :mod:`mlops.serving.bentoml_deployer` imports BentoML; the client reaches
it lazily through :class:`~mlops.client.serving.ServingMixin`.
"""
