"""Campaigns: authoring and validation, the life cycle (the one owner of a campaign's status),
the audience resolver, message templates, media, time estimates and test sends.

The worker calls the life cycle's system transitions: `start_due`, `pause_for_instance` when a
number breaks, `resume_recovered` once the numbers that paused campaigns answer again,
`complete_finished`, `retry_due` for campaigns that retry their temporary failures, and
`decide_due` for A/B tests whose winner is due (`_variants`, `_ab_rule`, `_ab_decision`).
"""

from core.campaigns._ab_decision import (
    decide_due,
    decision_due_at,
    pick_winner,
    test_finished_at,
    test_numbers,
)
from core.campaigns._ab_rule import (
    MIN_SENT_PER_VARIANT,
    TIE_POINTS,
    How,
    VariantNumbers,
    Verdict,
    choose_winner,
)
from core.campaigns._allowance_waits import (
    AllowanceWait,
    allowance_waits,
    effective_window,
    waiting_for_local_window,
)
from core.campaigns._audience import AudiencePreview, preview_audience
from core.campaigns._audience_snapshot import clear_audience_cache
from core.campaigns._authoring import create, delete, duplicate, update
from core.campaigns._criteria import validate_audience
from core.campaigns._delivery_stats import (
    STAT_KEYS,
    campaign_counts,
    recipient_counts,
    refresh_delivery_stats,
)
from core.campaigns._estimate import (
    Estimate,
    Pace,
    describe_estimate,
    estimate,
    estimate_for,
    needs_confirmation,
)
from core.campaigns._finish import finish_estimate
from core.campaigns._lifecycle import (
    cancel,
    complete_finished,
    pause,
    pause_for_instance,
    resume,
    resume_recovered,
    retry_due,
    retry_failed,
    start,
    start_due,
    trigger,
)
from core.campaigns._media import (
    EvolutionMedia,
    evolution_media,
    store_media,
    validate_multimedia,
)
from core.campaigns._queries import (
    campaign_json,
    get,
    get_json,
    list_campaigns,
    list_campaigns_json,
    sender_instances,
)
from core.campaigns._recipients import set_opted_out, skip_opted_out
from core.campaigns._risk import Risk, RiskItem, risk_for
from core.campaigns._spintax import Variation, message_variation
from core.campaigns._statuses import EDITABLE, TEST_SEND_STATUSES, TRANSITIONS, allowed_actions
from core.campaigns._templates import (
    message_renderer,
    render_message,
    validate_message,
)
from core.campaigns._test_sends import send_test
from core.campaigns._variants import (
    MAX_VARIANTS,
    Plan,
    multimedia_of,
    plan_of,
    variant_letter,
    variant_messages,
)

__all__ = [
    "MAX_VARIANTS",
    "MIN_SENT_PER_VARIANT",
    "TIE_POINTS",
    "How",
    "Plan",
    "VariantNumbers",
    "Verdict",
    "choose_winner",
    "decide_due",
    "decision_due_at",
    "multimedia_of",
    "pick_winner",
    "plan_of",
    "test_finished_at",
    "test_numbers",
    "variant_letter",
    "variant_messages",
    "effective_window",
    "Risk",
    "RiskItem",
    "risk_for",
    "AllowanceWait",
    "allowance_waits",
    "finish_estimate",
    "waiting_for_local_window",
    "allowed_actions",
    "complete_finished",
    "pause_for_instance",
    "resume_recovered",
    "retry_due",
    "TEST_SEND_STATUSES",
    "STAT_KEYS",
    "campaign_counts",
    "recipient_counts",
    "refresh_delivery_stats",
    "AudiencePreview",
    "EDITABLE",
    "Estimate",
    "EvolutionMedia",
    "Pace",
    "TRANSITIONS",
    "campaign_json",
    "cancel",
    "clear_audience_cache",
    "create",
    "delete",
    "describe_estimate",
    "duplicate",
    "estimate",
    "estimate_for",
    "evolution_media",
    "get",
    "get_json",
    "list_campaigns",
    "list_campaigns_json",
    "message_renderer",
    "message_variation",
    "Variation",
    "needs_confirmation",
    "pause",
    "preview_audience",
    "render_message",
    "resume",
    "retry_failed",
    "send_test",
    "set_opted_out",
    "skip_opted_out",
    "sender_instances",
    "start",
    "start_due",
    "store_media",
    "trigger",
    "update",
    "validate_audience",
    "validate_message",
    "validate_multimedia",
]
