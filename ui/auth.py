"""The UI's login gate: local passwords, single sign-on, the forced password change, the sidebar.

Every run checks the browser session against the database (`core.people.session_context`), so
logout, expiry, deactivation and role changes take effect on the next click.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from core import people
from core.base import DomainError
from core.i18n import _, localize_error
from core.people import AccountLocked, LoginFailed, SessionContext
from ui import session_cookie, streamlit_texts
from ui.language import CHOICE_KEY, apply_language, language_picker
from ui.session import ACCOUNT_KEY, ACTOR_KEY, CONTEXT_KEY, TOKEN_KEY, db

_ENDED_KEY = "session_ended"


def ensure_logged_in(before_login_page: Callable[[], None] | None = None) -> SessionContext:
    """The logged-in session of this browser tab; otherwise draws the login page and stops
    (calling `before_login_page` first: app.py notes the page asked for, to return to it)."""
    token = st.session_state.get(TOKEN_KEY)
    if not token:
        token = session_cookie.token_from_cookie()  # a reload: the same login, if still alive
        if token:
            st.session_state[TOKEN_KEY] = token
    context = None
    if token:
        with db() as session:
            context = people.session_context(session, token, st.session_state.get(ACCOUNT_KEY))
    if context is None:
        if token:
            st.session_state[_ENDED_KEY] = True
            session_cookie.forget()
        _forget_session()
        if before_login_page is not None:
            before_login_page()
        if _sso_identity_email() is not None:
            _login_with_sso()
        _login_page()
        session_cookie.write_pending()
        st.stop()
    assert context is not None
    apply_language(context.actor)  # saved choice, else the browser's, else the account's
    st.session_state[ACTOR_KEY] = context.actor
    st.session_state[ACCOUNT_KEY] = context.actor.account_id
    st.session_state[CONTEXT_KEY] = context
    if context.must_change_password:
        st.title(_("Choose your password"))
        st.info(_("You logged in with a one-time password. Choose your own to continue."))
        password_form(context.user_id)
        _logout_button()
        st.stop()
    return context


def _forget_session() -> None:
    for key in (TOKEN_KEY, ACTOR_KEY, CONTEXT_KEY):
        st.session_state.pop(key, None)


def _begin(token: str) -> None:
    st.session_state[TOKEN_KEY] = token
    st.session_state.pop(_ENDED_KEY, None)
    st.rerun()


# -- local login -----------------------------------------------------------------------------------


def _login_page() -> None:
    # The language first (it applies it), so everything below is drawn in the chosen one; the
    # choice is kept for the session and saved on the user once logged in.
    title, picker = st.columns([3, 1], vertical_alignment="bottom")
    language_picker(None, picker)
    streamlit_texts.translate_builtins()
    title.title(_("Log in"))
    if st.session_state.get(_ENDED_KEY):
        st.info(_("Your session ended. Please log in again."))
    with st.form("login"):
        username = st.text_input(_("Username"))
        password = st.text_input(_("Password"), type="password")
        submitted = st.form_submit_button(_("Log in"), type="primary")
    if submitted:
        failure: LoginFailed | None = None
        with db() as session:  # commits the failure count too, which is what locks guessers out
            try:
                user, token = people.login(session, username, password)
            except LoginFailed as error:
                failure = error
            else:
                chosen = st.session_state.get(CHOICE_KEY)
                if chosen and chosen != user.language:  # picked on this page: kept, as chosen
                    people.set_user_language(session, user.id, chosen)
        if isinstance(failure, AccountLocked):
            st.error(_("Too many failed attempts. Try again in a few minutes."))
        elif failure is not None:
            st.error(_("Wrong username or password."))
        else:
            _begin(token)
    providers = sso_providers()
    if providers is not None:
        st.divider()
        for provider in providers or [None]:
            label = (
                _("Log in with {provider}").format(provider=provider)
                if provider
                else _("Log in with single sign-on")
            )
            if st.button(label, key=f"sso_{provider or 'default'}"):
                st.login(provider) if provider else st.login()


# -- single sign-on (Streamlit's OIDC: st.login / st.user) -----------------------------------------


def sso_providers() -> list[str] | None:
    """None when `[auth]` is not configured in secrets.toml; else the named providers
    (`[auth.google]`, ...), an empty list meaning the one provider set in `[auth]` itself."""
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        section = st.secrets.get("auth")
    except Exception:  # an unreadable secrets file means: no SSO; Streamlit logs the reason
        return None
    if not isinstance(section, Mapping) or not section:
        return None
    return sorted(name for name, value in section.items() if isinstance(value, Mapping))


def _sso_identity_email() -> str | None:
    """The e-mail of the identity-provider login in this browser, if any."""
    if sso_providers() is None:
        return None
    try:
        if not st.user.get("is_logged_in"):
            return None
        if st.user.get("email_verified") is False:
            return ""
        return str(st.user.get("email") or "")
    except Exception:
        return None


def _login_with_sso() -> None:
    email = _sso_identity_email()
    try:
        with db() as session:
            _user, token = people.login_sso(session, email)
    except LoginFailed:
        st.title(_("Log in"))
        st.error(
            _(
                "No active user here has the e-mail {email}. Ask an administrator to add you."
            ).format(email=email or "?")
        )
        if st.button(_("Use another account")):
            st.logout()
        st.stop()
    else:
        _begin(token)


# -- the logged-in frame ---------------------------------------------------------------------------


def sidebar(context: SessionContext) -> None:
    """Who is logged in, the account switcher (several accounts only), logout. Drawn by app.py
    after st.navigation, so it stays below the menu on every page."""
    with st.sidebar:
        st.caption(
            _("Logged in as {user} · {role}").format(
                user=context.username, role=_(context.actor.role)
            )
        )
        if len(context.accounts) > 1:
            names = {choice.account_id: choice.name for choice in context.accounts}
            st.selectbox(
                _("Account"),
                options=list(names),
                index=list(names).index(context.actor.account_id),
                format_func=names.__getitem__,
                key="account_switcher",
                on_change=_switch_account,
            )
        else:
            st.caption(context.account_name)
        _logout_button()


def _switch_account() -> None:
    st.session_state[ACCOUNT_KEY] = st.session_state["account_switcher"]


def _logout_button() -> None:
    if st.sidebar.button(_("Log out"), key="logout"):
        with db() as session:
            people.logout(session, st.session_state.get(TOKEN_KEY))
        _forget_session()
        session_cookie.forget()
        st.session_state.pop(ACCOUNT_KEY, None)
        if _sso_identity_email() is not None:
            st.logout()  # also forget the identity provider's login, or it logs us straight back in
        st.rerun()


def password_form(user_id: int) -> bool:
    """Change one's own password (current, new, repeat). True when it was changed."""
    with st.form("change_password", clear_on_submit=True):
        current = st.text_input(_("Current password"), type="password")
        new = st.text_input(_("New password"), type="password")
        repeat = st.text_input(_("Repeat the new password"), type="password")
        submitted = st.form_submit_button(_("Change password"), type="primary")
    if not submitted:
        return False
    if new != repeat:
        st.error(_("The two new passwords differ."))
        return False
    try:
        with db() as session:
            people.change_password(
                session, user_id, current, new, keep_token=st.session_state.get(TOKEN_KEY)
            )
    except DomainError as error:
        st.error(localize_error(error))
        return False
    st.session_state["password_changed"] = True
    st.rerun()
    return True
