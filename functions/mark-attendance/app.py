"""mark-attendance: marks attendance from classroom photos."""

from rollcall.handlers import make_handler
from rollcall.http import create_app
from rollcall.settings import MarkAttendanceSettings, load_settings

settings = load_settings(MarkAttendanceSettings)
app = create_app("mark-attendance", settings=settings)
handler = make_handler(http=app)
