"""factory_boy factories for the domain models."""

import factory
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, Membership, Project, Role, TokenScope, User
from tracking.models import Experiment, Metric, Param, Run, RunTag


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct horse battery staple")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.replace("-", " ").title())


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"experiment-{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    experiment = factory.SubFactory(ExperimentFactory)
    name = factory.Sequence(lambda n: f"run-{n}")


class ParamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Param

    run = factory.SubFactory(RunFactory)
    key = factory.Sequence(lambda n: f"param_{n}")
    value = "1"


class RunTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunTag

    run = factory.SubFactory(RunFactory)
    key = factory.Sequence(lambda n: f"tag_{n}")
    value = "x"


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metric

    run = factory.SubFactory(RunFactory)
    key = "loss"
    step = factory.Sequence(lambda n: n)
    timestamp = factory.LazyFunction(lambda: int(timezone.now().timestamp() * 1000))
    value = 1.0


def make_token(
    *, user: User, project: Project, scope: str = TokenScope.WRITE, **fields
) -> tuple[ApiToken, str]:
    """An ApiToken row and its plaintext, for tests that authenticate with it."""
    raw = tokens.generate()
    token = ApiToken.objects.create(
        user=user,
        project=project,
        name=fields.pop("name", "test token"),
        scope=scope,
        prefix=tokens.lookup_prefix(raw),
        digest=tokens.digest(raw),
        **fields,
    )
    return token, raw
