"""The alert rules the harness ships (scenarios/alerts) and the machinery that proves them."""
