"""The local workspace: the bot in a browser, with no Slack or Teams account.

``web.py`` serves the page and its JSON API (mounted by ``python -m bot`` when no chat
credentials are set), ``workspace.py`` translates the page's acts into handler calls,
``render.py`` turns the platform-neutral messages into HTML, ``demo_data.py`` is the demo
company, ``clock.py`` the simulated time, ``cli.py`` ``python -m bot demo``, and ``deliver.py``
the outbox delivery (a delivered message is its outbox row).
"""
