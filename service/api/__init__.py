"""The HTTP layer: thin routers, dependencies, and the one mapping from domain errors to HTTP."""
