"""The configuration generation (``sla.models.ConfigGeneration``) and the triggers that change
it on every INSERT, UPDATE or DELETE of the tables ``sla.config`` copies per process.

SQLite drops a table's triggers when Django rebuilds the table (some ALTERs do): a later
migration that alters one of these tables must create its triggers again
(``tests/test_sla_config.py`` checks that each table's change moves the generation)."""

from __future__ import annotations

from django.db import migrations, models

TABLES = ("sla_slapolicy", "sla_businesshours", "api_webhooksubscription")
# A random step of 1 to 10^9 (see the model's docstring).
_SQLITE_STEP = "1 + abs(random() % 1000000000)"
_PG_STEP = "1 + floor(random() * 1000000000)::bigint"


def _create(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO sla_configgeneration (id, value) VALUES (1, 0)")
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION sla_config_generation_bump() RETURNS trigger AS $$ "  # noqa: S608 - constants only
                f"BEGIN UPDATE sla_configgeneration SET value = value + {_PG_STEP} "
                "WHERE id = 1; RETURN NULL; END $$ LANGUAGE plpgsql"
            )
            for table in TABLES:
                cursor.execute(
                    f"CREATE TRIGGER {table}_config_generation "
                    f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION sla_config_generation_bump()"
                )
        else:
            for table in TABLES:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TRIGGER {table}_config_generation_{event.lower()} "  # noqa: S608 - constants only
                        f"AFTER {event} ON {table} BEGIN "
                        f"UPDATE sla_configgeneration SET value = value + {_SQLITE_STEP} "
                        "WHERE id = 1; END"
                    )


def _drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_config_generation ON {table}")
            else:
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_config_generation_{event}")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS sla_config_generation_bump()")


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0002_calendar_windows"),
        ("api", "0002_webhooks"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConfigGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(_create, _drop),
    ]
