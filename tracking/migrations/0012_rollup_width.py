from django.db import migrations, models


class Migration(migrations.Migration):
    """Rollups get a width, so a key can have fine blocks for the chart view of many runs beside
    the coarse ones of one long history; every existing rollup is a coarse one (100 steps)."""

    dependencies = [
        ("tracking", "0011_logged_models_datasets"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricrollup",
            name="width",
            field=models.PositiveIntegerField(default=100, help_text="Steps per block."),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="metricrollup",
            name="block",
            field=models.BigIntegerField(help_text="step // width."),
        ),
        migrations.RemoveConstraint(
            model_name="metricrollup",
            name="metricrollup_unique",
        ),
        migrations.AddConstraint(
            model_name="metricrollup",
            constraint=models.UniqueConstraint(
                fields=("run", "key", "width", "block"), name="metricrollup_unique"
            ),
        ),
    ]
