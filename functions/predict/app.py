"""predict: attendance predictions (and the platform's health and identity routes)."""

from rollcall.api import predictions
from rollcall.handlers import make_handler
from rollcall.http import create_app
from rollcall.settings import PredictSettings, load_settings

settings = load_settings(PredictSettings)
app = create_app("predict", routers=[predictions.router], settings=settings)
handler = make_handler(http=app)
