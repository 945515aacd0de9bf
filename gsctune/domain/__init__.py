"""gsctune's Django-free core: plain data and rules that apps, commands and tasks share.

Nothing here imports Django or an app, so every rule can be tested (and benchmarked)
on its own and each app calls the one implementation.
"""
