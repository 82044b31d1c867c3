"""train: trains and registers attendance models."""

from rollcall.handlers import make_handler
from rollcall.http import create_app
from rollcall.settings import TrainSettings, load_settings

settings = load_settings(TrainSettings)
app = create_app("train", settings=settings)
handler = make_handler(http=app)
