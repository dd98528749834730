"""Operations plumbing shared by every worker: ops HTTP server, readiness, JSON logs, redaction, feed health.

Typical worker start-up (see docs/operations.md):

    from sepsis_alert.ops import (ReadinessRegistry, configure_logging, ops_settings_from_args,
                                  start_ops_server_from_settings)

    configure_logging("detect", args.log_level)
    readiness = ReadinessRegistry()
    readiness.register("kafka_connected", "partitions_assigned", "state_restored")
    ops = start_ops_server_from_settings(ops_settings_from_args(args), readiness=readiness, worker="detect")
"""

from sepsis_alert.ops.feed_health import FeedActivity
from sepsis_alert.ops.http import (
    OpsServer,
    OpsServerError,
    start_ops_server,
    start_ops_server_from_settings,
)
from sepsis_alert.ops.logging import (
    ContextLogger,
    configure_logging,
    fhir_correlation_id,
    hl7_correlation_id,
    with_context,
)
from sepsis_alert.ops.readiness import ReadinessRegistry, ReadinessReport
from sepsis_alert.ops.redaction import Redactor, redact_text
from sepsis_alert.ops.settings import DEFAULT_OPS_PORTS, OpsSettings, add_ops_arguments, ops_settings_from_args

__all__ = [
    "DEFAULT_OPS_PORTS",
    "ContextLogger",
    "FeedActivity",
    "OpsServer",
    "OpsServerError",
    "OpsSettings",
    "ReadinessRegistry",
    "ReadinessReport",
    "Redactor",
    "add_ops_arguments",
    "configure_logging",
    "fhir_correlation_id",
    "hl7_correlation_id",
    "ops_settings_from_args",
    "redact_text",
    "start_ops_server",
    "start_ops_server_from_settings",
    "with_context",
]
