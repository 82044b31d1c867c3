"""encode-face: enrols students' faces."""

from rollcall.handlers import make_handler
from rollcall.http import create_app
from rollcall.settings import EncodeFaceSettings, load_settings

settings = load_settings(EncodeFaceSettings)
app = create_app("encode-face", settings=settings)
handler = make_handler(http=app)
