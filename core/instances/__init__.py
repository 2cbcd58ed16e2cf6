"""The WhatsApp numbers we send through (Evolution instances): their settings, their connection
(the one writer of its state), their circuit, our webhook on their server, and the pacing rules
of a number (rate, gaps, send windows).

Staff manage numbers through `create_instance`, `update_instance`, `check_instance`...; the worker
asks `open_circuit` when a number breaks and `record_connection_state` after each check.
"""

from core.instances._circuit import open_circuit, reset_circuit
from core.instances._connection import (
    InstanceCheck,
    check_instance,
    endpoint_of,
    messenger_of,
    record_connection_state,
    register_webhook,
    webhook_url,
)
from core.instances._instances import (
    create_instance,
    delete_instance,
    instance_json,
    update_instance,
)
from core.instances._lookup import get_instance, instances_by_ids, list_instances
from core.instances._pacing import (
    RATE_WINDOW,
    in_send_window,
    min_gap,
    next_window_open,
    random_extra_delay,
    window_bounds,
    window_opens_on,
)

__all__ = [
    "RATE_WINDOW",
    "InstanceCheck",
    "check_instance",
    "endpoint_of",
    "messenger_of",
    "create_instance",
    "delete_instance",
    "get_instance",
    "in_send_window",
    "instance_json",
    "instances_by_ids",
    "list_instances",
    "min_gap",
    "next_window_open",
    "open_circuit",
    "random_extra_delay",
    "record_connection_state",
    "register_webhook",
    "reset_circuit",
    "update_instance",
    "window_bounds",
    "webhook_url",
    "window_opens_on",
]
