"""Domain errors. Each carries the short text the person who acted should see."""


class UserError(Exception):
    """Something the person can fix: bad input, not allowed, not found. The edge answers with
    ``str(error)`` (an ephemeral reply, or a 4xx with that text) and nothing changes."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class NotFound(UserError):
    pass


class NotAllowed(UserError):
    pass


class Invalid(UserError):
    """Bad input. ``field`` names the offending field when there is one."""

    def __init__(self, text: str, field: str | None = None):
        super().__init__(text)
        self.field = field
