"""The live dashboard (``server.dashboard_listen``): docs/dashboard.md.

``http.py`` serves the page in ``static/`` and its JSON and event stream; ``feed.py`` gathers
the numbers once a second from the handler's tap; ``sketch.py`` holds the bounded top-N
sketches; ``walk.py`` turns a traced walk into the hops the page draws.
"""
