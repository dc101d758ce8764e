from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Signup is open, but a person without an invitation lands on the waitlist (the
    accounts services decide membership; see accounts.services)."""
