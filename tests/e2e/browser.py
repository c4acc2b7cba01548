"""What the browser tests share: signing in through the real login page."""

from playwright.sync_api import expect

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def log_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("user-menu")).to_be_visible()
