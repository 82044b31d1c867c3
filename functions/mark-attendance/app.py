"""mark-attendance: sessions, marking attendance from classroom photos (sent, or uploaded to S3 and
marked from the photo uploads queue), the register, corrections."""

from datetime import timedelta

from rollcall.api import marking, photos, sessions
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler, sqs_batch
from rollcall.platform.settings import MarkAttendanceSettings, load_settings
from rollcall.services import photo_uploads, stores

settings = load_settings(MarkAttendanceSettings)
app = create_app(
    "mark-attendance", routers=[sessions.router, marking.router, photos.router], settings=settings
)
handler = make_handler(
    http=app,
    sqs=sqs_batch(
        photo_uploads.record_handler(
            settings, lambda org: stores.records(settings, org), timedelta(seconds=60)
        )
    ),
)
