"""Serving on BentoML: model sources, the generated service, the adapter, local servers.

Only the private adapter :mod:`mlops.serving._bentoml` imports BentoML; the client
reaches it lazily through :class:`~mlops.client.serving.ServingMixin`.
:mod:`.runtime` is copied into each Bento and runs there.
"""
