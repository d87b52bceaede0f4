"""App start-up: validate the content before serving anything."""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("monograph")


class MonographConfig(AppConfig):
    name = "monograph"
    verbose_name = "Monograph"

    def ready(self) -> None:
        from . import content

        # Refuse to start on invalid content: ContentError names the file and field.
        content.book()
        if settings.EPHEMERAL_SECRET_KEY:
            log.warning("SECRET_KEY is not set: using an ephemeral key for this process "
                        "(fine locally; set SECRET_KEY in production)")
