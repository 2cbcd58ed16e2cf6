"""Tracking: what comes back after a send, and the figures drawn from it. It owns the Evolution
webhook receiver (`handle_delivery`: a delivery's credentials, WhatsApp's receipts moving
recipients forward only, opt-out replies, the instance's connection state, the per-event
counters) and the statistics of the campaign page, the dashboard, the recipient log and its
export, each variant's funnel and the A/B test's state (`variant_stats`, `ab_state`),
and the tracked links' redirects (`follow_link`: a click counted once per recipient,
link-preview fetches apart) and what is drawn from them (top links, clicks over time, click rate). The statistics are read-only and always counted in SQL from the recipient rows, the
truth; each takes the actor and checks its role and account itself. The receiver takes no
actor: the delivery's credentials are the instance's own.
"""

from core.tracking._campaign_stats import (
    PACE_WINDOW,
    CampaignOverview,
    FailureReason,
    Progress,
    SendSeries,
    campaign_overview,
    campaign_progress,
    failure_reasons,
    sends_over_time,
)
from core.tracking._click_stats import (
    HOURLY_SPAN,
    ClickPoint,
    ClickRate,
    ClickSeries,
    campaign_clicks_over_time,
    period_click_rate,
    period_clicks_over_time,
)
from core.tracking._clicks import PREVIEW_SECONDS, Followed, LinkStats, follow_link, link_stats
from core.tracking._dashboard import (
    DayCounts,
    InstanceHealth,
    LiveCampaign,
    MessageTotals,
    SendVolume,
    average_execution_time,
    campaigns_by_status,
    errors_by_type,
    instance_health,
    live_campaigns,
    message_totals,
    messages_over_time,
    send_volume,
)
from core.tracking._delivery import MalformedPayload, WebhookResult
from core.tracking._receipt_health import (
    RECEIPT_GRACE,
    ReceiptTrouble,
    ReceiptWarning,
    campaign_receipt_warnings,
    instance_receipt_warning,
    webhook_trouble,
)
from core.tracking._recipient_log import (
    EXPORT_HEADERS,
    RecipientRow,
    recipient_export_rows,
    recipient_log,
)
from core.tracking._replies import (
    is_opt_out,
    normalize_keyword,
    phone_candidates,
)
from core.tracking._sql_time import account_zone
from core.tracking._variant_stats import AbState, VariantStats, ab_state, variant_stats
from core.tracking._webhook_auth import WebhookUnauthorized
from core.tracking._webhooks import check_headers, handle_delivery

__all__ = [
    "AbState",
    "VariantStats",
    "ab_state",
    "variant_stats",
    "RECEIPT_GRACE",
    "ReceiptTrouble",
    "ReceiptWarning",
    "campaign_receipt_warnings",
    "instance_receipt_warning",
    "webhook_trouble",
    "CampaignOverview",
    "ClickPoint",
    "ClickRate",
    "ClickSeries",
    "HOURLY_SPAN",
    "campaign_clicks_over_time",
    "period_click_rate",
    "period_clicks_over_time",
    "DayCounts",
    "EXPORT_HEADERS",
    "FailureReason",
    "Followed",
    "InstanceHealth",
    "LinkStats",
    "LiveCampaign",
    "MalformedPayload",
    "MessageTotals",
    "PACE_WINDOW",
    "PREVIEW_SECONDS",
    "Progress",
    "RecipientRow",
    "SendSeries",
    "SendVolume",
    "WebhookResult",
    "WebhookUnauthorized",
    "account_zone",
    "average_execution_time",
    "campaign_overview",
    "campaign_progress",
    "campaigns_by_status",
    "errors_by_type",
    "failure_reasons",
    "check_headers",
    "follow_link",
    "handle_delivery",
    "instance_health",
    "is_opt_out",
    "link_stats",
    "live_campaigns",
    "message_totals",
    "messages_over_time",
    "normalize_keyword",
    "phone_candidates",
    "recipient_export_rows",
    "recipient_log",
    "send_volume",
    "sends_over_time",
]
