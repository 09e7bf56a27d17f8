"""A covering index for the overview's charts: a window of a space's finished jobs with the
columns the throughput and latency aggregates read, so PostgreSQL answers from the index
alone (no heap fetches). PostgreSQL only: SQLite has no INCLUDE, and the embedded default
does not hold enough jobs to need it.
"""

from django.db import migrations

INDEX = "job_finished_cover_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON jobs_job (space_id, finished_at) "
            "INCLUDE (status, run_at, started_at) WHERE finished_at IS NOT NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_queue_config_and_workers"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
