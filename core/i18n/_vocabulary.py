"""Words of our own vocabulary that appear inside messages as parameters (`core.i18n.Term`).

Marked here with `N_` so the catalogs carry them; the message that names one passes
`Term(value)` and the UI translates the word with the sentence. English is the stored value itself.
"""

from __future__ import annotations

from core.i18n._catalogs import N_

# A campaign's statuses as running text says them ("a paused campaign"); "pending" is the
# campaign's (scheduled), never a recipient's (queued): no message names a recipient's status.
CAMPAIGN_STATUSES = (
    N_("draft"),
    N_("pending"),
    N_("running"),
    N_("paused"),
    N_("completed"),
    N_("cancelled"),
    N_("failed"),
)
# What can be done to a campaign (core.campaigns.TRANSITIONS, spaces for underscores).
CAMPAIGN_ACTIONS = (N_("trigger"), N_("pause"), N_("resume"), N_("cancel"), N_("retry failed"))
MEDIA_TYPES = (N_("image"), N_("video"), N_("document"), N_("audio"))
