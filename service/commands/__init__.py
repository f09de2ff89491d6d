"""`vtserve serve` and `vtserve predict` (dispatched by `service.cli`)."""
