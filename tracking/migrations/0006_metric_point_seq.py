"""Points remember the seq of the write that stored them, so summaries merge new points only.

Points stored before this migration get seq 0. A summary that covers its key's latest write
covers all of them, and merges only points written from now on. A summary that was stale when
this ran would miss the points it had not counted yet, so it is deleted: the worker then
computes that key from all its points (the reconciler schedules it).
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef


def drop_stale_summaries(apps, schema_editor):
    LatestMetric = apps.get_model("tracking", "LatestMetric")
    MetricSummary = apps.get_model("tracking", "MetricSummary")
    newer_write = LatestMetric.objects.filter(
        run_id=OuterRef("run_id"), key=OuterRef("key"), seq__gt=OuterRef("seq")
    )
    MetricSummary.objects.filter(Exists(newer_write)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_search_covering_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="metric",
            name="seq",
            field=models.BigIntegerField(default=0, db_default=0),
        ),
        migrations.AddIndex(
            model_name="metric",
            index=models.Index(fields=["run", "seq"], name="metric_run_seq"),
        ),
        migrations.RunPython(drop_stale_summaries, migrations.RunPython.noop),
    ]
