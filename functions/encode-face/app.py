"""encode-face: students, their enrolled faces, and searching faces by photo."""

from rollcall.api import faces, students
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import EncodeFaceSettings, load_settings

settings = load_settings(EncodeFaceSettings)
app = create_app(
    "encode-face",
    routers=[students.router, students.classes_router, faces.router, faces.search_router],
    settings=settings,
)
handler = make_handler(http=app)
