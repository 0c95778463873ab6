"""The runs of an experiment in their default order, run id included, straight off an index."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0006_metric_point_seq"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="run",
            name="run_experiment_start",
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(
                fields=["experiment", "-start_time", "run_id"], name="run_experiment_start_id"
            ),
        ),
    ]
