"""The Open Inference Protocol (KServe v2 / Triton) REST API beside `/v1`.

    tensors.py   datatypes, JSON and binary tensor data (BYTES with 4-byte little-endian length prefixes)
    request.py   parse an infer request: the JSON header and the binary tensor data extension
    metadata.py  server and model metadata from a bundle's manifest; inputs checked against it
    response.py  outputs chosen, classification ("score:index:label"), JSON or binary response bodies
    router.py    the `/v2` endpoints on the service's admission, decoder pool, batchers and metrics

Everything but `router.py` is pure and tested without a server.
"""
