"""encode-face: students, their enrolled faces (sent, or uploaded to S3 and enrolled from the face
uploads queue), and searching faces by photo."""

from datetime import timedelta

from rollcall.api import faces, students
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler, sqs_batch
from rollcall.platform.settings import EncodeFaceSettings, load_settings
from rollcall.services import face_uploads, stores

settings = load_settings(EncodeFaceSettings)
app = create_app(
    "encode-face",
    routers=[students.router, students.classes_router, faces.router, faces.search_router],
    settings=settings,
)
handler = make_handler(
    http=app,
    sqs=sqs_batch(
        face_uploads.record_handler(
            settings, lambda org: stores.records(settings, org), timedelta(seconds=60)
        )
    ),
)
