"""Move the test database to a migration state and get its historical models, for data-migration tests."""
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(targets: list[tuple[str, str]] | None = None) -> Apps:
    """Migrate to ``targets`` (every app's latest when None) and return the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps
