"""mark-attendance: sessions, marking attendance from classroom photos, the register, corrections."""

from rollcall.api import marking, sessions
from rollcall.api.app import create_app
from rollcall.platform.handlers import make_handler
from rollcall.platform.settings import MarkAttendanceSettings, load_settings

settings = load_settings(MarkAttendanceSettings)
app = create_app("mark-attendance", routers=[sessions.router, marking.router], settings=settings)
handler = make_handler(http=app)
