"""A campaign's life (DESIGN.md § Campaign life): the one owner of its status.

Staff's actions (`_staff`: edit — which also schedules or unschedules —, trigger, pause, resume,
cancel, retry failed) and the system's (`_system`: start when due, fail when it cannot run, pause
when its number breaks and resume once it answers again, complete when nobody is left, retry the
temporary failures when the campaign asked for it) change the status here and nowhere else
(tests/test_layering.py checks it); `allowed_actions` (`_statuses`) tells pages and the API what
a status permits. A pause says who made it (`PauseCause`): the system only ever lifts its own.

Every change of status is a compare-and-set `UPDATE ... WHERE status IN (...)` whose row count
says whether it happened, so a double click, two workers, or the scheduler racing a manual
trigger can never start (or pause, cancel...) a campaign twice. Services flush; callers commit.
"""

from core.campaigns._lifecycle._compare_and_set import compare_and_set
from core.campaigns._lifecycle._staff import cancel, edit, pause, resume, retry_failed, trigger
from core.campaigns._lifecycle._system import (
    complete_finished,
    pause_for_instance,
    resume_recovered,
    retry_due,
    start,
    start_due,
)

__all__ = [
    "cancel",
    "compare_and_set",
    "complete_finished",
    "edit",
    "pause",
    "pause_for_instance",
    "resume",
    "resume_recovered",
    "retry_due",
    "retry_failed",
    "start",
    "start_due",
    "trigger",
]
