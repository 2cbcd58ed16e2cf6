"""Request and response bodies, a module per resource. Requests accept the seed's JSON shapes as
they are; the domain validates meaning (and answers 422 naming the field); responses are what
`core.*_json` give."""

from api.schemas.audience import Audience, AudienceContact, AudiencePreviewOut, AudienceRequest
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignFields,
    CampaignList,
    CampaignOut,
    CampaignUpdate,
    DeliveryStats,
    Multimedia,
    RecipientList,
    RecipientOut,
)
from api.schemas.chatwoot import (
    ChatwootCheckOut,
    ChatwootIn,
    ChatwootInboxOut,
    ChatwootOut,
    ChatwootSyncReportOut,
)
from api.schemas.common import Finite, Id, Pagination, Scalar, Weekday
from api.schemas.contacts import (
    ContactCreate,
    ContactList,
    ContactOut,
    ContactUpdate,
    ImportReport,
    ImportRowError,
)
from api.schemas.instances import (
    InstanceCheckOut,
    InstanceCreate,
    InstanceFields,
    InstanceList,
    InstanceOut,
    InstanceUpdate,
)
from api.schemas.links import CampaignLinksOut, ClickPointOut, ClicksOverTime, LinkOut
from api.schemas.variants import (
    AbStateOut,
    AbTestIn,
    VariantIn,
    VariantsOut,
    VariantStatsOut,
    WinnerPick,
)

__all__ = [
    "AbStateOut",
    "AbTestIn",
    "VariantIn",
    "VariantStatsOut",
    "VariantsOut",
    "WinnerPick",
    "Audience",
    "AudienceContact",
    "AudiencePreviewOut",
    "AudienceRequest",
    "CampaignCreate",
    "CampaignFields",
    "CampaignLinksOut",
    "CampaignList",
    "CampaignOut",
    "CampaignUpdate",
    "ChatwootCheckOut",
    "ChatwootIn",
    "ChatwootInboxOut",
    "ChatwootOut",
    "ChatwootSyncReportOut",
    "ClickPointOut",
    "ClicksOverTime",
    "ContactCreate",
    "ContactList",
    "ContactOut",
    "ContactUpdate",
    "DeliveryStats",
    "Finite",
    "Id",
    "ImportReport",
    "ImportRowError",
    "InstanceCheckOut",
    "InstanceCreate",
    "InstanceFields",
    "InstanceList",
    "InstanceOut",
    "InstanceUpdate",
    "LinkOut",
    "Multimedia",
    "Pagination",
    "RecipientList",
    "RecipientOut",
    "Scalar",
    "Weekday",
]
