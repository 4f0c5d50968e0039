"""A quote-generation and bulk-import API on one PostgreSQL: the harness's second example.

It differs on purpose from the reference target (`sut`) in everything a harness could
wrongly take for granted: one database instead of three, versioned routes under
`/api/v1`, a plain-text status page instead of a JSON health check, other metric and
label names (`quotes_request_seconds{handler, method, code}`), and every unknown path
answered `302 Location: /login`, as many real services do, so that a load test which
counts any non-error answer as a success is caught out.

| route                           | answers                                                   |
|---------------------------------|-----------------------------------------------------------|
| POST /api/v1/quotes/generate    | 201 {"quote_id","customer","total"}; 400 bad body; 503    |
| GET /api/v1/quotes/{quote_id}   | 200 the quote and its items; 400 bad id; 404; 503         |
| POST /api/v1/imports/bulk       | 202 {"imported"}: prices upserted; 400 bad body; 503      |
| GET /status                     | text/plain: 200 `OK`, or 503 `DEGRADED: database`         |
| GET /metrics                    | Prometheus text of the app's own registry                 |
| GET /login                      | a tiny HTML sign-in page (POST answers 401)               |
| anything else                   | 302 to /login                                             |

Run it with `python -m examples.quotes_api --host 127.0.0.1 --port N` (settings in
`examples.quotes_api.config`), seed it with `python -m examples.quotes_api.seed --quotes N`.
"""
