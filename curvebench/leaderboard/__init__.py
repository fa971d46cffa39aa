"""The leaderboard: validated submissions (:mod:`.submission`), the board built from them
(:mod:`.board`, Markdown + a static HTML page) and their commands (:mod:`.cli`).

Nothing is imported here, so that adding the commands to ``curvebench`` stays cheap.
"""
