"""pytest-pgrig's hook: migrations in Python code (``metadata.create_all``, a data seed), beside or instead of files."""


def pytest_pgrig_template(url: str, config) -> None:
    """Migrates the template database at ``url`` (``postgresql://``, the app role), once per template,
    after the ``pgrig_migrations`` SQL files or ``pgrig_migrate_command``. The source files of every
    implementation are part of the template's hash, so editing one rebuilds the template."""
