"""Distributed engines: vtserve's stages run as separately scaled services on a cluster.

`service.engines.ray` runs on Ray Serve (the `vtserve[ray]` extra). The HTTP app is the same
`service.app.create_app` as `vtserve serve`; an engine only supplies a `Decoder` and the loaded models'
batchers, which forward to remote stages instead of running in this process.
"""
