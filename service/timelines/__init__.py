"""Timelines of long videos: windows classified in order and streamed as NDJSON (`POST /v1/timelines`).

* `runner`: one timeline, transport-free (`TimelineRun`), used by the route and by `vtserve timeline`;
* `record`/`registry`: what `GET /v1/timelines/{id}` answers, while running and once stored;
* `segments`: consecutive windows with the same top label, merged; `render`: `timeline.png`;
* `schemas`: the lines and the document.

Decoding is `service.decoding.windows` (planning) and `service.decoding.forward` (one forward pass).
"""
