"""The shared fixtures work, so later suites can rely on them."""

import pytest
from django.core.mail import send_mail

from leadhub.roles import ADMIN, MARKETER, SALES_REP


def test_it_gives_each_standard_user_their_role(marketer, rep, admin_user, outsider):
    assert marketer.role == MARKETER
    assert rep.role == SALES_REP
    assert admin_user.role == ADMIN
    assert outsider.role == ""


def test_it_delivers_mail_to_the_real_smtp_server(smtp_server):
    send_mail("Hello", "Body text", "leadhub@leadhub.test", ["ann@example.com"])
    assert [m["Subject"] for m in smtp_server.messages] == ["Hello"]
    assert smtp_server.envelopes[0][1] == ["ann@example.com"]
    assert smtp_server.messages[0].get_content().strip() == "Body text"


@pytest.mark.django_db
def test_it_creates_the_three_roles_on_migrate():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {MARKETER, SALES_REP, ADMIN}
