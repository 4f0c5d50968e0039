"""Bulk import, written the standard Locust way: `HttpUser`, `self.client.post`.

The harness runs it in its open model (each arrival one task run, latency from the
intended send time); run alone, `locust -f scenarios/quotes/load/bulk_import.py` is a
plain closed-model Locust test of the same requests.
"""

from __future__ import annotations

import random

from locust import HttpUser, constant, task

ROWS_PER_IMPORT = 50


class BulkImportUser(HttpUser):
    """Posts a price list of 50 rows per request."""

    wait_time = constant(1)

    @task
    def import_prices(self) -> None:
        rows = [
            {"sku": f"SKU-{random.randint(1, 400)}", "price": round(random.uniform(1, 500), 2)}  # noqa: S311
            for _ in range(ROWS_PER_IMPORT)
        ]
        self.client.post("/api/v1/imports/bulk", json={"rows": rows}, name="/api/v1/imports/bulk")
