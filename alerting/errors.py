"""Alert-suite errors: each message is one line naming the problem and the fix."""

from __future__ import annotations

from fixtures.errors import HarnessError


class AlertRuleError(HarnessError):
    """A rule file that does not parse, or a rule name that does not exist."""


class RecordWriteError(HarnessError):
    """The target did not create a record through the description's write path."""


class WebhookPortError(HarnessError):
    """The webhook receiver cannot listen on the port asked for."""


class AlertDidNotFireError(AssertionError):
    """An induced condition did not bring its alert to the webhook within the bound."""


class AlertDidNotResolveError(AssertionError):
    """A removed condition did not bring the resolved notification within the bound."""


class FalseAlarmError(AssertionError):
    """An alert fired (or was pending) on a healthy target."""


class RoutingConfigError(HarnessError):
    """The Alertmanager configuration or the description's [alerts.routing] is unusable."""


class LiveSeriesError(HarnessError):
    """The Prometheus asked for its series did not answer, or refused the question."""
