"""The quick start's demo: its three accounts (``accounts``) and a few hundred leads with
believable histories (``leads``), so a new install has something to look at.

Everything here is for trying LeadHub out; production setups never run it (``bootstrap``
is called by ``quickstart`` only). Demo addresses use the reserved ``.example`` domain
(RFC 2606), so a drip sequence pointed at demo leads can never mail a real person.
"""

from collections.abc import Callable


def bootstrap(*, demo_data: bool = True, write: Callable[[str], None] = print):
    """What ``manage.py bootstrap`` does: the accounts, then demo leads if there are none
    yet; returns the accounts' logins (see ``accounts.accounts_ensure``)."""
    from capture.models import Lead
    from leadhub.demo.accounts import accounts_ensure, credentials_path
    from leadhub.demo.content import demo_content_ensure
    from leadhub.demo.leads import demo_data_create

    logins = accounts_ensure()
    if demo_data and not Lead.objects.exists():
        write(f"Created {demo_data_create()}.")
    if demo_data and (content := demo_content_ensure()) is not None:
        write(f"Created the form “{content.form.name}”, its landing page "
              f"/p/{content.page_slug}/ and the sequence “{content.sequence_name}”.")
    write(f"Accounts (passwords kept in {credentials_path()}, readable by you only):")
    width = max(len(login.account.username) for login in logins)
    for login in logins:
        account = login.account
        password = login.password or "(not shown)"
        note = "" if login.status == "existing" else f"  ({login.status})"
        write(f"  {account.username:<{width}}  {password}  {account.role}{note}")
    return logins
