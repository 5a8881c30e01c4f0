from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cep.settings")
application = get_wsgi_application()

from core.startup import freeze_long_lived  # noqa: E402 - needs the app registry loaded

freeze_long_lived()  # last: everything above lives as long as the process (core/startup.py)
