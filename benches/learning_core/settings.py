"""Django settings for the Learning Core side of benches/learning_core.sh.

The smallest Django project openedx-core (0.36) runs in: the apps its models
need (auth for the ``created_by``/``published_by`` foreign keys to
AUTH_USER_MODEL, contenttypes for auth), the ``openedx_content`` app and the
backcompat apps ``openedx_content.settings_api`` says every installer of
``openedx_content`` must also install (their migrations own the old
``oel_*`` tables that ``openedx_content``'s migrations move over).

SQLite (Django's default connection settings) and the Media file storage live
in ``LC_BENCH_DIR``, a temp dir that bench.py makes and deletes; Media files
go to a FileSystemStorage there, as the ``OPENEDX_LEARNING['MEDIA']`` setting
asks (a directory that is not MEDIA_ROOT).
"""

import os

from openedx_content.settings_api import openedx_content_backcompat_apps_to_install

WORK = os.environ["LC_BENCH_DIR"]

DEBUG = False  # DEBUG=True would keep every query's SQL in memory
SECRET_KEY = "blockstore-learning-core-bench"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(WORK, "learning_core.sqlite3"),
    }
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "openedx_content",
    *openedx_content_backcompat_apps_to_install(),
]

OPENEDX_LEARNING = {
    "MEDIA": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.path.join(WORK, "media_private")},
    }
}

LOGGING_CONFIG = None
