"""Who may do what. Every service checks here, so the UI, the API and the CLI share one rule."""

from __future__ import annotations

from dataclasses import dataclass

from core.base import PermissionDenied
from core.i18n import N_, Term
from core.models import Role

# N_: an action is named in PermissionDenied messages, translated there as a word of ours.
READ_ACTIONS = frozenset(
    {
        N_("contacts.read"),
        N_("campaigns.read"),
        N_("instances.read"),
        N_("stats.read"),
        N_("notifications.read"),
    }
)
MANAGER_ACTIONS = READ_ACTIONS | {
    N_("contacts.write"),
    N_("contacts.import"),
    N_("campaigns.write"),
    N_("campaigns.trigger"),
    N_("campaigns.test_send"),
}
ADMIN_ACTIONS = MANAGER_ACTIONS | {
    N_("instances.write"),
    N_("users.manage"),
    N_("tokens.manage"),
    N_("settings.manage"),
    N_("audit.read"),
}
ALLOWED: dict[Role, frozenset[str]] = {
    Role.VIEWER: READ_ACTIONS,
    Role.MANAGER: frozenset(MANAGER_ACTIONS),
    Role.ADMIN: frozenset(ADMIN_ACTIONS),
}


@dataclass(frozen=True)
class Actor:
    """A user acting in one account with one role (or the system: worker, CLI, webhooks)."""

    user_id: int | None
    account_id: int
    role: Role
    username: str

    @classmethod
    def system(cls, account_id: int, name: str = "system") -> Actor:
        return cls(user_id=None, account_id=account_id, role=Role.ADMIN, username=name)

    def can(self, action: str) -> bool:
        if action not in ALLOWED[Role.ADMIN]:
            raise ValueError(f"unknown action {action!r}")
        return action in ALLOWED[self.role]


def require(actor: Actor, action: str) -> None:
    if not actor.can(action):
        raise PermissionDenied(
            "the {role} role may not do {action}", role=Term(actor.role), action=Term(action)
        )
