from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "spaces"

    def ready(self) -> None:
        from spaces import schema  # noqa: F401 - registers the OpenAPI auth extension
