"""The WhatsApp numbers we send through (Evolution instances): their settings, their connection
(the one writer of its state), their circuit, our webhook on their server, and the pacing rules
of a number (rate, gaps, send windows).

Staff manage numbers through `create_instance`, `update_instance`, `check_instance`...; the worker
asks `open_circuit` when a number breaks, checks the numbers it leases when `due_for_check`
(`ask_connection_state` then `record_check`, which closes a circuit the answer proves fixed).
"""

from core.instances._allowance import Allowance, ladder_start, today_allowance
from core.instances._checks import (
    NOT_ACTIVATED,
    UNREACHABLE,
    CheckAnswer,
    InstanceCheck,
    Verdict,
    ask_connection_state,
    check_instance,
    due_for_check,
    record_check,
)
from core.instances._circuit import check_backoff, close_circuit, open_circuit, reset_circuit
from core.instances._connection import (
    endpoint_of,
    messenger_of,
    record_connection_state,
    register_webhook,
    webhook_url,
)
from core.instances._health import EVERY as HEALTH_EVERY
from core.instances._health import FULL_RATE_FROM as HEALTH_FULL_RATE_FROM
from core.instances._health import PAUSE_BELOW as HEALTH_PAUSE_BELOW
from core.instances._health import Health, Signals, effective_rate, rate_factor, score
from core.instances._health_history import (
    HISTORY_KEEP,
    HealthPoint,
    account_health_history,
    health_history,
)
from core.instances._health_signals import gather_signals, refresh_health
from core.instances._instances import (
    create_instance,
    delete_instance,
    instance_json,
    update_instance,
)
from core.instances._long_pause import average_long_pause_seconds, long_pause
from core.instances._lookup import get_instance, instances_by_ids, list_instances
from core.instances._pacing import (
    MAX_TYPING_SECONDS,
    RATE_WINDOW,
    in_send_window,
    min_gap,
    next_window_open,
    random_extra_delay,
    typing_delay_ms,
    window_bounds,
    window_opens_on,
)
from core.instances._warmup import (
    PRESETS as WARMUP_PRESETS,
)
from core.instances._warmup import (
    age_start,
    allowance_at,
    allowance_on,
    allowance_today,
    ladder_of,
    next_step,
)
from core.instances._warmup_days import judge_warmup_days

__all__ = [
    "HEALTH_EVERY",
    "HEALTH_FULL_RATE_FROM",
    "HEALTH_PAUSE_BELOW",
    "Health",
    "Signals",
    "effective_rate",
    "gather_signals",
    "rate_factor",
    "refresh_health",
    "HISTORY_KEEP",
    "HealthPoint",
    "account_health_history",
    "health_history",
    "score",
    "Allowance",
    "today_allowance",
    "ladder_start",
    "allowance_at",
    "next_step",
    "judge_warmup_days",
    "WARMUP_PRESETS",
    "age_start",
    "allowance_on",
    "allowance_today",
    "average_long_pause_seconds",
    "ladder_of",
    "long_pause",
    "MAX_TYPING_SECONDS",
    "NOT_ACTIVATED",
    "RATE_WINDOW",
    "UNREACHABLE",
    "CheckAnswer",
    "InstanceCheck",
    "Verdict",
    "ask_connection_state",
    "check_backoff",
    "check_instance",
    "close_circuit",
    "due_for_check",
    "record_check",
    "typing_delay_ms",
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
