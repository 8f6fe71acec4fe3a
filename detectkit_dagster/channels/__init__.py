"""Alert channels: render an alert message and deliver it (HTTP, SMTP, or a local outbox).

Pure rendering lives in `message` and `render`; each channel type has its own module. No Dagster.
"""

from detectkit_dagster.channels.message import (
    STATUS, AlertMessage, Status, error_message, message_for_event, test_message,
)
from detectkit_dagster.channels.registry import CHANNEL_TYPES, Channel, build_channel, validate_channel
from detectkit_dagster.channels.render import (
    TEMPLATE_VARIABLES, TemplateError, check_template, message_text, safe_format,
)
from detectkit_dagster.channels.transport import DeliveryError

__all__ = [
    "CHANNEL_TYPES",
    "STATUS",
    "TEMPLATE_VARIABLES",
    "AlertMessage",
    "Channel",
    "DeliveryError",
    "Status",
    "TemplateError",
    "build_channel",
    "check_template",
    "error_message",
    "message_for_event",
    "message_text",
    "safe_format",
    "test_message",
    "validate_channel",
]
