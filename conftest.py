"""Registers the harness's plugins; nothing else lives here."""

pytest_plugins = [
    "pytester",
    "plugins.redaction",
    "plugins.target",
    "plugins.alert_selection",
    "plugins.criteria",
    "plugins.chaos_selection",
    "plugins.services",
    "plugins.alerting",
    "plugins.allure_meta",
    "plugins.turns",
    "plugins.workload_selection",
]
