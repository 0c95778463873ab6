"""Django admin for projects and the tracking domain, a module per model group.

Changes that have rules (creating projects and experiments, renaming, deleting and restoring,
revoking) go through the same services as the API and the pages, so an admin's action is
validated and audited like anyone else's. Tables that grow to millions of rows (metric points,
params, tags, latest values, summaries) are listed without COUNT(*) and searched only through
indexed columns, so a run with a million points opens as fast as one with ten.
"""

# Importing the modules registers their admins (Django's autodiscovery imports this package).
from tracking.admin import experiments, metrics, projects, runs

__all__ = ["experiments", "metrics", "projects", "runs"]
